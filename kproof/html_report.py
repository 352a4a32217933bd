"""reports/html/index.html, the one report to open: Allure 3's where its CLI is installed, else a
self-contained page of kproof's own (the verdict, per-area results by requirement level and failures from
junit.xml, the badges, the SLO checks, each load scenario's numbers and chart), which says how to get Allure's.
Beside Allure's report, kproof's page is reports/html/conformance.html."""

from __future__ import annotations

import base64
import json
import os
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2
from rich.console import Console

from kproof import allure_report
from kproof.report import AreaResult, conformant, read_junit, verdict

TEMPLATES = Path(__file__).resolve().parent / "templates"
INSTALL_COMMANDS = ("npm install -g allure", "bash scripts/setup.sh")
DETAIL_LINES = 60  # of a failure's traceback on the page
DETAIL_CHARS = 8000
SUMMARY_BESIDE_ALLURE = "conformance.html"  # kproof's page, where index.html is Allure's


@dataclass
class HtmlReport:
    index: Path
    kind: str  # "allure" or "kproof"
    reason: str = ""  # why the page is kproof's own

    def describe(self) -> str:
        if self.kind == "allure":
            return f"{self.index} (Allure; one file, open it in a browser)"
        return (f"{self.index} (kproof's summary page: {self.reason}; for Allure's full report, with each "
                f"test's logs and attachments: `{INSTALL_COMMANDS[0]}` or `{INSTALL_COMMANDS[1]}`, "
                f"then `kproof report`)")


def write_html_report(reports: Path, results: list[AreaResult] | None = None,
                      console: Console | None = None) -> HtmlReport:
    """Allure's report from reports/allure-results when Allure 3 is installed, else kproof's page."""
    output = reports / "html"
    binary = allure_report.find_allure()
    configured = os.environ.get(allure_report.ALLURE_ENV)
    reason = (f"${allure_report.ALLURE_ENV} ({configured}) is not a program" if configured
              else "Allure 3 is not installed (no `allure` on PATH)")
    if binary:
        if console is not None:
            console.print("rendering the Allure report ...")
        try:
            written = HtmlReport(allure_report.generate(reports / "allure-results", output, binary), "allure")
        except allure_report.AllureError as err:
            reason = f"Allure could not render it: {err}"
        else:
            page = write_summary_page(reports, output, results or read_junit(reports / "junit.xml"),
                                      name=SUMMARY_BESIDE_ALLURE)
            if console is not None:
                console.print(f"HTML report: {written.describe()}; kproof's conformance page: {page}")
            return written
    if results is None:
        results = read_junit(reports / "junit.xml")
    written = HtmlReport(write_summary_page(reports, output, results, reason=reason), "kproof", reason)
    if console is not None:
        console.print(f"HTML report: {written.describe()}")
    return written


def write_summary_page(reports: Path, output: Path, results: list[AreaResult], reason: str = "",
                       name: str = "index.html") -> Path:
    """kproof's own page: no scripts, no external resources (badges and charts are data: URIs). As index.html it
    replaces what `output` held; under another name it goes beside it."""
    if name == "index.html" and output.exists():
        shutil.rmtree(output)  # what an earlier Allure report left
    output.mkdir(parents=True, exist_ok=True)
    badges = reports / "badges"
    areas = [{"area": r.area, "passed": r.passed, "failed": r.failed, "skipped": r.skipped, "seconds": r.seconds,
              "status": r.status, "conformance": r.conformance,
              "badge": _data_uri(badges / f"{r.area}.svg", "image/svg+xml")} for r in results]
    totals = {"passed": sum(r.passed for r in results), "failed": sum(r.failed for r in results),
              "skipped": sum(r.skipped for r in results), "seconds": sum(r.seconds for r in results)}
    details = _failure_details(reports / "junit.xml")
    failures = [{"area": r.area, "test": name, **details.get(name, {})} for r in results for name in r.failures]
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    page = environment.get_template("report.html").render(
        title="kproof conformance report", generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        overall_badge=_data_uri(badges / "conformance.svg", "image/svg+xml"), areas=areas, totals=totals,
        failures=failures, loads=load_scenarios(reports / "load"), reason=reason, install=INSTALL_COMMANDS,
        verdict=verdict(results), conformant=conformant(results), checks=slo_checks(reports / "slo.json"))
    index = output / name
    index.write_text(page)
    return index


def slo_checks(path: Path) -> list[dict]:
    """The measured SLO checks of reports/slo.json (kproof.slo), for the page."""
    try:
        checks = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [c for c in checks if isinstance(c, dict) and c.get("measured") is not None]


def load_scenarios(directory: Path) -> list[dict]:
    """Each reports/load/<scenario>/: its summary.json numbers and chart.png."""
    scenarios = []
    for summary_path in sorted(directory.glob("*/summary.json")):
        try:
            summary = json.loads(summary_path.read_text())
        except (OSError, ValueError):
            continue
        numbers = [("requests", summary.get("requests")), ("failures", summary.get("failures")),
                   ("requests/s", _round(summary.get("rps"))), ("median ms", _round(summary.get("median_ms"))),
                   ("p95 ms", _round(summary.get("p95_ms"))), ("most ready replicas", summary.get("max_ready"))]
        scenarios.append({"scenario": summary.get("scenario") or summary_path.parent.name,
                          "numbers": [(label, value) for label, value in numbers if value is not None],
                          "chart": _data_uri(summary_path.parent / "chart.png", "image/png")})
    return scenarios


def _failure_details(junit: Path) -> dict[str, dict[str, str]]:
    """"classname::name" (as read_junit names failures) -> the failure's message and traceback's end."""
    details = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is None:
            continue
        text = "\n".join((problem.text or "").splitlines()[-DETAIL_LINES:])[-DETAIL_CHARS:]
        details[f"{case.get('classname')}::{case.get('name')}"] = {
            "message": (problem.get("message") or "")[:DETAIL_CHARS], "details": text}
    return details


def _data_uri(path: Path, mime: str) -> str | None:
    if not path.is_file():
        return None
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _round(value: object) -> object:
    return round(value, 1) if isinstance(value, float) else value
