"""Allure 3's report from reports/allure-results: one self-contained index.html (Allure's single-file
mode), so it opens from the file system and travels as one file."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

ALLURE_ENV = "KPROOF_ALLURE"  # another allure binary than the one on PATH
GENERATE_TIMEOUT = 300.0
# The report page loads Google's tag manager when it is opened; a conformance report stays offline.
_ANALYTICS = re.compile(r"<script async src=\"https://www\.googletagmanager\.com/[^\"]*\"></script>\s*"
                        r"<script>\s*window\.dataLayer.*?</script>", re.DOTALL)


class AllureError(RuntimeError):
    """Allure is missing, not version 3, or could not render the report; the message says which."""


def find_allure() -> str | None:
    """$KPROOF_ALLURE, else `allure` on PATH."""
    configured = os.environ.get(ALLURE_ENV)
    if configured:
        return shutil.which(configured) or (configured if Path(configured).is_file() else None)
    return shutil.which("allure")


def allure_version(binary: str, timeout: float = 30) -> str:
    try:
        completed = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise AllureError(f"{binary} --version: {err}") from err
    version = completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else ""
    if completed.returncode != 0 or not version:
        raise AllureError(f"{binary} --version failed: {(completed.stderr or completed.stdout)[-500:]}")
    return version


def generate(results: Path, output: Path, binary: str, *, name: str = "kproof conformance",
             timeout: float = GENERATE_TIMEOUT) -> Path:
    """Renders `results` (allure-results) into `output`/index.html, replacing what `output` held."""
    version = allure_version(binary)
    if not version.split(".")[0].isdigit() or int(version.split(".")[0]) < 3:
        raise AllureError(f"{binary} is Allure {version}; kproof renders with Allure 3 (npm install -g allure)")
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise AllureError(f"no test results in {results}")
    if output.exists():
        shutil.rmtree(output)
    config = {"name": name, "plugins": {"awesome": {"options": {
        "singleFile": True, "reportName": name, "reportLanguage": "en"}}}}
    with tempfile.TemporaryDirectory(prefix="kproof-allure-") as scratch:
        config_path = Path(scratch) / "allurerc.json"
        config_path.write_text(json.dumps(config))
        command = [binary, "generate", "--config", str(config_path), "--output", str(output.resolve()),
                   str(results.resolve())]
        try:
            # in a folder of its own: Allure also reads an allurerc from its working directory
            completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=scratch,
                                       stdin=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
        except subprocess.TimeoutExpired as err:
            raise AllureError(f"allure generate did not finish within {timeout:.0f}s") from err
        except OSError as err:
            raise AllureError(f"allure generate: {err}") from err
    index = output / "index.html"
    if completed.returncode != 0 or not index.is_file():
        raise AllureError(f"allure generate failed ({completed.returncode}): "
                          f"{(completed.stderr or completed.stdout).strip()[-1000:]}")
    index.write_text(_ANALYTICS.sub("", index.read_text()))
    return index
