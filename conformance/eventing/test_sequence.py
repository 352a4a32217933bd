"""Sequence (flows.knative.dev/v1): Knative's "Sequence wired to event-display" example applied as the docs
give it, its channels, Subscriptions and status; 1,000 events through three steps, none lost or
duplicated, also past a step that fails a fifth of its attempts; a step's own dead-letter sink; bad specs
refused naming the field."""

from __future__ import annotations

import base64

import pytest

from conformance.eventing.docs_support import apply_example
from conformance.eventing.flows_support import (
    KSVC,
    PING_SOURCE,
    SEQUENCE,
    displayed_events,
    duplicates,
    event_display_log,
    flow,
    flow_address,
    numbered,
    send_many,
)
from conformance.eventing.support import IMC, SUBSCRIPTION, Bench, event, ids, sink_ref
from conformance.helpers import assert_invalid, eventually, refused, unique
from kproof.target import condition_status

DOCS = "https://knative.dev/docs/eventing/flows/sequence/sequence-reply-to-event-display/"
FLOWS = "https://knative.dev/docs/eventing/flows/sequence/"
STEPS = ("first", "second", "third")
EVENTS = 1000


@pytest.fixture(scope="module")
def steps(bench: Bench) -> Bench:
    """The docs' three appender steps and event-display, Ready."""
    apply_example(bench.target, "sequence", "steps.yaml", "event-display.yaml", namespace=bench.namespace)
    for name in (*STEPS, "event-display"):
        bench.target.wait_for(*KSVC, name, bench.namespace, timeout=180)
    return bench


def step(name: str, namespace: str, delivery: dict | None = None) -> dict:
    found = sink_ref(name, namespace)
    if delivery:
        found["delivery"] = delivery
    return found


def sequence(name: str, namespace: str, steps: list[dict], reply: dict | None = None) -> dict:
    return flow(SEQUENCE, name, namespace, steps, reply)


def address(bench: Bench, name: str) -> str:
    return flow_address(bench, SEQUENCE, name)


@pytest.mark.spec("MUST", "stable", source=DOCS)
def test_the_docs_sequence_appends_each_step_in_order_and_replies_to_event_display(steps: Bench) -> None:
    bench = steps
    applied = apply_example(bench.target, "sequence", "sequence.yaml", "ping-source.yaml", namespace=bench.namespace)
    assert [o["kind"] for o in applied] == ["Sequence", "PingSource"]
    ready = bench.target.wait_for(*SEQUENCE, "sequence", bench.namespace, timeout=90)
    status = ready["status"]
    channels = [s["channel"]["name"] for s in status["channelStatuses"]]
    assert channels == [f"sequence-kn-sequence-{i}" for i in range(3)]
    assert [s["subscription"]["name"] for s in status["subscriptionStatuses"]] == channels
    assert all(s["ready"]["status"] == "True" for s in status["channelStatuses"] + status["subscriptionStatuses"])
    first = bench.target.get(*IMC, "sequence-kn-sequence-0", bench.namespace)
    assert first is not None and status["address"]["url"] == first["status"]["address"]["url"]
    assert {c["type"] for c in status["conditions"] if c["status"] == "True"} >= {
        "ChannelsReady", "SubscriptionsReady", "Addressable", "EventPoliciesReady", "Ready"}
    wiring = bench.target.get(*SUBSCRIPTION, "sequence-kn-sequence-1", bench.namespace)["spec"]
    assert wiring["subscriber"]["ref"]["name"] == "second"
    assert wiring["reply"]["ref"]["name"] == "sequence-kn-sequence-2", "a step's reply feeds the next channel"
    ping = bench.target.wait_for(*PING_SOURCE, "ping-source", bench.namespace, timeout=60)
    assert ping["status"]["sinkUri"] == status["address"]["url"], "the PingSource's sink resolves to the Sequence"
    bench.target.delete(*PING_SOURCE, "ping-source", bench.namespace)

    sent = event("samples.http.mode3", data={"message": "Hello world!"})
    assert bench.send(sent, url=status["address"]["url"])["status"] == 202

    def shown() -> dict | None:
        return displayed_events(event_display_log(bench.target, bench.namespace)).get(sent["id"])

    displayed = eventually(shown, 30, "the event in event-display's log")
    assert isinstance(displayed, dict)
    assert displayed["type"] == "samples.http.mod3", "the third step sets TYPE"
    assert displayed["data"]["message"] == "Hello world! - Handled by 0 - Handled by 1 - Handled by 2"
    assert displayed["data"]["id"] == 0


@pytest.mark.spec("MUST", "stable", source=FLOWS)
def test_a_three_step_sequence_carries_1000_events_without_loss_or_duplicates(steps: Bench) -> None:
    bench = steps
    name = unique("bulk")
    bench.configure("sink")
    bench.target.create(sequence(name, bench.namespace, [step(s, bench.namespace) for s in STEPS],
                                 reply=sink_ref("sink", bench.namespace, f"/{name}")))
    bodies = numbered("kproof.sequence.bulk", EVENTS, message="")
    assert set(send_many(bench, address(bench, name), bodies)) == {202}
    records = bench.await_records("sink", EVENTS, f"/{name}", timeout=120)
    got = ids(records)
    assert not duplicates(got), "no event arrives twice"
    assert sorted(got) == sorted(b["id"] for b in bodies), "every event arrives"
    by_id = {b["id"]: b["data"]["id"] for b in bodies}
    for record in records:
        assert record["data"] == {"id": by_id[record["event"]["id"]],
                                  "message": " - Handled by 0 - Handled by 1 - Handled by 2"}, "steps in order"
    assert len(bench.settled("sink", f"/{name}", quiet=1.0)) == EVENTS


