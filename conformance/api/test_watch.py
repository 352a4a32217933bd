"""Watch: newline-delimited events in order, resumable from a resourceVersion, filtered by selectors."""

from __future__ import annotations

import threading

import pytest

from conformance.helpers import unique
from kproof.target import Target


def _config_map(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}}, "data": {"n": "0"}}


def _collect(target: Target, namespace: str, count: int, **kwargs: object) -> list[dict]:
    events: list[dict] = []
    for event in target.watch("v1", "ConfigMap", namespace, timeout=20, **kwargs):
        events.append(event)
        if len(events) >= count:
            break
    return events


@pytest.mark.spec("MUST", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts), efficient detection of changes: watch "
                  "events arrive in resourceVersion order")
def test_events_arrive_in_order(target: Target, namespace: str) -> None:
    run = unique("w")
    # a cluster publishes its own ConfigMaps in every namespace (kube-root-ca.crt): only this test's count
    start = target.list("v1", "ConfigMap", namespace, label_selector=f"run={run}")
    version = target.raw("GET", f"/api/v1/namespaces/{namespace}/configmaps").json()["metadata"]["resourceVersion"]
    assert start == []
    target.create(_config_map("watched", namespace, {"run": run}))
    target.patch("v1", "ConfigMap", "watched", {"data": {"n": "1"}}, namespace)
    target.delete("v1", "ConfigMap", "watched", namespace)
    events = _collect(target, namespace, 3, resource_version=version, label_selector=f"run={run}")
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert [e["object"]["metadata"]["name"] for e in events] == ["watched"] * 3
    assert events[1]["object"]["data"] == {"n": "1"}
    versions = [e["object"]["metadata"]["resourceVersion"] for e in events]
    assert len(set(versions)) == 3


@pytest.mark.spec("MUST", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts): a watch without a resourceVersion starts "
                  "with an ADDED event for every current object")
def test_watch_without_version_starts_with_current_objects(target: Target, namespace: str) -> None:
    run = unique("w")
    target.create(_config_map("existing", namespace, {"run": run}))
    events = _collect(target, namespace, 1, label_selector=f"run={run}")
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "existing"


@pytest.mark.spec("MUST", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts): a watch from a resourceVersion sends the "
                  "changes after it")
def test_watch_resumes_after_a_version(target: Target, namespace: str) -> None:
    created = target.create(_config_map("resume", namespace))
    target.patch("v1", "ConfigMap", "resume", {"data": {"n": "1"}}, namespace)
    target.patch("v1", "ConfigMap", "resume", {"data": {"n": "2"}}, namespace)
    events = _collect(target, namespace, 2, resource_version=created["metadata"]["resourceVersion"])
    assert [(e["type"], e["object"]["data"]["n"]) for e in events] == [("MODIFIED", "1"), ("MODIFIED", "2")]


@pytest.mark.spec("MUST", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts): watch sends ADDED, MODIFIED and DELETED as "
                  "they happen")
def test_watch_sees_changes_made_while_watching(target: Target, namespace: str) -> None:
    def change() -> None:
        target.create(_config_map("live", namespace))

    timer = threading.Timer(0.5, change)
    timer.start()
    try:
        events = _collect(target, namespace, 1, field_selector="metadata.name=live")
    finally:
        timer.cancel()
    assert events and events[0]["type"] == "ADDED"


@pytest.mark.spec("MUST", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts): labelSelector filters list and watch")
def test_label_selector_filters_events(target: Target, namespace: str) -> None:
    version = target.raw("GET", f"/api/v1/namespaces/{namespace}/configmaps").json()["metadata"]["resourceVersion"]
    target.create(_config_map("other", namespace, {"team": "b"}))
    target.create(_config_map("mine", namespace, {"team": "a"}))
    events = _collect(target, namespace, 1, resource_version=version, label_selector="team=a")
    assert [e["object"]["metadata"]["name"] for e in events] == ["mine"]
