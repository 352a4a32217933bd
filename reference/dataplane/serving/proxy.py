"""The request path: ingress (Host -> route -> revision), activator (queue while no replica is ready),
breaker (containerConcurrency), timeouts, forwarding headers, metrics and request logs.

Clients speak HTTP/1.1 (aiohttp's requests: `handle`) or HTTP/2 with prior knowledge (h2c streams:
`handle_stream`). Replicas are spoken to in HTTP/1.1, or in h2c where the revision's port is named `h2c`
(`_open`), as Knative's queue-proxy and activator do; h2c to h2c streams both ways at once (gRPC). A
WebSocket handshake from an HTTP/1.1 client becomes a WebSocket to the replica, its messages passed on both
ways (`_forward_websocket`).

Where a request goes is the routing table's answer (`RoutingTable.route`): a target, the headers its route
sets, and the Host to send (Knative Routes', or a cluster's KIngresses, whose routes also match paths and
headers)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import aiohttp
from aiohttp import web
from h2.errors import ErrorCodes
from multidict import CIMultiDict

from reference.cloudevents.receiver import BODY_TIMEOUT
from reference.dataplane.serving.h2c import H2Stream, Headers, Pool, StreamReset, Unreachable, request_headers
from reference.dataplane.serving.metrics import Metrics
from reference.dataplane.serving.requestlog import RequestRecord
from reference.dataplane.serving.routing import Redirect, RevisionTarget, Routed, RoutingTable
from reference.dataplane.serving.throttler import Endpoint, NoCapacity, Overloaded

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
              "transfer-encoding", "upgrade", "content-length", "http2-settings"}
FORWARDING = {"x-forwarded-for", "x-forwarded-proto", "forwarded"}  # replaced by the proxy's own
SMALL_BODY = 256 * 1024
MAX_BODY = 64 * 1024 * 1024  # the ingress's client_max_size
CONNECT_ATTEMPTS = 5
CONNECT_BACKOFF = 0.05  # seconds before the second attempt; doubled for each next one
PASS_ON_TIMEOUT = 300.0  # h2c requests passed on to the ingress's HTTP/1.1 side (brokers, channels)
# What aiohttp's WebSocket client writes itself in a handshake (the client's own are not passed on).
WEBSOCKET_HANDSHAKE = {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                       "sec-websocket-protocol", "sec-websocket-accept"}

T = TypeVar("T")
R = TypeVar("R")
# Writes one request-log line for a pod (namespace, pod name, record), when request logs are on.
RequestLogger = Callable[[RequestRecord], None]


@dataclass(frozen=True)
class Incoming:
    """A client's request, whichever protocol brought it."""

    method: str
    target: str  # the request-target in origin form, as sent
    host: str
    headers: Mapping[str, str]
    remote: str
    proto: str  # HTTP/1.1, HTTP/2.0
    scheme: str = "http"
    private: bool = False  # came to the cluster-local listener (which alone serves cluster-local routes)

    @classmethod
    def of_request(cls, request: web.Request, private: bool = False) -> Incoming:
        return cls(request.method, request.rel_url.raw_path_qs, request.host, request.headers, request.remote or "",
                   f"HTTP/{request.version.major}.{request.version.minor}", request.scheme, private)

    @classmethod
    def of_stream(cls, stream: H2Stream, private: bool = False) -> Incoming:
        head = stream.head.result()
        pseudo = {k: v for k, v in head if k.startswith(":")}
        headers = CIMultiDict((k, v) for k, v in head if not k.startswith(":"))
        return cls(pseudo.get(":method", "GET"), pseudo.get(":path", "/"),
                   pseudo.get(":authority") or headers.get("host") or "", headers, stream.link.peer, "HTTP/2.0",
                   pseudo.get(":scheme", "http"), private)

    def route(self, table: RoutingTable) -> Routed | Redirect | None:
        return table.route(self.host, self.target, self.headers, self.private, self.scheme == "https")


