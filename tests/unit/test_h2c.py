"""HTTP/2 cleartext in the data plane: the h2 connections themselves (heads, bodies larger than a flow-control
window, trailers, streams both ways at once, resets), and the proxy with them: to a replica whose port is
named h2c (Hypercorn serving kproof's protocols app), from clients that open with HTTP/2's preface, gRPC
through it, and the revision's timeouts on that path. Every wait is bounded."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import grpc
import httpx
import pytest
from aiohttp import web
from h2.errors import ErrorCodes
from hypercorn.asyncio import serve
from hypercorn.config import Config

from reference.apps import protocols
from reference.dataplane.server import IngressSite, app_runner
from reference.dataplane.serving.h2c import PREFACE, H2Stream, Link, Pool, StreamReset, Unreachable, request_headers
from reference.dataplane.serving.metrics import Metrics
from reference.dataplane.serving.proxy import Incoming, Proxy
from reference.dataplane.serving.requestlog import RequestRecord
from reference.dataplane.serving.routing import RoutingTable

WAIT = 10.0  # the bound on any one wait
HOST = "svc.ns.example.com"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def h2_server(serve_stream: Callable[[H2Stream], Awaitable[None]]) -> AsyncIterator[str]:
    """An HTTP/2 server made of the data plane's own connections; yields its address."""
    server = await asyncio.get_running_loop().create_server(
        lambda: Link(client_side=False, serve=serve_stream), "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


@asynccontextmanager
async def replica() -> AsyncIterator[str]:
    """kproof's protocols app under Hypercorn (HTTP/1.1 and h2c); yields its address."""
    config = Config()
    port = _free_port()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(protocols.app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.025)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT)


def _table(address: str, port_name: str | None, timeout: int = 30, idle: int = 0) -> RoutingTable:
    host, port = address.split(":")
    ports = [{"containerPort": int(port), **({"name": port_name} if port_name else {})}]
    table = RoutingTable()
    table.set_revision({"metadata": {"name": "rev", "namespace": "ns", "labels": {}},
                        "spec": {"timeoutSeconds": timeout, "idleTimeoutSeconds": idle,
                                 "containers": [{"image": "app", "ports": ports}]}}, ("ns", "rev"))
    table.set_pod({"metadata": {"name": "pod", "namespace": "ns", "uid": "u",
                                "labels": {"serving.knative.dev/revision": "rev"}},
                   "spec": {"containers": [{"name": "user-container", "ports": [{"containerPort": int(port)}]}]},
                   "status": {"podIP": host, "conditions": [{"type": "Ready", "status": "True"}]}}, deleted=False)
    table.set_route({"status": {"url": f"http://{HOST}", "traffic": [{"revisionName": "rev", "percent": 100}]}},
                    ("ns", "svc"))
    return table


