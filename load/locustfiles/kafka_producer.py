"""Kafka producer: seed 001's load, KPROOF_RATE messages a second into KPROOF_TOPIC for KPROOF_DURATION
seconds (default 50/s for 100 s into `demo`), for a KafkaSource and the service behind it to absorb.

Each delivery report is a Locust request (type KAFKA, named after the topic): its response time is the time
from produce() to the broker's acknowledgement (acks=all), a refused or timed-out message is a failure.
KPROOF_KAFKA_BOOTSTRAP (required) names the brokers; KPROOF_MESSAGE_BYTES pads each JSON message to that
size; KPROOF_KEYS (default 16) keys messages by number modulo KPROOF_KEYS, so a key always lands on the
same partition; KPROOF_PRODUCERS (default 1) users share the rate. The shape stops the run after the
duration, so the web UI's user count does not apply. `locust -f load/locustfiles/kafka_producer.py`
"""

from __future__ import annotations

import itertools
import json
import os
import time

import gevent
from confluent_kafka import KafkaException, Message, Producer
from locust import LoadTestShape, User, events, task
from locust.env import Environment
from locust.runners import MasterRunner

from load.locustfiles.common import number
from reference.kafka.client import config

# Seed 001's message; `id` carries the message's number so every message differs.
SEED_001_MESSAGE = {"id": 0, "template_name": "template_media/videos/templates/"
                    "8f3a5f293149095aa62958029e208501_1606889936.zip", "width": 360, "height": 640}
POLL_SECONDS = 0.01
FLUSH_SECONDS = 30.0


def topic() -> str:
    return os.environ.get("KPROOF_TOPIC", "demo")


def payload(n: int, size: int = 0) -> bytes:
    """Seed 001's JSON with id `n`, padded with a `pad` field to `size` bytes when that is larger."""
    body: dict = {**SEED_001_MESSAGE, "id": n}
    text = json.dumps(body, separators=(",", ":"))
    if size > len(text):
        body["pad"] = ""
        body["pad"] = "x" * max(0, size - len(json.dumps(body, separators=(",", ":"))))
        text = json.dumps(body, separators=(",", ":"))
    return text.encode()


class SharedProducer:
    """One producer per Locust process, from test start to test stop. A greenlet serves its delivery reports
    (confluent-kafka runs callbacks only inside poll(), on the caller's thread) and turns each into a Locust
    request event; stopping flushes, so every message sent is counted before the stats are written."""

    def __init__(self) -> None:
        self.producer: Producer | None = None
        self.numbers = itertools.count()
        self._poller: gevent.Greenlet | None = None

    def start(self, environment: Environment) -> None:
        bootstrap = os.environ.get("KPROOF_KAFKA_BOOTSTRAP", "")
        if not bootstrap:
            raise RuntimeError("set KPROOF_KAFKA_BOOTSTRAP to the Kafka's bootstrap servers (host:port)")
        self.environment = environment
        self.producer = Producer(config(bootstrap, acks="all", enable_idempotence=True, linger_ms=5))
        self._poller = gevent.spawn(self._serve)

    def _serve(self) -> None:
        while self.producer is not None:
            self.producer.poll(0)  # never block: this process has one OS thread for all greenlets
            gevent.sleep(POLL_SECONDS)

    def send(self, n: int, key: str, value: bytes) -> None:
        assert self.producer is not None, "the test has not started"
        sent = time.monotonic()

        def delivered(err: object, message: Message) -> None:
            latency = message.latency()  # librdkafka's measure: independent of when we polled
            self.environment.events.request.fire(
                request_type="KAFKA", name=message.topic() or topic(), response_length=len(value), context={},
                response_time=1000 * (latency if latency is not None else time.monotonic() - sent),
                exception=KafkaException(err) if err is not None else None)

        while True:
            try:
                self.producer.produce(topic(), value=value, key=key, on_delivery=delivered)
                return
            except BufferError:  # the local queue is full: let the poller drain it
                gevent.sleep(POLL_SECONDS)

    def stop(self) -> None:
        producer, self.producer = self.producer, None
        if producer is None:
            return
        if self._poller is not None:
            self._poller.kill()
        deadline = time.monotonic() + FLUSH_SECONDS
        while len(producer) and time.monotonic() < deadline:
            producer.poll(0.05)
        for _ in range(len(producer)):  # still unacknowledged: count them as failed
            self.environment.events.request.fire(
                request_type="KAFKA", name=topic(), response_time=FLUSH_SECONDS * 1000, response_length=0,
                context={}, exception=KafkaException("not acknowledged before the run ended"))


kafka = SharedProducer()


@events.test_start.add_listener
def _start(environment: Environment, **_kwargs: object) -> None:
    if not isinstance(environment.runner, MasterRunner):  # workers produce, a master only counts
        kafka.start(environment)


@events.test_stop.add_listener
def _stop(environment: Environment, **_kwargs: object) -> None:
    kafka.stop()


class KafkaProducerUser(User):
    """Sends its share of the rate on a fixed schedule (message k at start + k / rate, so a late wake-up
    does not lower the rate) until its share of rate x duration is sent."""

    def on_start(self) -> None:
        producers = max(1, int(number("producers", 1)))
        self.rate = number("rate", 50) / producers
        self.quota = round(number("rate", 50) * number("duration", 100) / producers)
        self.size = int(number("message_bytes", 0))
        self.keys = max(1, int(number("keys", 16)))
        self.sent = 0
        self.started = time.monotonic()

    def wait_time(self) -> float:
        if self.sent >= self.quota:
            return 1.0
        return max(0.0, self.started + self.sent / self.rate - time.monotonic())

    @task
    def produce(self) -> None:
        if self.sent >= self.quota:
            return
        n = next(kafka.numbers)
        kafka.send(n, str(n % self.keys), payload(n, self.size))
        self.sent += 1


class ProducerShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        producers = max(1, int(number("producers", 1)))
        # A second past the last message's slot, so the last one is sent before the users stop.
        if self.get_run_time() < number("duration", 100) + 1:
            return producers, producers
        return None
