"""HTTP/2 over cleartext TCP with prior knowledge (h2c), on both sides of the data plane: toward replicas
whose port is named `h2c` (`Pool`), and from clients whose connection opens with the HTTP/2 preface
(`Link` on the server side, chosen by `Sniffer`). aiohttp speaks HTTP/1.1 only; this is the `h2`
library's state machine on asyncio's transports, one `H2Stream` per request.

Flow control both ways: a stream's received data is acknowledged as it is read (a slow reader slows
the sender), and sending waits for the peer's window and for the transport's buffer to drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# The receive window of a stream and of a connection: larger than HTTP/2's default 64 KiB, so a body
# does not wait a round trip per 64 KiB.
WINDOW = 1 << 20
MAX_STREAMS = 250  # concurrent streams a peer may open (Go's http2 server has the same)
# How long a connection may go without a stream: a client's as long as the ingress keeps an idle HTTP/1.1
# connection (a minute), a replica's as long as the HTTP/1.1 pool keeps one (30 s).
IDLE_TIMEOUT = 60.0
REPLICA_IDLE_TIMEOUT = 30.0

Headers = list[tuple[str, str]]


class _End(enum.Enum):
    END = "end"


_END = _End.END  # the peer ended its side of the stream


class StreamReset(ConnectionError):
    """The peer reset the stream, or the connection went away under it."""


class Unreachable(ConnectionError):
    """No connection could be made: the request never left, it may be sent elsewhere."""


def _text(headers: list[tuple[bytes, bytes]]) -> Headers:
    return [(k.decode("utf-8", "replace"), v.decode("utf-8", "replace")) for k, v in headers]


class H2Stream:
    """One request and its response. The peer's side is `head`, then `read()` chunks, then `trailers`;
    ours is `send_headers`, `send_data` and `end`."""

    def __init__(self, link: Link, stream_id: int) -> None:
        self.link = link
        self.id = stream_id
        self.head: asyncio.Future[Headers] = asyncio.get_running_loop().create_future()
        self.head.add_done_callback(lambda f: f.cancelled() or f.exception())  # nobody may be waiting
        self.trailers: Headers = []
        self.error: BaseException | None = None
        self.task: asyncio.Task | None = None  # serving a peer's request: cancelled when the peer resets
        self._chunks: asyncio.Queue[tuple[bytes, int] | BaseException | _End] = asyncio.Queue()
        self._window = asyncio.Event()
        self._remote_ended = False
        self._read_all = False
        self._local_ended = False
        self.pulled = False  # a chunk of a streamed body was taken: the request cannot be sent again
        self._closed = False

    # The peer's side -----------------------------------------------------------------------------

    @property
    def finished_with_head(self) -> bool:
        """Nothing but the end of the peer's side has come (nor been read): no body, no trailers."""
        return self._remote_ended and self._chunks.qsize() == 1 and not self.trailers

    async def read(self) -> bytes:
        """The next chunk of the peer's body; b"" at its end."""
        if self._read_all:
            return b""
        item = await self._chunks.get()
        if item is _END:
            self._read_all = True
            return b""
        if isinstance(item, BaseException):
            self._chunks.put_nowait(item)  # a later read fails too
            raise item
        data, flow = item
        self.link.acknowledge(self.id, flow)
        return data

    async def chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read():
            yield chunk

    # Ours ------------------------------------------------------------------------------------------

    async def send_headers(self, headers: Headers, end: bool = False) -> None:
        self._do(lambda h2c: h2c.send_headers(self.id, headers, end_stream=end))
        self._local_ended = end
        await self.link.drain()

    async def send_data(self, data: bytes, end: bool = False) -> None:
        while data:
            size = await self._room(len(data))
            chunk, data = data[:size], data[size:]
            last = end and not data
            self._send_data(chunk, last)
            self._local_ended = last
            await self.link.drain()
        if end and not self._local_ended:
            self._local_ended = True
            if self.link.stream_open(self.id):
                self._do(lambda h2c: h2c.end_stream(self.id))

    async def end(self, trailers: Headers | None = None) -> None:
        """Ends our side, with trailers when there are any."""
        if self._local_ended:
            return
        if trailers:
            await self.send_headers(trailers, end=True)
        else:
            await self.send_data(b"", end=True)

    def close(self, code: ErrorCodes = ErrorCodes.CANCEL) -> None:
        """Done with the stream: resets it with `code` unless both sides have ended."""
        if self._closed:
            return
        self._closed = True
        if self.error is None and not (self._local_ended and self._remote_ended):
            with contextlib.suppress(h2.exceptions.H2Error):
                self.link.h2.reset_stream(self.id, code)
                self.link.flush()
        self.link.release(self.id)

    async def _room(self, wanted: int) -> int:
        while True:
            if self.error is not None:
                raise self.error
            try:
                window = self.link.h2.local_flow_control_window(self.id)
            except h2.exceptions.H2Error as error:
                raise StreamReset(f"stream {self.id} is closed") from error
            if window > 0:
                return min(window, wanted, self.link.h2.max_outbound_frame_size)
            self._window.clear()
            await self._window.wait()

    def _send_data(self, chunk: bytes, end: bool) -> None:
        self._do(lambda h2c: h2c.send_data(self.id, chunk, end_stream=end))

    def _do(self, action: Callable[[h2.connection.H2Connection], object]) -> None:
        if self.error is not None:
            raise self.error
        try:
            action(self.link.h2)
        except h2.exceptions.H2Error as error:
            raise StreamReset(f"stream {self.id}: {error}") from error
        self.link.flush()

    # Fed by the link -------------------------------------------------------------------------------

    def _received(self, data: bytes, flow: int) -> None:
        self._chunks.put_nowait((data, flow))

    def _ended(self) -> None:
        self._remote_ended = True
        self._chunks.put_nowait(_END)

    def _fail(self, error: BaseException) -> None:
        if self.error is not None:
            return
        self.error = error
        if not self.head.done():
            self.head.set_exception(error)
        if not self._remote_ended:
            self._chunks.put_nowait(error)
        self._window.set()
        if self.task is not None:
            self.task.cancel()


