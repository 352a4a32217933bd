"""Knative's HTTP/2 test images in one app: HTTP/1.1 and HTTP/2 cleartext (prior knowledge) on $PORT, as a
container whose port is named `h2c` serves.

GET /healthz                  `OK`
POST /ping.PingService/Ping   gRPC, as Knative's grpc-ping answers: the request's msg, then the hostname
  and /PingStream             (when HOSTNAME is a true boolean) and $SUFFIX; after $DELAY ms (Ping)
anything else                 as Knative's hellohttp2 answers: `proto=HTTP/2.0 method=GET path=/`, the
                              protocol the request came in; $RESPONSE instead when it is set

Served by Hypercorn (aiohttp speaks HTTP/1.1 only); the messages are protobuf's encoding of ping.proto's
`message Request { string msg = 1; }`, written out here (one string field) rather than generated.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct

from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.typing import ASGIReceiveCallable as Receive
from hypercorn.typing import ASGISendCallable as Send
from hypercorn.typing import HTTPScope, Scope

from reference.apps.server import DRAIN_SECONDS, log

NAME = "protocols"
PING = "/ping.PingService/Ping"
PING_STREAM = "/ping.PingService/PingStream"
GRPC_HEADERS = [(b"content-type", b"application/grpc")]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def encode_msg(msg: str) -> bytes:
    """A ping Request/Response: field 1, length-delimited."""
    data = msg.encode()
    return b"\x0a" + _varint(len(data)) + data


def decode_msg(data: bytes) -> str:
    """Field 1 of a ping Request; other fields skipped, as protobuf's decoders do."""
    msg, at = "", 0

    def varint() -> int:
        nonlocal at
        value = shift = 0
        while True:
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while at < len(data):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            varint()
        elif wire == 2:
            size = varint()
            if field == 1:
                msg = data[at:at + size].decode()
            at += size
        else:
            at += {1: 8, 5: 4}[wire]
    return msg


def frame(message: bytes) -> bytes:
    """gRPC's length-prefixed message: not compressed, 4-byte big-endian length."""
    return struct.pack(">BI", 0, len(message)) + message


def unframe(buffer: bytearray) -> bytes | None:
    """The next whole message in `buffer` (taken out of it), None until one has come whole."""
    if len(buffer) < 5:
        return None
    (size,) = struct.unpack(">I", buffer[1:5])
    if len(buffer) < 5 + size:
        return None
    message = bytes(buffer[5:5 + size])
    del buffer[:5 + size]
    return message


def pong(msg: str) -> str:
    hostname = socket.gethostname() if os.environ.get("HOSTNAME", "") in ("1", "t", "T", "true", "TRUE", "True") \
        else ""
    return msg + hostname + os.environ.get("SUFFIX", "")


async def grpc(scope: HTTPScope, receive: Receive, send: Send) -> None:
    path = scope["path"]
    known = path in (PING, PING_STREAM)
    await send({"type": "http.response.start", "status": 200, "headers": GRPC_HEADERS, "trailers": True})
    buffer, more = bytearray(), True
    while more:  # each message answered as it comes: PingStream talks both ways at once
        event = await receive()
        if event["type"] == "http.disconnect":
            return
        assert event["type"] == "http.request"  # all that an HTTP scope receives but the disconnect
        buffer += event.get("body", b"")
        more = event.get("more_body", False)
        while known and (message := unframe(buffer)) is not None:
            msg = decode_msg(message)
            log(NAME, f"received ping: {msg}")
            if path == PING:
                await asyncio.sleep(int(os.environ.get("DELAY") or 0) / 1000)
            await send({"type": "http.response.body", "body": frame(encode_msg(pong(msg))), "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    status = [(b"grpc-status", b"0")] if known else [(b"grpc-status", b"12"), (b"grpc-message", b"unknown method")]
    await send({"type": "http.response.trailers", "headers": status, "more_trailers": False})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    version = scope["http_version"]
    proto = f"HTTP/{version}.0" if "." not in version else f"HTTP/{version}"  # Go writes HTTP/2.0
    headers = dict(scope["headers"])
    if version == "2" and headers.get(b"content-type", b"").startswith(b"application/grpc"):
        await grpc(scope, receive, send)
        return
    log(NAME, f"request: proto={proto} method={scope['method']} path={scope['path']}")
    if scope["path"] == "/healthz":
        body = b"OK\n"
    else:
        body = os.environ.get("RESPONSE", f"proto={proto} method={scope['method']} path={scope['path']}\n").encode()
    response_headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": response_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def main() -> None:
    config = Config()
    config.bind = [f"{os.environ.get('KPROOF_BIND', '127.0.0.1')}:{int(os.environ.get('PORT', '8080'))}"]
    config.graceful_timeout = DRAIN_SECONDS
    config.keep_alive_timeout = 75.0  # longer than clients keep idle connections
    config.accesslog = None
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    log(NAME, f"listening on {config.bind[0]} (HTTP/1.1 and h2c)")
    await serve(app, config, shutdown_trigger=stop.wait)
    log(NAME, "drained, exiting")


if __name__ == "__main__":
    asyncio.run(main())
