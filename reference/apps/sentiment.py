"""Seed 002's sentiment service: benthos-vader's contract on VADER (the vaderSentiment package).

It reads the Benthos config the seed mounts (`-c /opt/benthos/benthos.yaml`) and honours what that
config says: an `http_server` input (its `path`, default /post, and `allowed_verbs`), one `bloblang`
processor of the form `root = this.<field>.sentiment()`, and a `sync_response` output. Anything else in
the config is refused at start, naming it.

    POST /post {"text": "I love Benthos!"}  {"Compound": 0.6696, "Negative": 0, "Neutral": 0.308, "Positive": 0.692}
    GET  /ping   pong        GET /ready   OK        GET /metrics   Prometheus (Benthos's names)

It listens on $PORT (Knative's contract), else on the config's http.address (Benthos's 0.0.0.0:4195).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, generate_latest

from reference.apps.models.loader import load
from reference.apps.server import log, serve

NAME = "benthos-vader"
SENTIMENT = re.compile(r"^\s*root\s*=\s*this((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\.sentiment\(\)\s*$")
DEFAULT_CONFIG = {"input": {"http_server": {"path": "/post"}},
                  "pipeline": {"processors": [{"bloblang": "root = this.text.sentiment()"}]},
                  "output": {"sync_response": {}}}
CONFIG = web.AppKey("config", object)


class ConfigError(ValueError):
    """The config asks for something this image does not do; the message names it."""


@dataclass(frozen=True)
class Config:
    path: str
    verbs: tuple[str, ...]
    field: tuple[str, ...]  # the path under `this` whose text is scored
    port: int


def parse_config(doc: dict) -> Config:
    unknown = sorted(set(doc) - {"http", "input", "pipeline", "output", "logger", "metrics", "shutdown_timeout"})
    if unknown:
        raise ConfigError(f"unsupported config section(s): {', '.join(unknown)}")
    inputs = doc.get("input") or {}
    if set(inputs) != {"http_server"}:
        raise ConfigError(f"input: only http_server is supported, not {', '.join(sorted(inputs)) or 'nothing'}")
    server = inputs["http_server"] or {}
    processors = (doc.get("pipeline") or {}).get("processors") or []
    if len(processors) != 1 or set(processors[0]) != {"bloblang"}:
        raise ConfigError("pipeline.processors: exactly one bloblang processor is supported")
    match = SENTIMENT.match(str(processors[0]["bloblang"]))
    if not match:
        raise ConfigError(f"pipeline.processors[0].bloblang: only `root = this.<field>.sentiment()` is supported, "
                          f"not {processors[0]['bloblang']!r}")
    if set(doc.get("output") or {}) != {"sync_response"}:
        raise ConfigError("output: only sync_response is supported")
    address = str((doc.get("http") or {}).get("address") or "0.0.0.0:4195")
    return Config(str(server.get("path") or "/post"), tuple(v.upper() for v in server.get("allowed_verbs") or ["POST"]),
                  tuple(match.group(1).strip(".").split(".")), int(address.rsplit(":", 1)[1]))


def _field(message: object, path: tuple[str, ...]) -> str:
    for part in path:
        if not isinstance(message, dict) or part not in message:
            raise KeyError(".".join(path))
        message = message[part]
    if not isinstance(message, str):
        raise TypeError(f"{'.'.join(path)} is not a string")
    return message


def app(config: Config) -> web.Application:
    model = load("sentiment").model
    registry = CollectorRegistry()
    received = Counter("input_received", "Messages received", ["label", "path"], registry=registry)
    sent = Counter("output_sent", "Messages answered", ["label", "path"], registry=registry)
    errors = Counter("processor_error", "Messages that failed processing", ["label", "path"], registry=registry)

    async def score(request: web.Request) -> web.Response:
        received.labels("", "root.input").inc()
        try:
            text = _field(await request.json(), config.field)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
            errors.labels("", "root.pipeline.processors.0").inc()
            raise web.HTTPBadRequest(text=f"cannot score this message: {err}\n") from None
        (scores,) = model.predict([text])
        sent.labels("", "root.output").inc()
        return web.json_response(scores)

    application = web.Application()
    application[CONFIG] = config
    for verb in config.verbs:
        application.router.add_route(verb, config.path, score)
    async def ping(_: web.Request) -> web.Response:
        return web.Response(text="pong")

    async def ready(_: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    application.router.add_get("/ping", ping)
    application.router.add_get("/ready", ready)
    application.router.add_get("/metrics", metrics)
    return application


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=NAME)
    parser.add_argument("-c", "--config", type=Path, help="a Benthos config (YAML)")
    args, _ = parser.parse_known_args(argv)
    try:
        doc = yaml.safe_load(args.config.read_text()) if args.config else DEFAULT_CONFIG
        config = parse_config(doc or {})
    except (OSError, yaml.YAMLError, ConfigError) as err:
        log(NAME, f"config {args.config}: {err}")
        return 1
    os.environ.setdefault("PORT", str(config.port))
    log(NAME, f"{json.dumps(config.path)} scores this.{'.'.join(config.field)} with VADER")
    serve(app(config), NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
