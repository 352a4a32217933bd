"""What several sub-commands share: the console they print to, the reference's state directory and the way a
status report is printed."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from rich.console import Console

DEFAULT_STATE_DIR = Path(".kproof")
console = Console(soft_wrap=True)


def add_state_dir(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The `--state-dir` option of the commands that act on a reference platform."""
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help="where the reference keeps its objects (default .kproof)")
    return parser


def print_status(headline: str, report: dict, keys: Iterable[str], components: Iterable[tuple[str, str]]) -> None:
    """A running platform's status: a headline, one line per key of `report`, then each component's health
    (green when it starts with "ok")."""
    console.print(headline)
    for key in keys:
        console.print(f"{key + ':':12} {report.get(key) or '-'}")
    for name, health in components:
        color = "green" if health.startswith("ok") else "red"
        console.print(f"  {name:26} [{color}]{health}[/{color}]")
