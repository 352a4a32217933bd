"""`kproof simulate TRACE`: replay a traffic trace through the KPA and chart the replicas it would run."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from kproof.commands.common import console


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("simulate", help="replay a traffic trace through the KPA and chart the replicas")
    parser.add_argument("trace", type=Path, help="CSV with `second` and `concurrency` or `rps`")
    parser.add_argument("--service", type=Path,
                        help="a Knative Service manifest (annotations, containerConcurrency)")
    parser.add_argument("--annotation", action="append",
                        help="an autoscaling annotation, e.g. window=6s (repeat)")
    parser.add_argument("--container-concurrency", type=int, help="overrides the manifest's containerConcurrency")
    parser.add_argument("--config", type=Path, help="a config-autoscaler ConfigMap (YAML)")
    parser.add_argument("--set", action="append",
                        help="a config-autoscaler key, e.g. max-scale-up-rate=500 (repeat)")
    parser.add_argument("--startup", type=float, default=2.0, help="pod start-up seconds (default 2)")
    parser.add_argument("--request-seconds", type=float, default=0.2,
                        help="time one request takes, to turn rps into concurrency (default 0.2)")
    parser.add_argument("--every", type=int, default=5, help="print every Nth second (default 5)")
    parser.add_argument("--out", type=Path, default=Path("reports/simulate.png"))
    parser.set_defaults(func=handle)
    return parser


def handle(args: argparse.Namespace) -> int:
    from rich.table import Table

    from kproof import simulate
    from reference.autoscaler.config import AutoscalerConfig

    annotations, container_concurrency = simulate.service_settings(args.service)
    for item in args.annotation or []:
        key, _, value = item.partition("=")
        annotations[key if "/" in key else f"autoscaling.knative.dev/{key}"] = value
    if args.container_concurrency is not None:
        container_concurrency = args.container_concurrency
    settings: dict[str, str] = {}
    if args.config:
        doc = yaml.safe_load(args.config.read_text()) or {}
        settings.update(doc.get("data", doc))
    for item in args.set or []:
        key, _, value = item.partition("=")
        settings[key] = value
    config = AutoscalerConfig.from_map(settings)
    for problem in config.problems:
        console.print(f"[yellow]config-autoscaler: {problem} (the default applies)[/yellow]")
    trace = simulate.read_trace(args.trace, args.request_seconds)
    result = simulate.simulate(trace, annotations, container_concurrency, config, args.startup)
    table = Table(title=f"KPA replay of {args.trace.name}")
    for column in ("second", "offered", "desired", "replicas", "ready", "queued", "panic"):
        table.add_column(column, justify="right")
    for row in result.rows:
        if row.second % args.every == 0:
            table.add_row(str(row.second), f"{row.offered:g}", str(row.desired), str(row.replicas), str(row.ready),
                          f"{row.queued:g}", "yes" if row.panicking else "")
    console.print(table)
    console.print(f"peak ready replicas {result.peak_replicas}; requests left waiting: "
                  f"{result.queued_request_seconds:g} request-seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    title = f"{args.trace.name}: containerConcurrency {container_concurrency}, start-up {args.startup:g}s"
    simulate.chart(result, args.out, title)
    simulate.write_csv(result, args.out.with_suffix(".csv"))
    console.print(f"chart: {args.out}; data: {args.out.with_suffix('.csv')}")
    return 0
