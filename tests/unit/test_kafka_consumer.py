"""At-least-once consumption against the embedded Kafka: offsets are committed only after a batch is
handled, a stop mid-batch commits nothing, a new group pins its start at once; and the record mapping."""

from __future__ import annotations

import asyncio
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from reference.kafka.client import config, consumer_config
from reference.kafka.consumer import GroupWorker, next_offsets
from reference.kafka.topics import ensure_topic
from reference.sources.kafka_adapter import delivery_for, record_to_event, sink_url


def produce(bootstrap: str, topic: str, count: int, **kwargs: object) -> None:
    producer = Producer(config(bootstrap))
    for i in range(count):
        producer.produce(topic, value=f'{{"n": {i}}}'.encode(), **kwargs)
    assert producer.flush(30) == 0


def committed(bootstrap: str, group: str, topic: str) -> int:
    consumer = Consumer(config(bootstrap, **{"group.id": group}))
    try:
        return sum(max(tp.offset, 0) for tp in consumer.committed([TopicPartition(topic, 0)], timeout=10))
    finally:
        consumer.close()


def run_worker(bootstrap: str, topic: str, group: str, handle, until, timeout: float = 30.0) -> GroupWorker:
    """Runs a GroupWorker on a fresh event loop until `until()` holds (bounded), then stops it."""
    async def main() -> GroupWorker:
        worker = GroupWorker(consumer_config(bootstrap, group, "earliest"), [topic], handle,
                             asyncio.get_running_loop(), group)
        worker.start()
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(worker.stop)
        return worker

    return asyncio.run(main())


def test_offsets_are_committed_after_the_batch_is_handled(kafka: str) -> None:
    topic = "unit-commit"
    ensure_topic(kafka, topic, 1)
    produce(kafka, topic, 20)
    seen: list[int] = []

    async def handle(messages) -> None:
        seen.extend(m.offset() for m in messages)

    run_worker(kafka, topic, "g-commit", handle, lambda: len(seen) >= 20)
    assert sorted(seen) == list(range(20))
    assert committed(kafka, "g-commit", topic) == 20


def test_a_stop_mid_batch_commits_nothing_and_the_group_reads_it_again(kafka: str) -> None:
    topic = "unit-stop"
    ensure_topic(kafka, topic, 1)
    produce(kafka, topic, 10)
    started = []

    async def stuck(messages) -> None:
        started.append(len(messages))
        await asyncio.sleep(3600)  # a delivery that never ends

    run_worker(kafka, topic, "g-stop", stuck, lambda: bool(started))
    assert committed(kafka, "g-stop", topic) == 0, "only the pinned start, nothing handled"
    again: list[int] = []

    async def handle(messages) -> None:
        again.extend(m.offset() for m in messages)

    run_worker(kafka, topic, "g-stop", handle, lambda: len(again) >= 10)
    assert sorted(again) == list(range(10)), "every record comes again: duplicates, never loss"


def test_a_new_group_pins_its_start(kafka: str) -> None:
    topic = "unit-pin"
    ensure_topic(kafka, topic, 1)
    produce(kafka, topic, 3)

    async def handle(messages) -> None:
        pass

    async def main() -> GroupWorker:
        worker = GroupWorker(consumer_config(kafka, "g-pin", "latest"), [topic], handle, asyncio.get_running_loop(),
                             "g-pin")
        worker.start()
        deadline = time.monotonic() + 30
        while worker.problem is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(worker.stop)
        return worker

    worker = asyncio.run(main())
    assert worker.problem is None
    assert committed(kafka, "g-pin", topic) > 0, "latest is committed as soon as the group is assigned"


def test_next_offsets_are_one_past_the_highest_per_partition() -> None:
    class Record:
        def __init__(self, partition: int, offset: int) -> None:
            self._p, self._o = partition, offset

        def topic(self) -> str:
            return "t"

        def partition(self) -> int:
            return self._p

        def offset(self) -> int:
            return self._o

    offsets = next_offsets([Record(0, 5), Record(1, 2), Record(0, 7), Record(0, 6)])  # type: ignore[list-item]
    assert [(tp.partition, tp.offset) for tp in offsets] == [(0, 8), (1, 3)]


def consume_one(bootstrap: str, topic: str):
    consumer = Consumer(consumer_config(bootstrap, f"peek-{topic}", "earliest"))
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                return message
        raise AssertionError("no record")
    finally:
        consumer.close()


def test_record_mapping(kafka: str) -> None:
    ensure_topic(kafka, "unit-map", 1)
    produce(kafka, "unit-map", 1, key="k", headers=[("content-type", "application/json")])
    event = record_to_event(consume_one(kafka, "unit-map"), "ns", "src")
    assert event.attributes["id"] == "partition:0/offset:0" and event.attributes["subject"] == "partition:0#0"
    assert event.attributes["source"] == "/apis/v1/namespaces/ns/kafkasources/src#unit-map"
    assert event.attributes["type"] == "dev.knative.kafka.event" and event.attributes["key"] == "k"
    assert event.attributes["datacontenttype"] == "application/json" and event.json() == {"n": 0}
    assert event.attributes["time"].endswith("Z")

    ensure_topic(kafka, "unit-ce", 1)
    produce(kafka, "unit-ce", 1, headers=[("ce_specversion", "1.0"), ("ce_id", "x"), ("ce_source", "/s"),
                                          ("ce_type", "t"), ("ce_region", "eu")])
    passed = record_to_event(consume_one(kafka, "unit-ce"), "ns", "src")
    assert passed.attributes == {"specversion": "1.0", "id": "x", "source": "/s", "type": "t", "region": "eu"}


def test_alibaba_annotations_fill_the_delivery_spec() -> None:
    source = {"metadata": {"name": "s", "annotations": {"k8s.aliyun.com/retry-count": "5",
                                                         "k8s.aliyun.com/retry-interval": "2",
                                                         "k8s.aliyun.com/req-timeout": "60",
                                                         "k8s.aliyun.com/domain": "event-display.default.example.com"}},
              "spec": {"delivery": {"retry": 2}}, "status": {"sinkUri": "http://101.200.177.84/path"}}
    spec = delivery_for(source)
    assert spec.retry == 2, "the spec wins over the annotation"
    assert spec.delay == 2.0 and spec.linear and spec.timeout == 60.0
    assert sink_url(source) == "http://event-display.default.example.com/path"
