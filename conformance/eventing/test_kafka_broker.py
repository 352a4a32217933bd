"""The Kafka-class Broker: Knative's `eventing.knative.dev/broker.class: Kafka` keeps accepted events in
a topic, so filtering and delivery work as for any broker and a restart of the platform loses none."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import aiohttp
import pytest
import requests

from conformance.eventing.support import BROKER, TRIGGER, Bench, event, ids
from conformance.helpers import eventually, log, unique
from kproof.target import KAFKA, RESTART, Target

KAFKA_CLASS = {"eventing.knative.dev/broker.class": "Kafka"}
RESTART_EVENTS = 1000


def kafka_broker(bench: Bench, name: str) -> str:
    bench.target.create({"apiVersion": BROKER[0], "kind": BROKER[1],
                         "metadata": {"name": name, "namespace": bench.namespace, "annotations": KAFKA_CLASS}})
    return bench.broker_url(name)


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#broker-lifecycle: the Broker "
                  "contract holds for every class; Knative docs, Apache Kafka Broker (broker.class: Kafka)")
@pytest.mark.requires(KAFKA)
def test_a_kafka_broker_filters_and_delivers(bench: Bench) -> None:
    name = unique("kb")
    url = kafka_broker(bench, name)
    assert bench.target.get(*BROKER, name, bench.namespace)["metadata"]["annotations"][
        "eventing.knative.dev/broker.class"] == "Kafka"
    bench.trigger(unique("t"), "/kafka-broker", broker=name, filters=[{"exact": {"type": "kproof.kafka.order"}}])
    wanted, other = event("kproof.kafka.order"), event("kproof.kafka.other")
    assert bench.send(wanted, url=url)["status"] == 202
    assert bench.send(other, url=url)["status"] == 202
    assert ids(bench.settled("sink", "/kafka-broker", quiet=2.0)) == [wanted["id"]]


# The restart test's sink runs outside the platform, so that the restart does not take it down too.

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def outside_recorder() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "reference.apps.recorder"],
                               env={**os.environ, "PORT": str(port), "KPROOF_BIND": "127.0.0.1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: _answers(url), 30, "the outside recorder answering")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=1).status_code == 200
    except requests.RequestException:
        return False


async def _send_all(ingress: str, host: str, path: str, count: int) -> list[str]:
    accepted: list[str] = []
    queue = iter(range(count))

    async def worker(session: aiohttp.ClientSession) -> None:
        for n in queue:
            event_id = f"restart-{n}-{uuid.uuid4().hex[:6]}"
            headers = {"Host": host, "ce-specversion": "1.0", "ce-id": event_id, "ce-source": "/kproof/restart",
                       "ce-type": "kproof.restart", "content-type": "application/json"}
            async with session.post(f"{ingress}{path}", data=b'{"n": 1}', headers=headers) as response:
                if response.status == 202:
                    accepted.append(event_id)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(16)))
    return accepted


def _deliveries(recorder: str) -> Counter:
    """How many times each event reached the recorder with a 2xx answer."""
    records = requests.get(f"{recorder}/events", timeout=30).json()
    return Counter(r["event"]["id"] for r in records if r.get("event") and 200 <= r["status"] < 300)


@pytest.mark.spec("SHOULD", "stable", source="knative/specs eventing/control-plane.md#content-based-routing: \"the "
                  "Broker MUST durably enqueue the event\"; Knative docs, Apache Kafka Broker: events are kept in a "
                  "Kafka topic")
@pytest.mark.requires(RESTART, KAFKA)
@pytest.mark.parametrize("crash", [False, True], ids=["restart", "data-plane-killed"])
def test_a_kafka_broker_loses_nothing_across_a_restart(target: Target, namespace: str, outside_recorder: str,
                                                       capsys: pytest.CaptureFixture, crash: bool) -> None:
    """A restart of the platform, or a SIGKILL of its data plane (no drain, no last commit, no leaving the
    consumer group): every accepted event is still delivered, and the figures show how soon and how often."""
    requests.post(f"{outside_recorder}/config", json={"delay_ms": 500}, timeout=5)
    target.create({"apiVersion": BROKER[0], "kind": BROKER[1],
                   "metadata": {"name": "durable", "namespace": namespace, "annotations": KAFKA_CLASS}})
    url = target.wait_for(*BROKER, "durable", namespace, timeout=60)["status"]["address"]["url"]
    target.create({"apiVersion": TRIGGER[0], "kind": TRIGGER[1], "metadata": {"name": "all", "namespace": namespace},
                   "spec": {"broker": "durable", "subscriber": {"uri": f"{outside_recorder}/durable"}}})
    target.wait_for(*TRIGGER, "all", namespace, timeout=60)
    host, _, path = url.removeprefix("http://").partition("/")
    assert target.ingress
    accepted = asyncio.run(_send_all(target.ingress, host, "/" + path, RESTART_EVENTS))
    assert len(accepted) == RESTART_EVENTS, "every event is accepted with 202"
    before = len(_deliveries(outside_recorder))

    assert target.platform is not None
    started = time.monotonic()
    if crash:
        target.platform.kill_data_plane()
    else:
        target.platform.restart()
        target.reconnect()
    requests.post(f"{outside_recorder}/config", json={"delay_ms": 0}, timeout=5)

    def delivered() -> Counter | None:
        counts = _deliveries(outside_recorder)
        return counts if set(accepted) <= set(counts) else None

    counts: Counter = eventually(delivered, 180, f"all {RESTART_EVENTS} accepted events delivered after the "
                                 f"{'kill' if crash else 'restart'}", interval=0.2)
    log(capsys, f"\nKafka broker, {'data plane killed' if crash else 'platform restarted'}: {RESTART_EVENTS} "
                f"accepted, {before} delivered before, all delivered {time.monotonic() - started:.1f}s after it, "
                f"{sum(counts.values()) - len(counts)} duplicates")
    assert before < RESTART_EVENTS, "the restart came while deliveries were still pending"
