"""`kproof load`: run a Locust scenario against a Knative Service (headless, or in Locust's web UI), or
seed 001's Kafka producer, and chart the Service's replicas."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kproof.commands.argtypes import int_at_least
from kproof.commands.common import add_state_dir, console
from kproof.embedded import read_endpoints
from kproof.target import Target

SCENARIOS = ["steady", "step", "burst", "ramp", "inference", "kafka_producer"]
TIMED_SCENARIOS = ("steady", "inference")  # the scenarios that take --users and --run-time


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_state_dir(subparsers.add_parser("load", help="run a Locust scenario against a Service"))
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--service", help="the Knative Service to load (kafka_producer: whose replicas to chart)")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--kubeconfig", type=Path, help="a cluster's kubeconfig (default: the running reference)")
    parser.add_argument("--ingress", help="the cluster's ingress URL")
    parser.add_argument("--users", type=int, default=5, help="steady, inference: how many users (default 5)")
    parser.add_argument("--run-time", default="30s", help="steady, inference: for how long (default 30s)")
    parser.add_argument("--path", default="/", help="what each request asks for, e.g. /?sleep=200")
    parser.add_argument("--web", action="store_true", help="open Locust's web UI instead of running headless")
    parser.add_argument("--web-port", type=int, default=8089)
    parser.add_argument("--workers", type=int_at_least(1, "counts Locust processes: 1 or more"), default=1,
                        help="Locust processes: above 1, a master and that many workers (default 1)")
    parser.add_argument("--master-bind", default="127.0.0.1",
                        help="--workers: where the master listens for workers (0.0.0.0: other machines too)")
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.add_argument("--topic", default="demo", help="kafka_producer: the topic (default demo)")
    parser.add_argument("--rate", type=float, default=50, help="kafka_producer: messages a second (default 50)")
    parser.add_argument("--duration", type=float, default=100, help="kafka_producer: seconds (default 100)")
    parser.add_argument("--bootstrap", help="kafka_producer: the Kafka (default: the running reference's)")
    parser.set_defaults(func=handle, check=check)
    return parser


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.scenario != "kafka_producer" and not args.service:
        parser.error("--service names the Knative Service to load")


def handle(args: argparse.Namespace) -> int:
    from load.runner import LOCUSTFILES, run_scenario

    target = _target_of(args)
    if args.scenario == "kafka_producer":
        return _load_kafka(args, target)
    # What runs (the platform) and what is installed (the scenarios) are known only now, not while parsing.
    if target is None or not target.ingress:
        console.print("[red]no target: start one with `kproof up --detach`, or give --kubeconfig and --ingress[/red]")
        return 2
    if not (LOCUSTFILES / f"{args.scenario}.py").exists():
        console.print(f"[red]no scenario {args.scenario!r} in {LOCUSTFILES}[/red]")
        return 2
    host = target.service_host(args.service, args.namespace)
    if args.web:
        return _web_ui(args, target, host)
    with console.status(f"running {args.scenario} against {host}"
                        + (f" with {args.workers} Locust workers" if args.workers > 1 else "")):
        result = run_scenario(target, args.scenario, args.service, args.namespace, users=args.users,
                              run_time=args.run_time if args.scenario in TIMED_SCENARIOS else "",
                              path=args.path,
                              reports=args.reports, workers=args.workers)
    console.print(f"{result.requests} requests, {result.failures} failed, {result.rps:.1f}/s, "
                  f"p50 {result.median_ms:.0f} ms, p95 {result.p95_ms:.0f} ms, up to {result.max_ready} ready replicas")
    console.print(f"report: {result.directory}/ (chart.png, replicas.csv, Locust's CSVs)")
    return 1 if result.failures else 0


def _target_of(args: argparse.Namespace) -> Target | None:
    if args.kubeconfig:
        return Target(kubeconfig=args.kubeconfig, ingress=args.ingress)
    endpoints = read_endpoints(args.state_dir.resolve())
    if endpoints is None:
        return None
    return Target(kubeconfig=args.state_dir.resolve() / "kubeconfig", ingress=endpoints.ingress)


def _web_ui(args: argparse.Namespace, target: Target, host: str) -> int:
    """Locust's web UI with the Knative tab, until Ctrl-C; with --workers, a master and its workers."""
    from load.distributed import free_port, remote_worker_command
    from load.runner import LOCUSTFILES
    from load.web_ui import run_web_ui

    master_port = free_port() if args.workers > 1 else 0
    console.print(f"Locust's web UI on http://127.0.0.1:{args.web_port} (Ctrl-C stops it); "
                  f"requests go to {target.ingress} with Host {host}; its Knative tab watches {args.service}")
    if args.workers > 1:
        console.print(f"a master and {args.workers} workers; more from other machines (in a checkout of kproof"
                      + (", once this runs with --master-bind 0.0.0.0" if args.master_bind == "127.0.0.1" else "")
                      + "): " + remote_worker_command(LOCUSTFILES / f"{args.scenario}.py", master_port,
                                                      args.master_bind))
    return run_web_ui(target, args.scenario, args.service, args.namespace, path=args.path,
                      web_port=args.web_port, workers=args.workers, master_port=master_port,
                      master_bind=args.master_bind)


def _load_kafka(args: argparse.Namespace, target: Target | None) -> int:
    """Seed 001's producer: --rate messages a second into --topic for --duration seconds; with --service,
    the replicas of the Service its KafkaSource feeds are charted too."""
    from load.runner import run_producer

    endpoints = read_endpoints(args.state_dir.resolve())
    bootstrap = args.bootstrap or (endpoints.kafka if endpoints else None) or os.environ.get("KPROOF_KAFKA_BOOTSTRAP")
    if not bootstrap:
        console.print("[red]no Kafka: give --bootstrap, or start the reference with `kproof up --detach`[/red]")
        return 2
    watch = (target, args.service, args.namespace) if args.service and target is not None else None
    with console.status(f"producing {args.rate:g}/s into {args.topic} for {args.duration:g}s"):
        result = run_producer(bootstrap, args.topic, rate=args.rate, duration=args.duration, reports=args.reports,
                              watch=watch)
    console.print(f"{result.requests} messages, {result.failures} failed, {result.rps:.1f}/s, "
                  f"p50 {result.median_ms:.0f} ms, p95 {result.p95_ms:.0f} ms to the broker's ack"
                  + (f", up to {result.max_ready} ready replicas of {args.service}" if watch else ""))
    console.print(f"report: {result.directory}/")
    return 1 if result.failures else 0
