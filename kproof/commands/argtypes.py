"""Argument types that refuse a bad value while the command line is parsed, so that argparse answers with
the sub-command's usage and exit status 2 before anything runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def int_at_least(minimum: int, rule: str) -> Callable[[str], int]:
    """A whole number of `minimum` or more; `rule` says so in the error, e.g. "must be 0 or more"."""

    def parse(text: str) -> int:
        value = int(text)  # not a number: argparse's own "invalid int value"
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{rule}, not {value}")
        return value

    parse.__name__ = "int"  # argparse names the type in "invalid int value: 'x'"
    return parse


def float_above(floor: float, rule: str) -> Callable[[str], float]:
    """A number above `floor` (NaN is not); `rule` says so in the error, e.g. "must be above 0"."""

    def parse(text: str) -> float:
        value = float(text)
        if not value > floor:
            raise argparse.ArgumentTypeError(f"{rule}, not {value:g}")
        return value

    parse.__name__ = "float"
    return parse


def existing_path(text: str) -> Path:
    """A file or folder that exists."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file or folder: {text}")
    return path
