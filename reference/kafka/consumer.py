"""At-least-once consumption: one consumer of a group on its own thread polls a batch, hands it to the
event loop, waits until every record is handled, and only then commits the batch's offsets.

A record counts as handled once it was delivered, dead-lettered or given up on by the caller's
delivery policy; a crash or stop in between commits nothing, so the group reads those records again
(duplicates, never loss). A group's first assignment commits its starting offsets at once (Knative's
InitialOffsetsCommitted): otherwise a restart before the first commit would start over at `latest` and
skip what arrived in between. confluent-kafka's consumer is not thread-safe: only the worker's thread
touches it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import TimeoutError as FutureTimeout

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

log = logging.getLogger("kproof.kafka")

Handler = Callable[[list[Message]], Awaitable[None]]
BATCH = 500
POLL_SECONDS = 0.2
LAG_EVERY_SECONDS = 2.0


def next_offsets(messages: list[Message]) -> list[TopicPartition]:
    """The offsets to commit after `messages`: per partition, one past the highest offset."""
    highest: dict[tuple[str, int], int] = {}
    for message in messages:
        key = (message.topic(), message.partition())
        highest[key] = max(highest.get(key, -1), message.offset())
    return [TopicPartition(topic, partition, offset + 1) for (topic, partition), offset in sorted(highest.items())]


class GroupWorker:
    def __init__(self, settings: dict, topics: list[str], handle: Handler, loop: asyncio.AbstractEventLoop,
                 name: str, batch: int = BATCH) -> None:
        self.settings = settings
        self.topics = topics
        self.handle = handle
        self.loop = loop
        self.name = name
        self.batch = batch
        self.lag: dict[tuple[str, int], int] = {}  # (topic, partition) -> records not yet committed
        self.problem: str | None = "starting"  # why it does not consume, None while it does
        self.initial_offset = settings.get("auto.offset.reset", "latest")
        self._initial_error: str | None = None
        self.committed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"kafka-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Asks the thread to finish; blocks until it closed its consumer (call it off the event loop)."""
        self._stop.set()
        self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        consumer = Consumer(self.settings)
        consumer.subscribe(self.topics, on_assign=self._commit_initial_offsets)
        last_lag = 0.0
        try:
            while not self._stop.is_set():
                messages = consumer.consume(self.batch, POLL_SECONDS)
                good = []
                for message in messages:
                    error = message.error()
                    if error is None:
                        good.append(message)
                    elif error.code() != KafkaError._PARTITION_EOF:
                        self.problem = f"{error.name()}: {error.str()}"
                        log.warning("%s: %s", self.name, self.problem)
                if good:
                    self.problem = None
                    if not self._handled(good):
                        return  # stopped mid-batch: commit nothing, the group reads it again
                    consumer.commit(offsets=next_offsets(good), asynchronous=False)
                    self.committed += len(good)
                elif not messages and consumer.assignment():
                    self.problem = self._initial_error
                if time.monotonic() - last_lag > LAG_EVERY_SECONDS:
                    self._measure_lag(consumer)
                    last_lag = time.monotonic()
        except Exception:
            log.exception("%s: the consumer failed", self.name)
            self.problem = "the consumer failed; see the data plane log"
        finally:
            consumer.close()

    def _commit_initial_offsets(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Pins where a new group starts, so that it never resets again (see the module's docstring)."""
        try:
            committed = consumer.committed(partitions, timeout=10)
            starts = []
            for tp in committed:
                if tp.offset < 0:
                    low, high = consumer.get_watermark_offsets(tp, timeout=10, cached=False)
                    starts.append(TopicPartition(tp.topic, tp.partition, low if self.initial_offset == "earliest"
                                                 else high))
            if starts:
                consumer.commit(offsets=starts, asynchronous=False)
            self._initial_error = None
        except Exception as err:  # the broker went away mid-rebalance: the next assignment tries again
            log.warning("%s: could not commit the initial offsets: %s", self.name, err)
            self._initial_error = f"could not commit the initial offsets: {err}"

    def _handled(self, messages: list[Message]) -> bool:
        future = asyncio.run_coroutine_threadsafe(self.handle(messages), self.loop)
        while True:
            try:
                future.result(0.5)
                return True
            except FutureTimeout:
                if self._stop.is_set():
                    future.cancel()
                    return False

    def _measure_lag(self, consumer: Consumer) -> None:
        assigned = consumer.assignment()
        if not assigned:
            self.lag = {}
            return
        lag = {}
        try:
            committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(assigned, timeout=2)}
            for tp in assigned:
                low, high = consumer.get_watermark_offsets(tp, timeout=2, cached=False)
                done = committed.get((tp.topic, tp.partition), -1)
                lag[(tp.topic, tp.partition)] = max(0, high - (done if done >= 0 else low))
        except Exception as err:  # a broker that went away: keep the last figures
            log.debug("%s: no lag figures: %s", self.name, err)
            return
        self.lag = lag
