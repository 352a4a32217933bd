"""`kproof run`: the main job. Run the conformance suite against a target, write reports/ and one results
bundle, and say whether the target is conformant.

The suite runs in a pytest process of its own with kproof's own pytest configuration (kproof/suite-pytest.ini),
so that it behaves the same from the source tree and from an installed kproof, in any folder.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kproof import bundle, report, slo
from kproof.cleanup import new_run_id
from kproof.html_report import write_html_report
from kproof.measure import read_all
from kproof.profiles import DEFAULT_PROFILE, PROFILES

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the folder of conformance/ and load/, wherever installed
SUITE = PROJECT_ROOT / "conformance"
SUITE_INI = Path(__file__).resolve().parent / "suite-pytest.ini"
PLUGINS = ("kproof.pytest_progress", "kproof.pytest_measure", "conformance.fixtures")
STATUS = "status.json"
INTERRUPTED = 2  # pytest's exit status after Ctrl-C (or the SIGTERM kproof passes on)
# What a run writes into reports/; an earlier run's are removed first (bundles and the README stay).
GENERATED = ("junit.xml", "allure-results", "html", "badges", "load", "failures", "measurements", bundle.META,
             "summary.json", "summary.md", "slo.json", "pytest.log", bundle.RECORD, STATUS)


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
    load: bool = True  # also the profile's load tests
    profile: str = DEFAULT_PROFILE
    levels: str | None = None  # "must,should"
    states: str | None = None  # "stable,beta"
    focus: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    nodeids: list[str] = field(default_factory=list)  # exactly these tests (--rerun-failed)
    keep: bool = False
    break_services: str | None = None
    thresholds: Path | None = None  # an SLO thresholds file instead of fixtures/slo/knative.yaml
    app_registry: str | None = None  # where kproof's apps' images are (pytest's --app-registry)
    run_id: str = field(default_factory=new_run_id)
    command_line: list[str] = field(default_factory=list)  # as the user typed it, for the bundle


def test_paths(options: RunOptions) -> list[str]:
    """What pytest is given: the tests to rerun, the chosen areas, or the profile's paths."""
    if options.nodeids:
        return [str(PROJECT_ROOT / nodeid) for nodeid in options.nodeids]
    if options.areas:
        return [str(SUITE / area) for area in options.areas]
    profile = PROFILES[options.profile]
    return [str(PROJECT_ROOT / path) for path in profile.paths
            if options.load or path.startswith("conformance")]


def target_arguments(options: RunOptions) -> list[str]:
    arguments = []
    for name, value in (("--kubeconfig", options.kubeconfig), ("--ingress", options.ingress),
                        ("--domain", options.domain), ("--kafka-bootstrap", options.kafka_bootstrap),
                        ("--app-registry", options.app_registry)):
        if value:
            arguments.append(f"{name}={value}")
    arguments += [f"--capability={capability}" for capability in options.capabilities]
    return arguments


def selection_arguments(options: RunOptions) -> list[str]:
    """The plugin's selection (kproof.profiles): the profile, levels, states, focus and skip; none when
    rerunning named tests."""
    if options.nodeids:
        return []
    arguments = [f"--kproof-profile={options.profile}"]
    if options.levels:
        arguments.append(f"--kproof-level={options.levels}")
    if options.states:
        arguments.append(f"--kproof-state={options.states}")
    arguments += [f"--kproof-focus={pattern}" for pattern in options.focus]
    arguments += [f"--kproof-skip={pattern}" for pattern in options.skip]
    if options.select:
        arguments += ["-k", options.select]
    return arguments


def base_command(options: RunOptions) -> list[str]:
    command = [sys.executable, "-m", "pytest", "-c", str(SUITE_INI), f"--rootdir={PROJECT_ROOT}"]
    for plugin in PLUGINS:
        command += ["-p", plugin]
    return command + test_paths(options) + selection_arguments(options)


