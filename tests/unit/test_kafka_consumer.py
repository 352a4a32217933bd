"""At-least-once consumption against the embedded Kafka, per record: each partition commits what was
handled, a record in back-off holds up nothing else (unordered) or only its own partition (ordered), a
stop commits only what is done, a new group pins its start at once; and the record mapping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from confluent_kafka import Consumer, Producer, TopicPartition

from reference.dataplane.eventing.kafka_source import delivery_for, record_to_event, sink_url
from reference.kafka.client import config, consumer_config
from reference.kafka.consumer import GroupWorker
from reference.kafka.offsets import OffsetTracker
from reference.kafka.topics import ensure_topic


def produce(bootstrap: str, topic: str, count: int, partition: int | None = None, **kwargs: object) -> None:
    producer = Producer(config(bootstrap))
    for i in range(count):
        extra = {"partition": partition} if partition is not None else {}
        producer.produce(topic, value=f'{{"n": {i}}}'.encode(), **extra, **kwargs)
    assert producer.flush(30) == 0


def committed(bootstrap: str, group: str, topic: str, partitions: int = 1) -> list[int]:
    consumer = Consumer(config(bootstrap, **{"group.id": group}))
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        return [max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10)]
    finally:
        consumer.close()


def run_worker(bootstrap: str, topic: str, group: str, handle, until: Callable[[], bool], timeout: float = 30.0,
               ordered: bool = False, settle: float = 0.0) -> GroupWorker:
    """Runs a GroupWorker on a fresh event loop until `until()` holds (bounded), `settle` seconds more,
    then stops it."""
    async def main() -> GroupWorker:
        worker = GroupWorker(consumer_config(bootstrap, group, "earliest"), [topic], handle,
                             asyncio.get_running_loop(), group, ordered=ordered)
        worker.start()
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(settle)
        await asyncio.to_thread(worker.stop)
        return worker

    return asyncio.run(main())


def test_records_are_committed_once_handled(kafka: str) -> None:
    topic = "unit-commit"
    ensure_topic(kafka, topic, 1)
    produce(kafka, topic, 20)
    seen: list[int] = []

    async def handle(message) -> None:
        seen.append(message.offset())

    run_worker(kafka, topic, "g-commit", handle, lambda: len(seen) >= 20)
    assert sorted(seen) == list(range(20))
    assert committed(kafka, "g-commit", topic) == [20]


def test_a_record_in_back_off_holds_its_commit_point_but_nothing_else(kafka: str) -> None:
    topic = "unit-stuck"
    ensure_topic(kafka, topic, 1)
    produce(kafka, topic, 10)
    seen: list[int] = []

    async def handle(message) -> None:
        if message.offset() == 3:
            await asyncio.sleep(3600)  # a delivery that never ends
        seen.append(message.offset())

    run_worker(kafka, topic, "g-stuck", handle, lambda: len(seen) >= 9, settle=1.0)
    assert sorted(seen) == [0, 1, 2, 4, 5, 6, 7, 8, 9], "the others were not held up"
    assert committed(kafka, "g-stuck", topic) == [3], "committed up to the record still out"
    again: list[int] = []

    async def handle_again(message) -> None:
        again.append(message.offset())

    run_worker(kafka, topic, "g-stuck", handle_again, lambda: len(again) >= 7)
    assert sorted(again) == list(range(3, 10)), "from the stuck record on: duplicates, never loss"


def test_ordered_holds_a_partition_not_the_others(kafka: str) -> None:
    topic = "unit-ordered"
    ensure_topic(kafka, topic, 2)
    produce(kafka, topic, 5, partition=0)
    produce(kafka, topic, 5, partition=1)
    seen: dict[int, list[int]] = {0: [], 1: []}
    other_partition_done: list[int] = []

    async def handle(message) -> None:
        if (message.partition(), message.offset()) == (0, 1):
            # In back-off until partition 1 is through (bounded): it must not wait for partition 0.
            deadline = time.monotonic() + 10
            while len(seen[1]) < 5 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            other_partition_done.append(len(seen[1]))
        seen[message.partition()].append(message.offset())

    run_worker(kafka, topic, "g-ordered", handle, lambda: len(seen[0]) + len(seen[1]) >= 10, ordered=True)
    assert other_partition_done == [5], "partition 1 went on while partition 0's head was held"
    assert seen[0] == list(range(5)) and seen[1] == list(range(5)), "each partition in offset order"
    assert committed(kafka, "g-ordered", topic, 2) == [5, 5]


def test_offset_tracker_commits_below_the_lowest_record_out() -> None:
    tracker = OffsetTracker()
    partition = ("t", 0)
    tracker.assign([partition])
    generations = [tracker.start(partition, offset) for offset in (10, 11, 13)]  # 12 was compacted away
    assert tracker.to_commit() == {partition: 10}
    tracker.done(partition, 11, generations[1])
    tracker.done(partition, 13, generations[2])
    assert tracker.to_commit() == {partition: 10}, "10 is still out"
    tracker.done(partition, 10, generations[0])
    assert tracker.to_commit() == {partition: 14}, "the gap at 12 does not stall it"
    tracker.committed({partition: 14})
    assert tracker.to_commit() == {}
    tracker.start(partition, 14)
    assert tracker.revoke([partition]) == {}, "nothing new to commit: 14 is out"
    tracker.done(partition, 14, generations[0])  # a report for a partition no longer held: ignored
    assert tracker.start(("t", 1), 0) is None, "not assigned"


def test_a_new_group_pins_its_start(kafka: str) -> None:
    topic = "unit-pin"
    ensure_topic(kafka, topic, 1)
    produce(kafka, topic, 3)

    async def handle(message) -> None:
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
    assert committed(kafka, "g-pin", topic)[0] > 0, "latest is committed as soon as the group is assigned"


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
