"""`kproof report`: rebuild the badges, the summary and reports/html/ from reports/junit.xml."""

from __future__ import annotations

import argparse
from pathlib import Path

from kproof import report
from kproof.commands.common import console
from kproof.html_report import write_html_report


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("report",
                                   help="rebuild badges, the summary and reports/html/ from reports/junit.xml")
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.set_defaults(func=handle)
    return parser


def handle(args: argparse.Namespace) -> int:
    if not (args.reports / "junit.xml").exists():
        console.print(f"[red]no {args.reports}/junit.xml: run `kproof run` first[/red]")
        return 1
    results = report.write_report(args.reports, console)
    write_html_report(args.reports, results, console)
    return 1 if any(r.failed for r in results) else 0
