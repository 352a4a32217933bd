"""KafkaSource delivery that never waits on its slowest record: a record in back-off holds up neither the
other records (unordered) nor the other partitions (ordered), a small single-threaded HTTP/1.0 sink is
not flooded with connections, and a data plane killed mid-stream loses nothing (it may repeat)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable

import pytest
import requests

from conformance.eventing.support import Bench, sink_ref
from conformance.helpers import eventually, log, unique
from conformance.serving.support import deploy, service
from conformance.sources.kafka_support import KAFKA_SOURCE, kafka_of, kafka_source, new_topic, produce, uncommitted
from conformance.sources.test_kafka_source import delivered_ids, ready_source
from kproof.target import KAFKA, RESTART

RECORDS = 2_000
PARTITIONS = 3
# A retried delivery waits 1 s, 2 s, 3 s ... (linear): a record refused three times spends 6 s in back-off.
BACKOFF = {"retry": 8, "backoffPolicy": "linear", "backoffDelay": "PT1S"}
REFUSALS = 3
CHAIN_SECONDS = sum(range(1, REFUSALS + 1))


def numbered(count: int) -> list[tuple[str, bytes, None]]:
    return [(str(i % 64), json.dumps({"n": i}).encode(), None) for i in range(count)]


def seconds_until(done: Callable[[], bool], started: float, timeout: float, what: str) -> float:
    eventually(done, timeout, what, interval=0.25)
    return time.monotonic() - started


def partition_and_offset(event_id: str) -> tuple[int, int]:
    """Knative's id of a plain record: partition:<p>/offset:<o>."""
    partition, offset = event_id.removeprefix("partition:").split("/offset:")
    return int(partition), int(offset)


@pytest.mark.spec("SHOULD", "beta", source="Knative docs, eventing/sources/kafka-source (KafkaSource, "
                  "sources.knative.dev/v1beta1): ordering unordered delivers records in parallel")
@pytest.mark.timing
def test_a_record_in_back_off_holds_up_no_other_record(bench: Bench, capsys: pytest.CaptureFixture) -> None:
    bootstrap = kafka_of(bench.target)
    topic = new_topic(bootstrap, partitions=PARTITIONS)
    bench.configure("sink")
    bench.configure("flaky", refuse_every=100, refuse_times=REFUSALS, fail_status=503)
    for recorder in ("sink", "flaky"):
        ready_source(bench, kafka_source(unique(recorder), bench.namespace, bootstrap, [topic],
                                         sink_ref(recorder, bench.namespace, "/backoff"), initialOffset="earliest",
                                         ordering="unordered", delivery=BACKOFF))
    started = time.monotonic()
    produce(bootstrap, topic, numbered(RECORDS))
    healthy = seconds_until(lambda: len(delivered_ids(bench.records("sink", "/backoff"))) >= RECORDS, started, 120,
                            f"{RECORDS} records at the healthy sink")
    refusing = seconds_until(lambda: len(delivered_ids(bench.records("flaky", "/backoff"))) >= RECORDS, started, 180,
                             f"{RECORDS} records at the refusing sink")
    refused = sum(1 for r in bench.records("flaky", "/backoff") if r["status"] == 503)
    log(capsys, f"KafkaSource back-off: {RECORDS} records in {PARTITIONS} partitions; healthy sink {healthy:.1f}s, "
                f"sink refusing {refused // REFUSALS} records {REFUSALS} times (chain {CHAIN_SECONDS}s) "
                f"{refusing:.1f}s")
    assert refused == RECORDS // 100 * REFUSALS
    assert refusing - healthy < 2 * CHAIN_SECONDS, \
        "the refused records' back-off runs beside the others' delivery, not one chain after another"


# Python's http.server as people write test sinks: one request at a time, HTTP/1.0 (a connection per
# request) and a listen backlog of 5. It answers GET with what it received.
SMALL_SINK = """
import http.server, json, os
ids, requests = set(), [0]
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        ids.add(self.headers.get("ce-id")); requests[0] += 1
        self.send_response(202); self.end_headers()
    def do_GET(self):
        body = json.dumps({"ids": len(ids), "requests": requests[0]}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("", int(os.environ.get("PORT", "8080"))), Sink).serve_forever()
"""


@pytest.mark.spec("SHOULD", "beta", source="Knative docs, eventing/sources/kafka-source (KafkaSource, "
                  "sources.knative.dev/v1beta1): every record reaches the sink")
