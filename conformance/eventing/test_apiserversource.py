"""ApiServerSource (sources.knative.dev/v1): Knative's "Creating an ApiServerSource object" applied as the docs give
it (a ServiceAccount, a Role and RoleBinding for events, event_display behind a Deployment and a Service) sends
the Kubernetes Events a Pod causes to event_display; Reference mode sends add, update and delete of an object as
ObjectReferences, in order, with Knative's attributes; namespaceSelector widens what it watches; a service
account without the RBAC to list and watch leaves it not Ready; bad specs are refused naming the field."""

from __future__ import annotations

import uuid

import pytest
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from conformance.eventing.docs_support import (
    API_SERVER_SOURCE,
    DEPLOYMENT,
    RBAC,
    apply_example,
    displayed,
    fixed_namespaces,
    pod_log,
    role,
    role_binding,
    service_account,
)
from conformance.eventing.support import Bench, sink_ref
from conformance.helpers import assert_invalid, eventually, refused, unique
from kproof.target import Target, condition_status

DOCS = "https://knative.dev/docs/eventing/sources/apiserversource/getting-started/"
REFERENCE = "https://knative.dev/docs/eventing/sources/apiserversource/reference/"
EXAMPLE_NAMESPACE = "apiserversource-example"
REF_TYPES = ("dev.knative.apiserver.ref.add", "dev.knative.apiserver.ref.update", "dev.knative.apiserver.ref.delete")


@pytest.fixture(autouse=True)
def _served(target: Target) -> None:
    try:
        target.resource(*API_SERVER_SOURCE)
    except ResourceNotFoundError:
        pytest.skip("the target does not serve sources.knative.dev/v1 ApiServerSource")


def source(name: str, namespace: str, sink: dict, **spec: object) -> dict:
    return {"apiVersion": API_SERVER_SOURCE[0], "kind": API_SERVER_SOURCE[1],
            "metadata": {"name": name, "namespace": namespace}, "spec": {**spec, "sink": sink}}


def watcher(target: Target, namespace: str, account: str, resources: list[str]) -> None:
    """A ServiceAccount that may get, list and watch `resources` in `namespace`."""
    target.apply([service_account(account, namespace), role(account, namespace, resources),
                  role_binding(account, namespace, account, account)])


def config_map(name: str, namespace: str, labels: dict[str, str], data: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace,
                                                                  "labels": labels}, "data": data}


@pytest.mark.spec("MUST", "stable", source=DOCS)
def test_the_docs_apiserversource_sends_the_events_a_pod_causes_to_event_display(target: Target) -> None:
    with fixed_namespaces(target, EXAMPLE_NAMESPACE):
        target.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": EXAMPLE_NAMESPACE}})
        applied = apply_example(target, "apiserversource", "service-account.yaml", "role.yaml", "role-binding.yaml",
                                "sink.yaml", "apiserversource.yaml")
        assert [o["kind"] for o in applied] == ["ServiceAccount", "Role", "RoleBinding", "Deployment", "Service",
                                               "ApiServerSource"]
        target.wait_for(*DEPLOYMENT, "event-display", EXAMPLE_NAMESPACE, condition="Available", timeout=120)
        ready = target.wait_for(*API_SERVER_SOURCE, "testevents", EXAMPLE_NAMESPACE, timeout=60)
        status = ready["status"]
        assert status["sinkUri"] == f"http://event-display.{EXAMPLE_NAMESPACE}.svc.cluster.local"
        assert status["namespaces"] == [EXAMPLE_NAMESPACE]
        for condition in ("SinkProvided", "SufficientPermissions", "Deployed"):
            assert condition_status(ready, condition) == "True", condition
        sources = {a["source"] for a in status["ceAttributes"]}
        assert {a["type"] for a in status["ceAttributes"]} == {
            "dev.knative.apiserver.resource.add", "dev.knative.apiserver.resource.update",
            "dev.knative.apiserver.resource.delete"} and len(sources) == 1

        # kubectl run busybox --image=busybox --namespace=<namespace> --restart=Never -- ls
        target.create({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": "busybox", "namespace": EXAMPLE_NAMESPACE,
                                                                     "labels": {"run": "busybox"}},
                       "spec": {"restartPolicy": "Never",
                                "containers": [{"name": "busybox", "image": "busybox", "args": ["ls"]}]}})
        target.wait_until("v1", "Pod", "busybox", lambda p: (p or {}).get("status", {}).get("phase") == "Succeeded",
                          EXAMPLE_NAMESPACE, 60, what="Succeeded (ls ran)")
        target.delete("v1", "Pod", "busybox", EXAMPLE_NAMESPACE, timeout=60)

        def busybox_events() -> list[dict]:
            log = pod_log(target, EXAMPLE_NAMESPACE, "app=event-display", "event-display")
            return [e for e in displayed(log) if isinstance(e.get("data"), dict)
                    and (e["data"].get("involvedObject") or {}).get("name") == "busybox"]

        seen = eventually(busybox_events, 60, "an event about the busybox Pod displayed")
        assert isinstance(seen, list)
        event = seen[0]
        data = event["data"]
        assert event["type"] == "dev.knative.apiserver.resource.add"
        assert event["source"] in sources
        assert event["subject"] == f"/apis/v1/namespaces/{EXAMPLE_NAMESPACE}/events/{data['metadata']['name']}"
        assert event["datacontenttype"] == "application/json"
        assert (event["kind"], event["apiversion"], event["namespace"]) == ("Event", "v1", EXAMPLE_NAMESPACE)
        assert event["name"] == data["metadata"]["name"]
        assert data["kind"] == "Event" and data["involvedObject"]["kind"] == "Pod" and data.get("reason")
        assert str(uuid.UUID(event["id"])) == event["id"], "a fresh UUID per event"
        assert len({e["id"] for e in seen}) == len(seen)