class Link(asyncio.Protocol):
    """One HTTP/2 connection, either side. On the server side `serve` answers each request the peer opens."""

    def __init__(self, client_side: bool, serve: Callable[[H2Stream], Awaitable[None]] | None = None,
                 on_lost: Callable[[Link], None] = lambda link: None, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=client_side, header_encoding=None))
        self.serve = serve
        self.on_lost = on_lost
        self.idle_timeout = idle_timeout
        self._idle: asyncio.TimerHandle | None = None
        self.streams: dict[int, H2Stream] = {}
        self.transport: asyncio.Transport | None = None
        self.usable = False  # connected, and no GOAWAY either way
        self._writable = asyncio.Event()
        self._writable.set()

    @property
    def peer(self) -> str:
        peer = self.transport.get_extra_info("peername") if self.transport is not None else None
        return str(peer[0]) if peer else ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport's
        self.usable = True
        self.h2.initiate_connection()
        settings: dict[h2.settings.SettingCodes | int, int] = {
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: WINDOW,
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS,
        }
        if self.h2.config.client_side:
            settings[h2.settings.SettingCodes.ENABLE_PUSH] = 0
        self.h2.update_settings(settings)
        self.h2.increment_flow_control_window(WINDOW - self.h2.inbound_flow_control_window)
        self.flush()
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.flush()  # h2 has queued the GOAWAY that says why
            self.close()
            return
        for event in events:
            self._on(event)
        self.flush()

    def _on(self, event: h2.events.Event) -> None:
        stream = self.streams.get(getattr(event, "stream_id", 0) or 0)
        if isinstance(event, h2.events.RequestReceived) and self.serve is not None:
            stream = self.streams[event.stream_id] = H2Stream(self, event.stream_id)
            self._disarm_idle()
            stream.head.set_result(_text(event.headers))
            stream.task = asyncio.get_running_loop().create_task(self._serve(stream))
        elif isinstance(event, h2.events.ResponseReceived) and stream is not None and not stream.head.done():
            stream.head.set_result(_text(event.headers))
        elif isinstance(event, h2.events.TrailersReceived) and stream is not None:
            stream.trailers = _text(event.headers)
        elif isinstance(event, h2.events.DataReceived) and stream is not None:
            stream._received(event.data, event.flow_controlled_length)
        elif isinstance(event, h2.events.DataReceived):  # a stream we are done with: give the window back
            self.acknowledge(event.stream_id, event.flow_controlled_length)
        elif isinstance(event, h2.events.StreamEnded) and stream is not None:
            stream._ended()
        elif isinstance(event, h2.events.StreamReset) and stream is not None:
            refused = event.error_code == ErrorCodes.REFUSED_STREAM  # not processed: it may go elsewhere
            stream._fail((Unreachable if refused else StreamReset)(f"stream {event.stream_id} reset: "
                                                                   f"{event.error_code!r}"))
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            for waiting in self.streams.values():
                waiting._window.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.usable = False
            if self.h2.config.client_side:  # our requests the peer never processed may go elsewhere
                for open_stream in list(self.streams.values()):
                    if open_stream.id > (event.last_stream_id or 0):
                        open_stream._fail(Unreachable(f"the peer went away: {event.error_code!r}"))

    async def _serve(self, stream: H2Stream) -> None:
        assert self.serve is not None
        try:
            await self.serve(stream)
        except (asyncio.CancelledError, ConnectionError):
            pass
        except Exception:
            logging.getLogger(__name__).exception("serving stream %d failed", stream.id)
            stream.close(ErrorCodes.INTERNAL_ERROR)
        finally:
            stream.close(ErrorCodes.NO_ERROR)  # a response sent before the whole request came ends the request

    def acknowledge(self, stream_id: int, flow: int) -> None:
        if flow:
            with contextlib.suppress(h2.exceptions.H2Error):  # the connection is closing
                self.h2.acknowledge_received_data(flow, stream_id)
            self.flush()

    def stream_open(self, stream_id: int) -> bool:
        try:
            return self.h2.local_flow_control_window(stream_id) >= 0
        except h2.exceptions.H2Error:
            return False

    def open_stream(self) -> H2Stream:
        """A new stream of ours (client side)."""
        stream_id = self.h2.get_next_available_stream_id()
        stream = self.streams[stream_id] = H2Stream(self, stream_id)
        self._disarm_idle()
        return stream

    def release(self, stream_id: int) -> None:
        self.streams.pop(stream_id, None)
        if self.streams:
            return
        if self.usable:
            self._arm_idle()
        else:
            self.close()  # after a GOAWAY, once its last stream is done

    def _arm_idle(self) -> None:
        """A connection with no stream for `idle_timeout` seconds is closed (aiohttp's keep-alive, for h2)."""
        self._disarm_idle()
        if self.usable:
            self._idle = asyncio.get_running_loop().call_later(self.idle_timeout, self.close)

    def _disarm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    @property
    def has_room(self) -> bool:
        return self.usable and self.h2.open_outbound_streams < self.h2.remote_settings.max_concurrent_streams

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def drain(self) -> None:
        await self._writable.wait()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def close(self) -> None:
        """Says GOAWAY and closes the connection; its streams fail."""
        if self.usable:
            self.usable = False
            with contextlib.suppress(h2.exceptions.H2Error):
                self.h2.close_connection()
                self.flush()
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self._disarm_idle()
        self._writable.set()
        for stream in list(self.streams.values()):
            # Lost before an answer began, a request may go elsewhere (as aiohttp retries a closed connection).
            unanswered = self.h2.config.client_side and not stream.head.done()
            stream._fail((Unreachable if unanswered else StreamReset)("the connection was lost"))
        self.streams.clear()
        self.on_lost(self)


