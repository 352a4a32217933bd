"""Broker and Trigger: control-plane statuses and the broker ingress's answers (Knative's broker
conformance: Ready with an address, triggers Ready with a subscriber URI, 202/400/404/405/413, OPTIONS,
CloudEvents 1.0 and 0.3 in both modes, knativearrivaltime)."""

from __future__ import annotations

import base64
import json
import time

import pytest

from conformance.eventing.support import BROKER, TRIGGER, Bench, broker_manifest, event, ids, sink_ref
from conformance.helpers import assert_invalid, refused, unique
from kproof.target import REFERENCE, condition_status


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#broker-lifecycle: \"When a "
                  "Broker's Ready condition is true, the Broker MUST provide a status.address.url\"")
def test_broker_is_ready_with_an_address_on_its_path(bench: Bench) -> None:
    broker = bench.target.get(*BROKER, "default", bench.namespace)
    assert condition_status(broker, "Ready") == "True"
    url = broker["status"]["address"]["url"]
    assert url.endswith(f"/{bench.namespace}/default"), url
    annotations = broker["metadata"].get("annotations") or {}
    assert annotations.get("eventing.knative.dev/broker.class"), "the broker class is defaulted"


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#trigger-lifecycle: \"The "
                  "Trigger's controller MUST also set the status.subscriberUri field\"")
def test_trigger_is_ready_with_its_subscriber_uri(bench: Bench) -> None:
    trigger = bench.trigger(unique("t"), "/ready", filters=[{"exact": {"type": "kproof.ready"}}])
    uri = trigger["status"]["subscriberUri"]
    assert uri.endswith("/ready") and "sink" in uri
    assert condition_status(trigger, "BrokerReady") == "True"
    assert condition_status(trigger, "SubscriberResolved") == "True"


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#trigger-lifecycle: \"A Trigger "
                  "MAY be created before the referenced Broker\"; until the Broker is ready \"the Trigger's Ready "
                  "condition MUST be false\"")
def test_a_trigger_made_before_its_broker_becomes_ready_when_the_broker_appears(bench: Bench) -> None:
    late = unique("late")
    name = unique("t")
    bench.trigger(name, "/late", broker=late, filters=[{"exact": {"type": "kproof.late"}}], wait=False)
    # Knative's broker-class controller reconciles a Trigger only once its Broker exists (until then it has no
    # conditions); the reference says BrokerReady False at once. Neither calls it Ready.
    time.sleep(2)
    waiting = bench.target.get(*TRIGGER, name, bench.namespace)
    assert waiting is not None and condition_status(waiting, "Ready") != "True", "Ready without its Broker"
    bench.target.create(broker_manifest(late, bench.namespace))
    try:
        bench.target.wait_for(*TRIGGER, name, bench.namespace, timeout=60)
        sent = event("kproof.late")
        assert bench.send(sent, url=bench.broker_url(late))["status"] == 202
        assert ids(bench.await_records("sink", 1, "/late")) == [sent["id"]]
    finally:
        bench.target.delete(*BROKER, late, bench.namespace, wait=False)


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#trigger-lifecycle: \"the Trigger "
                  "MUST set the Ready condition to false, and at least one condition MUST indicate the reason for "
                  "the error\"")
def test_a_trigger_with_an_unresolvable_subscriber_is_not_ready(bench: Bench) -> None:
    name = unique("t")
    bench.target.create({"apiVersion": TRIGGER[0], "kind": TRIGGER[1],
                         "metadata": {"name": name, "namespace": bench.namespace},
                         "spec": {"broker": "default", "subscriber": sink_ref("nobody", bench.namespace)}})
    found = bench.target.wait_until(*TRIGGER, name, lambda t: condition_status(t or {}, "SubscriberResolved")
                                    == "False", bench.namespace, 30, what="SubscriberResolved=False")
    assert condition_status(found, "Ready") == "False"


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#trigger: spec.broker is REQUIRED")
def test_a_trigger_without_a_broker_is_refused(bench: Bench) -> None:
    err = refused(lambda: bench.target.create({
        "apiVersion": TRIGGER[0], "kind": TRIGGER[1], "metadata": {"name": unique("t"), "namespace": bench.namespace},
        "spec": {"subscriber": sink_ref("sink", bench.namespace)}}))
    assert_invalid(err, "spec.broker")


@pytest.mark.spec("SHOULD", "stable", source="knative/eventing Trigger validation: a `cesql` filter is parsed at "
                  "admission (new trigger filters, GA since knative/eventing#8067)")
def test_a_bad_cesql_expression_is_refused(bench: Bench) -> None:
    err = refused(lambda: bench.target.create({
        "apiVersion": TRIGGER[0], "kind": TRIGGER[1], "metadata": {"name": unique("t"), "namespace": bench.namespace},
        "spec": {"broker": "default", "subscriber": sink_ref("sink", bench.namespace),
                 "filters": [{"cesql": "type = 'a' AND ("}]}}))
    assert_invalid(err, "spec.filters[0].cesql")


@pytest.mark.spec("SHOULD", "stable", source="knative/specs eventing/data-plane.md#minimum-supported-protocol: "
                  "\"MUST support the CloudEvents 1.0 protocol and the binary and structured content modes\"; "
                  "CloudEvents 0.3 as Knative's broker takes it")
