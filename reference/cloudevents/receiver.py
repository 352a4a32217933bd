"""The HTTP front of the broker ingress and of channels: POST only, OPTIONS as Knative answers it (a
CloudEvents webhook validation), a size and a time limit on the body, and a strict parse (400 for anything
not a CloudEvent)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from reference.cloudevents.codec import Event, MalformedEvent, from_http

MAX_EVENT_BYTES = 4 * 1024 * 1024
ALLOW = "POST, OPTIONS"
# A whole body within a minute (4 MiB needs only ~70 KB/s): a client trickling bytes cannot hold a
# connection and its handler open for ever.
BODY_TIMEOUT = 60.0


def options() -> web.Response:
    return web.Response(status=200, headers={"Allow": ALLOW, "WebHook-Allowed-Origin": "*",
                                             "WebHook-Allowed-Rate": "*"})


async def read_body(request: web.Request, limit: int = MAX_EVENT_BYTES) -> bytes | None:
    """The body, or None when it is over `limit` bytes (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


async def receive(request: web.Request) -> Event | web.Response:
    """The event a request carries, or the response that refuses it."""
    if request.method == "OPTIONS":
        return options()
    if request.method != "POST":
        return web.Response(status=405, headers={"Allow": ALLOW}, text=f"method {request.method} not allowed\n")
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            body = await read_body(request)
    except TimeoutError:
        return _closing(web.Response(status=408, text=f"the body did not arrive within {BODY_TIMEOUT:g} s\n"))
    if body is None:
        return _closing(web.Response(status=413, text=f"the event is larger than {MAX_EVENT_BYTES} bytes\n"))
    try:
        return from_http(request.headers, body)
    except MalformedEvent as err:
        return web.Response(status=400, text=f"malformed event: {err}\n")


def _closing(response: web.Response) -> web.Response:
    """The rest of an unread body is not worth waiting for: the connection ends after this answer."""
    response.force_close()
    return response