# Fields HTTP/2 forbids (connection-specific), and Host, which becomes :authority.
_NOT_IN_H2 = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"}


def request_headers(method: str, authority: str, path: str, headers: Headers) -> Headers:
    """An HTTP/2 request head: the pseudo-headers, then the fields (names in lower case; TE only as
    `trailers`, what gRPC sends)."""
    fields = [(k.lower(), v) for k, v in headers if k.lower() not in _NOT_IN_H2
              and (k.lower() != "te" or v.lower() == "trailers")]
    return [(":method", method), (":scheme", "http"), (":authority", authority), (":path", path or "/"), *fields]


class Answer:
    """A replica's answer on an h2c stream, read as it comes (the interface of proxy.Answer)."""

    def __init__(self, stream: H2Stream, head: Headers, sending: asyncio.Task | None) -> None:
        self.stream = stream
        self.status = int(next((v for k, v in head if k == ":status"), "502"))
        self.headers: Headers = [(k, v) for k, v in head if not k.startswith(":")]
        length = next((v for k, v in self.headers if k == "content-length"), None)
        self.content_length = int(length) if length and length.isdigit() else None
        self._sending = sending

    @property
    def trailers(self) -> Headers:
        return self.stream.trailers

    @property
    def empty(self) -> bool:
        return self.stream.finished_with_head

    async def chunk(self) -> bytes:
        return await self.stream.read()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.stream.chunks()])

    def close(self) -> None:
        if self._sending is not None:
            self._sending.cancel()
        self.stream.close()