class Answer(Protocol):
    """A replica's answer, its head come and its body read as it comes (HTTP/1.1 or h2c)."""

    status: int
    headers: Headers
    content_length: int | None

    @property
    def trailers(self) -> Headers: ...  # known once the body is read

    @property
    def empty(self) -> bool: ...  # known to have no body

    async def chunk(self) -> bytes: ...  # b"" at the end

    async def read(self) -> bytes: ...

    def close(self) -> None: ...


class _Http1Answer:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.status = response.status
        self.headers: Headers = list(response.headers.items())
        self.content_length = response.content_length
        self.trailers: Headers = []

    @property
    def empty(self) -> bool:
        return self.content_length == 0

    async def chunk(self) -> bytes:
        return await self.response.content.readany()

    async def read(self) -> bytes:
        return await self.response.read()

    def close(self) -> None:
        self.response.release()


@dataclass
class _Outcome:
    started: float = field(default_factory=time.monotonic)
    code: int = 502
    size: int = 0
    endpoint: Endpoint | None = None


class _Refused(Exception):
    """An answer of the proxy's own instead of the replica's."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(status, text)
        self.status = status
        self.text = text


class Proxy:
    def __init__(self, table: RoutingTable, metrics: Metrics, session: aiohttp.ClientSession,
                 request_log: Callable[[], RequestLogger | None],
                 on_cold: Callable[[tuple[str, str]], None] = lambda key: None, h2c: Pool | None = None) -> None:
        self.table = table
        self.metrics = metrics
        self.session = session
        self.h2c = h2c or Pool()
        self.request_log = request_log
        self.on_cold = on_cold  # a request came for a revision with no ready replica: wake it

    @contextlib.contextmanager
    def _measured(self, target: RevisionTarget, incoming: Incoming) -> Iterator[_Outcome]:
        """Counts a request in flight for the autoscaler, then observes and logs its outcome."""
        stats = self.metrics.stats(target.key)
        outcome = _Outcome()
        stats.started()
        try:
            yield outcome
        except (asyncio.CancelledError, ConnectionError):
            outcome.code = 499  # the client went away (its connection, or its HTTP/2 stream)
            raise
        finally:
            stats.finished()
            elapsed = time.monotonic() - outcome.started
            self.metrics.observe(target.key, outcome.code, elapsed)
            logger = self.request_log()
            if logger is not None and outcome.endpoint is not None:
                logger(_record(incoming, target, outcome.endpoint, outcome.code, outcome.size, elapsed))

    # HTTP/1.1 clients ------------------------------------------------------------------------------

    async def handle(self, request: web.Request, private: bool = False) -> web.StreamResponse:
        incoming = Incoming.of_request(request, private)
        routed = incoming.route(self.table)
        if routed is None:
            return web.Response(status=404, text=f"no route for host {incoming.host.split(':')[0]!r}\n")
        if isinstance(routed, Redirect):
            return web.Response(status=301, headers={"Location": routed.location})
        with self._measured(routed.target, incoming) as outcome:
            response, outcome.endpoint = await self._serve(request, incoming, routed, outcome.started)
            body = getattr(response, "body", None)
            outcome.code = response.status
            outcome.size = response.body_length or (len(body) if isinstance(body, bytes) else 0)
        return response

    async def _serve(self, request: web.Request, incoming: Incoming, routed: Routed, started: float
                     ) -> tuple[web.StreamResponse, Endpoint | None]:
        target = routed.target
        deadline = started + target.first_byte_timeout
        if _is_websocket(request):
            return await self._on_replica(
                target, deadline, lambda endpoint: self._forward_websocket(request, incoming, routed, endpoint),
                lambda status, text: web.Response(status=status, text=text))
        try:
            async with asyncio.timeout(BODY_TIMEOUT):  # a client that trickles its body holds nothing for long
                body = await request.read() if request.can_read_body else None
        except TimeoutError:
            return web.Response(status=408, text=f"the body did not arrive within {BODY_TIMEOUT:g} s\n",
                                headers={"Connection": "close"}), None
        return await self._on_replica(
            target, deadline, lambda endpoint: self._forward(request, incoming, routed, endpoint, body, deadline),
            lambda status, text: web.Response(status=status, text=text))

    async def _forward(self, request: web.Request, incoming: Incoming, routed: Routed, endpoint: Endpoint,
                       body: bytes | None, deadline: float) -> web.StreamResponse:
        target = routed.target
        authority, headers = self._outgoing(incoming, routed)
        answer = await self._open(target.h2c, endpoint.address, incoming.method, incoming.target, authority,
                                  headers, body, deadline)
        if isinstance(answer, _Refused):
            return web.Response(status=answer.status, text=answer.text)
        try:
            headers = [(k, v) for k, v in answer.headers if k.lower() not in HOP_BY_HOP]
            length = answer.content_length
            idle = target.idle_timeout or None
            if length is not None and length <= SMALL_BODY:
                async with asyncio.timeout(idle):
                    payload = await answer.read()
                return web.Response(status=answer.status, body=payload, headers=headers)
            response = web.StreamResponse(status=answer.status, headers=headers)
            await response.prepare(request)
            while True:
                try:
                    async with asyncio.timeout(idle):
                        chunk = await answer.chunk()
                except TimeoutError:
                    break  # idle too long: end the stream here
                if not chunk:
                    break
                await response.write(chunk)
            await response.write_eof()  # an HTTP/1.1 client gets no trailers
            return response
        finally:
            answer.close()

    # HTTP/2 clients --------------------------------------------------------------------------------

    async def handle_stream(self, stream: H2Stream, incoming: Incoming) -> None:
        """An h2c client's request: streamed both ways to an h2c replica (so gRPC's streams work), or read
        whole and sent in HTTP/1.1 to any other, its answer streamed back."""
        routed = incoming.route(self.table)
        if routed is None:
            await reply(stream, 404, f"no route for host {incoming.host.split(':')[0]!r}\n")
            return
        if isinstance(routed, Redirect):
            await stream.send_headers([(":status", "301"), ("location", routed.location)], end=True)
            return
        target = routed.target
        with self._measured(target, incoming) as outcome:
            deadline = outcome.started + target.first_byte_timeout
            if target.h2c:
                body: bytes | AsyncIterator[bytes] | None = None if stream.finished_with_head else stream.chunks()
            else:
                try:
                    body = await read_whole(stream)
                except _Refused as refused:
                    outcome.code = refused.status
                    await reply(stream, refused.status, refused.text)
                    return
            result, outcome.endpoint = await self._on_replica(
                target, deadline,
                lambda endpoint: self._forward_stream(stream, incoming, routed, endpoint, body, deadline), _Refused)
            if isinstance(result, _Refused):
                outcome.code = result.status
                await reply(stream, result.status, result.text)
            else:
                outcome.code, outcome.size = result

    async def _forward_stream(self, stream: H2Stream, incoming: Incoming, routed: Routed, endpoint: Endpoint,
                              body: bytes | AsyncIterator[bytes] | None, deadline: float) -> tuple[int, int]:
        target = routed.target
        authority, headers = self._outgoing(incoming, routed)
        answer = await self._open(target.h2c, endpoint.address, incoming.method, incoming.target, authority,
                                  headers, body, deadline)
        if isinstance(answer, _Refused):
            return answer.status, await reply(stream, answer.status, answer.text)
        return await send_answer(stream, answer, target.idle_timeout or None)

    async def pass_on(self, stream: H2Stream, incoming: Incoming, address: str) -> None:
        """An h2c request for the ingress's other hosts (brokers, channels, sinks): in HTTP/1.1 to its own
        HTTP/1.1 side at `address`."""
        try:
            body = await read_whole(stream)
        except _Refused as refused:
            await reply(stream, refused.status, refused.text)
            return
        answer = await self._open(False, address, incoming.method, incoming.target, incoming.host,
                                  self._forwarding(incoming, False), body, time.monotonic() + PASS_ON_TIMEOUT)
        if isinstance(answer, _Refused):
            await reply(stream, answer.status, answer.text)
            return
        await send_answer(stream, answer, None)

    # Both --------------------------------------------------------------------------------------------

    async def _on_replica(self, target: RevisionTarget, deadline: float, send: Callable[[Endpoint], Awaitable[T]],
                          refuse: Callable[[int, str], R]) -> tuple[T | R, Endpoint | None]:
        """The activator and breaker: waits (until `deadline`) for a replica with room, wakes the revision
        when it has none, `send`s on the replica it gets and retries another on a refused connection; what
        cannot be sent becomes `refuse(status, text)`."""
        stats = self.metrics.stats(target.key)
        for attempt in range(CONNECT_ATTEMPTS):
            if not target.throttler.ready and not target.holds:
                return refuse(503, "no healthy upstream: the backend has no ready endpoints\n"), None
            if not target.throttler.ready or target.only_reserved:
                self.on_cold(target.key)
            stats.queued += 1
            try:
                endpoint = await asyncio.wait_for(target.throttler.acquire(), _left(deadline))
            except TimeoutError:
                return refuse(504, "request timeout: no replica became available\n"), None
            except Overloaded:
                return refuse(503, "overload: the revision's request queue is full\n"), None
            except NoCapacity:
                return refuse(503, "the revision is gone\n"), None
            finally:
                stats.queued -= 1
            try:
                return await send(endpoint), endpoint
            except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, Unreachable):
                if attempt == CONNECT_ATTEMPTS - 1:
                    return refuse(502, "the replica refused the connection\n"), endpoint
            finally:
                target.throttler.release(endpoint)
            # nothing was sent: again after a short backoff (Envoy's retry policy's), which also covers a
            # replica Ready before its program listens (no readiness probe: Ready once it runs)
            left = _left(deadline)
            await asyncio.sleep(CONNECT_BACKOFF * 2 ** attempt if left is None else min(CONNECT_BACKOFF * 2 ** attempt,
                                                                                     left))
        raise AssertionError("unreachable")

    async def _open(self, h2c: bool, address: str, method: str, path: str, host: str, headers: Headers,
                    body: bytes | AsyncIterator[bytes] | None, deadline: float) -> Answer | _Refused:
        """Sends a request to `address`, in h2c or HTTP/1.1, and waits (until `deadline`) for the head of its
        answer: a 504 past the deadline, a 502 when the replica fails it. Raises what may be sent again."""
        try:
            async with asyncio.timeout(_left(deadline)):
                if h2c:
                    if isinstance(body, bytes):
                        headers = [*headers, ("content-length", str(len(body)))]
                    return await self.h2c.request(address, request_headers(method, host, path, headers), body)
                fields = CIMultiDict(headers)
                fields.setdefault("Host", host)  # the client's, not the replica's address
                response = await self.session.request(method, f"http://{address}{path}", headers=fields, data=body,
                                                      allow_redirects=False)
                return _Http1Answer(response)
        except TimeoutError:
            return _Refused(504, "request timeout\n")
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, Unreachable):
            raise
        except (aiohttp.ClientError, StreamReset) as error:
            return _Refused(502, f"the replica failed the request: {error}\n")

    async def exchange(self, host: str, path: str, headers: dict[str, str], body: bytes
                       ) -> tuple[int, dict[str, str], bytes] | None:
        """A request from inside the data plane (the eventing dispatcher) to a routed host, without a
        loopback hop through the ingress port: the same breaker, activator, retries and metrics, the
        answer read whole. None when no route serves `host`."""
        target = self.table.lookup(host)
        if target is None:
            return None
        stats = self.metrics.stats(target.key)
        started = time.monotonic()
        deadline = started + target.first_byte_timeout
        stats.started()
        code = 502
        try:
            answer, _ = await self._on_replica(
                target, deadline, lambda endpoint: self._post_whole(target, endpoint, host, path, headers, body,
                                                                    deadline),
                lambda status, text: (status, {}, text.encode()))
            code = answer[0]
            return answer
        finally:
            stats.finished()
            self.metrics.observe(target.key, code, time.monotonic() - started)

    async def _post_whole(self, target: RevisionTarget, endpoint: Endpoint, host: str, path: str,
                          headers: dict[str, str], body: bytes, deadline: float) -> tuple[int, dict[str, str], bytes]:
        answer = await self._open(target.h2c, endpoint.address, "POST", path, host, list(headers.items()), body,
                                  deadline)
        if isinstance(answer, _Refused):
            return answer.status, {}, answer.text.encode()
        try:
            async with asyncio.timeout(_left(deadline)):
                return answer.status, dict(answer.headers), await answer.read()
        except TimeoutError:
            return 504, {}, b"request timeout\n"
        finally:
            answer.close()

    def _outgoing(self, incoming: Incoming, routed: Routed) -> tuple[str, Headers]:
        """The Host and headers a request goes on with: the client's (`_forwarding`), the route's set over
        them, and the route's Host where it rewrites it."""
        headers = self._forwarding(incoming, routed.target.h2c)
        replaced = {name.lower() for name, _ in routed.headers} | ({"host"} if routed.authority else set())
        if replaced:
            headers = [(k, v) for k, v in headers if k.lower() not in replaced] + list(routed.headers)
        return routed.authority or incoming.host, headers

    async def _forward_websocket(self, request: web.Request, incoming: Incoming, routed: Routed,
                                 endpoint: Endpoint) -> web.StreamResponse:
        """A WebSocket to the replica first (its refusal is the client's answer), then the client's, and their
        messages passed on both ways until either closes."""
        authority, headers = self._outgoing(incoming, routed)
        fields = CIMultiDict((k, v) for k, v in headers if k.lower() not in WEBSOCKET_HANDSHAKE and k.lower() != "host")
        fields["Host"] = authority
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        try:
            upstream = await self.session.ws_connect(
                f"http://{endpoint.address}{incoming.target}", headers=fields, protocols=protocols, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as refused:
            return web.Response(status=refused.status, text=f"the replica refused the WebSocket: {refused.message}\n")
        try:
            downstream = web.WebSocketResponse(protocols=[upstream.protocol] if upstream.protocol else [],
                                               max_msg_size=0)
            await downstream.prepare(request)
            await _relay_websocket(downstream, upstream)
            return downstream
        finally:
            await upstream.close()

    @staticmethod
    def _forwarding(incoming: Incoming, h2c: bool) -> Headers:
        """The client's headers for the replica: less hop-by-hop ones (but gRPC's `TE: trailers` to an h2c
        replica), with X-Forwarded-For, X-Forwarded-Proto and Forwarded extended."""
        headers = [(k, v) for k, v in incoming.headers.items() if k.lower() not in HOP_BY_HOP | FORWARDING]
        if h2c and incoming.headers.get("te", "").lower() == "trailers":
            headers.append(("te", "trailers"))
        client = incoming.remote
        forwarded_for = incoming.headers.get("X-Forwarded-For")
        headers.append(("X-Forwarded-For", f"{forwarded_for}, {client}" if forwarded_for else client))
        headers.append(("X-Forwarded-Proto", incoming.headers.get("X-Forwarded-Proto", incoming.scheme)))
        element = f"for={client};proto={incoming.scheme}"
        forwarded = incoming.headers.get("Forwarded")
        headers.append(("Forwarded", f"{forwarded}, {element}" if forwarded else element))
        return headers


def _left(deadline: float) -> float | None:
    """The seconds left until `deadline`; None when there is none (a KIngress's backends)."""
    return None if deadline == math.inf else max(0.0, deadline - time.monotonic())


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket" and "upgrade" in {
        token.strip().lower() for token in request.headers.get("Connection", "").split(",")}


