"""KafkaSource throughput: records produced into a topic and delivered to a recorder, in unordered and in
ordered mode, against a raw confluent-kafka consumer reading the same number of records, in one run.
Each side is already joined to its group when the records are produced. Prints records per second and
the ratios."""

from __future__ import annotations

import time
import uuid

import requests
from confluent_kafka import Consumer, Producer

from kproof.target import Target
from reference.kafka.client import config, consumer_config
from reference.kafka.topics import ensure_topic

RECORDS = 3000
PARTITIONS = 3
NAMESPACE = "default"


def _produce(bootstrap: str, topic: str) -> None:
    producer = Producer(config(bootstrap, **{"linger.ms": 5}))
    for i in range(RECORDS):
        producer.produce(topic, key=str(i % 16), value=b'{"visitor": %d}' % i)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0


def _raw_seconds(bootstrap: str) -> float:
    topic = f"bench-raw-{uuid.uuid4().hex[:6]}"
    ensure_topic(bootstrap, topic, PARTITIONS)
    consumer = Consumer(consumer_config(bootstrap, f"bench-raw-{uuid.uuid4().hex[:6]}", "earliest"))
    consumer.subscribe([topic])
    deadline = time.monotonic() + 60
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(0.2)
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
    while requests.get(f"{target.ingress}/count", headers={"Host": sink_host}, timeout=30).json()["count"] < RECORDS:
        assert time.monotonic() < deadline, f"{ordering}: not every record delivered within 300 s"
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    target.delete("sources.knative.dev/v1beta1", "KafkaSource", name, NAMESPACE)
    return elapsed


def test_kafka_source_throughput_against_raw_consumption(benchmark, reference_target: Target) -> None:
    target = reference_target
    bootstrap = target.kafka_bootstrap
    assert bootstrap, "the embedded reference runs a Kafka"
    target.apply({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                  "metadata": {"name": "bench-kafka-sink", "namespace": NAMESPACE},
                  "spec": {"template": {"metadata": {"annotations": {"autoscaling.knative.dev/min-scale": "1",
                                                                     "autoscaling.knative.dev/max-scale": "1"}},
                                        "spec": {"containers": [{"image": "ghcr.io/kproof/recorder"}]}}}})
    target.wait_for("serving.knative.dev/v1", "Service", "bench-kafka-sink", NAMESPACE, timeout=120)

    def all_three() -> tuple[float, float, float]:
        return _raw_seconds(bootstrap), _source_seconds(target, bootstrap, "unordered"), _source_seconds(
            target, bootstrap, "ordered")

    raw, unordered, ordered = benchmark.pedantic(all_three, rounds=1, iterations=1)
    rates = {name: RECORDS / seconds for name, seconds in (("raw", raw), ("unordered", unordered),
                                                           ("ordered", ordered))}
    benchmark.extra_info.update({f"{k}_per_s": v for k, v in rates.items()})
    print(f"\nraw consume: {rates['raw']:.0f} records/s; KafkaSource unordered: {rates['unordered']:.0f}/s "
          f"({rates['unordered'] / rates['raw']:.3f} of raw); ordered: {rates['ordered']:.0f}/s "
          f"({rates['ordered'] / rates['raw']:.3f} of raw; {PARTITIONS} partitions, one record in flight each)")
