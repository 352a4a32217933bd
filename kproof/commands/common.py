"""What several sub-commands share: the console they print to and the reference's state directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

DEFAULT_STATE_DIR = Path(".kproof")
console = Console(soft_wrap=True)


def add_state_dir(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The `--state-dir` option of the commands that act on a reference platform."""
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help="where the reference keeps its objects (default .kproof)")
    return parser
