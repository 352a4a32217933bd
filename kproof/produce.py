"""Sending messages to a Kafka topic, optionally as binary-mode CloudEvents, at a steady rate: what
`kproof produce` (kproof/commands/produce.py) does.

It feeds the event-driven scenarios (a KafkaSource in front of a model service, seed 001) by hand or from
scripts: `kproof produce --topic ai-info --count 5000 --rate 50 --key '{n}'` sends seed 001's 50 messages a
second for 100 s to the running reference's Kafka. `{n}` in the key, value and header values is the
message's number, counted from 0.
"""

from __future__ import annotations

import functools
import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import KafkaError, Message, Producer

from reference.kafka.client import config

DEFAULT_VALUE = '{"n": {n}}'
CE_SOURCE = "/kproof/produce"
CE_TYPE = "dev.kproof.produce"
# librdkafka retries a message for 5 minutes by default; a wrong address should fail sooner than that.
MESSAGE_TIMEOUT_MS = 30_000
KEEP_ERRORS = 5


@dataclass
class ProduceResult:
    topic: str
    count: int = 0  # delivered: the broker acknowledged them (acks=all)
    failures: int = 0  # failed delivery reports plus messages still unacknowledged at the end
    seconds: float = 0.0
    partitions: dict[int, int] = field(default_factory=dict)  # partition -> messages delivered to it
    latencies_ms: list[float] = field(default_factory=list)  # produce() to delivery report, per message
    errors: list[str] = field(default_factory=list)  # the first few distinct reasons for failures

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self, quantile: float) -> float:
        if not self.latencies_ms:
            return 0.0
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[round(quantile * 100) - 1]


def render(template: str, n: int) -> str:
    # Not str.format: JSON values are full of braces.
    return template.replace("{n}", str(n))


def content_type_of(value: str) -> str:
    try:
        json.loads(value)
    except ValueError:
        return "text/plain"
    return "application/json"


def message_headers(n: int, value: str, headers: list[tuple[str, str]], cloudevent: bool,
                    run_id: str) -> list[tuple[str, str]]:
    """The Kafka headers of message `n`: the CloudEvent attributes in binary mode (Kafka protocol binding),
    where a header the user names replaces the attribute of the same name, then the user's headers."""
    given = [(name, render(text, n)) for name, text in headers]
    if not cloudevent:
        return given
    attributes = {"ce_specversion": "1.0", "ce_id": f"{run_id}-{n}", "ce_source": CE_SOURCE, "ce_type": CE_TYPE,
                  "ce_time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                  "content-type": content_type_of(value)}
    named = {name for name, _ in given}
    return [(name, text) for name, text in attributes.items() if name not in named] + given


def produce(bootstrap: str, topic: str, count: int = 1, rate: float | None = None, key: str | None = None,
            value_template: str = DEFAULT_VALUE, headers: list[tuple[str, str]] | None = None,
            cloudevent: bool = False) -> ProduceResult:
    """Sends `count` messages to `topic`, `rate` a second (None: as fast as the producer takes them), and
    waits for every delivery report. Never raises for a message the broker refused: it counts as a failure."""
    result = ProduceResult(topic)
    producer = Producer(config(bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
                               message_timeout_ms=MESSAGE_TIMEOUT_MS))
    run_id = uuid.uuid4().hex[:12]  # CloudEvent ids stay unique across runs

    def delivered(err: object, message: Message, sent: float) -> None:
        if err is not None:
            result.failures += 1
            if str(err) not in result.errors and len(result.errors) < KEEP_ERRORS:
                result.errors.append(str(err))
            return
        result.count += 1
        partition = message.partition()
        assert partition is not None  # librdkafka reports a delivered message with its partition
        result.partitions[partition] = result.partitions.get(partition, 0) + 1
        latency = message.latency()  # librdkafka's own measure; our poll may come later
        result.latencies_ms.append(1000 * (latency if latency is not None else time.monotonic() - sent))

    started = time.monotonic()
    for n in range(count):
        if rate:
            due = started + n / rate  # from the start, so a late message does not delay the rest
            while (wait := due - time.monotonic()) > 0:
                producer.poll(min(wait, 0.1))
        value = render(value_template, n)
        sent = time.monotonic()
        queued = _enqueue(producer, topic, value.encode(), render(key, n) if key is not None else None,
                          list(message_headers(n, value, headers or [], cloudevent, run_id)),
                          functools.partial(delivered, sent=sent))
        if not queued:
            result.failures += count - n
            result.errors.append("the producer's queue stayed full")
            break
    unacknowledged = producer.flush(MESSAGE_TIMEOUT_MS / 1000 + 5)  # runs the last callbacks: read it first
    result.failures += unacknowledged
    result.seconds = time.monotonic() - started
    return result


def _enqueue(producer: Producer, topic: str, value: bytes, key: str | None,
             headers: list[tuple[str, str | bytes | None]],
             on_delivery: Callable[[KafkaError | None, Message], None]) -> bool:
    """Hands one message to the producer, serving delivery reports while its local queue is full; False when
    the queue stays full for longer than a message may wait for the broker."""
    give_up = time.monotonic() + MESSAGE_TIMEOUT_MS / 1000 + 10
    while True:
        try:
            producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
        except BufferError:
            if time.monotonic() > give_up:
                return False
            producer.poll(0.05)
            continue
        producer.poll(0)
        return True
