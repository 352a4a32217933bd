"""The filter and transformer functions of Knative's Parallel sample (villardl/filter-nodejs and
villardl/transformer-nodejs, from lionelvillard/knative-functions), with their JavaScript run by Duktape:

- filter: $FILTER is a JavaScript expression over `event` (the CloudEvent in its JSON form) and `env`; when
  it is truthy the event comes back unmodified as the reply, otherwise the answer is an empty 200.
- transformer: $TRANSFORMER is JavaScript whose value becomes the event's new data (JSON); the event's
  attributes stay.

An expression that throws answers 200 with `{"error": message}` and no event, as the samples do; code that
does not compile stops the function at start.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace

import dukpy
from aiohttp import web

from reference.apps.server import log, serve
from reference.cloudevents.codec import Event, MalformedEvent, from_http, to_binary

NAME = "js-function"
MODES = {"filter": "FILTER", "transformer": "TRANSFORMER"}
PRELUDE = "var event = dukpy.event, env = dukpy.env;"
CODE = web.AppKey("code", str)
MODE = web.AppKey("mode", str)


def program(mode: str, source: str) -> str:
    """The code evaluated per event: the filter's expression in parentheses, the transformer's as it is."""
    return f"({source})" if mode == "filter" else source


def compiles(code: str) -> str | None:
    """None when the code compiles, else the error (compiled as a function body that is never called)."""
    try:
        dukpy.evaljs("new Function(dukpy.source); 0", source=code)
    except dukpy.JSRuntimeError as err:
        return str(err).splitlines()[0]
    return None


def evaluate(code: str, event: Event) -> object:
    return dukpy.evaljs([PRELUDE, code], event=event.to_dict(), env=dict(os.environ))


async def handle(request: web.Request) -> web.Response:
    try:
        event = from_http(request.headers, await request.read())
    except MalformedEvent as err:
        return web.Response(status=400, text=f"{err}\n")
    log(NAME, f"receiving Cloud Event {event.id}")
    try:
        value = evaluate(request.app[CODE], event)
    except dukpy.JSRuntimeError as err:
        return web.json_response({"error": str(err).splitlines()[0]})
    if request.app[MODE] == "filter":
        if not value:
            return web.Response(status=200)
        headers, body = to_binary(event)
        return web.Response(status=200, headers=headers, body=body)
    if value is None:
        return web.Response(status=200)
    transformed = replace(event, attributes={**event.attributes, "datacontenttype": "application/json"},
                          data=json.dumps(value, separators=(",", ":")).encode())
    headers, body = to_binary(transformed)
    return web.Response(status=200, headers=headers, body=body)


def app(mode: str, source: str) -> web.Application:
    application = web.Application(client_max_size=16 * 1024 * 1024)
    application[MODE], application[CODE] = mode, program(mode, source)
    application.router.add_route("*", "/{tail:.*}", handle)
    return application


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else ""
    if mode not in MODES:
        print(f"usage: js_function {'|'.join(MODES)}", file=sys.stderr)
        return 2
    source = os.environ.get(MODES[mode])
    if not source:
        print(f"environment variable {MODES[mode]} is missing.", file=sys.stderr)
        return 1
    problem = compiles(program(mode, source))
    if problem:
        print(f"invalid code: {problem}\n{source}", file=sys.stderr)
        return 1
    serve(app(mode, source), f"{mode}-nodejs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
