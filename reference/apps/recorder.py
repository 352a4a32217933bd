"""Receives and records CloudEvents (and plain HTTP requests); can fail, be slow, reply and send.

Any method on any path but the ones below is recorded; the answer follows the current behaviour.
GET    /events   everything recorded, oldest first (JSON list)
GET    /count    how many requests it has recorded ({"count": n}), cheap to poll
DELETE /events   forget everything
POST   /config   change the behaviour: {"fail_rate": 0.3, "fail_status": 503, "fail_first": 3,
                 "refuse_every": 100, "refuse_times": 3, "refuse_prefix": "partition:0/", "delay_ms": 100,
                 "status": 202, "reply": {"type": "...", "source": "...", "data": {...}}}
                 (`"reply": {"echo": true}` answers with the received event itself, its type replaced when the
                 reply names one: a step that passes events on)
                 (`refuse_every` n: of the event ids that start with `refuse_prefix`, every nth new one is
                 refused `refuse_times` times with `fail_status`, then accepted)
GET    /config   the behaviour now
POST   /send     {"url": "...", "event": {structured event}, "mode": "binary" | "structured"}: sends it
POST   /forward  {"url": "...", "method": "POST", "headers": {...}, "body": "text", "size": n}: sends that
                 request as it is (a body of n bytes when `size` is given), to test how a sink refuses input
GET    /health   readiness

Environment: RECORDER_FAIL_RATE, RECORDER_FAIL_STATUS, RECORDER_FAIL_FIRST, RECORDER_REFUSE_EVERY,
RECORDER_REFUSE_TIMES, RECORDER_REFUSE_PREFIX and RECORDER_DELAY_MS set the initial behaviour, so a
manifest can ask for a failing sink without a request.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import time
import uuid

import aiohttp
from aiohttp import web

from reference.apps.server import log, serve
from reference.cloudevents.codec import Event, MalformedEvent, from_http, to_binary, to_structured

NAME = "recorder"
STATE = web.AppKey("state", dict)
MAX_RECORDS = 200_000


def _initial_config() -> dict:
    env = os.environ
    return {
        "fail_rate": float(env.get("RECORDER_FAIL_RATE", "0")),
        "fail_status": int(env.get("RECORDER_FAIL_STATUS", "503")),
        "fail_first": int(env.get("RECORDER_FAIL_FIRST", "0")),
        "refuse_every": int(env.get("RECORDER_REFUSE_EVERY", "0")),
        "refuse_times": int(env.get("RECORDER_REFUSE_TIMES", "0")),
        "refuse_prefix": env.get("RECORDER_REFUSE_PREFIX", ""),
        "delay_ms": int(env.get("RECORDER_DELAY_MS", "0")),
        "status": int(env.get("RECORDER_STATUS", "200")),
        "reply": None,
    }


def _parse(request: web.Request, body: bytes) -> Event | None:
    try:
        return from_http(request.headers, body)
    except MalformedEvent:
        return None


def _refused(state: dict, event: Event | None) -> bool:
    """Whether this delivery of the event is one `refuse_every`/`refuse_times` asks to refuse."""
    config = state["config"]
    if event is None or config["refuse_every"] <= 0 or config["refuse_times"] <= 0:
        return False
    refusals = state["refusals"]
    event_id = str(event.attributes.get("id"))
    if not event_id.startswith(config["refuse_prefix"]):
        return False
    if event_id not in refusals:
        state["new_ids"] += 1
        refusals[event_id] = config["refuse_times"] if state["new_ids"] % config["refuse_every"] == 0 else 0
    if refusals[event_id] > 0:
        refusals[event_id] -= 1
        return True
    return False


def _record(request: web.Request, body: bytes, event: Event | None, answered: int) -> dict:
    if event is not None:
        attributes, data = event.attributes, event.to_dict().get("data", event.to_dict().get("data_base64"))
    else:
        attributes, data = None, None
    return {
        "received": time.time(),
        "method": request.method,
        "path": request.path_qs,
        "headers": dict(request.headers),
        "body": base64.b64encode(body).decode() if body else "",
        "event": attributes,
        "data": data,
        "status": answered,
        "pod": os.environ.get("HOSTNAME", ""),
    }


async def receive(request: web.Request) -> web.Response:
    state = request.app[STATE]
    config = state["config"]
    body = await request.read()
    state["seen"] += 1
    event = _parse(request, body)
    failing = (_refused(state, event) or state["seen"] <= config["fail_first"]
               or random.random() < config["fail_rate"])
    status = config["fail_status"] if failing else config["status"]
    if len(state["records"]) < MAX_RECORDS:
        state["records"].append(_record(request, body, event, status))
    if config["delay_ms"]:
        await asyncio.sleep(config["delay_ms"] / 1000)
    reply = config["reply"]
    if reply and not failing:
        if reply.get("echo") and event is not None:  # the event itself comes back (a pass-through step)
            event = Event({**event.attributes, **({"type": reply["type"]} if reply.get("type") else {})}, event.data)
        else:
            event = Event({"specversion": "1.0", "id": str(uuid.uuid4()), "source": reply.get("source", "/recorder"),
                           "type": reply["type"], "datacontenttype": "application/json"},
                          json.dumps(reply.get("data", {})).encode())
        headers, payload = to_binary(event)
        return web.Response(status=status, body=payload, headers=headers)
    # a 2xx answer carries no body: Knative's broker treats a non-empty reply that is not a CloudEvent as a
    # failed delivery (and retries it); a failure's body is what dead letters carry as knativeerrordata
    return web.Response(status=status, text="" if 200 <= status < 300 else "recorded\n")


def _reset(state: dict) -> dict:
    """Counting starts over (fail_first, refuse_every); the records stay."""
    state.update(seen=0, new_ids=0, refusals={})
    return state


async def events(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE]["records"])


async def count(request: web.Request) -> web.Response:
    return web.json_response({"count": len(request.app[STATE]["records"])})


async def forget(request: web.Request) -> web.Response:
    request.app[STATE]["records"].clear()
    _reset(request.app[STATE])
    return web.json_response({"cleared": True})


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE]["config"])


async def set_config(request: web.Request) -> web.Response:
    state = request.app[STATE]
    change = await request.json()
    unknown = set(change) - set(state["config"])
    if unknown:
        raise web.HTTPBadRequest(text=f"unknown settings: {sorted(unknown)}\n")
    state["config"].update(change)
    _reset(state)
    log(NAME, f"config: {state['config']}")
    return web.json_response(state["config"])


async def send(request: web.Request) -> web.Response:
    order = await request.json()
    structured = order.get("event") or {}
    try:
        event = from_http({"content-type": "application/cloudevents+json"}, json.dumps(structured).encode())
    except MalformedEvent as err:
        raise web.HTTPBadRequest(text=f"{err}\n") from err
    encode = to_structured if order.get("mode") == "structured" else to_binary
    out_headers, payload = encode(event)
    return web.json_response(await _request("POST", order["url"], out_headers, payload))


async def forward(request: web.Request) -> web.Response:
    order = await request.json()
    body = b"x" * int(order["size"]) if "size" in order else str(order.get("body", "")).encode()
    return web.json_response(await _request(order.get("method", "POST"), order["url"], order.get("headers") or {},
                                            body))


async def _request(method: str, url: str, headers: dict[str, str], body: bytes) -> dict:
    # trust_env: on the reference platform cluster-local names are reached through the ingress as proxy.
    async with aiohttp.ClientSession(trust_env=True) as session, session.request(
            method, url, data=body, headers=headers) as response:
        return {"status": response.status, "headers": dict(response.headers), "body": await response.text()}


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


def app() -> web.Application:
    application = web.Application(client_max_size=16 * 1024 * 1024)
    application[STATE] = _reset({"records": [], "config": _initial_config()})
    application.router.add_get("/events", events)
    application.router.add_delete("/events", forget)
    application.router.add_get("/count", count)
    application.router.add_get("/config", get_config)
    application.router.add_post("/config", set_config)
    application.router.add_post("/send", send)
    application.router.add_post("/forward", forward)
    application.router.add_get("/health", health)
    application.router.add_route("*", "/{tail:.*}", receive)
    return application


if __name__ == "__main__":
    serve(app(), NAME)
