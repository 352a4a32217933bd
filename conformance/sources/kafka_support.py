"""Kafka for the source tests: topics, producing, and reading a consumer group's committed offsets, all
with confluent-kafka against the Kafka the target declares (Target.kafka_bootstrap)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from kproof.target import Target

KAFKA_SOURCE = ("sources.knative.dev/v1beta1", "KafkaSource")
Record = tuple[str | None, bytes, list[tuple[str, str]] | None]  # key, value, headers


def require_kafka_source(target: Target) -> None:
    try:
        target.resource(*KAFKA_SOURCE)
    except ResourceNotFoundError:
        pytest.skip("the target does not serve KafkaSource (Knative's eventing-kafka-broker is not installed)")


def kafka_of(target: Target) -> str:
    if not target.kafka_bootstrap:
        pytest.skip("the target declares no Kafka the tests can reach (--kafka-bootstrap)")
    return target.kafka_bootstrap


def config(bootstrap: str, **extra: object) -> dict:
    return {"bootstrap.servers": bootstrap, "logger": logging.getLogger("kproof.kafka.client"), **extra}


def ensure_topic(bootstrap: str, topic: str, partitions: int = 3) -> str:
    admin = AdminClient(config(bootstrap))
    if topic not in admin.list_topics(timeout=30).topics:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)
    return topic


def new_topic(bootstrap: str, partitions: int = 3) -> str:
    return ensure_topic(bootstrap, f"kproof-{uuid.uuid4().hex[:8]}", partitions)


def produce(bootstrap: str, topic: str, records: Iterable[Record], one_by_one: bool = False,
            partition: Callable[[int], int] | None = None) -> int:
    """Produces every record and waits until the broker has them all; the count. `one_by_one` sends each
    record in a batch of its own (the embedded broker reports a partition's end as the start of its last
    batch, which is where `initialOffset: latest` begins); `partition` places the nth record."""
    producer = Producer(config(bootstrap, **{"acks": "all", "linger.ms": 0 if one_by_one else 5}))
    failures: list[str] = []
    count = 0

    def delivered(err: object, _message: object) -> None:
        if err is not None:
            failures.append(str(err))

    for key, value, headers in records:
        while True:
            try:
                where = {} if partition is None else {"partition": partition(count)}
                producer.produce(topic, value=value, key=key, headers=headers, on_delivery=delivered, **where)
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
        if one_by_one:
            producer.flush(30)
        elif count % 1000 == 0:
            producer.poll(0)
    remaining = producer.flush(60)
    assert remaining == 0 and not failures, f"{remaining} unflushed, failures: {failures[:3]}"
    return count


def uncommitted(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """Records of `topic` the group has not committed yet (all of them when it committed nothing)."""
    consumer = Consumer(config(bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        committed = {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=10)}
        behind = 0
        for tp in parts:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            done = committed.get(tp.partition, -1)
            behind += max(0, high - (done if done >= 0 else low))  # some brokers lag in reporting high
        return behind
    finally:
        consumer.close()


def kafka_source(name: str, namespace: str, bootstrap: str, topics: list[str], sink: dict, **spec: object) -> dict:
    return {"apiVersion": KAFKA_SOURCE[0], "kind": KAFKA_SOURCE[1], "metadata": {"name": name, "namespace": namespace},
            "spec": {"bootstrapServers": bootstrap.split(","), "topics": topics, "sink": sink, **spec}}


def consume(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[Message]:
    """The first `count` records of `topic` from its beginning, every partition assigned directly (no group
    to join: a join costs seconds); fewer if the time ran out."""
    consumer = Consumer(config(bootstrap, **{"group.id": f"kproof-read-{uuid.uuid4().hex[:8]}",
                                             "enable.auto.commit": False}))
    records: list[Message] = []
    try:
        partitions = consumer.list_topics(timeout=10).topics[topic].partitions  # by name would create it
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                records.append(message)
    finally:
        consumer.close()
    return records
