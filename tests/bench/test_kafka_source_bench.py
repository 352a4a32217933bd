"""KafkaSource throughput: records produced into a topic and delivered to a recorder, in unordered and in
ordered mode, against a raw confluent-kafka consumer reading the same number of records, in one run.
Each side is already joined to its group when the records are produced. Prints records per second and
the ratios, and the same for the sink's own ceiling: as many events posted straight to it through the
ingress, as many at once as the dispatcher's pool allows (a KafkaSource cannot deliver faster than its
sink takes requests; on a small machine that, not Kafka, is the bound). A second benchmark paces records
at seed 001's 50 a second and prints the latency from produce to sink, p50 and p95, against the same
latency to a raw consumer."""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
import uuid

import aiohttp
import requests
from confluent_kafka import Consumer, Producer

from kproof.target import Target
from reference.cloudevents.delivery import CONNECTIONS_PER_DESTINATION
from reference.kafka.client import config, consumer_config
from reference.kafka.topics import ensure_topic

RECORDS = 3000
PARTITIONS = 3
NAMESPACE = "default"
SEED_001_RATE = 50  # messages a second, seed 001's producer
PACED_RECORDS = 250


def _produce(bootstrap: str, topic: str) -> None:
    producer = Producer(config(bootstrap, **{"linger.ms": 5}))
    for i in range(RECORDS):
        producer.produce(topic, key=str(i % 16), value=b'{"visitor": %d}' % i)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0


def _sink_count(target: Target, sink_host: str) -> int:
    return requests.get(f"{target.ingress}/count", headers={"Host": sink_host}, timeout=30).json()["count"]


def _joined_raw_consumer(bootstrap: str) -> tuple[str, Consumer]:
    """A fresh topic and a plain consumer of it that already has its partitions."""
    topic = f"bench-raw-{uuid.uuid4().hex[:6]}"
    ensure_topic(bootstrap, topic, PARTITIONS)
    consumer = Consumer(consumer_config(bootstrap, f"bench-raw-{uuid.uuid4().hex[:6]}", "earliest"))
    consumer.subscribe([topic])
    deadline = time.monotonic() + 60
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(0.2)
    return topic, consumer


def _sink_ceiling_seconds(target: Target) -> float:
    sink_host = target.service_host("bench-kafka-sink", NAMESPACE)
    requests.delete(f"{target.ingress}/events", headers={"Host": sink_host}, timeout=30)

    async def post_all() -> float:
        numbers = iter(range(RECORDS))
        async with aiohttp.ClientSession() as session:
            async def sender() -> None:
                for i in numbers:
                    headers = {"Host": sink_host, "ce-specversion": "1.0", "ce-id": str(i), "ce-source": "/bench",
                               "ce-type": "bench", "content-type": "application/json"}
                    async with session.post(f"{target.ingress}/", data=b'{"visitor": %d}' % i,
                                            headers=headers) as response:
                        assert response.status < 300, response.status
            started = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(CONNECTIONS_PER_DESTINATION)))
            return time.perf_counter() - started

    return asyncio.run(post_all())


def _raw_seconds(bootstrap: str) -> float:
    topic, consumer = _joined_raw_consumer(bootstrap)
    deadline = time.monotonic() + 60
    started = time.perf_counter()
    _produce(bootstrap, topic)
    seen = 0
    while seen < RECORDS and time.monotonic() < deadline + 60:
        seen += sum(1 for m in consumer.consume(500, 0.2) if m.error() is None)
    elapsed = time.perf_counter() - started
    consumer.close()
    assert seen >= RECORDS
    return elapsed


def _source_seconds(target: Target, bootstrap: str, ordering: str) -> float:
    topic = f"bench-{ordering}-{uuid.uuid4().hex[:6]}"
    ensure_topic(bootstrap, topic, PARTITIONS)
    sink_host = target.service_host("bench-kafka-sink", NAMESPACE)
    requests.delete(f"{target.ingress}/events", headers={"Host": sink_host}, timeout=30)
    name = f"bench-{ordering}"
    target.apply({"apiVersion": "sources.knative.dev/v1beta1", "kind": "KafkaSource",
                  "metadata": {"name": name, "namespace": NAMESPACE},
                  "spec": {"bootstrapServers": [bootstrap], "topics": [topic], "ordering": ordering,
                           "initialOffset": "earliest", "sink": {"ref": {"apiVersion": "serving.knative.dev/v1",
                                                                         "kind": "Service",
                                                                         "name": "bench-kafka-sink"}}}})
    target.wait_for("sources.knative.dev/v1beta1", "KafkaSource", name, NAMESPACE, timeout=90)
    started = time.perf_counter()
    _produce(bootstrap, topic)
    deadline = time.monotonic() + 300
    while _sink_count(target, sink_host) < RECORDS:
        assert time.monotonic() < deadline, f"{ordering}: not every record delivered within 300 s"
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    target.delete("sources.knative.dev/v1beta1", "KafkaSource", name, NAMESPACE)
    return elapsed


def _apply_sink(target: Target) -> None:
    target.apply({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                  "metadata": {"name": "bench-kafka-sink", "namespace": NAMESPACE},
                  "spec": {"template": {"metadata": {"annotations": {"autoscaling.knative.dev/min-scale": "1",
                                                                     "autoscaling.knative.dev/max-scale": "1"}},
                                        "spec": {"containers": [{"image": "ghcr.io/kproof/recorder"}]}}}})
    target.wait_for("serving.knative.dev/v1", "Service", "bench-kafka-sink", NAMESPACE, timeout=120)


