"""Deleting an owner deletes its dependents (ownerReferences), unless asked to orphan them."""

from __future__ import annotations

import pytest

from conformance.helpers import unique
from kproof.target import Target


def _owner_and_dependent(target: Target, namespace: str, owner: str, dependent: str) -> None:
    parent = target.create({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": owner, "namespace": namespace}})
    target.create({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": dependent, "namespace": namespace,
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner,
                             "uid": parent["metadata"]["uid"]}]}})


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/knative-api-specification-1.0.md#ownership: "
                  "\"Deleting an owning resource MUST trigger deletion of all owned resources\"")
def test_dependents_are_deleted_with_their_owner(target: Target, namespace: str) -> None:
    _owner_and_dependent(target, namespace, "owner", "dependent")
    target.delete("v1", "ConfigMap", "owner", namespace)
    target.wait_until("v1", "Secret", "dependent", lambda obj: obj is None, namespace, timeout=60,
                      what="garbage-collected")


@pytest.mark.spec("MUST", "stable", source="Kubernetes garbage collection "
                  "(kubernetes.io/docs/concepts/architecture/garbage-collection): foreground cascading deletion")
def test_foreground_deletion_removes_dependents_first(target: Target, namespace: str) -> None:
    _owner_and_dependent(target, namespace, "fg-owner", "fg-dependent")
    target.delete("v1", "ConfigMap", "fg-owner", namespace, propagation="Foreground", timeout=60)
    assert target.get("v1", "Secret", "fg-dependent", namespace) is None


@pytest.mark.spec("MUST", "stable", source="Kubernetes garbage collection: propagationPolicy Orphan leaves the "
                  "dependents")
def test_orphan_keeps_dependents(target: Target, namespace: str) -> None:
    _owner_and_dependent(target, namespace, "orphan-owner", "orphan-dependent")
    target.delete("v1", "ConfigMap", "orphan-owner", namespace, propagation="Orphan")
    left = target.wait_until("v1", "Secret", "orphan-dependent",
                             lambda obj: obj is not None and not obj["metadata"].get("ownerReferences"),
                             namespace, timeout=60, what="orphaned")
    assert left is not None


@pytest.mark.spec("MUST", "stable", source="Kubernetes namespaces: deleting a namespace deletes everything in it")
def test_deleting_a_namespace_deletes_its_objects(target: Target) -> None:
    name = unique("kproof-gc")
    target.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    target.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inside", "namespace": name}})
    target.delete("v1", "Namespace", name, timeout=120)
    assert target.get("v1", "ConfigMap", "inside", name) is None
