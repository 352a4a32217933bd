"""Seed 001's intent recognition service (the contract of bert-intent-detection), on a real model.

GET|POST /predict?query=music     200 text/html, the intent: `PlayMusic`. Without ?query, a POST's body
                                  gives it: a CloudEvent (or JSON) with `query` or `text`, or plain text.
KServe v1 (see model_server): POST /v1/models/intent:predict {"instances": ["play some jazz", ...]}

Each classified CloudEvent is counted (GET /stats: `events`), and with K_SINK set its outcome is sent
there as a `dev.kproof.intent.classified` event (data: the event's id, the query, the intent), so a
pipeline's results can be counted downstream. The model comes from MODEL_DIR (see models/loader);
until it is there the server does not listen, and its log says why.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import aiohttp
from aiohttp import web

from reference.apps.model_server import ModelServer, batching_from_env, wait_for_model
from reference.apps.server import log, serve
from reference.cloudevents.codec import Event, MalformedEvent, from_http, to_binary

NAME = "intent"
OUTCOME_TYPE = "dev.kproof.intent.classified"
SERVER = web.AppKey("server", ModelServer)
STATE = web.AppKey("state", dict)


def _query_from(body: bytes, event: Event | None) -> str:
    data = event.data if event is not None else body
    if not data:
        return ""
    try:
        decoded = json.loads(data)
    except ValueError:
        return data.decode(errors="replace").strip()
    if isinstance(decoded, dict):
        return str(decoded.get("query") or decoded.get("text") or "")
    return decoded if isinstance(decoded, str) else ""


async def predict(request: web.Request) -> web.Response:
    server, state = request.app[SERVER], request.app[STATE]
    body = await request.read() if request.method == "POST" else b""
    event = None
    if body or "ce-id" in request.headers:
        try:
            event = from_http(request.headers, body)
        except MalformedEvent:
            event = None
    query = request.query.get("query") or _query_from(body, event)
    if not query:
        raise web.HTTPBadRequest(text="say what to classify: ?query=... or a body with `query` or `text`\n")
    (intent,), _ = await server.predict([query])
    if event is not None:
        state["events"].add(event.id)
        if state["sink"]:
            state["outcomes"].put_nowait({"event": event.id, "query": query, "intent": intent})
    return web.Response(text=intent, content_type="text/html", charset="utf-8")


async def _send_outcomes(app: web.Application) -> None:
    """Sends each outcome to K_SINK, retrying a refused one a few times before it is dropped and logged."""
    state = app[STATE]
    async with aiohttp.ClientSession(trust_env=True) as session:  # cluster-local names via the ingress
        while True:
            outcome = await state["outcomes"].get()
            event = Event({"specversion": "1.0", "id": str(uuid.uuid4()), "type": OUTCOME_TYPE,
                           "source": f"/intent/{os.environ.get('HOSTNAME', '')}",
                           "datacontenttype": "application/json"}, json.dumps(outcome).encode())
            headers, data = to_binary(event)
            for attempt in range(5):
                try:
                    async with session.post(state["sink"], headers=headers, data=data) as answer:
                        if answer.status < 300:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2 * 2 ** attempt)
            else:
                log(NAME, f"could not send the outcome of event {outcome['event']} to {state['sink']}")


async def _start_sender(app: web.Application):
    task = asyncio.create_task(_send_outcomes(app)) if app[STATE]["sink"] else None
    yield
    if task is not None:
        task.cancel()


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok\n")


def app(server: ModelServer) -> web.Application:
    application = web.Application()
    application[SERVER] = server
    state = application[STATE] = {"events": set(), "sink": os.environ.get("K_SINK", ""), "outcomes": asyncio.Queue()}
    server.more_stats = lambda: {"events": len(state["events"])}
    server.add_routes(application)
    application.router.add_route("GET", "/predict", predict)
    application.router.add_route("POST", "/predict", predict)
    application.router.add_get("/healthz", healthz)
    application.cleanup_ctx.append(_start_sender)
    return application


if __name__ == "__main__":
    serve(app(ModelServer(wait_for_model(NAME), batching_from_env())), NAME)
