"""KafkaSource: at-least-once delivery under failures (no loss, duplicates counted), ordered and unordered
delivery, initialOffset, CloudEvent records passing through, the dead-letter sink with offsets still
advancing, and a status that names unreachable brokers."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

from conformance.eventing.support import Bench, sink_ref
from conformance.helpers import eventually, unique
from conformance.sources.kafka_support import (
    KAFKA_SOURCE,
    kafka_of,
    kafka_source,
    new_topic,
    produce,
    require_kafka_source,
    uncommitted,
)

NO_LOSS_MESSAGES = 10_000


def ready_source(bench: Bench, manifest: dict) -> dict:
    bench.target.create(manifest)
    return bench.target.wait_for(*KAFKA_SOURCE, manifest["metadata"]["name"], bench.namespace, timeout=90)


def delivered_ids(records: list[dict]) -> Counter:
    """How often each event id was answered with a 2xx (its deliveries)."""
    return Counter(r["event"]["id"] for r in records if r.get("event") and 200 <= r["status"] < 300)


@pytest.mark.spec("SHOULD", "beta", source="Knative docs, eventing/sources/kafka-source (KafkaSource, "
                  "sources.knative.dev/v1beta1): at-least-once delivery, with the delivery spec's retries")
def test_no_message_is_lost_while_the_sink_fails_and_goes_down(bench: Bench, capsys: pytest.CaptureFixture) -> None:
    bootstrap = kafka_of(bench.target)
    topic = new_topic(bootstrap, partitions=3)
    bench.configure("flaky", fail_rate=0.2, fail_status=503)
    name = unique("noloss")
    ready_source(bench, kafka_source(name, bench.namespace, bootstrap, [topic], sink_ref("flaky", bench.namespace,
                                                                                      "/noloss"),
                                     initialOffset="earliest", ordering="unordered",
                                     delivery={"retry": 40, "backoffPolicy": "linear", "backoffDelay": "PT0.05S"}))

    def outage() -> None:
        time.sleep(1.0)  # while the messages flow, the sink answers nothing but 503 for a while
        bench.target.http("flaky", "/config", method="POST", namespace=bench.namespace, json={"fail_rate": 1.0})
        time.sleep(3.0)
        bench.target.http("flaky", "/config", method="POST", namespace=bench.namespace, json={"fail_rate": 0.2})

    down = threading.Thread(target=outage, daemon=True)
    down.start()
    produce(bootstrap, topic, ((str(i % 32), json.dumps({"n": i}).encode(), None) for i in range(NO_LOSS_MESSAGES)))
    down.join(30)

    def all_delivered() -> Counter | None:
        counts = delivered_ids(bench.records("flaky", "/noloss"))
        return counts if len(counts) >= NO_LOSS_MESSAGES else None

    counts = eventually(all_delivered, 240, f"all {NO_LOSS_MESSAGES} messages delivered", interval=2.0)
    records = bench.records("flaky", "/noloss")
    failures = sum(1 for r in records if r["status"] >= 500)
    duplicates = sum(counts.values()) - len(counts)
    with capsys.disabled():  # the counts belong in the CI log, passing or not
        print(f"\nKafkaSource no-loss: {NO_LOSS_MESSAGES} produced, {len(counts)} delivered, {duplicates} "
              f"duplicates, {failures} failed attempts retried")
    assert len(counts) == NO_LOSS_MESSAGES
    group = bench.target.get(*KAFKA_SOURCE, name, bench.namespace)["spec"]["consumerGroup"]
    eventually(lambda: uncommitted(bootstrap, group, topic, 3) == 0, 30, "every offset committed")


@pytest.mark.spec("SHOULD", "beta", source="Knative docs, eventing/sources/kafka-source (KafkaSource, "
                  "sources.knative.dev/v1beta1): ordering ordered and unordered")
def test_ordered_keeps_partition_order_and_unordered_runs_in_parallel(bench: Bench) -> None:
    bootstrap = kafka_of(bench.target)
    ordered_topic, unordered_topic = new_topic(bootstrap, partitions=1), new_topic(bootstrap, partitions=1)
    bench.configure("flaky", delay_ms=100, fail_rate=0.2, fail_status=503)
    retry = {"retry": 20, "backoffPolicy": "linear", "backoffDelay": "PT0.05S"}
    ready_source(bench, kafka_source(unique("ordered"), bench.namespace, bootstrap, [ordered_topic],
                                     sink_ref("flaky", bench.namespace, "/ordered"), initialOffset="earliest",
                                     ordering="ordered", delivery=retry))
    ready_source(bench, kafka_source(unique("unordered"), bench.namespace, bootstrap, [unordered_topic],
                                     sink_ref("flaky", bench.namespace, "/unordered"), initialOffset="earliest",
                                     ordering="unordered", delivery=retry))
    produce(bootstrap, ordered_topic, ((None, json.dumps({"n": i}).encode(), None) for i in range(30)))
    produce(bootstrap, unordered_topic, ((None, json.dumps({"n": i}).encode(), None) for i in range(30)))
    eventually(lambda: len(delivered_ids(bench.records("flaky", "/ordered"))) >= 30
               and len(delivered_ids(bench.records("flaky", "/unordered"))) >= 30, 120, "both topics delivered")

    ordered = [r for r in bench.records("flaky", "/ordered") if 200 <= r["status"] < 300]
    offsets = [int(r["event"]["id"].split("offset:")[1]) for r in ordered]
    assert offsets == sorted(offsets), "ordered delivers a partition's records in offset order, one at a time"
    attempts = bench.records("flaky", "/ordered")
    overlapping = max(sum(1 for b in attempts if 0 <= b["received"] - a["received"] < 0.09) for a in attempts)
    assert overlapping == 1, "ordered never has two records of a partition in flight"

    unordered = bench.records("flaky", "/unordered")
    in_flight = max(sum(1 for b in unordered if 0 <= b["received"] - a["received"] < 0.09) for a in unordered)
    assert in_flight >= 5, f"unordered delivers concurrently (at most {in_flight} within one delivery's time)"


@pytest.mark.spec("SHOULD", "beta", source="Knative docs, eventing/sources/kafka-source (KafkaSource, "
                  "sources.knative.dev/v1beta1): initialOffset earliest or latest")
def test_initial_offset_earliest_and_latest(bench: Bench) -> None:
    bootstrap = kafka_of(bench.target)
    topic = new_topic(bootstrap, partitions=1)
    bench.configure("sink")
    produce(bootstrap, topic, ((None, b'{"before": true}', None) for _ in range(5)), one_by_one=True)
    ready_source(bench, kafka_source(unique("earliest"), bench.namespace, bootstrap, [topic],
                                     sink_ref("sink", bench.namespace, "/earliest"), initialOffset="earliest"))
    ready_source(bench, kafka_source(unique("latest"), bench.namespace, bootstrap, [topic],
                                     sink_ref("sink", bench.namespace, "/latest"), initialOffset="latest"))
    produce(bootstrap, topic, ((None, b'{"before": false}', None) for _ in range(5)))
    earliest = bench.await_records("sink", 10, "/earliest")
    latest = bench.settled("sink", "/latest", quiet=2.0)
    assert len(delivered_ids(earliest)) == 10, "earliest starts at the beginning of the topic"
    assert [r["data"] for r in latest] == [{"before": False}] * 5, "latest starts at the end"


@pytest.mark.spec("SHOULD", "beta", source="Knative docs, eventing/sources/kafka-source (KafkaSource, "
                  "sources.knative.dev/v1beta1): a record becomes a CloudEvent of type dev.knative.kafka.event; a "
                  "record that is one passes through")
def test_record_mapping_and_cloudevent_records_pass_through(bench: Bench) -> None:
    bootstrap = kafka_of(bench.target)
    topic = new_topic(bootstrap, partitions=1)
    bench.configure("sink")
    name = unique("mapping")
    # The sink as a plain URI this time (seed 000 uses sink.uri): the Service's cluster-local address.
    sink = {"uri": f"http://sink.{bench.namespace}.svc.cluster.local/mapping"}
    ready_source(bench, kafka_source(name, bench.namespace, bootstrap, [topic], sink, initialOffset="earliest",
                                     ceOverrides={"extensions": {"team": "ai"}}))
    headers = [("ce_specversion", "1.0"), ("ce_id", "ce-42"), ("ce_source", "/producer"),
               ("ce_type", "ai.inference.request"), ("ce_model", "bert"), ("content-type", "application/json")]
    produce(bootstrap, topic, [("k1", b'{"plain": 1}', None), (None, b'{"ce": 1}', headers)])
    plain, ce = bench.await_records("sink", 2, "/mapping")
    assert plain["event"]["id"] == "partition:0/offset:0"
    assert plain["event"]["type"] == "dev.knative.kafka.event"
    assert plain["event"]["source"] == f"/apis/v1/namespaces/{bench.namespace}/kafkasources/{name}#{topic}"
    assert plain["event"]["subject"] == "partition:0#0" and plain["event"]["key"] == "k1"
    assert plain["data"] == {"plain": 1} and plain["event"]["team"] == "ai"
    assert {k: ce["event"][k] for k in ("id", "source", "type", "model")} == {
        "id": "ce-42", "source": "/producer", "type": "ai.inference.request", "model": "bert"}
    assert ce["data"] == {"ce": 1} and ce["event"]["team"] == "ai", "ceOverrides apply to every event"


@pytest.mark.spec("SHOULD", "beta", source="Knative docs, eventing/sources/kafka-source (KafkaSource, "
                  "sources.knative.dev/v1beta1): the delivery spec's dead-letter sink")
def test_exhausted_events_reach_the_dead_letter_sink_and_offsets_advance(bench: Bench) -> None:
    bootstrap = kafka_of(bench.target)
    topic = new_topic(bootstrap, partitions=1)
    bench.configure("flaky", fail_rate=1.0, fail_status=503)
    bench.configure("dls")
    group = unique("dls-group")
    ready_source(bench, kafka_source(unique("dls"), bench.namespace, bootstrap, [topic],
                                     sink_ref("flaky", bench.namespace, "/failing"), initialOffset="earliest",
                                     consumerGroup=group,
                                     delivery={"retry": 1, "backoffDelay": "PT0.05S",
                                               "deadLetterSink": sink_ref("dls", bench.namespace, "/dead")}))
    produce(bootstrap, topic, ((None, json.dumps({"n": i}).encode(), None) for i in range(5)))
    dead = bench.await_records("dls", 5, "/dead")
    assert {r["event"]["knativeerrorcode"] for r in dead} == {"503"}
    assert all(r["event"]["knativeerrordest"].endswith("/failing") for r in dead)
    eventually(lambda: uncommitted(bootstrap, group, topic, 1) == 0, 30, "the group's offsets at the end")


@pytest.mark.spec("SHOULD", "beta", source="knative/specs common/error-signalling.md: \"Conditions where the status "
                  "is False MUST provide a failure reason\"; Knative docs, eventing/sources/kafka-source "
                  "(KafkaSource, sources.knative.dev/v1beta1)")
def test_the_sources_status_names_unreachable_brokers(bench: Bench) -> None:
    require_kafka_source(bench.target)
    name = unique("nowhere")
    bench.target.create(kafka_source(name, bench.namespace, "127.0.0.1:1", ["t"], sink_ref("sink", bench.namespace)))
    found = bench.target.wait_until(*KAFKA_SOURCE, name, lambda s: any(
        c.get("type") == "Ready" and c.get("status") == "False" for c in ((s or {}).get("status") or {}).get(
            "conditions") or []), bench.namespace, 60, what="Ready=False")
    ready = next(c for c in found["status"]["conditions"] if c["type"] == "Ready")
    assert ready.get("reason") and "127.0.0.1:1" in ready.get("message", ""), ready
