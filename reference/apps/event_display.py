"""Knative's event_display: logs every CloudEvent it receives, readably, to stdout.

EVENT_DISPLAY_DELAY_MS (kproof's addition) holds each answer that long: a stand-in for the model's
processing time in the seeds' AI pipelines, so that a burst of events makes the service scale out.
"""

from __future__ import annotations

import asyncio
import json
import os

from aiohttp import web

from reference.apps.server import serve
from reference.cloudevents.codec import Event, MalformedEvent, from_http

NAME = "event-display"
DELAY_MS = float(os.environ.get("EVENT_DISPLAY_DELAY_MS", "0"))
CORE = ("specversion", "type", "source", "subject", "id", "time", "datacontenttype", "dataschema")


def render(event: Event) -> str:
    """The event the way Knative's event_display prints it."""
    lines = ["☁️  cloudevents.Event", "Context Attributes,"]
    lines += [f"  {name}: {event.attributes[name]}" for name in CORE if name in event.attributes]
    extensions = sorted(k for k in event.attributes if k not in CORE)
    if extensions:
        lines.append("Extensions,")
        lines += [f"  {name}: {event.attributes[name]}" for name in extensions]
    if event.data is not None:
        lines.append("Data,")
        try:
            text = json.dumps(json.loads(event.data), indent=2, ensure_ascii=False)
        except ValueError:
            text = event.data.decode(errors="replace")
        lines += [f"  {line}" for line in text.splitlines()]
    return "\n".join(lines)


async def display(request: web.Request) -> web.Response:
    try:
        event = from_http(request.headers, await request.read())
    except MalformedEvent as err:
        print(f"{NAME}: not a CloudEvent: {err}", flush=True)
        return web.Response(status=400, text=f"{err}\n")
    print(render(event), flush=True)
    if DELAY_MS:
        await asyncio.sleep(DELAY_MS / 1000)
    return web.Response(status=202)


def app() -> web.Application:
    application = web.Application(client_max_size=16 * 1024 * 1024)
    application.router.add_route("*", "/{tail:.*}", display)
    return application


if __name__ == "__main__":
    serve(app(), NAME)
