"""Knative Eventing details, written from Knative's behaviour: multi-key exact filters, a channel's own
delivery spec, delivery.format, event validity and header encoding as sdk-go has them, Kn-Namespace on
deliveries, the TTL at the ingress, and a Trigger's `knative.dev/dependency`."""

from __future__ import annotations

import json
import shutil
from urllib.parse import quote

import pytest
import yaml

from conformance.api.test_kubectl import kubectl
from conformance.eventing.support import CHANNEL, SUBSCRIPTION, TRIGGER, Bench, event, ids, sink_ref
from conformance.eventing.test_channels import channel, subscription
from conformance.helpers import assert_invalid, refused, unique
from kproof.target import condition_status

PING = ("sources.knative.dev/v1", "PingSource")
STRUCTURED = {"content-type": "application/cloudevents+json"}
# The HTTP binding: space, double quote, percent and anything outside printable ASCII are percent-encoded.
HEADER_SAFE = "".join(c for c in map(chr, range(0x21, 0x7F)) if c not in '"%')


def _header(record: dict, name: str) -> str | None:
    return next((v for k, v in record["headers"].items() if k.lower() == name.lower()), None)


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#triggerfilter: \"Each key in the "
                  "map MUST be compared ... All keys MUST match\"")
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_a_three_key_exact_filter_applied_with_kubectl_matches_on_all_three(bench: Bench) -> None:
    name = unique("three")
    manifest = {"apiVersion": TRIGGER[0], "kind": TRIGGER[1], "metadata": {"name": name, "namespace": bench.namespace},
                "spec": {"broker": "default", "subscriber": sink_ref("sink", bench.namespace, "/three"),
                         "filters": [{"exact": {"type": "kproof.three", "source": "/shop/eu", "region": "eu"}}]}}
    kubectl(bench.target, "apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    bench.target.wait_for(*TRIGGER, name, bench.namespace, timeout=60)
    match = event("kproof.three", source="/shop/eu", region="eu")
    for body in (match, event("kproof.three", source="/shop/eu", region="us"),
                 event("kproof.three", source="/shop/us", region="eu"), event("kproof.three", source="/shop/eu")):
        assert bench.send(body)["status"] == 202
    assert ids(bench.settled("sink", "/three")) == [match["id"]]


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#channel: spec.delivery, "
                  "\"Default delivery options for Subscriptions which do not specify more-specific options\"")
def test_a_channels_own_delivery_applies_to_subscriptions_without_one(bench: Bench) -> None:
    name = unique("chdls")
    bench.configure("flaky", fail_first=100, fail_status=500)
    bench.configure("dls")
    bench.target.create({**channel(name, bench.namespace), "spec": {"delivery": {
        "retry": 1, "backoffDelay": "PT0.1S", "deadLetterSink": sink_ref("dls", bench.namespace, "/chan-dead")}}})
    ready = bench.target.wait_for(*CHANNEL, name, bench.namespace, timeout=60)
    assert ready["status"].get("deadLetterSinkUri", "").endswith("/chan-dead"), ready["status"]
    bench.target.create(subscription(name, bench.namespace, name, sink_ref("flaky", bench.namespace, "/chan-fail")))
    bench.target.wait_for(*SUBSCRIPTION, name, bench.namespace, timeout=60)
    sent = event("kproof.channel.dls")
    bench.send(sent, url=ready["status"]["address"]["url"])
    (dead,) = bench.await_records("dls", 1, "/chan-dead")
    assert dead["event"]["id"] == sent["id"] and dead["event"]["knativeerrorcode"] == "500"
    assert len(bench.settled("flaky", "/chan-fail", quiet=1.0)) == 2, "the channel's retry 1: two attempts"


@pytest.mark.spec("SHOULD", "beta", source="knative/eventing DeliverySpec.format (json: structured, ingress: binary)")
def test_delivery_format_chooses_structured_or_binary_mode(bench: Bench) -> None:
    for fmt in ("json", "binary"):
        bench.trigger(unique(fmt), f"/format-{fmt}", filters=[{"exact": {"type": "kproof.format"}}],
                      delivery={"format": fmt})
    bench.trigger(unique("default"), "/format-default", filters=[{"exact": {"type": "kproof.format"}}])
    name = unique("chfmt")
    bench.target.create(channel(name, bench.namespace))
    bench.target.create(subscription(name, bench.namespace, name, sink_ref("sink", bench.namespace, "/format-sub"),
                                     delivery={"format": "json"}))
    bench.target.wait_for(*SUBSCRIPTION, name, bench.namespace, timeout=60)
    url = bench.target.wait_for(*CHANNEL, name, bench.namespace, timeout=60)["status"]["address"]["url"]
    sent = event("kproof.format")
    assert bench.send(sent)["status"] == 202
    bench.send(sent, url=url)
    for path, structured in (("/format-json", True), ("/format-binary", False), ("/format-default", False),
                             ("/format-sub", True)):
        (record,) = bench.await_records("sink", 1, path)
        content_type = (_header(record, "content-type") or "").split(";")[0]
        assert (content_type == "application/cloudevents+json") is structured, (path, record["headers"])
        assert (_header(record, "ce-id") is None) is structured, path
        assert record["event"]["id"] == sent["id"] and record["data"] == sent["data"], path


