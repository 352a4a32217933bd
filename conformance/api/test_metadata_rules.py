"""generation, resourceVersion, the status subresource and optimistic concurrency."""

from __future__ import annotations

import pytest

from conformance.api.manifests import service
from conformance.helpers import refused
from kproof.target import Target

KSVC = ("serving.knative.dev/v1", "Service")


@pytest.mark.spec("MUST", "stable", source="Kubernetes API conventions (kubernetes/community api-conventions.md, "
                  "metadata.generation): it changes with the spec, not the status")
def test_generation_counts_spec_changes_only(target: Target, namespace: str) -> None:
    created = target.create(service("gen", namespace))
    assert created["metadata"]["generation"] == 1
    labelled = target.patch(*KSVC, "gen", {"metadata": {"labels": {"a": "b"}}}, namespace)
    assert labelled["metadata"]["generation"] == 1
    changed = target.patch(*KSVC, "gen", {"spec": {"template": {"spec": {"containerConcurrency": 3}}}}, namespace)
    assert changed["metadata"]["generation"] == 2
    again = target.patch(*KSVC, "gen", {"spec": {"template": {"spec": {"containerConcurrency": 3}}}}, namespace)
    assert again["metadata"]["generation"] == 2


@pytest.mark.spec("SHOULD", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts): a no-op update leaves resourceVersion as "
                  "it was")
def test_a_patch_that_changes_nothing_writes_nothing(target: Target, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "same", "namespace": namespace},
            "data": {"k": "v"}}
    created = target.create(body)
    again = target.patch("v1", "ConfigMap", "same", {"data": {"k": "v"}}, namespace)
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


@pytest.mark.spec("SHOULD", "stable", source="Kubernetes API conventions: with a status subresource, the main "
                  "resource ignores status and /status ignores the rest")
def test_status_is_written_through_its_subresource(target: Target, namespace: str) -> None:
    condition = {"type": "KproofProbe", "status": "True", "reason": "Testing", "message": "conformance"}
    ignored = target.patch("v1", "Namespace", namespace,
                           {"metadata": {"labels": {"x": "y"}}, "status": {"conditions": [condition]}})

    def carries(obj: dict) -> bool:  # a cluster adds the fields it keeps (lastTransitionTime: null)
        return any(c.items() >= condition.items() for c in (obj.get("status") or {}).get("conditions") or [])

    assert not carries(ignored), "the main resource ignores status"
    response = target.raw("PATCH", f"/api/v1/namespaces/{namespace}/status",
                          json={"status": {"conditions": [condition]}},
                          headers={"Content-Type": "application/merge-patch+json"})
    assert response.status_code == 200, response.text
    assert carries(response.json())
    assert response.json()["metadata"]["labels"]["x"] == "y"


@pytest.mark.spec("MUST", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts), resource versions: an update with a stale "
                  "resourceVersion is 409 Conflict")
def test_update_with_stale_version_conflicts(target: Target, namespace: str) -> None:
    first = target.create(service("stale", namespace))
    target.patch(*KSVC, "stale", {"metadata": {"labels": {"v": "2"}}}, namespace)
    first["metadata"]["labels"] = {"v": "1"}
    err = refused(lambda: target.replace(first, namespace))
    assert err.status == 409


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/knative-api-specification-1.0.md: traffic "
                  "\"defaults to 100% traffic to the latest Ready Revision\"; timeoutSeconds \"If unspecified, a "
                  "system default will be provided\"")
def test_knative_defaults_are_filled_in(target: Target, namespace: str) -> None:
    created = target.create(service("defaults", namespace))
    spec = created["spec"]["template"]["spec"]
    assert spec["containerConcurrency"] == 0
    assert spec["timeoutSeconds"] == 300
    assert spec["containers"][0]["name"] == "user-container"
    assert spec["containers"][0]["readinessProbe"]["successThreshold"] == 1
    assert created["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]
