"""The HTTP front of the broker ingress and of channels: POST only, OPTIONS as Knative answers it (a
CloudEvents webhook validation), a size limit, and a strict parse (400 for anything not a CloudEvent)."""

from __future__ import annotations

from aiohttp import web

from reference.eventing.codec import Event, MalformedEvent, from_http

MAX_EVENT_BYTES = 4 * 1024 * 1024
ALLOW = "POST, OPTIONS"


def options() -> web.Response:
    return web.Response(status=200, headers={"Allow": ALLOW, "WebHook-Allowed-Origin": "*",
                                             "WebHook-Allowed-Rate": "*"})


async def read_body(request: web.Request, limit: int = MAX_EVENT_BYTES) -> bytes | None:
    """The body, or None when it is over `limit` bytes (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
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
    body = await read_body(request)
    if body is None:
        return web.Response(status=413, text=f"the event is larger than {MAX_EVENT_BYTES} bytes\n")
    try:
        return from_http(request.headers, body)
    except MalformedEvent as err:
        return web.Response(status=400, text=f"malformed event: {err}\n")