def test_kafka_source_throughput_against_raw_consumption(benchmark, reference_target: Target) -> None:
    target = reference_target
    bootstrap = target.kafka_bootstrap
    assert bootstrap, "the embedded reference runs a Kafka"
    _apply_sink(target)

    def all_four() -> tuple[float, float, float, float]:
        return (_raw_seconds(bootstrap), _sink_ceiling_seconds(target),
                _source_seconds(target, bootstrap, "unordered"), _source_seconds(target, bootstrap, "ordered"))

    raw, sink, unordered, ordered = benchmark.pedantic(all_four, rounds=1, iterations=1)
    rates = {name: RECORDS / seconds for name, seconds in (("raw", raw), ("sink", sink), ("unordered", unordered),
                                                           ("ordered", ordered))}
    benchmark.extra_info.update({f"{k}_per_s": v for k, v in rates.items()})
    print(f"\nraw consume: {rates['raw']:.0f} records/s; the sink's ceiling: {rates['sink']:.0f} requests/s "
          f"({CONNECTIONS_PER_DESTINATION} at once)")
    for mode in ("unordered", "ordered"):
        print(f"KafkaSource {mode}: {rates[mode]:.0f}/s, {rates[mode] / rates['raw']:.3f} of raw, "
              f"{rates[mode] / rates['sink']:.2f} of the sink's ceiling")


def _produce_paced(bootstrap: str, topic: str) -> None:
    """PACED_RECORDS records at SEED_001_RATE a second, each carrying the wall time it was produced."""
    producer = Producer(config(bootstrap, **{"linger.ms": 0}))
    started = time.monotonic()
    for i in range(PACED_RECORDS):
        time.sleep(max(0.0, started + i / SEED_001_RATE - time.monotonic()))
        producer.produce(topic, key=str(i), value=json.dumps({"i": i, "sent": time.time()}).encode())
        producer.poll(0)
    assert producer.flush(60) == 0


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=20)
    return statistics.median(latencies), cuts[18]


def _raw_latencies(bootstrap: str) -> list[float]:
    topic, consumer = _joined_raw_consumer(bootstrap)
    deadline = time.monotonic() + 60
    producer = threading.Thread(target=_produce_paced, args=(bootstrap, topic))
    producer.start()
    latencies: list[float] = []
    while len(latencies) < PACED_RECORDS and time.monotonic() < deadline + 60:
        for message in consumer.consume(100, 0.05):
            if message.error() is None:
                latencies.append(time.time() - json.loads(message.value())["sent"])
    producer.join()
    consumer.close()
    assert len(latencies) >= PACED_RECORDS
    return latencies


def _source_latencies(target: Target, bootstrap: str) -> list[float]:
    topic = f"bench-paced-{uuid.uuid4().hex[:6]}"
    ensure_topic(bootstrap, topic, PARTITIONS)
    sink_host = target.service_host("bench-kafka-sink", NAMESPACE)
    requests.delete(f"{target.ingress}/events", headers={"Host": sink_host}, timeout=30)
    name = "bench-paced"
    target.apply({"apiVersion": "sources.knative.dev/v1beta1", "kind": "KafkaSource",
                  "metadata": {"name": name, "namespace": NAMESPACE},
                  "spec": {"bootstrapServers": [bootstrap], "topics": [topic], "initialOffset": "earliest",
                           "sink": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                            "name": "bench-kafka-sink"}}}})
    target.wait_for("sources.knative.dev/v1beta1", "KafkaSource", name, NAMESPACE, timeout=90)
    _produce_paced(bootstrap, topic)
    deadline = time.monotonic() + 120
    while _sink_count(target, sink_host) < PACED_RECORDS:
        assert time.monotonic() < deadline, "not every paced record delivered within 120 s"
        time.sleep(0.1)
    records = requests.get(f"{target.ingress}/events", headers={"Host": sink_host}, timeout=30).json()
    target.delete("sources.knative.dev/v1beta1", "KafkaSource", name, NAMESPACE)
    return [record["received"] - record["data"]["sent"] for record in records]


def test_kafka_source_latency_at_seed_001_rate(benchmark, reference_target: Target) -> None:
    target = reference_target
    bootstrap = target.kafka_bootstrap
    assert bootstrap, "the embedded reference runs a Kafka"
    _apply_sink(target)

    def both() -> tuple[list[float], list[float]]:
        return _raw_latencies(bootstrap), _source_latencies(target, bootstrap)

    raw, source = benchmark.pedantic(both, rounds=1, iterations=1)
    (raw_p50, raw_p95), (p50, p95) = _percentiles(raw), _percentiles(source)
    benchmark.extra_info.update(raw_p50_ms=raw_p50 * 1000, raw_p95_ms=raw_p95 * 1000, p50_ms=p50 * 1000,
                                p95_ms=p95 * 1000)
    print(f"\nproduce to sink at {SEED_001_RATE} msg/s ({PACED_RECORDS} records): KafkaSource p50 "
          f"{p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms; raw consumer p50 {raw_p50 * 1000:.1f} ms, "
          f"p95 {raw_p95 * 1000:.1f} ms (KafkaSource p50 {p50 / raw_p50:.1f}x raw)")
