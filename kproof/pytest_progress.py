"""A pytest plugin that `kproof run` loads (`-p kproof.pytest_progress`): the run's live status and its record.

- `--kproof-status FILE`: a JSON file rewritten as the run goes: the test being run, how many passed, failed
  and were skipped so far, and the time left by the profile's estimate (what each test took in the last run
  where known, else the profile's seconds per test). `kproof status --run` and the progress bar read it.
- `--kproof-record FILE`: one JSON object per finished test (node id, outcome, seconds, area, level, state,
  the images it created objects with), for `kproof results` and `--rerun-failed`.

SIGTERM stops the run as Ctrl-C does, so that fixtures end (the embedded reference stops, what the run made
is removed) before the process goes.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from kproof.profiles import PROFILES, area_of


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kproof run", "what kproof run reads while the suite runs")
    group.addoption("--kproof-status", type=Path, help="rewrite the run's live status to this JSON file")
    group.addoption("--kproof-record", type=Path, help="write each finished test as a JSON line to this file")
    group.addoption("--kproof-estimates", type=Path,
                    help="a record of an earlier run: what each test took, for the time left")


class RunStatus:
    def __init__(self, config: pytest.Config) -> None:
        self.path: Path | None = config.getoption("--kproof-status")
        self.record: Path | None = config.getoption("--kproof-record")
        self.profile = config.getoption("--kproof-profile", default="full")
        self.run_id = config.getoption("--run-id", default=None)
        self.per_test = PROFILES[self.profile].seconds_per_test if self.profile in PROFILES else 3.5
        self.estimates = read_estimates(config.getoption("--kproof-estimates"))
        self.started = time.time()
        self.state = "collecting"
        self.pending: list[str] = []
        self.counts = {"passed": 0, "failed": 0, "skipped": 0}
        self.current: str | None = None
        self.current_started = 0.0
        self.outcomes: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        if self.record is not None:
            self.record.parent.mkdir(parents=True, exist_ok=True)
            self.record.write_text("")
        self.write()

    def estimate(self, nodeid: str) -> float:
        return self.estimates.get(nodeid, self.per_test)

    def seconds_left(self, now: float) -> float:
        left = sum(self.estimate(n) for n in self.pending)
        if self.current is not None:
            left += max(0.0, self.estimate(self.current) - (now - self.current_started))
        return round(left, 1)

    def write(self) -> None:
        if self.path is None:
            return
        now = time.time()
        status = {"pid": os.getpid(), "run_id": self.run_id, "profile": self.profile, "state": self.state,
                  "started": self.started, "updated": now,
                  "total": len(self.outcomes) + len(self.pending) + (self.current not in (None, *self.outcomes)),
                  "done": len(self.outcomes), **self.counts, "current": self.current,
                  "seconds_left": self.seconds_left(now)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_name(self.path.name + ".part")
        scratch.write_text(json.dumps(status, indent=1))
        scratch.replace(self.path)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.pending = [item.nodeid for item in session.items]
        self.state = "running"
        self.write()

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        if nodeid in self.pending:
            self.pending.remove(nodeid)
        self.current, self.current_started = nodeid, time.time()
        self.write()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # a test's outcome: its call, or the setup that failed or skipped it; a failed teardown fails it too
        decisive = report.when == "call" or (report.when == "setup" and not report.passed) or \
            (report.when == "teardown" and report.failed)
        if decisive:
            before = self.outcomes.get(report.nodeid)
            if before is None or (report.failed and before != "failed"):
                if before is not None:
                    self.counts[before] -= 1  # passed, then its teardown failed
                outcome = report.outcome if report.outcome in self.counts else "failed"
                self.outcomes[report.nodeid] = outcome
                self.counts[outcome] += 1
        # the whole test: setup, call and teardown (a fixture may do most of the work)
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration
        if report.when == "teardown":  # the last report, with every property the test's fixtures added
            self._record(report)
        self.write()

    def _record(self, report: pytest.TestReport) -> None:
        if self.record is None or report.nodeid not in self.outcomes:
            return
        properties = dict(report.user_properties)
        entry = {"nodeid": report.nodeid, "outcome": self.outcomes[report.nodeid],
                 "seconds": round(self.seconds.get(report.nodeid, 0.0), 3), "area": area_of(report.nodeid),
                 "level": properties.get("spec.level"), "state": properties.get("spec.state"),
                 "images": json.loads(str(properties.get("kproof.images", "[]")))}
        with self.record.open("a") as out:
            out.write(json.dumps(entry) + "\n")

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.current = None
        self.write()

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.current = None
        self.state = "interrupted" if exitstatus == pytest.ExitCode.INTERRUPTED else "finished"
        self.write()


def read_estimates(path: Path | None) -> dict[str, float]:
    """node id -> seconds, from an earlier run's record; {} when there is none."""
    return {entry["nodeid"]: float(entry.get("seconds") or 0) for entry in read_record(path)}


def read_record(path: Path | None) -> list[dict[str, Any]]:
    """The entries of a record file (one JSON object a line); [] when there is none."""
    return parse_record(path.read_text()) if path is not None and path.is_file() else []


def parse_record(text: str) -> list[dict[str, Any]]:
    entries = []
    for line in text.splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--kproof-status") is not None or config.getoption("--kproof-record") is not None:
        config.pluginmanager.register(RunStatus(config), "kproof-run-status")
    signal.signal(signal.SIGTERM, _interrupt)
