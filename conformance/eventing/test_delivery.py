"""Delivery guarantees: retries, final statuses, the dead-letter sink and its error extensions, replies
chained across triggers, and the TTL that ends reply loops."""

from __future__ import annotations

import base64

import pytest

from conformance.eventing.support import Bench, event, ids, sink_ref
from conformance.helpers import unique

RETRY_3 = {"retry": 3, "backoffPolicy": "linear", "backoffDelay": "PT0.1S"}


def with_dls(bench: Bench, delivery: dict, path: str) -> dict:
    return {**delivery, "deadLetterSink": sink_ref("dls", bench.namespace, path)}


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#event-delivery: \"If the event "
                  "delivery fails with a retryable error, it MUST be retried up to retry times\"")
@pytest.mark.quick
def test_three_failures_then_success_is_delivered_once(bench: Bench) -> None:
    bench.configure("flaky", fail_first=3, fail_status=503)
    bench.configure("dls")
    bench.trigger(unique("t"), "/retry", sink="flaky", filters=[{"exact": {"type": "kproof.retry3"}}],
                  delivery=with_dls(bench, RETRY_3, "/dead"))
    sent = event("kproof.retry3")
    assert bench.send(sent)["status"] == 202
    attempts = bench.await_records("flaky", 4, "/retry")
    assert [r["status"] for r in attempts] == [503, 503, 503, 200]
    assert set(ids(attempts)) == {sent["id"]}
    assert bench.settled("dls", "/dead", quiet=1.0) == [], "a delivered event never reaches the dead-letter sink"


@pytest.mark.spec("SHOULD", "stable", source="knative/specs eventing/control-plane.md#event-delivery: the event "
                  "\"MUST be delivered to the deadLetterSink\"; Knative docs, event delivery: knativeerrordest, "
                  "knativeerrorcode and knativeerrordata are added")
def test_four_failures_land_in_the_dead_letter_sink_with_the_error_extensions(bench: Bench) -> None:
    bench.configure("flaky", fail_first=4, fail_status=503)
    bench.configure("dls")
    bench.trigger(unique("t"), "/retry", sink="flaky", filters=[{"exact": {"type": "kproof.retry4"}}],
                  delivery=with_dls(bench, RETRY_3, "/dead"))
    sent = event("kproof.retry4", color="blue")
    assert bench.send(sent)["status"] == 202
    (dead,) = bench.await_records("dls", 1, "/dead")
    assert len(bench.records("flaky", "/retry")) == 4, "retry 3 means four attempts"
    attributes = dead["event"]
    assert attributes["id"] == sent["id"] and attributes["type"] == "kproof.retry4"
    assert attributes["color"] == "blue" and dead["data"] == sent["data"], "the original event, unchanged"
    assert attributes["knativeerrordest"].endswith("/retry")
    assert attributes["knativeerrorcode"] == "503"
    assert base64.b64decode(attributes["knativeerrordata"]) == b"recorded\n", "the subscriber's response body"


@pytest.mark.spec("SHOULD", "stable", source="knative/specs "
                  "eventing/data-plane.md#event-acknowledgement-and-delivery-retry: 400 \"Unparsable event\" is not "
                  "retried")
def test_400_is_not_retried(bench: Bench) -> None:
    bench.configure("flaky", fail_first=100, fail_status=400)
    bench.configure("dls")
    bench.trigger(unique("t"), "/final", sink="flaky", filters=[{"exact": {"type": "kproof.final"}}],
                  delivery=with_dls(bench, RETRY_3, "/dead"))
    sent = event("kproof.final")
    bench.send(sent)
    (dead,) = bench.await_records("dls", 1, "/dead")
    assert dead["event"]["knativeerrorcode"] == "400"
    assert len(bench.settled("flaky", "/final", quiet=1.0)) == 1, "400 is final: one attempt only"


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#broker: spec.delivery, \"A "
                  "default delivery options for Triggers which do not specify more-specific options\"")
def test_the_brokers_delivery_applies_when_the_trigger_has_none(bench: Bench) -> None:
    name = unique("b")
    bench.target.create({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                         "metadata": {"name": name, "namespace": bench.namespace},
                         "spec": {"delivery": with_dls(bench, {"retry": 1, "backoffDelay": "PT0.1S"}, "/broker-dls")}})
    try:
        bench.configure("flaky", fail_first=100, fail_status=500)
        bench.configure("dls")
        bench.trigger(unique("t"), "/broker-delivery", sink="flaky", broker=name,
                      filters=[{"exact": {"type": "kproof.brokerdelivery"}}])
        sent = event("kproof.brokerdelivery")
        assert bench.send(sent, url=bench.broker_url(name))["status"] == 202
        (dead,) = bench.await_records("dls", 1, "/broker-dls")
        assert dead["event"]["id"] == sent["id"] and dead["event"]["knativeerrorcode"] == "500"
        assert len(bench.settled("flaky", "/broker-delivery", quiet=1.0)) == 2, "retry 1: two attempts"
    finally:
        bench.target.delete("eventing.knative.dev/v1", "Broker", name, bench.namespace, wait=False)


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#content-based-routing: \"Reply "
                  "events generated during event delivery MUST be re-enqueued by the Broker\"")
def test_replies_chain_across_two_triggers(bench: Bench) -> None:
    bench.configure("replier", reply={"type": "kproof.chain.second", "source": "/replier", "data": {"step": 2}})
    bench.trigger(unique("first"), "/first", sink="replier", filters=[{"exact": {"type": "kproof.chain.first"}}])
    bench.trigger(unique("second"), "/second", filters=[{"exact": {"type": "kproof.chain.second"}}])
    sent = event("kproof.chain.first")
    assert bench.send(sent)["status"] == 202
    (first,) = bench.await_records("replier", 1, "/first")
    assert first["headers"].get("Prefer") == "reply", "subscribers are told a reply is welcome"
    (second,) = bench.await_records("sink", 1, "/second")
    assert second["event"]["type"] == "kproof.chain.second" and second["data"] == {"step": 2}
    assert second["event"]["source"] == "/replier"


@pytest.mark.spec("MAY", "stable", source="knative/specs eventing/control-plane.md#content-based-routing: "
                  "\"Implementations MAY implement event-loop detection\" (Knative's knativebrokerttl)")
def test_the_ttl_ends_a_reply_loop(bench: Bench) -> None:
    # A subscriber that answers every event with another event of the type it subscribes to.
    bench.configure("replier", reply={"type": "kproof.loop", "source": "/replier"})
    bench.trigger(unique("loop"), "/loop", sink="replier", filters=[{"exact": {"type": "kproof.loop"}}])
    assert bench.send(event("kproof.loop", knativebrokerttl="3"))["status"] == 202
    rounds = bench.settled("replier", "/loop", quiet=2.0)
    assert 1 <= len(rounds) <= 3, f"a loop with a TTL of 3 ends within 3 deliveries, saw {len(rounds)}"
    assert all("knativebrokerttl" not in (r["event"] or {}) for r in rounds), "the TTL stays inside the broker"