@asynccontextmanager
async def ingress(table: RoutingTable, records: list[RequestRecord] | None = None) -> AsyncIterator[str]:
    """The data plane's ingress for `table`: HTTP/1.1 and h2c on one port; yields its URL."""
    session = aiohttp.ClientSession(auto_decompress=False)
    pool = Pool()
    proxy = Proxy(table, Metrics(), session, lambda: None if records is None else records.append, h2c=pool)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = app_runner(app, head_timeout=1.0)
    await runner.setup()
    port = _free_port()
    site = IngressSite(runner, "127.0.0.1", port,
                       lambda: Link(client_side=False, serve=lambda s: proxy.handle_stream(s, Incoming.of_stream(s))),
                       head_timeout=1.0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        pool.close()
        await runner.cleanup()
        await session.close()


def _h2_client() -> httpx.AsyncClient:
    """HTTP/2 with prior knowledge, as gRPC clients speak it."""
    return httpx.AsyncClient(http1=False, http2=True, timeout=WAIT)


# The connections -----------------------------------------------------------------------------------------


def test_heads_bodies_larger_than_a_window_and_trailers_go_both_ways() -> None:
    body = bytes(range(256)) * 12_000  # 3 MB: more than the 1 MiB windows, so sending waits on the reader

    async def echo(stream: H2Stream) -> None:
        received = b"".join([chunk async for chunk in stream.chunks()])
        head = dict(stream.head.result())
        await stream.send_headers([(":status", "201"), ("x-method", head[":method"])])
        await stream.send_data(received)
        await stream.end([("grpc-status", "0")])

    async def main() -> None:
        async with h2_server(echo) as address:
            pool = Pool()
            answer = await asyncio.wait_for(
                pool.request(address, request_headers("PUT", "h", "/p", [("X-Any", "1")]), body), WAIT)
            assert (answer.status, ("x-method", "PUT") in answer.headers) == (201, True)
            assert await asyncio.wait_for(answer.read(), WAIT) == body
            assert answer.trailers == [("grpc-status", "0")]
            answer.close()
            pool.close()

    asyncio.run(main())


def test_a_stream_talks_both_ways_at_once() -> None:
    async def echo_each(stream: H2Stream) -> None:
        await stream.send_headers([(":status", "200")])
        async for chunk in stream.chunks():
            await stream.send_data(chunk.upper())
        await stream.end()

    async def main() -> None:
        async with h2_server(echo_each) as address:
            answers: asyncio.Queue[bytes] = asyncio.Queue()
            heard = []

            async def ask() -> AsyncIterator[bytes]:
                for word in (b"one", b"two", b"three"):
                    yield word
                    heard.append(await asyncio.wait_for(answers.get(), WAIT))  # its echo, before the next word

            pool = Pool()
            answer = await asyncio.wait_for(pool.request(address, request_headers("POST", "h", "/", []), ask()), WAIT)
            while chunk := await asyncio.wait_for(answer.chunk(), WAIT):
                answers.put_nowait(chunk)
            assert heard == [b"ONE", b"TWO", b"THREE"]
            answer.close()
            pool.close()

    asyncio.run(main())


def test_a_reset_reaches_the_reader_and_no_listener_is_unreachable() -> None:
    async def refuse(stream: H2Stream) -> None:
        await stream.send_headers([(":status", "200")])
        stream.close(ErrorCodes.INTERNAL_ERROR)

    async def main() -> None:
        pool = Pool()
        async with h2_server(refuse) as address:
            answer = await asyncio.wait_for(pool.request(address, request_headers("GET", "h", "/", []), None), WAIT)
            with pytest.raises(StreamReset):
                await asyncio.wait_for(answer.read(), WAIT)
            answer.close()
        with pytest.raises(Unreachable):
            await asyncio.wait_for(pool.request(f"127.0.0.1:{_free_port()}",
                                                request_headers("GET", "h", "/", []), None), WAIT)
        pool.close()

    asyncio.run(main())


# The proxy -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("port_name", "seen"), [("h2c", "HTTP/2.0"), ("http1", "HTTP/1.1"), (None, "HTTP/1.1")])
def test_the_replica_sees_http2_only_where_its_port_is_named_h2c(port_name: str | None, seen: str) -> None:
    async def main() -> None:
        records: list[RequestRecord] = []
        async with replica() as address, ingress(_table(address, port_name), records) as url:
            async with aiohttp.ClientSession() as http1, http1.get(f"{url}/hello?x=1", headers={"Host": HOST}) as got:
                assert (got.status, await got.text()) == (200, f"proto={seen} method=GET path=/hello\n")
            async with _h2_client() as h2:  # a client in HTTP/2 gets the same, whatever the replica speaks
                response = await h2.get(f"{url}/hello", headers={"Host": HOST})
                assert (response.http_version, response.text) == ("HTTP/2", f"proto={seen} method=GET path=/hello\n")
                posted = await h2.post(f"{url}/echo", headers={"Host": HOST}, content=b"x" * 300_000)
                assert posted.text == f"proto={seen} method=POST path=/echo\n"
        assert [(r.proto, r.uri, r.code) for r in records] == [
            ("HTTP/1.1", "/hello?x=1", 200), ("HTTP/2.0", "/hello", 200), ("HTTP/2.0", "/echo", 200)]

    asyncio.run(main())


def test_grpc_through_the_ingress_unary_streaming_and_status() -> None:
    def calls(target: str) -> tuple[str, list[str], grpc.StatusCode]:
        with grpc.insecure_channel(target, options=[("grpc.default_authority", HOST)]) as channel:
            ping = channel.unary_unary(protocols.PING, request_serializer=protocols.encode_msg,
                                       response_deserializer=protocols.decode_msg)
            stream = channel.stream_stream(protocols.PING_STREAM, request_serializer=protocols.encode_msg,
                                           response_deserializer=protocols.decode_msg)
            missing = channel.unary_unary("/ping.PingService/Missing", request_serializer=protocols.encode_msg,
                                          response_deserializer=protocols.decode_msg)
            try:
                missing("x", timeout=WAIT)
                code = grpc.StatusCode.OK
            except grpc.RpcError as error:
                code = error.code()
            return ping("Hello!", timeout=WAIT), list(stream(iter(["a", "b", "c"]), timeout=WAIT)), code

    async def main() -> None:
        async with replica() as address, ingress(_table(address, "h2c")) as url:
            answers = await asyncio.wait_for(asyncio.to_thread(calls, url.removeprefix("http://")), 3 * WAIT)
            assert answers == ("Hello!", ["a", "b", "c"], grpc.StatusCode.UNIMPLEMENTED)

    asyncio.run(main())


def test_timeouts_and_failures_on_the_h2c_path() -> None:
    async def slow(stream: H2Stream) -> None:
        path = dict(stream.head.result())[":path"]
        if path == "/reset":  # the replica fails the request
            stream.close(ErrorCodes.INTERNAL_ERROR)
            return
        if path == "/late":  # no answer within the revision's timeout
            await asyncio.sleep(WAIT)
        await stream.send_headers([(":status", "200")])
        await stream.send_data(b"first")
        await asyncio.sleep(WAIT)  # then silence, longer than the idle timeout

    async def main() -> None:
        async with h2_server(slow) as address, ingress(_table(address, "h2c", timeout=1, idle=1)) as url:
            async with aiohttp.ClientSession() as http1:
                async with http1.get(f"{url}/late", headers={"Host": HOST}) as response:
                    assert response.status == 504
                async with http1.get(f"{url}/idle", headers={"Host": HOST}) as response:
                    assert (response.status, await response.read()) == (200, b"first")  # ended where it went quiet
                async with http1.get(f"{url}/reset", headers={"Host": HOST}) as response:
                    assert response.status == 502
            async with _h2_client() as h2:
                assert (await h2.get(f"{url}/late", headers={"Host": HOST})).status_code == 504
                assert (await h2.get(f"{url}/reset", headers={"Host": HOST})).status_code == 502
                with pytest.raises(httpx.RemoteProtocolError):  # the client's stream is reset
                    await h2.get(f"{url}/idle", headers={"Host": HOST})

    asyncio.run(main())


def test_unknown_hosts_and_silent_connections() -> None:
    async def main() -> None:
        async with ingress(RoutingTable()) as url:
            async with _h2_client() as h2:
                response = await h2.get(f"{url}/", headers={"Host": "nowhere.example.com"})
                assert (response.status_code, response.http_version) == (404, "HTTP/2")
            reader, writer = await asyncio.open_connection("127.0.0.1", int(url.rsplit(":", 1)[1]))
            writer.write(b"PRI * HT")  # could still be either protocol, then nothing more: closed
            assert await asyncio.wait_for(reader.read(), WAIT) == b""
            writer.close()

    asyncio.run(main())


def test_a_connection_without_streams_is_closed_after_its_idle_timeout() -> None:
    async def never(stream: H2Stream) -> None:
        raise AssertionError("no request is sent")

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            lambda: Link(client_side=False, serve=never, idle_timeout=0.3), "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        writer.write(PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # the preface and empty SETTINGS
        received = b""
        for _ in range(100):  # its SETTINGS, then a GOAWAY and the end
            chunk = await asyncio.wait_for(reader.read(65536), WAIT)
            if not chunk:
                break
            received += chunk
        assert b"\x07\x00\x00\x00\x00\x00" in received  # a GOAWAY frame (type 7, no flags, stream 0)
        writer.close()
        server.close()

    asyncio.run(main())


def test_other_hosts_pass_on_to_the_http1_side() -> None:
    """Brokers and channels are served by the ingress's HTTP/1.1 side; an h2c request for them goes there."""
    async def http1_side(request: web.Request) -> web.Response:
        return web.Response(status=202, text=f"{request.host} {request.method} {await request.text()}",
                            headers={"Connection": "keep-alive"})

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", http1_side)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        address = f"127.0.0.1:{runner.addresses[0][1]}"
        async with aiohttp.ClientSession() as session:
            proxy = Proxy(RoutingTable(), Metrics(), session, lambda: None)
            async with h2_server(lambda s: proxy.pass_on(s, Incoming.of_stream(s), address)) as h2_address, \
                    _h2_client() as h2:
                response = await h2.post(f"http://{h2_address}/ns/default", content=b"{}",
                                         headers={"Host": "broker-ingress.knative-eventing.svc.cluster.local"})
                assert (response.status_code, response.text) == (
                    202, "broker-ingress.knative-eventing.svc.cluster.local POST {}")
        await runner.cleanup()

    asyncio.run(main())