@pytest.mark.spec("MUST", "stable", source=REFERENCE)
def test_reference_mode_sends_add_update_and_delete_of_the_selected_objects_in_order(bench: Bench) -> None:
    name, namespace = unique("refs"), bench.namespace
    path = f"/{name}"
    watcher(bench.target, namespace, name, ["configmaps"])
    bench.target.create(source(name, namespace, sink_ref("sink", namespace, path), serviceAccountName=name,
                               mode="Reference", resources=[{"apiVersion": "v1", "kind": "ConfigMap",
                                                             "selector": {"matchLabels": {"watched": name}}}],
                               ceOverrides={"extensions": {"kproofrun": name}}))
    try:
        ready = bench.target.wait_for(*API_SERVER_SOURCE, name, namespace, timeout=60)
        watched, ignored = f"{name}-watched", f"{name}-ignored"
        bench.target.create(config_map(ignored, namespace, {}, {"n": "0"}))
        bench.target.create(config_map(watched, namespace, {"watched": name}, {"n": "1"}))
        bench.target.patch("v1", "ConfigMap", watched, {"data": {"n": "2"}}, namespace)
        bench.target.delete("v1", "ConfigMap", watched, namespace)
        records = bench.await_records("sink", 3, path)
        records = bench.settled("sink", path, quiet=2.0)
    finally:
        bench.target.delete(*API_SERVER_SOURCE, name, namespace, wait=False)
    events = [r["event"] for r in records]
    assert [e["type"] for e in events] == list(REF_TYPES), "add, update, delete, in order, nothing else"
    source_uri = ready["status"]["ceAttributes"][0]["source"]
    for record, event in zip(records, events, strict=True):
        assert event["source"] == source_uri
        assert event["subject"] == f"/apis/v1/namespaces/{namespace}/configmaps/{watched}"
        assert (event["kind"], event["apiversion"], event["name"], event["namespace"]) == (
            "ConfigMap", "v1", watched, namespace)
        assert event["kproofrun"] == name, "spec.ceOverrides extensions are on every event"
        assert event.get("time") and event.get("datacontenttype") == "application/json"
        assert record["data"] == {"kind": "ConfigMap", "namespace": namespace, "name": watched, "apiVersion": "v1"}
    assert len({e["id"] for e in events}) == 3


@pytest.mark.spec("MUST", "stable", source=REFERENCE)
def test_a_namespace_selector_watches_every_namespace_it_selects(bench: Bench) -> None:
    name, namespace = unique("nssel"), bench.namespace
    other = f"{namespace}-{name}"
    path = f"/{name}"
    target = bench.target
    target.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other, "labels": {"kproof": name}}})
    target.patch("v1", "Namespace", namespace, {"metadata": {"labels": {"kproof": name}}})
    target.apply([service_account(name, namespace),
                  {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": name},
                   "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]},
                  role_binding(name, namespace, name, name, cluster=True)])
    target.create(source(name, namespace, sink_ref("sink", namespace, path), serviceAccountName=name,
                         resources=[{"apiVersion": "v1", "kind": "ConfigMap",
                                     "selector": {"matchLabels": {"watched": name}}}],
                         namespaceSelector={"matchLabels": {"kproof": name}}))
    try:
        ready = target.wait_for(*API_SERVER_SOURCE, name, namespace, timeout=60)
        assert ready["status"]["namespaces"] == sorted([namespace, other])
        target.create(config_map(name, other, {"watched": name}, {"n": "1"}))
        event = bench.await_records("sink", 1, path)[0]["event"]
        assert event["type"] == "dev.knative.apiserver.ref.add" and event["namespace"] == other
    finally:
        target.delete(*API_SERVER_SOURCE, name, namespace, wait=False)
        target.delete("v1", "Namespace", other, wait=False)
        target.delete(RBAC, "ClusterRoleBinding", name, wait=False)
        target.delete(RBAC, "ClusterRole", name, wait=False)


@pytest.mark.spec("MUST", "stable", source=DOCS)
def test_a_service_account_that_may_not_watch_leaves_the_source_not_ready(bench: Bench) -> None:
    name, namespace = unique("noperm"), bench.namespace
    bench.target.create(service_account(name, namespace))
    bench.target.create(source(name, namespace, sink_ref("sink", namespace), serviceAccountName=name,
                               resources=[{"apiVersion": "v1", "kind": "ConfigMap"}]))
    try:
        found = bench.target.wait_until(*API_SERVER_SOURCE, name,
                                        lambda s: condition_status(s or {}, "SufficientPermissions") == "False",
                                        namespace, 30, what="SufficientPermissions=False")
    finally:
        bench.target.delete(*API_SERVER_SOURCE, name, namespace, wait=False)
    assert found is not None and condition_status(found, "Ready") == "False"
    message = next(c.get("message", "") for c in found["status"]["conditions"] if c["type"] == "SufficientPermissions")
    assert f"system:serviceaccount:{namespace}:{name}" in message
    assert 'cannot get, list, watch resource "configmaps"' in message, message


@pytest.mark.spec("MUST", "stable", source=REFERENCE)
@pytest.mark.parametrize(("spec", "field"), [
    ({"resources": []}, "spec.resources"),
    ({"mode": "Everything", "resources": [{"apiVersion": "v1", "kind": "Event"}]}, "spec.mode"),
    ({"resources": [{"apiVersion": "v1"}]}, "spec.resources[0].kind"),
])
def test_bad_specs_are_refused_naming_the_field(target: Target, namespace: str, spec: dict, field: str) -> None:
    manifest = source(unique("bad"), namespace, {"uri": "http://example.com"}, **spec)
    assert_invalid(refused(lambda: target.create(manifest)), field)

