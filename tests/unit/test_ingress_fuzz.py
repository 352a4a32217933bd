"""Fuzzing the broker ingress in process: whatever a client posts as an event, the answer is never a 5xx.

Events start from a valid CloudEvent in binary or structured mode and are then corrupted: attribute
names and values drawn from any text (separators, CR/LF, non-ASCII, a second `type`), JSON types
swapped, data nested deep, bodies cut or replaced by random bytes. Accepted events go to a Trigger
whose subscriber is a closed port (the dispatcher's failures are its own business, not the ingress's).
Derandomized and bounded: every run checks the same inputs in a few seconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference.cloudevents.delivery import Dispatcher
from reference.dataplane.eventing.broker import BrokerPlane

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BROKER = {"metadata": {"namespace": "ns", "name": "default",
                       "annotations": {"eventing.knative.dev/broker.class": "MTChannelBasedBroker"}}}
ATTRIBUTES = {"specversion": "1.0", "id": "1", "source": "/fuzz", "type": "fuzz.event"}

any_text = st.text(max_size=40)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
                           max_leaves=20)


class Ingress:
    """One broker ingress for the whole module, driven from a single event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = self.loop.run_until_complete(self._start())

    async def _start(self) -> TestClient:
        self.session = aiohttp.ClientSession()
        self.plane = BrokerPlane(Dispatcher(self.session))
        self.plane.set_broker("ADDED", BROKER, None)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.plane.handle)
        client = TestClient(TestServer(app, shutdown_timeout=0.1))
        await client.start_server()
        return client

    def post(self, headers: dict[str, str], body: bytes) -> int:
        async def send() -> int:
            async with self.client.post("/ns/default", data=body, headers=headers) as response:
                await response.read()
                return response.status

        return self.loop.run_until_complete(send())

    def close(self) -> None:
        async def stop() -> None:
            await self.client.close()
            await self.plane.close()
            await self.session.close()

        self.loop.run_until_complete(stop())
        self.loop.close()


@pytest.fixture(scope="module")
def ingress() -> Iterator[Ingress]:
    server = Ingress()
    yield server
    server.close()


def _header_safe(text: str) -> str:
    """What an HTTP client can put in a header at all: it refuses control characters before the server
    sees them (percent-encoded ones, which do reach it, are the codec tests' part)."""
    return "".join(c if c >= " " and c != "\x7f" else f"%{ord(c):02X}" for c in text)


def check(ingress: Ingress, headers: dict[str, str], body: bytes) -> None:
    status = ingress.post(headers, body)
    assert status < 500, f"{headers} {body[:300]!r} -> {status}"


@FUZZ
@given(name=any_text, value=any_text, data=json_values, drop=st.sampled_from([None, *ATTRIBUTES]))
def test_binary_events_never_answer_5xx(ingress: Ingress, name: str, value: str, data: object,
                                        drop: str | None) -> None:
    headers = {f"ce-{key}": value for key, value in ATTRIBUTES.items() if key != drop}
    headers[_header_safe(f"ce-{name}") or "ce-"] = _header_safe(value)
    headers["content-type"] = "application/json"
    check(ingress, headers, json.dumps(data).encode())


@FUZZ
@given(extra=st.dictionaries(any_text, json_values, max_size=4), swap=st.sampled_from([None, *ATTRIBUTES]),
       replacement=json_values, depth=st.integers(0, 3000), cut=st.integers(0, 200))
def test_structured_events_never_answer_5xx(ingress: Ingress, extra: dict, swap: str | None, replacement: object,
                                            depth: int, cut: int) -> None:
    event: dict = {**ATTRIBUTES, **extra}
    if swap:
        event[swap] = replacement
    nested: object = 1
    for _ in range(depth):
        nested = [nested]
    event["data"] = nested
    body = json.dumps(event).encode() if depth < 900 else ("[" * depth + "1" + "]" * depth).join(
        [b'{"specversion":"1.0","id":"1","source":"/s","type":"t","data":'.decode(), "}"]).encode()
    check(ingress, {"content-type": "application/cloudevents+json"}, body[:len(body) - cut] if cut < 50 else body)


@FUZZ
@given(body=st.binary(max_size=512), content_type=st.sampled_from(["application/cloudevents+json",
                                                                     "application/cloudevents-batch+json",
                                                                     "application/json", "text/plain", ""]))
def test_random_bodies_never_answer_5xx(ingress: Ingress, body: bytes, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    check(ingress, headers, body)
