"""`kproof run`: the main job. Run the conformance suite against a target and write reports/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kproof import report
from kproof.html_report import write_html_report

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SUITE = PROJECT_ROOT / "conformance"
# The short load scenario of the main job: steady users against an autoscaled Service.
LOAD_SCENARIO = PROJECT_ROOT / "load" / "test_scenarios.py"
LOAD_TEST = "test_steady_load_scales_out_and_latency_settles"


@dataclass
class RunOptions:
    reports: Path = Path("reports")
    kubeconfig: Path | None = None
    ingress: str | None = None
    domain: str | None = None
    capabilities: list[str] = field(default_factory=list)
    kafka_bootstrap: str | None = None  # a Kafka both the tests and the cluster reach
    select: str | None = None  # pytest -k expression
    areas: list[str] = field(default_factory=list)  # conformance sub-folders; all when empty
    load: bool = True  # also the short load scenario


def pytest_command(options: RunOptions) -> list[str]:
    reports = options.reports.resolve()
    paths = [str(SUITE / area) for area in options.areas] or [str(SUITE)]
    if options.load and not options.areas:
        paths.append(f"{LOAD_SCENARIO}::{LOAD_TEST}")
    command = [sys.executable, "-m", "pytest", *paths, "-p", "kproof.pytest_progress", f"--reports={reports}",
               f"--junitxml={reports / 'junit.xml'}", f"--alluredir={reports / 'allure-results'}",
               "--clean-alluredir", "-o", "junit_family=xunit2", "-rfE"]
    if options.kubeconfig:
        command.append(f"--kubeconfig={options.kubeconfig}")
    if options.ingress:
        command.append(f"--ingress={options.ingress}")
    if options.domain:
        command.append(f"--domain={options.domain}")
    for capability in options.capabilities:
        command.append(f"--capability={capability}")
    if options.kafka_bootstrap:
        command.append(f"--kafka-bootstrap={options.kafka_bootstrap}")
    if options.select:
        command += ["-k", options.select]
    return command


def run(options: RunOptions, console: Console | None = None) -> int:
    """Runs the suite with a progress bar; returns pytest's exit status (0 when every test passed)."""
    console = console or Console()
    if not SUITE.is_dir():
        console.print(f"[red]the conformance suite is not at {SUITE}[/red]")
        return 2
    reports = options.reports
    reports.mkdir(parents=True, exist_ok=True)
    target = f"{options.kubeconfig} (ingress {options.ingress})" if options.kubeconfig else \
        "the embedded reference"
    console.print(f"kproof run: conformance suite{' and a short load scenario' if options.load else ''} "
                  f"against {target}")
    log_path = reports / "pytest.log"
    with tempfile.TemporaryDirectory() as scratch:
        progress_file = Path(scratch) / "progress"
        progress_file.touch()
        env = {**os.environ, "KPROOF_PROGRESS_FILE": str(progress_file)}
        with log_path.open("w") as log:
            process = subprocess.Popen(pytest_command(options), stdout=log, stderr=subprocess.STDOUT,
                                       env=env, cwd=PROJECT_ROOT)
            status = _follow(process, progress_file, console)
    console.print(f"pytest output: {log_path}")
    if not (reports / "junit.xml").exists():
        console.print(f"[red]pytest wrote no results (exit {status}); see {log_path}[/red]")
        return status or 1
    results = report.write_report(reports, console)
    html = write_html_report(reports, results, console)
    console.print(f"reports: {html.index}, {reports}/junit.xml, {reports}/allure-results/, "
                  f"{reports}/badges/, {reports}/summary.md" + (f", {reports}/load/" if options.load else ""))
    failed = sum(r.failed for r in results)
    if status == 0 and failed == 0:
        console.print("[green]all conformance tests passed[/green]")
    else:
        console.print(f"[red]{failed} test(s) failed[/red]; see {log_path}")
    return status


def _follow(process: subprocess.Popen, progress_file: Path, console: Console) -> int:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("collecting", total=None)
        seen = 0
        failed = 0
        while True:
            finished = process.poll() is not None
            lines = progress_file.read_text().splitlines()
            for line in lines[seen:]:
                word, _, rest = line.partition(" ")
                if word == "total":
                    bar.update(task, total=int(rest), description="testing")
                else:
                    failed += word == "failed"
                    name = rest.split("::")[-1][:40]
                    bar.update(task, advance=1, description=f"{'[red]' if failed else ''}{name}")
            seen = len(lines)
            if finished:
                break
            time.sleep(0.2)
        bar.update(task, description="done")
    return process.returncode


def clean_reports(reports: Path) -> None:
    """Removes generated output, keeping the folder's README."""
    for child in reports.iterdir() if reports.exists() else []:
        if child.name == "README.md":
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
