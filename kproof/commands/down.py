"""`kproof down`: stop the reference platform and everything recorded on its state directory."""

from __future__ import annotations

import argparse

from kproof.commands.common import add_state_dir, console
from kproof.embedded import ReferenceProcess, read_endpoints
from reference.host.processes import describe


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_state_dir(subparsers.add_parser("down", help="stop the reference platform"))
    parser.set_defaults(func=handle)
    return parser


def handle(args: argparse.Namespace) -> int:
    """Stops the platform, and everything recorded on its state directory: what a platform that was
    killed left running too, the embedded Kafka, the private PostgreSQL and Ceph (`kproof up --ceph`)."""
    from reference.kafka.embedded import EmbeddedKafka

    state_dir = args.state_dir.resolve()
    endpoints = read_endpoints(state_dir)
    kafka = EmbeddedKafka(state_dir).running()
    with console.status(f"stopping the reference (pid {endpoints.pid})" if endpoints else "stopping leftovers"):
        left = ReferenceProcess(state_dir).stop()
    if left:
        console.print(f"stopped what was left running on {state_dir}: {describe(left)}")
    if endpoints is None and kafka:
        console.print(f"stopped the embedded Kafka (pid {kafka['pid']})")
    if endpoints is None and not left:
        console.print(f"no reference runs on {state_dir}")
        return 0
    console.print("stopped; its objects stay in the state directory for the next `kproof up`")
    return 0
