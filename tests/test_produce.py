"""`kproof produce` against the embedded Kafka: what it sends is what a consumer reads back (count, keys,
CloudEvent headers, partitions of a topic it created)."""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message
from confluent_kafka.admin import AdminClient

from kproof.commands.produce import register
from kproof.produce import CE_SOURCE, CE_TYPE, message_headers, produce, render
from reference.kafka.client import config, consumer_config
from reference.kafka.embedded import EmbeddedKafka

COUNT = 200


def consume(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[Message]:
    """Reads `topic` from the start with a fresh group until `count` messages arrived or `timeout` passed."""
    consumer = Consumer(consumer_config(bootstrap, f"test-{uuid.uuid4().hex[:8]}", "earliest"))
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < count and time.monotonic() < deadline:
            messages += [m for m in consumer.consume(500, 0.5) if m.error() is None]
    finally:
        consumer.close()
    return messages


def cli(*argv: str) -> int:
    root = argparse.ArgumentParser(prog="kproof")
    register(root.add_subparsers(dest="command", required=True))
    args = root.parse_args(["produce", *argv])
    return args.func(args)


def test_produced_messages_are_read_back_with_their_keys(kafka: str) -> None:
    topic = f"plain-{uuid.uuid4().hex[:8]}"
    for _ in range(2):  # twice the same keys: each key's messages share a partition
        result = produce(kafka, topic, COUNT // 2, key="k{n}", headers=[("trace", "t-{n}")])
        assert (result.count, result.failures) == (COUNT // 2, 0), result.errors
    messages = consume(kafka, topic, COUNT)
    assert len(messages) == COUNT
    partitions: dict[str, set[int]] = {}
    for message in messages:
        partitions.setdefault(message.key().decode(), set()).add(message.partition())
    assert set(partitions) == {f"k{n}" for n in range(COUNT // 2)}
    assert all(len(p) == 1 for p in partitions.values()), partitions
    assert len(set().union(*partitions.values())) > 1, "keys spread over the topic's partitions"
    seventh = next(m for m in messages if m.key() == b"k7")
    assert json.loads(seventh.value()) == {"n": 7}
    assert dict(seventh.headers() or []) == {"trace": b"t-7"}


def test_the_cli_creates_the_topic_and_sends_cloudevents_at_a_rate(kafka: str) -> None:
    topic = f"events-{uuid.uuid4().hex[:8]}"
    code = cli("--bootstrap", kafka, "--topic", topic, "--create-topic", "--partitions", "3", "--count", str(COUNT),
               "--rate", "1000", "--key", "{n}", "--value", '{"id": {n}}', "--cloudevent",
               "--header", "ce_type=com.example.intent", "--header", "tenant=a")
    assert code == 0
    assert len(AdminClient(config(kafka)).list_topics(topic, timeout=10).topics[topic].partitions) == 3

    messages = consume(kafka, topic, COUNT)
    assert len(messages) == COUNT
    assert {m.partition() for m in messages} == {0, 1, 2}
    for message in messages:
        headers = {name: value.decode() for name, value in message.headers() or []}
        n = int(message.key())
        assert json.loads(message.value()) == {"id": n}
        assert headers["ce_specversion"] == "1.0" and headers["ce_source"] == CE_SOURCE
        assert headers["ce_type"] == "com.example.intent", "a --header replaces the attribute"
        assert headers["content-type"] == "application/json" and headers["tenant"] == "a"
        assert headers["ce_id"].endswith(f"-{n}") and headers["ce_time"].endswith("Z")
    assert len({dict(m.headers())["ce_id"] for m in messages}) == COUNT, "every event has its own id"


def test_an_unreachable_kafka_fails_the_command(tmp_path: Path) -> None:
    # Nothing listens on the port a stopped broker used: the command says so instead of retrying for long.
    stopped = EmbeddedKafka(tmp_path)
    address = stopped.ensure()
    stopped.stop()
    assert cli("--bootstrap", address, "--topic", "nowhere") == 1


def test_a_missing_bootstrap_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KPROOF_KAFKA_BOOTSTRAP", raising=False)
    assert cli("--state-dir", str(tmp_path), "--topic", "t") == 2


def test_templates_and_cloudevent_headers() -> None:
    assert render('{"n": {n}, "tag": "{x}"}', 4) == '{"n": 4, "tag": "{x}"}'
    plain = dict(message_headers(3, "hello", [], True, "run"))
    assert plain["content-type"] == "text/plain" and plain["ce_id"] == "run-3" and plain["ce_type"] == CE_TYPE
    assert message_headers(3, "{}", [("a", "{n}")], False, "run") == [("a", "3")]