def pytest_command(options: RunOptions, estimates: Path | None = None) -> list[str]:
    reports = options.reports.resolve()
    command = [
        *base_command(options), f"--reports={reports}", f"--junitxml={reports / 'junit.xml'}",
        f"--alluredir={reports / 'allure-results'}",
        "--clean-alluredir", "-rfE", f"--run-id={options.run_id}", f"--failures-dir={reports / 'failures'}",
        f"--kproof-status={reports / STATUS}", f"--kproof-record={reports / bundle.RECORD}",
        f"--kproof-measurements={reports / 'measurements'}", f"--kproof-meta={reports / bundle.META}"]
    if estimates is not None:
        command.append(f"--kproof-estimates={estimates}")
    if options.keep:
        command.append("--keep")
    if options.break_services:
        command.append(f"--break-services={options.break_services}")
    return command + target_arguments(options)


def collect(options: RunOptions) -> list[dict]:
    """The tests a run with these options would run, as the plugin describes them (nothing runs)."""
    with tempfile.TemporaryDirectory(prefix="kproof-list-") as scratch:
        listing = Path(scratch) / "tests.json"
        command = [*base_command(options), "--collect-only", "-q", f"--kproof-list={listing}"]
        done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)
        if not listing.is_file():
            raise RuntimeError(f"collecting the tests failed (exit {done.returncode}):\n{done.stdout[-3000:]}"
                               f"{done.stderr[-2000:]}")
        return json.loads(listing.read_text())


def list_tests(options: RunOptions, console: Console) -> int:
    """`kproof run --list`: what would run, one test a line, with its level, state and the capabilities it
    needs (plain text, for grep and diff)."""
    try:
        tests = collect(options)
    except RuntimeError as err:
        console.print(f"[red]{err}[/red]")
        return 2
    for line in listing(tests):
        print(line)
    return 0


def listing(tests: list[dict]) -> list[str]:
    lines = [f"{'LEVEL':7} {'STATE':7} TEST  [requires]"]
    for test in tests:
        requires = f"  [requires {', '.join(test['requires'])}]" if test["requires"] else ""
        lines.append(f"{test['level'] or '-':7} {test['state'] or '-':7} {test['nodeid']}{requires}")
    counts = ", ".join(f"{level} {sum(t['level'] == level for t in tests)}" for level in ("MUST", "SHOULD", "MAY"))
    others = sum(t["level"] is None for t in tests)
    lines.append(f"{len(tests)} tests: {counts}" + (f", {others} not conformance tests" if others else ""))
    return lines