def test_a_small_http_server_sink_receives_every_record_in_seconds(bench: Bench,
                                                                   capsys: pytest.CaptureFixture) -> None:
    bootstrap = kafka_of(bench.target)
    topic = new_topic(bootstrap, partitions=PARTITIONS)
    sink = service("plain", bench.namespace, "docker.io/library/python:3.11-slim",
                   annotations={"autoscaling.knative.dev/min-scale": "1", "autoscaling.knative.dev/max-scale": "1"},
                   command=["python", "-c", SMALL_SINK])
    deploy(bench.target, sink)
    ready_source(bench, kafka_source(unique("plain"), bench.namespace, bootstrap, [topic],
                                     sink_ref("plain", bench.namespace), initialOffset="earliest",
                                     ordering="unordered", delivery=BACKOFF))
    started = time.monotonic()
    produce(bootstrap, topic, numbered(RECORDS))

    def received() -> dict:
        return bench.target.http("plain", "/", namespace=bench.namespace).json()

    took = seconds_until(lambda: received()["ids"] >= RECORDS, started, 120, f"{RECORDS} records at the small sink")
    log(capsys, f"KafkaSource to a single-threaded HTTP/1.0 sink with backlog 5: {RECORDS} records in {took:.1f}s "
                f"({received()['requests']} requests)")
    assert received()["ids"] == RECORDS


@pytest.mark.spec("SHOULD", "beta", source="Knative docs, eventing/sources/kafka-source (KafkaSource, "
                  "sources.knative.dev/v1beta1): ordering ordered keeps the order within a partition")
@pytest.mark.timing
def test_ordered_keeps_each_partition_in_order_and_a_partition_in_back_off_holds_up_no_other(
        bench: Bench, capsys: pytest.CaptureFixture) -> None:
    per_partition = 300  # more than one poll holds, so a stall would show across polls
    bootstrap = kafka_of(bench.target)
    topic = new_topic(bootstrap, partitions=PARTITIONS)
    bench.configure("flaky", refuse_every=150, refuse_times=2, refuse_prefix="partition:0/", fail_status=503)
    ready_source(bench, kafka_source(unique("ordered"), bench.namespace, bootstrap, [topic],
                                     sink_ref("flaky", bench.namespace, "/ordered"), initialOffset="earliest",
                                     ordering="ordered", delivery=BACKOFF))
    produce(bootstrap, topic, ((None, json.dumps({"n": i}).encode(), None) for i in range(per_partition * PARTITIONS)),
            partition=lambda i: i % PARTITIONS)
    eventually(lambda: len(delivered_ids(bench.records("flaky", "/ordered"))) >= per_partition * PARTITIONS, 120,
               "every record delivered")

    records = bench.records("flaky", "/ordered")
    accepted = [(r["received"], *partition_and_offset(r["event"]["id"])) for r in records if r["status"] < 300]
    for partition in range(PARTITIONS):
        offsets = [offset for _, p, offset in accepted if p == partition]
        assert offsets == sorted(offsets) and len(offsets) == per_partition, f"partition {partition} in order"
    refused = sorted({partition_and_offset(r["event"]["id"])[1] for r in records if r["status"] == 503})
    assert len(refused) == 2
    head_accepted = min(at for at, p, offset in accepted if p == 0 and offset == refused[0])
    others_done = max(at for at, p, _ in accepted if p != 0)
    log(capsys, f"KafkaSource ordered: partitions 1 and 2 done {head_accepted - others_done:.1f}s before "
                f"partition 0's first refused record got through")
    assert others_done < head_accepted, "the other partitions went on while partition 0's head was in back-off"


@pytest.mark.spec("SHOULD", "beta", source="Knative docs, eventing/sources/kafka-source (KafkaSource, "
                  "sources.knative.dev/v1beta1): at-least-once delivery (offsets committed after delivery)")
@pytest.mark.requires(RESTART, KAFKA)
def test_a_data_plane_killed_mid_stream_loses_nothing(bench: Bench, capsys: pytest.CaptureFixture) -> None:
    bootstrap = kafka_of(bench.target)
    topic = new_topic(bootstrap, partitions=PARTITIONS)
    bench.configure("sink", delay_ms=20)
    name = unique("killed")
    ready_source(bench, kafka_source(name, bench.namespace, bootstrap, [topic], sink_ref("sink", bench.namespace,
                                                                                        "/killed"),
                                     initialOffset="earliest", ordering="unordered", delivery=BACKOFF))
    produce(bootstrap, topic, numbered(RECORDS))
    eventually(lambda: len(delivered_ids(bench.records("sink", "/killed"))) >= RECORDS // 4, 60,
               "a quarter of the records delivered")
    assert bench.target.platform is not None
    before = len(delivered_ids(bench.records("sink", "/killed")))
    bench.target.platform.kill_data_plane()

    def all_delivered() -> Counter | None:
        try:  # the ingress is the data plane's too: down until the new one is up
            counts = delivered_ids(bench.records("sink", "/killed"))
        except requests.RequestException:
            return None
        return counts if len(counts) >= RECORDS else None

    counts: Counter = eventually(all_delivered, 180, f"all {RECORDS} records delivered after the kill", interval=1.0)
    duplicates = sum(counts.values()) - len(counts)
    log(capsys, f"KafkaSource, data plane killed: {RECORDS} produced, {before} delivered before the kill, "
                f"{len(counts)} delivered in all, {duplicates} duplicates")
    assert before < RECORDS, "the kill came while records were still on their way"
    group = bench.target.get(*KAFKA_SOURCE, name, bench.namespace)["spec"]["consumerGroup"]
    eventually(lambda: uncommitted(bootstrap, group, topic, PARTITIONS) == 0, 30, "every offset committed")
