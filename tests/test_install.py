"""kproof as a tool: the wheel (no extras) holds the suite, its fixtures and the apps, and an installed `kproof
run --profile quick` passes on the embedded reference from an empty folder, with no checkout in sight.

It builds a fresh virtual environment: torch's CPU build first (the version scripts/setup.sh pins), then the
wheel. pip's cache makes a second run quick; the first downloads every dependency."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TORCH = os.environ.get("KPROOF_TORCH", "2.13.0")


def run(*args: str | Path, cwd: Path, timeout: float = 1200) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    completed = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                               env=env)
    assert completed.returncode == 0, f"{args}:\n{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
    return completed


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, ROOT, cwd=dist)
    (built,) = dist.glob("kproof-*.whl")
    return built


def test_the_wheel_holds_the_suite_its_fixtures_and_the_apps(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("kproof/suite-pytest.ini", "kproof/templates/report.html", "conformance/fixtures.py",
                 "conformance/serving/test_basics.py", "conformance/eventing/conftest.py", "load/test_scenarios.py",
                 "fixtures/images.yaml", "fixtures/slo/knative.yaml", "fixtures/nodes/two-gpu-nodes.yaml",
                 "fixtures/manifests/seed-004/helloworld-go.yaml", "reference/apps/helloworld.py"):
        assert name in names, name
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    required = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    for needed in ("pytest", "allure-pytest", "kubernetes", "locust", "rich"):
        assert any(line.split()[1].startswith(needed) and "extra ==" not in line for line in required), needed


def test_a_wheel_without_extras_runs_the_quick_profile_from_an_empty_folder(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    pip = venv / "bin" / "pip"
    run(pip, "install", "-q", f"torch=={TORCH}", cwd=tmp_path)
    run(pip, "install", "-q", wheel, cwd=tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    where = run(venv / "bin" / "python", "-c", "import conformance; print(conformance.__file__)", cwd=empty).stdout
    assert where.startswith(str(venv)), where  # the installed suite, not this checkout
    done = run(venv / "bin" / "kproof", "run", "--profile", "quick", cwd=empty, timeout=600)
    assert "all conformance tests passed" in done.stdout
    assert "conformant: every MUST that applied passed" in done.stdout
    assert list((empty / "reports").glob("kproof-results-*.tar.gz"))