class Pool:
    """h2c connections to replicas: one an address carries every stream it can; another opens when it is full."""

    def __init__(self) -> None:
        self._links: dict[str, list[Link]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def request(self, address: str, head: Headers, body: bytes | AsyncIterator[bytes] | None) -> Answer:
        """Sends `head` (from `request_headers`) and `body` to `address` (host:port) and returns once the
        answer's head has come; the body is sent alongside (a stream of chunks as they come, so a client
        and a replica can talk both ways at once). Raises `Unreachable` when no connection can be made."""
        link = await self._link(address)
        stream = link.open_stream()
        sending = None
        try:
            await stream.send_headers(head, end=not body)
            if body:
                sending = asyncio.get_running_loop().create_task(_send_body(stream, body))
            return Answer(stream, await stream.head, sending)
        except BaseException as error:
            if sending is not None:
                sending.cancel()
            stream.close()
            if isinstance(error, Unreachable) and stream.pulled:
                raise StreamReset(str(error)) from error
            raise

    async def _link(self, address: str) -> Link:
        async with self._locks.setdefault(address, asyncio.Lock()):
            links = self._links.setdefault(address, [])
            for link in links:
                if link.has_room:
                    return link
            host, _, port = address.rpartition(":")
            try:
                _, link = await asyncio.get_running_loop().create_connection(
                    lambda: Link(client_side=True, on_lost=lambda lost: self._forget(address, lost),
                                 idle_timeout=REPLICA_IDLE_TIMEOUT),
                    host.strip("[]"), int(port))
            except OSError as error:
                raise Unreachable(f"{address}: {error}") from error
            links.append(link)
            return link

    def _forget(self, address: str, link: Link) -> None:
        links = self._links.get(address) or []
        if link in links:
            links.remove(link)
        if not links:
            self._links.pop(address, None)
            self._locks.pop(address, None)

    def close(self) -> None:
        for links in list(self._links.values()):
            for link in list(links):
                link.close()


async def _send_body(stream: H2Stream, body: bytes | AsyncIterator[bytes]) -> None:
    try:
        if isinstance(body, bytes):
            await stream.send_data(body, end=True)
            return
        async for chunk in body:
            stream.pulled = True
            await stream.send_data(chunk)
        await stream.end()
    except ConnectionError:
        pass  # the replica answered and reset, or went away: the answer's reader learns of it
    except Exception:
        stream.close()  # the client's side failed: the replica must not wait for the rest


class Sniffer(asyncio.Protocol):
    """A new connection whose first bytes choose its protocol: HTTP/2 when they are the preface, else
    HTTP/1.1 (aiohttp's handler). A connection that says nothing for `timeout` seconds is closed."""

    def __init__(self, http1: Callable[[], asyncio.Protocol], http2: Callable[[], asyncio.Protocol],
                 timeout: float) -> None:
        self.http1 = http1
        self.http2 = http2
        self.timeout = timeout
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport's
        self.timer = asyncio.get_running_loop().call_later(self.timeout, transport.close)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) < len(PREFACE) and PREFACE.startswith(self.buffer):
            return  # could still be either
        assert self.transport is not None
        if self.timer is not None:
            self.timer.cancel()
        protocol = self.http2() if self.buffer.startswith(PREFACE) else self.http1()
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        protocol.data_received(self.buffer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
