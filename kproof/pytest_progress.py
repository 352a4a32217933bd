"""A pytest plugin that appends one line per finished test to $KPROOF_PROGRESS_FILE.

`kproof run` tails that file to draw its progress bar while pytest's own output goes to a log.
"""

from __future__ import annotations

import os

import pytest

_path = os.environ.get("KPROOF_PROGRESS_FILE")


def _write(line: str) -> None:
    if _path:
        with open(_path, "a") as out:
            out.write(line + "\n")


def pytest_collection_finish(session: pytest.Session) -> None:
    _write(f"total {len(session.items)}")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _write(f"{report.outcome} {report.nodeid}")
