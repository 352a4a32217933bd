"""Knative Eventing details in process: multi-key exact/prefix/suffix filters pass admission, a Trigger's
`knative.dev/dependency`, and a channel's own delivery spec (its resolved dead-letter sink, inherited by
subscriptions without one)."""

import asyncio
import json

import pytest

from reference.apis import conditions
from reference.apiserver.admission.eventing import validate_trigger
from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.errors import ApiError
from reference.apiserver.registry import Registry
from reference.apiserver.store import Store
from reference.eventing.broker import DEPENDENCY, TriggerReconciler
from reference.eventing.channel import InMemoryChannelReconciler, channel_delivery
from tests.unit.admission_helpers import context

SINK = {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "recorder", "namespace": "ns"}}
PING = {"apiVersion": "sources.knative.dev/v1", "kind": "PingSource", "name": "beat"}


def test_exact_prefix_and_suffix_take_several_attributes() -> None:
    for dialect in ("exact", "prefix", "suffix"):
        trigger = {"metadata": {"name": "t", "namespace": "ns"},
                   "spec": {"broker": "default", "subscriber": SINK,
                            "filters": [{dialect: {"type": "a", "source": "b", "subject": "c"}}]}}
        assert validate_trigger(trigger, None, context("CREATE")) is None, dialect


def _registry() -> Registry:
    registry = Registry(Store())
    bootstrap(registry)
    return registry


def _kind(registry: Registry, group: str, version: str, resource: str):
    return registry.kinds.by_path(group, version, resource)


def _dependency_ready(registry: Registry, reconciler: TriggerReconciler) -> dict:
    asyncio.run(reconciler.reconcile(("default", "t")))
    trigger = registry.get(_kind(registry, "eventing.knative.dev", "v1", "triggers"), "default", "t")
    return conditions.get(trigger, "DependencyReady")


def test_a_trigger_waits_for_its_dependency_to_exist_and_be_ready() -> None:
    registry = _registry()
    triggers = _kind(registry, "eventing.knative.dev", "v1", "triggers")
    registry.create(triggers, "default", {
        "metadata": {"name": "t", "annotations": {DEPENDENCY: json.dumps(PING)}},
        "spec": {"broker": "default", "subscriber": {"uri": "http://sink.default.svc.cluster.local"}}})
    reconciler = TriggerReconciler(registry)
    missing = _dependency_ready(registry, reconciler)
    assert (missing["status"], missing.get("reason")) == ("False", "DependencyDoesNotExist")
    pings = _kind(registry, "sources.knative.dev", "v1", "pingsources")
    source = registry.create(pings, "default", {"metadata": {"name": "beat"}, "spec": {
        "schedule": "* * * * *", "sink": {"uri": "http://sink.default.svc.cluster.local"}}})
    assert list(reconciler._waiting_on(source)) == [("default", "t")], "a change to the source wakes the trigger"
    source["status"] = {"observedGeneration": source["metadata"]["generation"],
                        "conditions": [{"type": "Ready", "status": "False", "reason": "NoSink", "message": "x"}]}
    source = registry.update(pings, "default", "beat", source, subresource="status")
    failing = _dependency_ready(registry, reconciler)
    assert (failing["status"], failing.get("reason")) == ("False", "NoSink")
    source["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    registry.update(pings, "default", "beat", source, subresource="status")
    assert _dependency_ready(registry, reconciler)["status"] == "True"


def test_a_malformed_dependency_annotation_is_refused_and_a_stored_one_is_a_reference_error() -> None:
    registry = _registry()
    triggers = _kind(registry, "eventing.knative.dev", "v1", "triggers")
    body = {"metadata": {"name": "t", "annotations": {DEPENDENCY: "not json"}},
            "spec": {"broker": "default", "subscriber": {"uri": "http://sink.default.svc.cluster.local"}}}
    with pytest.raises(ApiError) as refused:
        registry.create(triggers, "default", json.loads(json.dumps(body)))
    assert refused.value.code == 422 and "metadata.annotations[knative.dev/dependency]" in str(refused.value)
    # One stored before admission checked the annotation still gets Knative's reconciler condition.
    body["metadata"]["annotations"] = {}
    stored = registry.create(triggers, "default", body)
    stored["metadata"]["annotations"] = {DEPENDENCY: "not json"}
    registry.store.put(triggers.resource, stored, created=False)
    found = _dependency_ready(registry, TriggerReconciler(registry))
    assert (found["status"], found.get("reason")) == ("False", "ReferenceError")


def test_an_in_memory_channel_resolves_its_dead_letter_sink_into_its_status() -> None:
    registry = _registry()
    imcs = _kind(registry, "messaging.knative.dev", "v1", "inmemorychannels")
    registry.create(imcs, "default", {"metadata": {"name": "c"}, "spec": {"delivery": {
        "retry": 2, "deadLetterSink": {"uri": "http://dls.default.svc.cluster.local/dead"}}}})
    asyncio.run(InMemoryChannelReconciler(registry).reconcile(("default", "c")))
    channel = registry.get(imcs, "default", "c")
    assert channel["status"]["deadLetterSinkUri"] == "http://dls.default.svc.cluster.local/dead"
    assert conditions.get(channel, "DeadLetterSinkResolved")["status"] == "True"
    assert channel_delivery(channel) == ({"retry": 2, "deadLetterSink": {
        "uri": "http://dls.default.svc.cluster.local/dead"}}, None)


def test_a_subscription_waits_for_its_channel_to_resolve_the_dead_letter_sink() -> None:
    channel = {"metadata": {"name": "c"}, "spec": {"delivery": {"deadLetterSink": {"ref": {"name": "dls"}}}}}
    taken, problem = channel_delivery(channel)
    assert taken is None and "has not resolved its deadLetterSink" in (problem or "")
    assert channel_delivery({"metadata": {"name": "c"}, "spec": {}}) == (None, None)


def test_a_ref_to_a_kubernetes_service_resolves_to_its_cluster_local_name() -> None:
    """Knative's resolver calls a core Service though it is not Addressable; it must exist."""
    from reference.eventing.resolver import Unresolvable, resolve

    registry = _registry()
    services = _kind(registry, "", "v1", "services")
    ref = {"ref": {"apiVersion": "v1", "kind": "Service", "name": "sink"}}
    with pytest.raises(Unresolvable, match='Service "sink" not found'):
        resolve(ref, "default", registry.store, registry.kinds)
    registry.create(services, "default", {"metadata": {"name": "sink"},
                                          "spec": {"ports": [{"port": 80, "targetPort": 8080}]}})
    assert resolve(ref, "default", registry.store, registry.kinds) == "http://sink.default.svc.cluster.local"
    assert resolve({**ref, "uri": "/events"}, "default", registry.store, registry.kinds) == \
        "http://sink.default.svc.cluster.local/events"