@pytest.mark.spec("SHOULD", "stable", source="knative/eventing broker ingress: an event is valid as "
                  "cloudevents/sdk-go's Validate says")
def test_the_ingress_judges_events_as_sdk_go_does(bench: Bench) -> None:
    bench.trigger(unique("t"), "/validity", filters=[{"exact": {"type": "kproof.validity"}}])
    url = bench.broker_url()

    def body(**attributes: object) -> str:
        return json.dumps({"specversion": "1.0", "id": unique("v"), "source": "/kproof", "type": "kproof.validity",
                           **attributes})

    with_null = body(subject=None, region=None)
    assert bench.forward(url, headers=STRUCTURED, body=with_null)["status"] == 202
    assert bench.forward(url, headers=STRUCTURED, body=body(time="yesterday"))["status"] == 400
    assert bench.forward(url, headers=STRUCTURED, body=body(time="2024-02-30T00:00:00Z"))["status"] == 400
    assert bench.forward(url, headers=STRUCTURED, body=body(id=42))["status"] == 400
    binary = {"ce-specversion": "1.0", "ce-id": unique("v"), "ce-source": "/kproof", "ce-type": "kproof.validity",
              "content-type": "application/json"}
    assert bench.forward(url, headers={**binary, "ce-time": "not-a-time"}, body="{}")["status"] == 400
    (record,) = bench.await_records("sink", 1, "/validity")
    assert record["event"]["id"] == json.loads(with_null)["id"]
    assert "subject" not in record["event"] and "region" not in record["event"], "null means absent"
    assert _header(record, "ce-subject") is None and _header(record, "ce-region") is None


@pytest.mark.spec("MUST", "stable", source="CloudEvents HTTP protocol binding 1.0, 3.1.3.2: header values \"MUST\" "
                  "be percent-encoded where they are not printable ASCII")
def test_header_values_reach_subscribers_percent_encoded_as_the_spec_says(bench: Bench) -> None:
    bench.trigger(unique("t"), "/encoding", filters=[{"exact": {"type": "kproof.encoding"}}])
    value = 'say "hi" 100% caf\u00e9 a+b/c?d=e&f#g'
    sent = event("kproof.encoding", greeting=value)
    assert bench.send(sent)["status"] == 202
    (record,) = bench.await_records("sink", 1, "/encoding")
    assert _header(record, "ce-greeting") == quote(value, safe=HEADER_SAFE)
    assert record["event"]["greeting"] == value


@pytest.mark.spec("MAY", "stable", source="knative/specs eventing/control-plane.md#content-based-routing: "
                  "\"Implementations MAY implement event-loop detection\"")
def test_the_ingress_takes_one_off_the_ttl_and_refuses_an_event_with_none_left(bench: Bench) -> None:
    url = bench.broker_url()
    binary = {"ce-specversion": "1.0", "ce-source": "/kproof", "ce-type": "kproof.ttl",
              "content-type": "application/json"}
    assert bench.forward(url, headers={**binary, "ce-id": unique("ttl"), "ce-knativebrokerttl": "1"},
                         body="{}")["status"] == 400
    assert bench.forward(url, headers={**binary, "ce-id": unique("ttl"), "ce-knativebrokerttl": "2"},
                         body="{}")["status"] == 202


@pytest.mark.spec("SHOULD", "beta", source="knative/eventing: deliveries carry the Kn-Namespace header")
def test_deliveries_carry_the_namespace_they_come_from(bench: Bench) -> None:
    bench.trigger(unique("t"), "/ns-trigger", filters=[{"exact": {"type": "kproof.namespace"}}])
    name = unique("chns")
    bench.target.create(channel(name, bench.namespace))
    bench.target.create(subscription(name, bench.namespace, name, sink_ref("sink", bench.namespace, "/ns-channel")))
    bench.target.wait_for(*SUBSCRIPTION, name, bench.namespace, timeout=60)
    url = bench.target.wait_for(*CHANNEL, name, bench.namespace, timeout=60)["status"]["address"]["url"]
    sent = event("kproof.namespace")
    assert bench.send(sent)["status"] == 202
    bench.send(sent, url=url)
    for path in ("/ns-trigger", "/ns-channel"):
        (record,) = bench.await_records("sink", 1, path)
        assert _header(record, "Kn-Namespace") == bench.namespace, (path, record["headers"])


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, triggers: the knative.dev/dependency annotation holds "
                  "the Trigger until the dependency is Ready")
