"""`kproof run`: run the conformance suite against the embedded reference or a cluster, and write reports/."""

from __future__ import annotations

import argparse
from pathlib import Path

from kproof.commands.common import console
from kproof.run import RunOptions, run


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("run", help="run the conformance suite and write reports/")
    parser.add_argument("--kubeconfig", type=Path, help="a target cluster's kubeconfig (default: embedded)")
    parser.add_argument("--ingress", help="the target's ingress URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--domain", help="the target's domain (default: from config-domain)")
    parser.add_argument("--capability", action="append", help="a capability the target has (repeat)")
    parser.add_argument("--area", action="append", help="only this conformance area (repeat)")
    parser.add_argument("--kafka-bootstrap", help="a Kafka the tests and the cluster both reach")
    parser.add_argument("-k", dest="select", help="only tests matching this pytest -k expression")
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.add_argument("--no-load", dest="load", action="store_false", help="skip the short load scenario")
    parser.set_defaults(func=handle, check=check)
    return parser


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if bool(args.kubeconfig) != bool(args.ingress):
        parser.error("name a target with both --kubeconfig and --ingress (or neither for the embedded reference)")


def handle(args: argparse.Namespace) -> int:
    options = RunOptions(reports=args.reports, kubeconfig=args.kubeconfig, ingress=args.ingress,
                         domain=args.domain, capabilities=args.capability or [], select=args.select,
                         kafka_bootstrap=args.kafka_bootstrap,
                         areas=args.area or [], load=args.load)
    return run(options, console)
