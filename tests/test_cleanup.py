"""Clean clusters: what a run makes carries its run id (kproof.dev/run), `--keep` keeps it, `kproof cleanup`
removes it (one run's or every run's), an interrupted run is cleaned by the next cleanup, and `kproof status
--run` follows a run as it goes. The target is a reference started with `kproof up`, as a cluster would be:
it outlives the runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kproof import cleanup
from kproof.target import RUN_LABEL, Target

ROOT = Path(__file__).resolve().parents[1]


def kproof(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "kproof", *map(str, args)], capture_output=True, text=True,
                            timeout=600, cwd=ROOT)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("cleanup") / "state"
    kproof("up", "--detach", "--state-dir", path)
    yield path
    kproof("down", "--state-dir", path, check=False)


def target_options(state_dir: Path) -> list[str]:
    ingress = kproof("status", "--field", "ingress", "--state-dir", state_dir).stdout.strip()
    return ["--kubeconfig", str(state_dir / "kubeconfig"), "--ingress", ingress]


def test_keep_keeps_what_the_run_made_and_cleanup_removes_it_all(state_dir: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    kproof("run", *target_options(state_dir), "--keep", "--profile", "quick", "--focus",
           r"test_basics\.py|test_delivery\.py", "--reports", reports)
    run = json.loads((reports / "meta" / "run.json").read_text())["run_id"]
    target = Target(kubeconfig=state_dir / "kubeconfig")
    kept = cleanup.find(target, run)
    namespaces = {f.name for f in kept if f.is_namespace}
    assert len(namespaces) >= 2, kept  # the namespace fixture's and the eventing bench's
    assert all(f.run == run for f in kept)

    removed = kproof("cleanup", "--state-dir", state_dir, "--run", run)
    assert {line.split()[2] for line in removed.stdout.splitlines() if line.startswith("removed Namespace")} \
        == namespaces
    assert cleanup.find(target, run) == []
    assert not target.list("v1", "Namespace", label_selector=f"{RUN_LABEL}={run}")


def test_a_run_without_keep_leaves_nothing(state_dir: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    kproof("run", *target_options(state_dir), "--profile", "quick", "--focus", r"test_basics\.py",
           "--reports", reports)
    run = json.loads((reports / "meta" / "run.json").read_text())["run_id"]
    assert cleanup.find(Target(kubeconfig=state_dir / "kubeconfig"), run) == []


def test_status_follows_a_run_and_cleanup_removes_what_a_killed_run_left(state_dir: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    process = subprocess.Popen(
        [sys.executable, "-m", "kproof", "run", *target_options(state_dir), "--reports", str(reports), "--focus",
         r"test_scaling\.py::test_(concurrency_scales_out|max_scale_caps)"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    target = Target(kubeconfig=state_dir / "kubeconfig")
    try:
        deadline = time.monotonic() + 120
        status: dict = {}
        while time.monotonic() < deadline:  # until its first test has made its namespace
            line = kproof("status", "--run", "--reports", reports, check=False).stdout.strip()
            status = json.loads((reports / "status.json").read_text()) if (reports / "status.json").exists() else {}
            if line.startswith("running conformance/") and cleanup.find(target, status.get("run_id")):
                break
            time.sleep(0.5)
        assert line.startswith("running conformance/autoscaling/test_scaling.py::test_"), line
        assert "0/2 done: 0 passed, 0 failed, 0 skipped; about " in line and "left (profile full)" in line
        shown = json.loads(kproof("status", "--run", "--json", "--reports", reports).stdout)
        assert shown["state"] == "running" and shown["total"] == 2 and shown["seconds_left"] > 0
    finally:  # kill -9, kproof and the suite: nothing of the run ends its fixtures
        os.killpg(process.pid, signal.SIGKILL)
        os.killpg(int(status.get("pid") or process.pid), signal.SIGKILL)
        process.wait(timeout=30)
    left = cleanup.find(target, status["run_id"])
    assert left, "the killed run left its namespace"
    interrupted = kproof("status", "--run", "--reports", reports).stdout
    assert interrupted.startswith("interrupted;"), interrupted
    removed = kproof("cleanup", "--state-dir", state_dir)  # every run's leftovers, not one run's
    assert all(f"removed {f.describe()}" in removed.stdout for f in left if f.is_namespace)
    assert cleanup.find(target) == []
