"""A scenario in Locust's distributed mode (`kproof load --workers N`): a master and N worker processes give the
same report as one process, and no worker outlives the run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import psutil

from conformance.serving.support import deploy, service
from kproof.target import Target
from load.runner import LoadResult, run_scenario

REPORT_FILES = {"locust.log", "locust_stats.csv", "locust_stats_history.csv", "replicas.csv", "summary.json",
                "chart.png"}


def _locust_workers() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "--worker" in p.cmdline()]


def _history_columns(result: LoadResult) -> list[str]:
    assert result.directory is not None
    with (result.directory / "locust_stats_history.csv").open() as f:
        return next(csv.reader(f))


def test_a_scenario_runs_on_two_workers_like_on_one_process(target: Target, namespace: str, app_image,
                                                           tmp_path: Path) -> None:
    deploy(target, service("spread", namespace, app_image("helloworld")))
    single = run_scenario(target, "steady", "spread", namespace, users=4, run_time="3s", path="/",
                          reports=tmp_path / "single")
    spread = run_scenario(target, "steady", "spread", namespace, users=4, run_time="3s", path="/",
                          reports=tmp_path / "spread", workers=2)
    assert spread.directory is not None
    log = (spread.directory / "locust.log").read_text()
    assert "2 workers connected" in log and "to 2 ready workers" in log, log[-3000:]
    assert {"locust-worker-1.log", "locust-worker-2.log"} <= {p.name for p in spread.directory.iterdir()}
    assert _locust_workers() == [], "every worker was stopped and reaped"
    for result in (single, spread):
        assert result.requests > 0 and result.failures == 0
        assert result.max_ready >= 1 and result.history
        assert result.directory is not None and {p.name for p in result.directory.iterdir()} >= REPORT_FILES
    assert _history_columns(spread) == _history_columns(single)
    assert json.loads((spread.directory / "summary.json").read_text())["workers"] == 2
