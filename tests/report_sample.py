"""A small run for the report tests, made the way `kproof run` makes one: throwaway tests in two
conformance areas (one of them failing) and a load test that attaches a real load report (the runner's
chart and files), run by pytest with --junitxml and --alluredir."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

from kproof import allure_report
from load.runner import LoadResult, Sample, write_report

ROOT = Path(__file__).resolve().parents[1]
FAILURE = "the ingress answered 503"
TESTS = {
    "conformance/api/test_sample_api.py": """
def test_objects_are_created():
    assert True

def test_a_field_is_validated():
    assert 1 + 1 == 3, "FAILURE"
""".replace("FAILURE", FAILURE),
    "conformance/serving/test_sample_serving.py": """
import pytest

def test_a_service_answers():
    assert True

@pytest.mark.skip(reason="the target has no GPU")
def test_a_gpu_service_answers():
    pass
""",
    "load/test_sample_load.py": """
import os
from pathlib import Path

from kproof.allure_attach import attach_load_report

def test_steady_load_scales_out():
    assert attach_load_report(Path(os.environ["SAMPLE_LOAD_DIR"])), "nothing was attached"
""",
}


def load_result(directory: Path) -> LoadResult:
    """A steady scenario's result, as the runner would have it, written to `directory` with its chart."""
    directory.mkdir(parents=True, exist_ok=True)
    history = [{"Timestamp": str(1000 + t), "50%": str(300 + 5 * t), "95%": str(420 + 8 * t), "User Count": "5"}
               for t in range(20)]
    replicas = [Sample(t / 2, min(8, t // 4), min(8, t // 3)) for t in range(40)]
    result = LoadResult("steady", requests=321, failures=0, median_ms=310.0, p95_ms=455.5, rps=15.25,
                        history=history, replicas=replicas, directory=directory)
    write_report(result)
    (directory / "locust_stats.csv").write_text("Type,Name,Request Count,Failure Count\n,Aggregated,321,0\n")
    return result


def run_sample(base: Path) -> Path:
    """Runs the sample tests; returns their reports folder (junit.xml, allure-results/, load/steady/)."""
    project = base / "project"
    reports = base / "reports"
    for path, text in TESTS.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text)
    (project / "pytest.ini").write_text("[pytest]\n")  # the sample's own rootdir, none of this project's options
    load_dir = reports / "load" / "steady"
    load_result(load_dir)
    env = {**os.environ, "SAMPLE_LOAD_DIR": str(load_dir),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "junit_family=xunit2",
         f"--junitxml={reports / 'junit.xml'}", f"--alluredir={reports / 'allure-results'}", "."],
        cwd=project, env=env, capture_output=True, text=True, timeout=120)
    # one failure on purpose: pytest exits 1
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "1 failed, 3 passed, 1 skipped" in completed.stdout, completed.stdout
    return reports


@functools.cache
def allure_3() -> str | None:
    """Allure 3's CLI where it is installed (the report tests that need it skip elsewhere)."""
    binary = allure_report.find_allure()
    if binary is None:
        return None
    try:
        return binary if allure_report.allure_version(binary).split(".")[0] == "3" else None
    except allure_report.AllureError:
        return None
