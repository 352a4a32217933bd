"""The parallel run (kproof.pytest_parallel): in a suite run by two xdist workers, the tests marked `timing` or
`exclusive` run after every other test has ended, one at a time; the others share the workers."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("xdist", reason="pytest-xdist is not installed")

SUITE = textwrap.dedent('''
    import json, os, time
    import pytest

    def record(name, seconds):
        start = time.time()
        time.sleep(seconds)
        with open(os.environ["LOG"], "a") as log:
            log.write(json.dumps({"name": name, "start": start, "end": time.time(),
                                  "worker": os.environ.get("PYTEST_XDIST_WORKER")}) + "\\n")

    @pytest.mark.parametrize("n", range(6))
    def test_plain(n):
        record(f"plain{n}", 0.4)

    @pytest.mark.timing
    def test_measures_a_rate():
        record("timing1", 0.3)

    @pytest.mark.timing
    def test_measures_a_latency():
        record("timing2", 0.3)

    @pytest.mark.exclusive
    def test_changes_the_host():
        record("timing3", 0.3)
''')


def test_timing_tests_run_last_and_alone(tmp_path: Path) -> None:
    (tmp_path / "test_suite.py").write_text(SUITE)
    (tmp_path / "pytest.ini").write_text("[pytest]\nkproof_workers = 2\n")
    log = tmp_path / "log.jsonl"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path,
                          env={**os.environ, "LOG": str(log), "KPROOF_WORKERS": ""},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    plain = [r for r in runs if r["name"].startswith("plain")]
    timing = sorted((r for r in runs if r["name"].startswith("timing")), key=lambda r: r["start"])
    assert len(plain) == 6 and len(timing) == 3
    assert len({r["worker"] for r in plain}) == 2, "the plain tests share both workers"
    assert all(t["start"] >= max(p["end"] for p in plain) for t in timing), "timing tests come after the rest"
    assert all(b["start"] >= a["end"] for a, b in itertools.pairwise(timing)), "one at a time"
