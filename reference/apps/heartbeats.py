"""Sends a heartbeat CloudEvent every period, like Knative's cmd/heartbeats (the ContainerSource sample).

Flags (Go-style, one or two dashes): --sink URL, --period (a Go duration such as 500ms or 2s, or whole
seconds; default 5s), --eventSource, --eventType (default dev.knative.eventing.samples.heartbeat),
--label, --msg. Environment: K_SINK (wins over --sink, as in Knative), else SINK; K_CE_OVERRIDES (the
source's ceOverrides as JSON: their extensions go on every event); POD_NAME and POD_NAMESPACE (else
HOSTNAME and "default") for the source attribute; PERIOD when --period is not given; ONE_SHOT=true sends
one event and exits.

Each event: type and source as above (source https://knative.dev/eventing-contrib/cmd/heartbeats/#<ns>/<pod>,
the string Knative's image still sends), extensions the=42, heart=yes, beats=true, data
{"id": <sequence from 1>, "label": <label>} (plus "msg" when given), binary mode, retried 10 times with
exponential backoff from 20 ms. It serves nothing: it is not a Knative Service.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import uuid
from datetime import UTC, datetime

import aiohttp

from reference.apps.server import log
from reference.cloudevents.codec import Event
from reference.cloudevents.delivery import DeliverySpec, Dispatcher

NAME = "heartbeats"
EVENT_TYPE = "dev.knative.eventing.samples.heartbeat"
SOURCE_PREFIX = "https://knative.dev/eventing-contrib/cmd/heartbeats/"
SEND_SPEC = DeliverySpec(retry=10, delay=0.02)  # Knative: ContextWithRetriesExponentialBackoff(20ms, 10)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_period(text: str) -> float:
    """Seconds in a Go duration ("1m30s", "500ms") or a whole number of seconds; ValueError otherwise."""
    text = text.strip()
    if not text:
        return 5.0
    if text.isdigit() and int(text) > 0:
        return float(text)
    parts = _DURATION_PART.findall(text)
    seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if not parts or "".join(number + unit for number, unit in parts) != text or seconds <= 0:
        raise ValueError(f"invalid period interval provided: {text!r}")
    return seconds


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="heartbeats", description="Sends heartbeat CloudEvents to a sink.")
    for flag, default in (("sink", ""), ("period", None), ("eventSource", ""), ("eventType", EVENT_TYPE),
                          ("label", ""), ("msg", ""), ("cacerts", "")):
        parser.add_argument(f"--{flag}", f"-{flag}", dest=flag, default=default)
    return parser.parse_args(argv)


def settings(args: argparse.Namespace, env: dict[str, str]) -> dict:
    """Where to send what, from the flags and the environment (ValueError when something is unusable)."""
    sink = env.get("K_SINK") or args.sink or env.get("SINK", "")
    if not sink:
        raise ValueError("no sink: pass --sink URL or set K_SINK")
    extensions: dict[str, str] = {}
    if env.get("K_CE_OVERRIDES"):
        try:
            overrides = json.loads(env["K_CE_OVERRIDES"])
        except ValueError as err:
            raise ValueError(f"unparseable CloudEvents overrides {env['K_CE_OVERRIDES']}: {err}") from err
        extensions = {k: str(v) for k, v in ((overrides or {}).get("extensions") or {}).items()}
    pod = env.get("POD_NAME") or env.get("HOSTNAME", "")
    namespace = env.get("POD_NAMESPACE") or "default"
    label = args.label
    if label.startswith('"'):
        with contextlib.suppress(ValueError):
            label = json.loads(label)
    return {"sink": sink, "period": parse_period(args.period if args.period is not None else env.get("PERIOD", "")),
            "source": args.eventSource or f"{SOURCE_PREFIX}#{namespace}/{pod}", "type": args.eventType,
            "label": label, "msg": args.msg, "extensions": extensions,
            "one_shot": env.get("ONE_SHOT", "").lower() in ("1", "t", "true")}


def heartbeat(config: dict, sequence: int) -> Event:
    attributes = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": config["source"], "type": config["type"],
                  "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                  "datacontenttype": "application/json", "the": "42", "heart": "yes", "beats": "true",
                  **config["extensions"]}
    data: dict = {"id": sequence, "label": config["label"]}
    if config["msg"]:
        data["msg"] = config["msg"]
    return Event(attributes, json.dumps(data).encode())


async def beat(config: dict) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # trust_env: on the reference platform cluster-local names are reached through the ingress as proxy.
    async with aiohttp.ClientSession(trust_env=True) as session:
        dispatcher = Dispatcher(session)
        sequence, next_at = 0, loop.time()
        while not stop.is_set():
            sequence += 1
            log(NAME, f"sending cloudevent to {config['sink']}")
            outcome = await dispatcher.deliver(heartbeat(config, sequence), config["sink"], SEND_SPEC,
                                               prefer_reply=False)
            if not outcome.delivered:
                log(NAME, f"failed to send cloudevent: {outcome.status or 'no response'}")
            if config["one_shot"]:
                return
            # A ticker: beats stay on the period; the ones a slow send overran collapse into one.
            next_at += config["period"]
            if next_at < loop.time():
                next_at = loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), next_at - loop.time())


def main(argv: list[str] | None = None) -> int:
    try:
        config = settings(arguments(sys.argv[1:] if argv is None else argv), dict(os.environ))
    except ValueError as err:
        log(NAME, f"[ERROR] {err}")
        return 1
    log(NAME, f"Heartbeats Source: {config['source']}")
    asyncio.run(beat(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
