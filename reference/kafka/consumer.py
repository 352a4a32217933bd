"""At-least-once consumption that never waits on its slowest record (Knative's dispatcher, in kind).

One consumer of a group polls on its own thread and hands each record to the event loop at once.
`unordered`: records are handled concurrently, at most `max_in_flight` out at a time; at the bound the
consumer waits for a record to come back before it polls again (pausing a partition would drop what
librdkafka already fetched for it, and one slow record would cost a fetch round trip), and only when
nothing comes back for `FULL_PAUSE_SECONDS` pauses its partitions and polls, so that the group keeps it
and rebalances are served. `ordered`: a partition's records are handled one at a time in offset order,
each partition on its own, at most `PARTITION_QUEUE` of a partition out; a partition at its bound is
paused (the others go on) until records come back.

Each partition commits, on a short timer and when it is revoked or the worker stops, the point below
which every record was handled (`offsets.OffsetTracker`); nothing else is committed, so a crash or a
stop can only repeat records, never lose them. A group's first assignment commits its starting offsets
at once (Knative's InitialOffsetsCommitted): otherwise a restart before the first commit would start
over at `latest` and skip what arrived in between. confluent-kafka's consumer is not thread-safe: only
the worker's thread touches it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from reference.kafka.client import SESSION_TIMEOUT_MS
from reference.kafka.offsets import OffsetTracker, Partition

log = logging.getLogger("kproof.kafka")

Handler = Callable[[Message], Awaitable[object]]  # one record, to its end (delivered or given up on)
LagReport = Callable[[dict[Partition, int]], None]
MAX_IN_FLIGHT = 100
PARTITION_QUEUE = 200
FULL_PAUSE_SECONDS = 1.0
POLL_BATCH = 200
POLL_SECONDS = 0.1
COMMIT_SECONDS = 0.5
LAG_EVERY_SECONDS = 2.0
DRAIN_SECONDS = 5.0  # a stopping worker waits this long for records out before it commits and closes


def _position(message: Message) -> tuple[Partition, int]:
    """A handed-out record's partition and offset (librdkafka sets both on every record that is no error)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None
    return (topic, partition), offset


