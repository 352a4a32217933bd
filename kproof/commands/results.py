"""`kproof results BUNDLE`: what a run's results bundle says, as Sonobuoy's `results` reads a tarball.

`--mode report` (default): the verdict, each area by level, the SLO checks and the failed tests with what was
kept of them; `--mode detailed`: every test; `--mode dump`: everything as JSON."""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from kproof.bundle import Bundle, BundleError, dump, open_bundle
from kproof.commands.argtypes import existing_path
from kproof.commands.common import console
from kproof.failure_logs import folder_name

MODES = ("report", "detailed", "dump")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("results", help="print what a results bundle (kproof-results-*.tar.gz) says")
    parser.add_argument("bundle", type=existing_path, metavar="BUNDLE",
                        help="a kproof-results-*.tar.gz (or the reports folder of a run)")
    parser.add_argument("--mode", choices=MODES, default="report",
                        help="report: the summary (default); detailed: every test; dump: everything as JSON")
    parser.set_defaults(func=handle)
    return parser


def handle(args: argparse.Namespace) -> int:
    try:
        opened = open_bundle(args.bundle)
    except BundleError as err:
        console.print(f"[red]{err}[/red]")
        return 2
    if args.mode == "dump":
        print(json.dumps(dump(opened), indent=1))
    elif args.mode == "detailed":
        print_detailed(opened)
    else:
        print_report(opened)
    summary = opened.json("summary.json", {})
    failed_slo = any(c.get("status") == "error" for c in opened.json("slo.json", []))
    return 0 if summary.get("conformant") and not opened.failed() and not failed_slo else 1


def print_report(opened: Bundle) -> None:
    run = opened.json("meta/run.json", {})
    target = opened.json("meta/target.json", {})
    summary = opened.json("summary.json", {})
    console.print(f"bundle: {opened.path}")
    if run:
        console.print(f"run {run.get('run_id')}: {run.get('command') or run.get('pytest')}")
        console.print(f"from {run.get('started')} to {run.get('finished')}, profile {run.get('profile')}")
    if target:
        versions = ", ".join(f"{k} {v}" for k, v in (target.get("versions") or {}).items())
        console.print(f"target: {target.get('api')} ({versions}); capabilities: "
                      f"{', '.join(target.get('capabilities') or []) or '-'}")
    if summary:
        verdict = "conformant" if summary.get("conformant") else "not conformant"
        console.print(f"[{'green' if summary.get('conformant') else 'red'}]{verdict}[/]: {summary.get('conformance')}")
        table = Table(title="by area")
        for column in ("area", "conformance", "passed", "failed", "skipped"):
            table.add_column(column)
        for area in summary.get("areas") or []:
            table.add_row(area["area"], area["conformance"], str(area["passed"]), str(area["failed"]),
                          str(area["skipped"]))
        console.print(table)
    checks = [c for c in opened.json("slo.json", []) if c.get("measured") is not None]
    for check in checks:
        style = {"ok": "green", "warning": "yellow", "error": "red"}.get(check["status"], "dim")
        console.print(f"SLO [{style}]{check['status']}[/]: {check['text']}")
    for nodeid in opened.failed():
        kept = opened.under(f"failures/{folder_name(nodeid)}")
        console.print(f"[red]failed[/red] {nodeid}")
        for name in kept:
            console.print(f"    {name}")


def print_detailed(opened: Bundle) -> None:
    """Every test, one a line (plain text, for grep and diff)."""
    print(f"{'OUTCOME':8} {'LEVEL':7} {'STATE':7} {'SECONDS':>8}  TEST")
    for test in opened.tests:
        print(f"{test.get('outcome', '?'):8} {test.get('level') or '-':7} {test.get('state') or '-':7} "
              f"{float(test.get('seconds') or 0):8.1f}  {test['nodeid']}")
