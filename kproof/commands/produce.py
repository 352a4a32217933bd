"""`kproof produce`: send messages (or binary-mode CloudEvents) to a Kafka topic at a steady rate; the
sending itself is kproof/produce.py."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from confluent_kafka import KafkaException

from kproof.commands.argtypes import float_above, int_at_least
from kproof.commands.common import DEFAULT_STATE_DIR, console
from kproof.produce import CE_SOURCE, CE_TYPE, DEFAULT_VALUE, ProduceResult, produce
from reference.kafka.client import CLIENT_LOG
from reference.kafka.locate import BOOTSTRAP_ENV, reachable
from reference.kafka.topics import ensure_topic


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("produce", help="send messages (or CloudEvents) to a Kafka topic",
                                   description="Send messages to a Kafka topic, optionally as binary-mode "
                                   "CloudEvents, at a steady rate.")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help="a running reference whose Kafka to use (default .kproof)")
    parser.add_argument("--bootstrap", help=f"the Kafka's bootstrap servers (default: the running reference's "
                        f"Kafka, else ${BOOTSTRAP_ENV})")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int_at_least(0, "must be 0 or more"), default=1,
                        help="how many messages (default 1)")
    parser.add_argument("--rate", type=float_above(0, "must be above 0"),
                        help="messages a second (default: as fast as possible)")
    parser.add_argument("--key", help="each message's key; {n} is the message's number (default: no key)")
    parser.add_argument("--value", default=DEFAULT_VALUE,
                        help="each message's value; {n} is the message's number (default: '{\"n\": {n}}')")
    parser.add_argument("--header", action="append", type=header, metavar="NAME=VALUE",
                        help="a Kafka header; {n} is the message's number (repeat)")
    parser.add_argument("--cloudevent", action="store_true",
                        help=f"send binary-mode CloudEvents: ce_specversion, ce_id, ce_source ({CE_SOURCE}), "
                        f"ce_type ({CE_TYPE}), ce_time and content-type headers; --header ce_type=... replaces one")
    parser.add_argument("--create-topic", action="store_true", help="create the topic first unless it exists")
    parser.add_argument("--partitions", type=int_at_least(1, "must be above 0"), default=3,
                        help="partitions of a topic --create-topic creates (default 3)")
    parser.set_defaults(func=handle)
    return parser


def header(text: str) -> tuple[str, str]:
    """A `--header NAME=VALUE`."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"a header is NAME=VALUE, not {text!r}")
    return name, value


def handle(args: argparse.Namespace) -> int:
    # librdkafka logs every reconnect attempt; the delivery reports and the summary say what went wrong.
    previous = CLIENT_LOG.level
    CLIENT_LOG.setLevel(logging.CRITICAL)
    try:
        return _produce(args)
    finally:
        CLIENT_LOG.setLevel(previous)


def default_bootstrap(state_dir: Path) -> str | None:
    """The running reference's Kafka on `state_dir`, else $KPROOF_KAFKA_BOOTSTRAP."""
    from kproof.embedded import read_endpoints

    endpoints = read_endpoints(state_dir.resolve())
    return (endpoints.kafka if endpoints else None) or os.environ.get(BOOTSTRAP_ENV) or None


def _produce(args: argparse.Namespace) -> int:
    bootstrap = args.bootstrap or default_bootstrap(args.state_dir)
    if not bootstrap:
        console.print(f"[red]no Kafka: give --bootstrap, set ${BOOTSTRAP_ENV}, or start the reference with "
                      f"`kproof up --detach --state-dir {args.state_dir}`[/red]")
        return 2
    problem = reachable(bootstrap)
    if problem:
        console.print(f"[red]{problem}[/red]")
        return 1
    if args.create_topic:
        try:
            ensure_topic(bootstrap, args.topic, args.partitions)
        except KafkaException as err:
            console.print(f"[red]could not create topic {args.topic!r}: {err}[/red]")
            return 1
    pace = f" at {args.rate:g}/s" if args.rate else ""
    with console.status(f"producing {args.count} messages to {args.topic} on {bootstrap}{pace}"):
        result = produce(bootstrap, args.topic, args.count, args.rate, args.key, args.value, args.header or [],
                         args.cloudevent)
    print_summary(result)
    return 1 if result.failures else 0


def print_summary(result: ProduceResult) -> None:
    color = "red" if result.failures else "green"
    console.print(f"[{color}]{result.count} delivered to {result.topic}, {result.failures} failed[/{color}] in "
                  f"{result.seconds:.2f} s ({result.rate:.1f}/s)")
    if result.count:
        spread = ", ".join(f"{p}: {c}" for p, c in sorted(result.partitions.items()))
        console.print(f"partitions {spread}; delivery p50 {result.latency_ms(0.5):.1f} ms, "
                      f"p99 {result.latency_ms(0.99):.1f} ms")
    for error in result.errors:
        console.print(f"[red]  {error}[/red]")
