"""A trigger's consumer asks for a short session (a crashed data plane's member leaves the group soon); a
broker that refuses it (Apache Kafka's group.min.session.timeout.ms) gets the usual minimum instead."""

from __future__ import annotations

import asyncio
import time

import pytest
from confluent_kafka import KafkaError

from reference.kafka import consumer as consumer_module
from reference.kafka.client import FAST_SESSION_TIMEOUT_MS, SESSION_TIMEOUT_MS, consumer_config
from reference.kafka.consumer import GroupWorker


class Refusal:
    def error(self) -> KafkaError:
        return KafkaError(KafkaError.INVALID_SESSION_TIMEOUT)


class StrictBroker:
    """A confluent-kafka Consumer stand-in on a broker with a 6 s minimum session."""

    made: list[dict] = []

    def __init__(self, settings: dict) -> None:
        self.settings = settings
        self.refused = False
        self.closed = False
        StrictBroker.made.append(settings)

    def subscribe(self, topics: list[str], **callbacks: object) -> None:
        pass

    def consume(self, count: int, timeout: float) -> list:
        if self.settings["session.timeout.ms"] < SESSION_TIMEOUT_MS and not self.refused:
            self.refused = True
            return [Refusal()]
        time.sleep(timeout)
        return []

    def assignment(self) -> list:
        return []

    def close(self) -> None:
        self.closed = True


def test_a_refused_short_session_falls_back_to_the_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_module, "Consumer", StrictBroker)
    StrictBroker.made = []

    async def main() -> None:
        settings = consumer_config("127.0.0.1:1", "g", **{"session.timeout.ms": FAST_SESSION_TIMEOUT_MS})
        worker = GroupWorker(settings, ["t"], lambda message: asyncio.sleep(0), asyncio.get_running_loop(), "w")
        worker.start()
        for _ in range(100):  # bounded: 5 s at most
            if len(StrictBroker.made) >= 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # room for a wrong third attempt
        await asyncio.to_thread(worker.stop)

    asyncio.run(main())
    assert [s["session.timeout.ms"] for s in StrictBroker.made] == [FAST_SESSION_TIMEOUT_MS, SESSION_TIMEOUT_MS]


def test_the_usual_session_is_not_retried() -> None:
    loop = asyncio.new_event_loop()
    try:
        worker = GroupWorker(consumer_config("127.0.0.1:1", "g"), ["t"], lambda message: asyncio.sleep(0), loop, "w")
        assert not worker._lengthen_session()
        assert worker.settings["session.timeout.ms"] == SESSION_TIMEOUT_MS
    finally:
        loop.close()