def clean_reports(reports: Path) -> None:
    """Removes what an earlier run wrote, keeping the folder's README and earlier bundles."""
    for name in GENERATED:
        path = reports / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def run(options: RunOptions, console: Console | None = None) -> int:
    """Runs the suite with a progress bar; returns 0 when every test passed and no SLO check failed."""
    console = console or Console()
    if not SUITE.is_dir():
        console.print(f"[red]the conformance suite is not at {SUITE}[/red]")
        return 2
    try:
        thresholds = slo.load(options.thresholds or slo.DEFAULT_THRESHOLDS)
    except slo.ThresholdsError as err:
        console.print(f"[red]{err}[/red]")
        return 2
    reports = options.reports
    reports.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="kproof-run-") as scratch:
        estimates = None
        if (reports / bundle.RECORD).is_file():  # the last run's times, for this one's time left
            estimates = Path(scratch) / "estimates.jsonl"
            shutil.copy(reports / bundle.RECORD, estimates)
        clean_reports(reports)
        what = "the tests that failed in the bundle" if options.nodeids else f"profile {options.profile}"
        target = f"{options.kubeconfig} (ingress {options.ingress})" if options.kubeconfig else \
            "the embedded reference"
        console.print(f"kproof run {options.run_id}: {what} against {target}")
        command = pytest_command(options, estimates)
        log_path = reports / "pytest.log"
        with log_path.open("w") as log:
            # a session of its own: a terminal's Ctrl-C reaches kproof alone, which passes it on once
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
                                       start_new_session=True)
            status = _follow(process, reports / STATUS, console)
    bundle.write_meta(reports / bundle.META, "run", {
        "run_id": options.run_id, "command": shlex.join(options.command_line) if options.command_line else None,
        "pytest": shlex.join(command), "profile": options.profile, "levels": options.levels,
        "states": options.states, "focus": options.focus, "skip": options.skip, "areas": options.areas,
        "rerun": options.nodeids, "keep": options.keep, "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(), "pytest_exit": status})
    console.print(f"pytest output: {log_path}")
    if not (reports / "junit.xml").exists():
        console.print(f"[red]pytest wrote no results (exit {status}); see {log_path}[/red]")
        return status or 1
    checks = slo.evaluate(thresholds, read_all(reports / "measurements"))
    slo.write(checks, reports)
    results = report.write_report(reports, console)
    print_checks(checks, console)
    html = write_html_report(reports, results, console)
    written = bundle.write(reports, bundle.stamp(started))
    console.print(f"reports: {html.index}, {reports}/junit.xml, {reports}/summary.json")
    console.print(f"results bundle: {written} (kproof results {written})")
    failed = sum(r.failed for r in results)
    if status == 0 and failed == 0 and not slo.failed(checks):
        console.print("[green]all conformance tests passed[/green]")
        return 0
    if failed:
        console.print(f"[red]{failed} test(s) failed[/red]; see {log_path}")
    elif status not in (0, INTERRUPTED):
        console.print(f"[red]pytest exited with {status}[/red]; see {log_path}")
    if slo.failed(checks):
        console.print("[red]an SLO check is above its error level[/red]")
    return status or 1


def print_checks(checks: list[slo.Check], console: Console) -> None:
    measured = [c for c in checks if c.measured is not None]
    if not measured:
        return
    table = Table(title="SLO checks")
    for column in ("check", "measured", "warning", "error", "status"):
        table.add_column(column)
    for check in measured:
        style = {"ok": "green", "warning": "yellow", "error": "red"}[check.status]
        t = check.threshold
        table.add_row(t.name + ("" if t.confirmed else " (unconfirmed)"), f"{check.measured:g} {check.unit}",
                      "-" if t.warning is None else f"{t.warning:g}", "-" if t.error is None else f"{t.error:g}",
                      f"[{style}]{check.status}[/{style}]")
    console.print(table)


def describe_status(status: dict, now: float | None = None) -> str:
    """One line for `kproof status --run` and the progress bar: the test running, the counts, the time left."""
    now = time.time() if now is None else now
    counts = f"{status.get('done', 0)}/{status.get('total', 0)} done: {status.get('passed', 0)} passed, " \
             f"{status.get('failed', 0)} failed, {status.get('skipped', 0)} skipped"
    left = float(status.get("seconds_left") or 0)
    if status.get("state") == "running":
        current = status.get("current") or "(between tests)"
        return f"running {current}; {counts}; about {_duration(left)} left (profile {status.get('profile')})"
    return f"{status.get('state')}; {counts}; took {_duration(float(status.get('updated', now)) - status['started'])}"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def read_status(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _follow(process: subprocess.Popen, status_path: Path, console: Console) -> int:
    """Draws the progress from the run's status file until pytest ends. Ctrl-C or SIGTERM is passed on once
    (the suite then ends its running test and its fixtures: the reference stops, what the run made is
    removed); a second one stops it outright."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[left]}"))
    interrupted = 0

    def on_signal(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted += 1
        with contextlib.suppress(ProcessLookupError):
            # SIGTERM, which the suite's plugin turns into Ctrl-C's KeyboardInterrupt (a SIGINT may be ignored
            # by a process started in the background); the second time, SIGKILL
            process.send_signal(signal.SIGTERM if interrupted == 1 else signal.SIGKILL)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("collecting", total=None, left="")
            while process.poll() is None:
                status = read_status(status_path)
                if status and status.get("state") == "running":
                    current = (status.get("current") or "").split("::")[-1][:40]
                    failed = status.get("failed", 0)
                    bar.update(task, total=status.get("total"), completed=status.get("done", 0),
                               description=f"{'[red]' if failed else ''}{current}",
                               left=f"{status.get('passed', 0)} passed, {failed} failed, "
                                    f"~{_duration(float(status.get('seconds_left') or 0))} left")
                time.sleep(0.2)
            bar.update(task, description="done", left="")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if interrupted:
        console.print("[yellow]the run was interrupted[/yellow]; `kproof cleanup` removes what it left on a target")
    return process.returncode if process.returncode >= 0 else 128 - process.returncode