async def _relay_websocket(client: web.WebSocketResponse, replica: aiohttp.ClientWebSocketResponse) -> None:
    """Passes messages both ways until one side closes; the other is then closed with its code."""

    async def pump(source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                   sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> None:
        async for message in source:  # ends at a close (answered by aiohttp) or an error
            if message.type == aiohttp.WSMsgType.TEXT:
                await sink.send_str(message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await sink.send_bytes(message.data)
        await sink.close(code=source.close_code or aiohttp.WSCloseCode.OK)

    both = [asyncio.ensure_future(pump(client, replica)), asyncio.ensure_future(pump(replica, client))]
    try:
        await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in both:
            task.cancel()
        await asyncio.gather(*both, return_exceptions=True)


async def read_whole(stream: H2Stream) -> bytes | None:
    """An h2c request's body, read within BODY_TIMEOUT and up to MAX_BODY (else raises _Refused)."""
    if stream.finished_with_head:
        return None
    parts, size = [], 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            async for chunk in stream.chunks():
                size += len(chunk)
                if size > MAX_BODY:
                    raise _Refused(413, f"the body is larger than {MAX_BODY} bytes\n")
                parts.append(chunk)
    except TimeoutError:
        raise _Refused(408, f"the body did not arrive within {BODY_TIMEOUT:g} s\n") from None
    return b"".join(parts)


async def reply(stream: H2Stream, status: int, text: str) -> int:
    """A short plain-text answer of the proxy's own on an h2c stream; returns its size."""
    body = text.encode()
    await stream.send_headers([(":status", str(status)), ("content-type", "text/plain; charset=utf-8"),
                               ("content-length", str(len(body)))])
    await stream.send_data(body, end=True)
    return len(body)


async def send_answer(stream: H2Stream, answer: Answer, idle: float | None) -> tuple[int, int]:
    """Streams `answer` to an h2c client, trailers included; returns the status and size the client got. A
    replica that fails mid-answer, or says nothing for `idle` seconds, resets the client's stream."""
    status, size, started = answer.status, 0, False
    try:
        head = [(":status", str(answer.status)),
                *((k.lower(), v) for k, v in answer.headers if k.lower() not in HOP_BY_HOP)]
        if answer.empty:
            await stream.send_headers(head, end=True)  # gRPC's trailers-only answers are exactly this
            return status, 0
        await stream.send_headers(head)
        started = True
        while True:
            async with asyncio.timeout(idle):
                chunk = await answer.chunk()
            if not chunk:
                break
            await stream.send_data(chunk)
            size += len(chunk)
        await stream.end([(k.lower(), v) for k, v in answer.trailers])
    except (TimeoutError, StreamReset, aiohttp.ClientError) as error:
        if stream.error is not None:  # it is the client that went away
            raise
        if started:
            stream.close(ErrorCodes.CANCEL if isinstance(error, TimeoutError) else ErrorCodes.INTERNAL_ERROR)
        else:
            status, size = 502, await reply(stream, 502, "the replica failed\n")
    finally:
        answer.close()
    return status, size


def _record(incoming: Incoming, target: RevisionTarget, endpoint: Endpoint, code: int, size: int,
            elapsed: float) -> RequestRecord:
    headers = incoming.headers
    return RequestRecord(
        method=incoming.method, uri=incoming.target, proto=incoming.proto, host=incoming.host,
        remote_addr=f"{incoming.remote}:0", user_agent=headers.get("User-Agent", ""),
        referer=headers.get("Referer", ""), content_length=int(headers.get("Content-Length") or 0),
        headers=headers, code=code, size=size or 0, latency=elapsed, revision=target.name,
        namespace=target.namespace, service=target.service, configuration=target.configuration,
        pod_name=endpoint.name, pod_ip=endpoint.address.split(":")[0])
