"""Clients that send slowly cannot hold the data plane's ingress: a request head must be complete within the
head timeout (also when bytes keep trickling in), and an event's body within the body timeout. Timeouts are
shortened here; each check only waits, boundedly, for the server to answer or close."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from reference.cloudevents import receiver
from reference.cloudevents.delivery import Dispatcher
from reference.dataplane.eventing.broker import BrokerPlane
from reference.dataplane.server import app_runner

HEAD_TIMEOUT = 0.5
BROKER = {"metadata": {"namespace": "ns", "name": "default",
                       "annotations": {"eventing.knative.dev/broker.class": "MTChannelBasedBroker"}}}
HEAD = (b"POST /ns/default HTTP/1.1\r\nHost: broker-ingress\r\nce-specversion: 1.0\r\nce-id: 1\r\n"
        b"ce-source: /s\r\nce-type: t\r\ncontent-type: application/json\r\n")


@asynccontextmanager
async def ingress() -> AsyncIterator[tuple[str, int]]:
    """A broker ingress served with the data plane's settings, but a short head timeout."""
    plane = BrokerPlane(Dispatcher(None))  # type: ignore[arg-type]
    plane.set_broker("ADDED", BROKER, None)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", plane.handle)
    runner = app_runner(app, head_timeout=HEAD_TIMEOUT)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][:2]
    finally:
        await runner.cleanup()
        await plane.close()


async def trickle(writer: asyncio.StreamWriter, reader: asyncio.StreamReader, data: bytes,
                  within: float = 10.0) -> bytes:
    """Sends `data` a byte every 50 ms until the server answers or closes; what it sent back ("" when it
    closed without a word). Fails if it does neither within `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    for i in range(int(within / 0.05)):
        if i < len(data):
            try:
                writer.write(data[i:i + 1])
                await writer.drain()
            except ConnectionError:
                return b""
        try:
            answer = await asyncio.wait_for(reader.read(65536), 0.05)
        except TimeoutError:
            if loop.time() > deadline:
                break
            continue
        except ConnectionError:
            return b""
        return answer
    pytest.fail(f"the server neither answered nor closed within {within} s")


def test_a_head_sent_slowly_is_cut_off() -> None:
    async def main() -> None:
        async with ingress() as (host, port):
            reader, writer = await asyncio.open_connection(host, port)
            # Far more bytes than fit in the head timeout at 20 a second: only the timeout can end this.
            assert await trickle(writer, reader, HEAD + b"x-padding: " + b"p" * 400) == b""
            writer.close()

    asyncio.run(main())


def test_an_idle_connection_is_closed() -> None:
    async def main() -> None:
        async with ingress() as (host, port):
            reader, writer = await asyncio.open_connection(host, port)
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()

    asyncio.run(main())


def test_a_body_sent_slowly_gets_408(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receiver, "BODY_TIMEOUT", 0.5)

    async def main() -> None:
        async with ingress() as (host, port):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(HEAD + b"content-length: 400\r\n\r\n")
            answer = await trickle(writer, reader, b"{" + b" " * 399)
            assert answer.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in answer
            writer.write(b" " * 400)  # the rest (and more) at once: dropped, and the connection ends
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()

    asyncio.run(main())


def test_prompt_clients_keep_their_connection() -> None:
    async def main() -> None:
        async with ingress() as (host, port):
            reader, writer = await asyncio.open_connection(host, port)
            for _ in range(3):  # one connection, several requests, each well within the timeouts
                writer.write(HEAD + b"content-length: 2\r\n\r\n{}")
                assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).startswith(b"HTTP/1.1 202 ")
            writer.close()

    asyncio.run(main())


def test_a_body_sent_slowly_to_a_service_gets_408(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same bound on Service traffic through the proxy (HTTP/1.1 clients)."""
    from reference.dataplane.serving import proxy
    from tests.unit.test_h2c import HOST, _table, replica
    from tests.unit.test_h2c import ingress as service_ingress

    monkeypatch.setattr(proxy, "BODY_TIMEOUT", 0.5)

    async def main() -> None:
        async with replica() as address, service_ingress(_table(address, None)) as url:
            host, port = url.removeprefix("http://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(f"POST / HTTP/1.1\r\nHost: {HOST}\r\ncontent-length: 400\r\n\r\n".encode())
            answer = await trickle(writer, reader, b"x" * 400)
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            assert b"did not arrive within 0.5 s" in answer
            writer.close()

    asyncio.run(main())
