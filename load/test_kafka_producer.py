"""The Kafka producer scenario (seed 001's 50 messages a second for 100 s), scaled down to 20 a second for
5 s against an embedded Kafka: Locust's stats count the delivery reports and the messages are all there."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from load.runner import run_producer
from reference.kafka.client import consumer_config

pytestmark = pytest.mark.timing  # compares moments or rates: alone in a parallel run

RATE, SECONDS = 20, 5


def _keys_in(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list[str]:
    consumer = Consumer(consumer_config(bootstrap, f"test-{uuid.uuid4().hex[:8]}", "earliest"))
    consumer.subscribe([topic])
    keys: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while len(keys) < expected and time.monotonic() < deadline:
            keys += [m.key().decode() for m in consumer.consume(500, 0.5) if m.error() is None]
    finally:
        consumer.close()
    return keys


def test_the_producer_scenario_sends_the_rate_for_the_duration(kafka: str, tmp_path: Path) -> None:
    topic = f"demo-{uuid.uuid4().hex[:8]}"
    result = run_producer(kafka, topic, rate=RATE, duration=SECONDS, reports=tmp_path / "reports")
    assert result.failures == 0, (result.directory / "locust.log").read_text()[-2000:]
    assert 0.9 * RATE * SECONDS <= result.requests <= 1.1 * RATE * SECONDS
    assert (result.directory / "locust_stats.csv").read_text().count("KAFKA," + topic) == 1

    keys = _keys_in(kafka, topic, result.requests)
    assert len(keys) == result.requests
    assert set(keys) == {str(n) for n in range(16)}, "keys are the message number modulo 16"