@pytest.mark.spec("MUST", "stable", source=FLOWS)
def test_retries_carry_every_event_past_a_step_failing_a_fifth_of_its_attempts(steps: Bench) -> None:
    bench = steps
    name = unique("retry")
    bench.configure("sink")
    bench.configure("flaky", fail_rate=0.2, fail_status=503, reply={"echo": True})
    retries = {"retry": 10, "backoffPolicy": "linear", "backoffDelay": "PT0.05S"}
    bench.target.create(sequence(name, bench.namespace, [step("first", bench.namespace),
                                                         step("flaky", bench.namespace, retries),
                                                         step("third", bench.namespace)],
                                 reply=sink_ref("sink", bench.namespace, f"/{name}")))
    bodies = numbered("kproof.sequence.retry", EVENTS, message="")
    assert set(send_many(bench, address(bench, name), bodies)) == {202}
    records = bench.await_records("sink", EVENTS, f"/{name}", timeout=180)
    got = ids(records)
    assert sorted(set(got)) == sorted(b["id"] for b in bodies), "no event is lost"
    assert not duplicates(got)
    failed = [r for r in bench.records("flaky") if r["status"] == 503]
    assert len(failed) > EVENTS * 0.1, f"the step failed {len(failed)} attempts"


@pytest.mark.spec("MUST", "stable", source=FLOWS)
def test_a_step_that_keeps_failing_sends_its_events_to_its_own_dead_letter_sink(steps: Bench) -> None:
    bench = steps
    name = unique("dead")
    for recorder in ("sink", "dls"):
        bench.configure(recorder)
    bench.configure("flaky", fail_rate=1.0, fail_status=503)
    delivery = {"retry": 1, "backoffDelay": "PT0.05S", "deadLetterSink": sink_ref("dls", bench.namespace, f"/{name}")}
    bench.target.create(sequence(name, bench.namespace, [step("first", bench.namespace),
                                                         step("flaky", bench.namespace, delivery)],
                                 reply=sink_ref("sink", bench.namespace, f"/{name}")))
    sent = [event("kproof.sequence.dead", data={"id": n, "message": ""}) for n in range(3)]
    for body in sent:
        bench.send(body, url=address(bench, name))
    dead = bench.await_records("dls", 3, f"/{name}")
    assert sorted(ids(dead)) == sorted(b["id"] for b in sent)
    for record in dead:
        assert record["event"]["knativeerrorcode"] == "503"
        assert "flaky" in record["event"]["knativeerrordest"]
        assert base64.b64decode(record["event"]["knativeerrordata"]) == b"recorded\n"
        assert record["data"]["message"] == " - Handled by 0", "the first step ran before the failing one"
    assert bench.settled("sink", f"/{name}", quiet=1.0) == [], "nothing passes the failing step"
    assert len([r for r in bench.records("flaky") if r["status"] == 503]) == 6, "retry 1: two attempts each"


@pytest.mark.spec("MUST", "stable", source="knative/eventing pkg/apis/flows/v1/sequence_validation.go")
@pytest.mark.parametrize(("spec", "field"), [
    ({"steps": []}, "spec.steps"),
    ({"steps": [{"uri": "/relative"}]}, "spec.steps[0]"),
    ({"steps": [{"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "x"}}],
      "channelTemplate": {"kind": "InMemoryChannel"}}, "spec.channelTemplate.apiVersion"),
    ({"steps": [{"uri": "http://example.com", "delivery": {"retry": -1}}]}, "spec.steps[0]"),
], ids=["no-steps", "relative-uri", "template-without-apiVersion", "negative-retry"])
def test_a_bad_sequence_is_refused_naming_the_field(bench: Bench, spec: dict, field: str) -> None:
    body = {"apiVersion": SEQUENCE[0], "kind": SEQUENCE[1],
            "metadata": {"name": unique("bad"), "namespace": bench.namespace}, "spec": spec}
    assert_invalid(refused(lambda: bench.target.create(body)), field)


@pytest.mark.spec("MUST", "stable", source=FLOWS)
def test_a_sequence_waits_for_a_step_that_does_not_exist(bench: Bench) -> None:
    name = unique("missing")
    bench.target.create(sequence(name, bench.namespace, [sink_ref("nobody", bench.namespace)]))
    found = bench.target.wait_until(*SEQUENCE, name, lambda s: bool((s or {}).get("status", {}).get("conditions")),
                                    bench.namespace, 30, what="reconciled")
    eventually(lambda: condition_status(bench.target.get(*SEQUENCE, name, bench.namespace) or {},
                                        "SubscriptionsReady") == "Unknown", 30, "SubscriptionsReady Unknown")
    assert condition_status(found, "Ready") != "True"