def test_ingress_accepts_cloudevents_in_both_modes_and_versions(bench: Bench) -> None:
    bench.trigger(unique("t"), "/modes", filters=[{"prefix": {"type": "kproof.modes"}}])
    v1_binary = event("kproof.modes.binary", color="red")
    v1_structured = event("kproof.modes.structured")
    v03 = event("kproof.modes.v03", specversion="0.3")
    assert bench.send(v1_binary)["status"] == 202
    assert bench.send(v1_structured, mode="structured")["status"] == 202
    assert bench.send(v03, mode="structured")["status"] == 202
    got = {r["event"]["id"]: r for r in bench.await_records("sink", 3, "/modes")}
    assert set(got) == {v1_binary["id"], v1_structured["id"], v03["id"]}
    assert got[v03["id"]]["event"]["specversion"] == "0.3", "the broker never upgrades the version"
    assert got[v1_binary["id"]]["event"]["color"] == "red", "extensions pass through"
    assert got[v1_binary["id"]]["data"] == v1_binary["data"], "data passes through"
    for record in got.values():
        assert record["event"].get("knativearrivaltime"), "the broker stamps knativearrivaltime"


@pytest.mark.spec("SHOULD", "stable", source="knative/specs "
                  "eventing/data-plane.md#event-acknowledgement-and-delivery-retry: \"400 Unparsable event\"; "
                  "Knative's broker ingress: 404 for an unknown broker, 405 for another verb")
def test_ingress_refuses_what_it_cannot_take(bench: Bench) -> None:
    url = bench.broker_url()
    ce = {"ce-specversion": "1.0", "ce-source": "/kproof", "ce-type": "kproof.bad", "content-type": "application/json"}
    assert bench.forward(url, headers=ce, body="{}")["status"] == 400, "no id: malformed"
    assert bench.forward(url, headers={"content-type": "application/json"}, body="{}")["status"] == 400
    assert bench.forward(url, headers={"content-type": "application/cloudevents+json"},
                         body="{not json")["status"] == 400
    assert bench.forward(url, method="GET")["status"] == 405
    assert bench.forward(url, method="PUT", headers={**ce, "ce-id": "1"}, body="{}")["status"] == 405
    options = bench.forward(url, method="OPTIONS")
    assert options["status"] == 200
    headers = {k.lower(): v for k, v in options["headers"].items()}
    assert headers.get("webhook-allowed-origin") == "*"
    unknown = url.rsplit("/", 1)[0] + "/" + unique("nobroker")
    assert bench.forward(unknown, headers={**ce, "ce-id": "1"}, body="{}")["status"] == 404
    assert bench.forward(url, headers={**ce, "ce-id": "1", "ce-knativebrokerttl": "0"}, body="{}")["status"] == 400


# CloudEvents: attribute names "MUST consist of lower-case letters ('a' to 'z') or digits ('0' to '9')". sdk-go,
# which Knative's broker ingress parses with, also takes upper-case letters (and lower-cases them); anything
# else it refuses. `type:spoofed.type` would reach a subscriber as a second ce-type.
BAD_ATTRIBUTES = {"type:spoofed.type": "x", "foo bar": "x", "a.b": "x", "f\u00e9e": "x"}
# What the reference refuses and Knative's broker takes (docs/differences.md): a name with an upper-case letter,
# a String value with a control character (no header can carry CR or LF), an event over 4 MiB.
STRICTER = {"Upper": "x", "subject": "line\r\nbreak"}


def _structured(bench: Bench, url: str, name: str, value: str) -> int:
    body = json.dumps({"specversion": "1.0", "id": unique("bad"), "source": "/kproof", "type": "kproof.bad",
                       name: value})
    return int(bench.forward(url, headers={"content-type": "application/cloudevents+json"}, body=body)["status"])


@pytest.mark.spec("SHOULD", "stable", source="CloudEvents 1.0 spec: attribute names \"MUST consist of lower-case "
                  "letters ('a' to 'z') or digits\"; Knative's broker (sdk-go) refuses other characters with 400")
def test_ingress_refuses_bad_attribute_names_and_values(bench: Bench) -> None:
    url = bench.broker_url()
    for name, value in BAD_ATTRIBUTES.items():
        assert _structured(bench, url, name, value) == 400, f"attribute {name!r}"
    deep = json.dumps({"specversion": "1.0", "id": unique("deep"), "source": "/kproof", "type": "kproof.deep",
                       "data": None}).replace("null", "[" * 2000 + "]" * 2000)
    structured = {"content-type": "application/cloudevents+json"}
    assert bench.forward(url, headers=structured, body=deep)["status"] in (202, 400), "data nested 2,000 deep"


@pytest.mark.spec("MAY", "stable", source="CloudEvents 1.0 spec: names of lower-case letters and digits, String "
                  "values without control characters; kproof's reference holds its broker ingress to both and to 4 "
                  "MiB, where Knative's takes all three (docs/differences.md)")
@pytest.mark.requires(REFERENCE)
def test_the_reference_ingress_refuses_what_the_spec_forbids_and_knative_takes(bench: Bench) -> None:
    url = bench.broker_url()
    for name, value in STRICTER.items():
        assert _structured(bench, url, name, value) == 400, f"attribute {name!r}"
    headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/kproof", "ce-type": "kproof.bad",
               "content-type": "application/json"}
    assert bench.forward(url, headers=headers, size=12 * 1024 * 1024)["status"] == 413


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#content-based-routing: \"The "
                  "implementation MUST NOT modify the event data in this process\"")
def test_binary_data_passes_through_unchanged(bench: Bench) -> None:
    bench.trigger(unique("t"), "/bytes", filters=[{"exact": {"type": "kproof.bytes"}}])
    payload = bytes(range(256))
    body = {"specversion": "1.0", "id": unique("id"), "source": "/kproof", "type": "kproof.bytes",
            "datacontenttype": "application/octet-stream", "data_base64": base64.b64encode(payload).decode()}
    assert bench.send(body, mode="structured")["status"] == 202
    (record,) = bench.await_records("sink", 1, "/bytes")
    assert base64.b64decode(record["body"]) == payload