def test_a_trigger_waits_for_its_dependency(bench: Bench) -> None:
    """Knative's `knative.dev/dependency`: DependencyReady is False while the PingSource does not exist, and
    the Trigger becomes Ready once it exists and is Ready. (The PingSource's events and their Kn-Namespace are
    checked in sources/test_ping_and_container.py; waiting here for the minute would only repeat it.)"""
    source, name = unique("beat"), unique("t")
    dependency = {"kind": PING[1], "name": source, "apiVersion": PING[0]}
    bench.target.create({"apiVersion": TRIGGER[0], "kind": TRIGGER[1], "metadata": {
        "name": name, "namespace": bench.namespace, "annotations": {"knative.dev/dependency": json.dumps(dependency)}},
        "spec": {"broker": "default", "subscriber": sink_ref("sink", bench.namespace, "/dependent"),
                 "filters": [{"exact": {"type": "dev.knative.sources.ping"}}]}})
    waiting = bench.target.wait_until(*TRIGGER, name, lambda t: condition_status(t or {}, "DependencyReady")
                                      == "False", bench.namespace, 30, what="DependencyReady=False")
    assert condition_status(waiting, "Ready") != "True"
    reason = next(c.get("reason") for c in waiting["status"]["conditions"] if c["type"] == "DependencyReady")
    assert reason, "DependencyReady False says why"
    bench.target.create({"apiVersion": PING[0], "kind": PING[1], "metadata": {"name": source,
                                                                             "namespace": bench.namespace},
                         "spec": {"schedule": "* * * * *", "contentType": "application/json", "data": '{"beat": 1}',
                                  "sink": sink_ref("sink", bench.namespace, "/ping")}})
    try:
        bench.target.wait_for(*PING, source, bench.namespace, timeout=60)
        ready = bench.target.wait_for(*TRIGGER, name, bench.namespace, timeout=60)
        assert condition_status(ready, "DependencyReady") == "True"
    finally:
        bench.target.delete(*PING, source, bench.namespace, wait=False)


@pytest.mark.spec("SHOULD", "stable", source="knative/eventing Trigger validation: knative.dev/dependency must "
                  "decode as an ObjectReference with kind, name, apiVersion")
@pytest.mark.parametrize(("dependency", "field"), [
    ("PingSource/beat", "metadata.annotations[knative.dev/dependency]"),
    ('{"name": "beat", "apiVersion": "sources.knative.dev/v1"}', "metadata.annotations[knative.dev/dependency].kind"),
    ('{"kind": "PingSource", "name": "beat", "apiVersion": "sources.knative.dev/v1", "namespace": "elsewhere"}',
     "metadata.annotations[knative.dev/dependency].namespace"),
])
def test_a_dependency_that_is_not_an_object_reference_is_refused(bench: Bench, dependency: str, field: str) -> None:
    """Knative's webhook decodes the annotation as a corev1.ObjectReference in the Trigger's namespace,
    with kind, name and apiVersion."""
    trigger = {"apiVersion": TRIGGER[0], "kind": TRIGGER[1], "metadata": {
        "name": unique("t"), "namespace": bench.namespace, "annotations": {"knative.dev/dependency": dependency}},
        "spec": {"broker": "default", "subscriber": sink_ref("sink", bench.namespace, "/dependent")}}
    assert_invalid(refused(lambda: bench.target.create(trigger)), field)


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#destination-resolution: \"two "
                  "mechanisms MUST be supported\": \"Kubernetes v1/Service objects are resolved to the service's "
                  "cluster-local DNS name\"")
def test_a_subscriber_ref_to_a_kubernetes_service_is_its_cluster_local_name(bench: Bench) -> None:
    """Knative's resolver calls a core `v1 Service` by its cluster-local name; the Route's Service named
    after the recorder's Knative Service then carries the events to it."""
    name = unique("t")
    bench.target.create({"apiVersion": TRIGGER[0], "kind": TRIGGER[1], "metadata": {
        "name": name, "namespace": bench.namespace}, "spec": {
        "broker": "default", "filters": [{"exact": {"type": "kproof.core-service"}}],
        "subscriber": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "sink"}, "uri": "/core-service"}}})
    ready = bench.target.wait_for(*TRIGGER, name, bench.namespace, timeout=60)
    assert ready["status"]["subscriberUri"] == f"http://sink.{bench.namespace}.svc.cluster.local/core-service"
    assert bench.send(event("kproof.core-service"))["status"] == 202
    (record,) = bench.await_records("sink", 1, "/core-service")
    assert record["event"]["type"] == "kproof.core-service"
