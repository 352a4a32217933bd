"""The request path: ingress (Host -> route -> revision), activator (queue while no replica is ready),
breaker (containerConcurrency), timeouts, forwarding headers, metrics and request logs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
from aiohttp import web

from reference.dataplane.metrics import Metrics
from reference.dataplane.requestlog import RequestRecord
from reference.dataplane.routing import RevisionTarget, RoutingTable
from reference.dataplane.throttler import Endpoint, NoCapacity, Overloaded
from reference.eventing.receiver import BODY_TIMEOUT

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
              "transfer-encoding", "upgrade", "content-length"}
SMALL_BODY = 256 * 1024
CONNECT_ATTEMPTS = 3

T = TypeVar("T")
# Writes one request-log line for a pod (namespace, pod name, record), when request logs are on.
RequestLogger = Callable[[RequestRecord], None]


class Proxy:
    def __init__(self, table: RoutingTable, metrics: Metrics, session: aiohttp.ClientSession,
                 request_log: Callable[[], RequestLogger | None],
                 on_cold: Callable[[tuple[str, str]], None] = lambda key: None) -> None:
        self.table = table
        self.metrics = metrics
        self.session = session
        self.request_log = request_log
        self.on_cold = on_cold  # a request came for a revision with no ready replica: wake it

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = self.table.lookup(request.host)
        if target is None:
            return web.Response(status=404, text=f"no route for host {request.host.split(':')[0]!r}\n")
        stats = self.metrics.stats(target.key)
        started = time.monotonic()
        stats.started()
        code, size, endpoint = 502, 0, None
        try:
            response, endpoint = await self._serve(request, target, started)
            body = getattr(response, "body", None)
            code = response.status
            size = response.body_length or (len(body) if isinstance(body, bytes) else 0)
            return response
        except asyncio.CancelledError:
            code = 499  # the client went away
            raise
        finally:
            stats.finished()
            elapsed = time.monotonic() - started
            self.metrics.observe(target.key, code, elapsed)
            logger = self.request_log()
            if logger is not None and endpoint is not None:
                logger(_record(request, target, endpoint, code, size, elapsed))

    async def _serve(self, request: web.Request, target: RevisionTarget, started: float
                     ) -> tuple[web.StreamResponse, Endpoint | None]:
        deadline = started + target.first_byte_timeout
        try:
            async with asyncio.timeout(BODY_TIMEOUT):  # a client that trickles its body holds nothing for long
                body = await request.read() if request.can_read_body else None
        except TimeoutError:
            return web.Response(status=408, text=f"the body did not arrive within {BODY_TIMEOUT:g} s\n",
                                headers={"Connection": "close"}), None
        return await self._on_replica(
            target, deadline, lambda endpoint: self._forward(request, target, endpoint, body, deadline),
            lambda status, text: web.Response(status=status, text=text))

    async def _on_replica(self, target: RevisionTarget, deadline: float, send: Callable[[Endpoint], Awaitable[T]],
                          refuse: Callable[[int, str], T]) -> tuple[T, Endpoint | None]:
        """The activator and breaker: waits (until `deadline`) for a replica with room, wakes the revision
        when it has none, `send`s on the replica it gets and retries another on a refused connection; what
        cannot be sent becomes `refuse(status, text)`."""
        stats = self.metrics.stats(target.key)
        for attempt in range(CONNECT_ATTEMPTS):
            if not target.throttler.ready or target.only_reserved:
                self.on_cold(target.key)
            stats.queued += 1
            try:
                endpoint = await asyncio.wait_for(target.throttler.acquire(), max(0.0, deadline - time.monotonic()))
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
            except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError):
                if attempt == CONNECT_ATTEMPTS - 1:
                    return refuse(502, "the replica refused the connection\n"), endpoint
            finally:
                target.throttler.release(endpoint)
        raise AssertionError("unreachable")

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
                target, deadline, lambda endpoint: self._post_whole(endpoint, path, headers, body, deadline),
                lambda status, text: (status, {}, text.encode()))
            code = answer[0]
            return answer
        finally:
            stats.finished()
            self.metrics.observe(target.key, code, time.monotonic() - started)

    async def _post_whole(self, endpoint: Endpoint, path: str, headers: dict[str, str], body: bytes, deadline: float
                          ) -> tuple[int, dict[str, str], bytes]:
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                async with self.session.post(f"http://{endpoint.address}{path}", headers=headers, data=body,
                                             allow_redirects=False) as upstream:
                    return upstream.status, dict(upstream.headers), await upstream.read()
        except TimeoutError:
            return 504, {}, b"request timeout\n"

    def _headers(self, request: web.Request) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        client = request.remote or ""
        forwarded_for = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{forwarded_for}, {client}" if forwarded_for else client
        headers["X-Forwarded-Proto"] = request.headers.get("X-Forwarded-Proto", request.scheme)
        element = f"for={client};proto={request.scheme}"
        headers["Forwarded"] = f"{request.headers['Forwarded']}, {element}" if "Forwarded" in request.headers \
            else element
        return headers

    async def _forward(self, request: web.Request, target: RevisionTarget, endpoint: Endpoint, body: bytes | None,
                       deadline: float) -> web.StreamResponse:
        url = f"http://{endpoint.address}{request.rel_url.raw_path_qs}"  # origin-form, also for proxy requests
        upstream = None
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                upstream = await self.session.request(request.method, url, headers=self._headers(request),
                                                      data=body, allow_redirects=False)
        except TimeoutError:
            if upstream is not None:
                upstream.close()
            return web.Response(status=504, text="request timeout\n")
        try:
            headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            length = upstream.content_length
            idle = target.idle_timeout or None
            if length is not None and length <= SMALL_BODY:
                async with asyncio.timeout(idle):
                    payload = await upstream.read()
                return web.Response(status=upstream.status, body=payload, headers=headers)
            response = web.StreamResponse(status=upstream.status, headers=headers)
            await response.prepare(request)
            while True:
                try:
                    async with asyncio.timeout(idle):
                        chunk = await upstream.content.readany()
                except TimeoutError:
                    break  # idle too long: end the stream here
                if not chunk:
                    break
                await response.write(chunk)
            await response.write_eof()
            return response
        finally:
            upstream.release()


def _record(request: web.Request, target: RevisionTarget, endpoint: Endpoint, code: int, size: int,
            elapsed: float) -> RequestRecord:
    return RequestRecord(
        method=request.method, uri=request.path_qs, proto=f"HTTP/{request.version.major}.{request.version.minor}",
        host=request.host, remote_addr=f"{request.remote}:0", user_agent=request.headers.get("User-Agent", ""),
        referer=request.headers.get("Referer", ""), content_length=request.content_length or 0,
        headers=request.headers, code=code, size=size or 0, latency=elapsed, revision=target.name,
        namespace=target.namespace, service=target.service, configuration=target.configuration,
        pod_name=endpoint.name, pod_ip=endpoint.address.split(":")[0])
