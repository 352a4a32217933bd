"""`kproof upstream-tests` end to end: Knative Serving's runtime conformance tests (the smallest upstream
package), built from knative.dev/serving, run unmodified against a reference the command starts, with JUnit,
the go test -json events and the table in --reports. It needs the test binaries and test images in the build
cache (`python3 -m kproof upstream-tests --build-only` makes them, ~10 min on two cores when Go's caches are
cold) and skips where they are absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kproof.cluster.build import BuildCache, go_command
from kproof.upstream.suites import GOTESTSUM, SUITES

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = next(s for s in SUITES if s.name == "serving-runtime")


def _why_not() -> str | None:
    if go_command() is None:
        return "no Go toolchain (the runner reads Knative's modules from Go's module cache)"
    cache = BuildCache()
    missing = [m.key for m in (RUNTIME.tests, RUNTIME.images, GOTESTSUM) if not cache.cached(m)]
    if missing:
        return f"not built yet: {', '.join(missing)} (python3 -m kproof upstream-tests --build-only)"
    return None


@pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))
def test_serving_runtime_conformance_passes_against_the_reference(tmp_path: Path) -> None:
    # relative --reports and --state-dir, as .ci/upstream-tests passes them: the binaries run elsewhere
    reports = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, "-m", "kproof", "upstream-tests", "--suite", "serving-runtime", "--reports", "reports",
         "--state-dir", "state"], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = json.loads((reports / "summary.json").read_text())["packages"][RUNTIME.package]
    assert summary["failed"] == 0 and summary["passed"] >= 20 and not summary["binary_failed"]
    suites = ET.parse(reports / "serving-runtime.xml").getroot()
    assert int(suites.get("tests", "0")) >= 20 and int(suites.get("failures", "1")) == 0
    assert f"| {RUNTIME.package} |" in (reports / "summary.md").read_text()
