"""The type check: mypy over kproof/ and reference/ as pyproject.toml's [tool.mypy] configures it (strict on the
shared layer reference/apis/) reports no error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="mypy is not installed (it comes with the test extra: pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_SECONDS = 600  # on two cores a cold cache takes about 15 s, a warm one about a second


def test_mypy_reports_no_errors() -> None:
    # No paths on the command line: the packages, the flags and the overrides all come from pyproject.toml.
    done = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    if done.returncode != 0:
        pytest.fail(f"mypy exited with {done.returncode}:\n{done.stdout}{done.stderr}", pytrace=False)