class GroupWorker:
    def __init__(self, settings: dict, topics: list[str], handle: Handler, loop: asyncio.AbstractEventLoop,
                 name: str, ordered: bool = False, max_in_flight: int = MAX_IN_FLIGHT,
                 on_lag: LagReport | None = None) -> None:
        self.settings = settings
        self.topics = topics
        self.handle = handle
        self.loop = loop
        self.name = name
        self.ordered = ordered
        self.max_in_flight = max_in_flight
        self.on_lag = on_lag
        self.lag: dict[Partition, int] = {}  # records not yet committed, per partition
        self.problem: str | None = "starting"  # why it does not consume, None while it does
        self.initial_offset = settings.get("auto.offset.reset", "latest")
        self.offsets = OffsetTracker()
        self._initial_error: str | None = None
        self._out = 0  # records handed out and not yet back (the loop decrements it)
        self._out_lock = threading.Lock()
        self._room = threading.Event()  # set by the loop whenever a record comes back
        self._full_since: float | None = None  # unordered: since when max_in_flight records are out
        self._paused: set[Partition] = set()
        self._tails: dict[Partition, asyncio.Task] = {}  # ordered: each partition's last record
        self._tasks: set[asyncio.Task] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"kafka-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = DRAIN_SECONDS + 10) -> None:
        """Stops polling, lets records out finish for a while, commits what is done and closes; what is
        still out then is cancelled (the group reads it again). Blocks: call it off the event loop."""
        self._stop.set()
        self._thread.join(timeout)
        self.loop.call_soon_threadsafe(self._cancel_all)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # The consumer's thread ------------------------------------------------------------------------

    def _subscribed(self) -> Consumer:
        consumer = Consumer(self.settings)
        consumer.subscribe(self.topics, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked)
        return consumer

    def _lengthen_session(self) -> bool:
        """The broker refused the session timeout: ask for the usual minimum instead, once."""
        if int(self.settings.get("session.timeout.ms", SESSION_TIMEOUT_MS)) >= SESSION_TIMEOUT_MS:
            return False
        log.info("%s: the broker wants a longer session; joining again with %d ms", self.name, SESSION_TIMEOUT_MS)
        self.settings = {**self.settings, "session.timeout.ms": SESSION_TIMEOUT_MS}
        return True

    def _run(self) -> None:
        consumer = self._subscribed()
        last_commit = last_lag = 0.0
        try:
            while not self._stop.is_set():
                room = self._wait_for_room()
                self._flow(consumer)
                # Full and not yet paused: no poll (it would fetch past the bound). Paused: a poll that
                # returns nothing but serves the group's callbacks.
                messages = consumer.consume(min(POLL_BATCH, room), POLL_SECONDS) if room else (
                    consumer.consume(1, 0) if self._paused else [])
                good = []
                for message in messages:
                    error = message.error()
                    if error is None:
                        good.append(message)
                    elif error.code() == KafkaError.INVALID_SESSION_TIMEOUT and self._lengthen_session():
                        consumer.close()  # it never joined: nothing assigned, nothing to commit
                        consumer = self._subscribed()
                        break
                    elif error.code() != KafkaError._PARTITION_EOF:
                        self.problem = f"{error.name()}: {error.str()}"
                        log.warning("%s: %s", self.name, self.problem)
                if good:
                    self.problem = None
                    self._hand_out(good)
                elif not messages and consumer.assignment():
                    self.problem = self._initial_error
                now = time.monotonic()
                if now - last_commit >= COMMIT_SECONDS:
                    self._commit(consumer, self.offsets.to_commit())
                    last_commit = now
                if now - last_lag >= LAG_EVERY_SECONDS:
                    self._measure_lag(consumer)
                    last_lag = now
            self._drain(consumer)
        except Exception:
            log.exception("%s: the consumer failed", self.name)
            self.problem = "the consumer failed; see the data plane log"
        finally:
            consumer.close()

    def _hand_out(self, messages: list[Message]) -> None:
        handed = []
        for message in messages:
            generation = self.offsets.start(*_position(message))
            if generation is not None:
                handed.append((message, generation))
        with self._out_lock:
            self._out += len(handed)
        self.loop.call_soon_threadsafe(self._dispatch, handed)

    def _bound(self) -> int:
        return self.max_in_flight * PARTITION_QUEUE if self.ordered else self.max_in_flight

    def _wait_for_room(self) -> int:
        """How many more records may go out; while none may, waits (a while) for one to come back."""
        deadline = time.monotonic() + POLL_SECONDS
        while True:
            self._room.clear()
            with self._out_lock:
                room = self._bound() - self._out
            if room > 0:
                self._full_since = None
                return room
            now = time.monotonic()
            if self._full_since is None:
                self._full_since = now
            if now >= deadline or self._stop.is_set():
                return 0
            self._room.wait(deadline - now)

    def _flow(self, consumer: Consumer) -> None:
        """Pauses partitions past the bounds, resumes them once records came back."""
        assigned = [(tp.topic, tp.partition) for tp in consumer.assignment()]
        full = self._full_since is not None and time.monotonic() - self._full_since >= FULL_PAUSE_SECONDS
        wanted = {p for p in assigned if full or (self.ordered and self.offsets.out(p) >= PARTITION_QUEUE)}
        pause, resume = wanted - self._paused, (self._paused & set(assigned)) - wanted
        if pause:
            consumer.pause([TopicPartition(t, p) for t, p in pause])
        if resume:
            consumer.resume([TopicPartition(t, p) for t, p in resume])
        self._paused = wanted

    def _commit(self, consumer: Consumer, points: dict[Partition, int]) -> None:
        if not points:
            return
        try:
            consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in points.items()], asynchronous=False)
            self.offsets.committed(points)
        except Exception as err:  # a rebalance under way, a broker gone: the next tick tries again
            log.debug("%s: commit failed: %s", self.name, err)

    def _drain(self, consumer: Consumer) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            with self._out_lock:
                if self._out == 0:
                    break
            time.sleep(0.05)
        self._commit(consumer, self.offsets.to_commit())

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.offsets.assign([(tp.topic, tp.partition) for tp in partitions])
        self._paused -= {(tp.topic, tp.partition) for tp in partitions}
        self._commit_initial_offsets(consumer, partitions)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Commits what is done of the partitions that leave; their records still out will be read again
        by whoever gets them."""
        gone = [(tp.topic, tp.partition) for tp in partitions]
        self._commit(consumer, self.offsets.revoke(gone))
        self._paused -= set(gone)

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

    def _measure_lag(self, consumer: Consumer) -> None:
        assigned = consumer.assignment()
        lag: dict[Partition, int] = {}
        if assigned:
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
        if self.on_lag is not None:
            self.on_lag(lag)

    # The event loop -------------------------------------------------------------------------------

    def _dispatch(self, handed: list[tuple[Message, int]]) -> None:
        for message, generation in handed:
            partition, _ = _position(message)
            before = self._tails.get(partition) if self.ordered else None
            task = self.loop.create_task(self._handle(message, generation, before))
            if self.ordered:
                self._tails[partition] = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handle(self, message: Message, generation: int, before: asyncio.Task | None) -> None:
        partition, offset = _position(message)
        handled = False
        try:
            if before is not None:
                await asyncio.wait([before])  # its predecessor's outcome is its own business
            await self.handle(message)
            handled = True
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in the handler: the record stays uncommitted, so it comes again
            log.exception("%s: handling %s@%d failed", self.name, partition, offset)
        finally:
            if handled:
                self.offsets.done(partition, offset, generation)
            with self._out_lock:
                self._out -= 1
            self._room.set()
            if self.ordered and self._tails.get(partition) is asyncio.current_task():
                del self._tails[partition]

    def _cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
