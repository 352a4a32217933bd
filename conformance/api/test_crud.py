"""Create, read, list, update, patch and delete every kind, with the metadata rules Kubernetes keeps."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubernetes.dynamic.exceptions import ConflictError

from conformance.api.manifests import KIND_CASES, KindCase, skip_unless_served
from conformance.helpers import refused, status_of, unique
from kproof.target import Target


@pytest.mark.spec("MUST", "stable", source="knative/specs "
                  "serving/knative-api-specification-1.0.md#resource-overview: \"the POST, PUT, or DELETE operations "
                  "MUST be enabled as a group\"; Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts): create, get, list, update, patch and "
                  "delete")
@pytest.mark.quick
@pytest.mark.parametrize("case", KIND_CASES, ids=lambda c: c.id)
def test_crud(target: Target, namespace: str, case: KindCase) -> None:
    skip_unless_served(target, case)
    name = unique("crud")
    run = unique("run")
    created = target.create(case.manifest(name, namespace, {"kproof.dev/case": run}))
    meta = created["metadata"]
    assert meta["name"] == name
    assert meta["uid"] and meta["resourceVersion"] and meta["creationTimestamp"]
    if case.knative:
        assert meta["generation"] == 1
    ns = namespace if case.namespaced else None

    fetched = target.get(case.api_version, case.kind, name, ns)
    assert fetched is not None and fetched["metadata"]["uid"] == meta["uid"]

    by_label = target.list(case.api_version, case.kind, ns, label_selector=f"kproof.dev/case={run}")
    assert [o["metadata"]["name"] for o in by_label] == [name]
    by_field = target.list(case.api_version, case.kind, ns, field_selector=f"metadata.name={name}")
    assert [o["metadata"]["name"] for o in by_field] == [name]
    assert target.list(case.api_version, case.kind, ns, label_selector=f"kproof.dev/case={run}-other") == []

    patched = target.patch(case.api_version, case.kind, name, {"metadata": {"labels": {"touched": "yes"}}}, ns)
    assert patched["metadata"]["labels"]["touched"] == "yes"
    assert patched["metadata"]["resourceVersion"] != meta["resourceVersion"]
    assert patched["metadata"].get("generation") == meta.get("generation")

    stale = dict(fetched)
    stale["metadata"] = {**fetched["metadata"], "labels": {"stale": "yes"}}
    err = refused(lambda: target.replace(stale, ns))
    assert err.status == 409

    replaced = _replace_retrying(target, case, name, ns, lambda obj: obj["metadata"]["labels"].update(replaced="yes"))
    assert replaced["metadata"]["labels"]["replaced"] == "yes"

    target.delete(case.api_version, case.kind, name, ns, timeout=60)
    assert target.get(case.api_version, case.kind, name, ns) is None


def _replace_retrying(target: Target, case: KindCase, name: str, namespace: str | None,
                      change: Callable[[dict], None], attempts: int = 10) -> dict:
    """Read, change, write back: again on 409, since controllers write status in between (as any client
    of a live object must)."""
    for _ in range(attempts):
        current = target.get(case.api_version, case.kind, name, namespace)
        change(current)
        try:
            return target.replace(current, namespace)
        except ConflictError:
            continue
    raise AssertionError(f"still conflicting after {attempts} attempts")


@pytest.mark.spec("MUST", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts): creating an object whose name exists is "
                  "409 AlreadyExists")
def test_create_twice_is_a_conflict(target: Target, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "twice", "namespace": namespace}}
    target.create(body)
    err = refused(lambda: target.create(body))
    assert err.status == 409
    assert "already exists" in status_of(err)["message"]


@pytest.mark.spec("MUST", "stable", source="Kubernetes API reference, ObjectMeta.generateName: the server makes a "
                  "unique name from the prefix")
def test_generate_name(target: Target, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-", "namespace": namespace}}
    first, second = target.create(body), target.create(body)
    assert first["metadata"]["name"].startswith("gen-") and len(first["metadata"]["name"]) > len("gen-")
    assert first["metadata"]["name"] != second["metadata"]["name"]


@pytest.mark.spec("MUST", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts): a missing object is 404 NotFound")
def test_missing_object_is_not_found(target: Target, namespace: str) -> None:
    assert target.get("serving.knative.dev/v1", "Service", "absent", namespace) is None
    err = refused(lambda: target.patch("serving.knative.dev/v1", "Service", "absent", {"metadata": {}}, namespace))
    assert err.status == 404


@pytest.mark.spec("MUST", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts): PATCH with application/json-patch+json "
                  "(RFC 6902)")
def test_json_patch(target: Target, namespace: str) -> None:
    target.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "jp", "namespace": namespace},
                   "data": {"a": "1"}})
    patched = target.patch("v1", "ConfigMap", "jp", [{"op": "add", "path": "/data/b", "value": "2"},
                                                     {"op": "remove", "path": "/data/a"}],
                           namespace, patch_type="application/json-patch+json")
    assert patched["data"] == {"b": "2"}


@pytest.mark.spec("MUST", "stable", source="Kubernetes server-side apply "
                  "(kubernetes.io/docs/reference/using-api/server-side-apply), GA since 1.22")
def test_server_side_apply_creates_then_updates(target: Target, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "namespace": namespace},
            "data": {"a": "1", "b": "2"}}
    first = target.apply(body)[0]
    assert first["data"] == {"a": "1", "b": "2"}
    body["data"] = {"a": "3"}
    second = target.apply(body)[0]
    assert second["data"] == {"a": "3"}, "a field the manager no longer applies is removed"
    assert second["metadata"]["uid"] == first["metadata"]["uid"]


@pytest.mark.spec("MUST", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts), dry-run: \"the request is not persisted\"")
def test_dry_run_persists_nothing(target: Target, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry", "namespace": namespace}}
    target.create(body, dry_run=True)
    assert target.get("v1", "ConfigMap", "dry", namespace) is None


@pytest.mark.spec("MUST", "stable", source="Kubernetes Secrets: \"stringData ... merged into the data field on "
                  "write\"")
def test_secret_string_data_is_stored_encoded(target: Target, namespace: str) -> None:
    target.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": namespace},
                   "stringData": {"user": "root"}})
    stored = target.get("v1", "Secret", "s", namespace)
    assert stored["data"] == {"user": "cm9vdA=="}
    assert "stringData" not in stored
