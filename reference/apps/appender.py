"""Knative's appender sample (knative/eventing cmd/appender), the step of its Sequence examples: the event's
data is read as {"id": int, "message": string}, $MESSAGE is appended to the message, and the event comes back
as the reply with that data (as JSON) and, when $TYPE is set, that type. Data that is not such an object
answers 400, as the sample's DataAs error does."""

from __future__ import annotations

import json
import os
from dataclasses import replace

from aiohttp import web

from reference.apps.server import log, serve
from reference.cloudevents.codec import MalformedEvent, from_http, to_binary

NAME = "appender"
DEFAULT_MESSAGE = "boring default msg, change me with env[MESSAGE]"


class BadData(ValueError):
    """The data does not unmarshal into the sample's payload struct."""


def payload(data: bytes | None, content_type: str) -> dict:
    """The sample's payload struct from the event's data: missing fields are zero values, others dropped."""
    if not data:
        return {"id": 0, "message": ""}
    media = content_type.split(";")[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json") and media != "text/json":
        raise BadData(f"cannot decode {media!r} data into the payload")
    try:
        doc = json.loads(data)
    except ValueError as err:
        raise BadData(f"the data is not JSON: {err}") from err
    if not isinstance(doc, dict):
        raise BadData("json: cannot unmarshal a non-object into the payload")
    number, message = doc.get("id"), doc.get("message")
    if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)
                               or float(number) != int(number)):
        raise BadData(f"json: cannot unmarshal {json.dumps(number)} into Go struct field payload.id of type int")
    if message is not None and not isinstance(message, str):
        raise BadData(f"json: cannot unmarshal {json.dumps(message)} into Go struct field payload.message of type "
                      "string")
    return {"id": int(number or 0), "message": message or ""}


async def append(request: web.Request) -> web.Response:
    try:
        event = from_http(request.headers, await request.read())
    except MalformedEvent as err:
        return web.Response(status=400, text=f"{err}\n")
    try:
        data = payload(event.data, event.attributes.get("datacontenttype", "application/json"))
    except BadData as err:
        log(NAME, f"Got error while unmarshalling data: {err}")
        return web.Response(status=400, text=f"got error while unmarshalling data: {err}\n")
    log(NAME, f"Received a new event: [{event.attributes.get('time', '')}] {event.attributes.get('source')} "
              f"{event.type}: {data}")
    data["message"] += os.environ.get("MESSAGE", DEFAULT_MESSAGE)
    attributes = {**event.attributes, "datacontenttype": "application/json"}
    if os.environ.get("TYPE"):
        attributes["type"] = os.environ["TYPE"]
    reply = replace(event, attributes=attributes, data=json.dumps(data, separators=(",", ":")).encode())
    log(NAME, f"Transform the event to: [{attributes.get('time', '')}] {attributes.get('source')} "
              f"{attributes['type']}: {data}")
    headers, body = to_binary(reply)
    return web.Response(status=200, headers=headers, body=body)


def app() -> web.Application:
    application = web.Application(client_max_size=16 * 1024 * 1024)
    application.router.add_route("*", "/{tail:.*}", append)
    return application


if __name__ == "__main__":
    log(NAME, f"listening on $PORT, appending {os.environ.get('MESSAGE', DEFAULT_MESSAGE)!r} to events")
    serve(app(), NAME)
