"""Reports from a suite run: per-area results from JUnit XML, SVG badges, a summary table."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

import anybadge
from rich.console import Console
from rich.table import Table


@dataclass
class AreaResult:
    area: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped

    @property
    def status(self) -> str:
        if self.failed:
            return "failing"
        return "passing" if self.passed else "skipped"


def _area_of(classname: str, file: str | None) -> str:
    """`conformance.api.test_crud` -> `api`; tests outside conformance/ group under their top folder."""
    parts = (file or classname.replace(".", "/")).replace("\\", "/").split("/")
    if "conformance" in parts:
        index = parts.index("conformance")
        if index + 1 < len(parts) - 1:
            return parts[index + 1]
        return "conformance"
    return parts[0] if parts and parts[0] else "other"


def read_junit(path: Path) -> list[AreaResult]:
    """Results per area from a pytest JUnit XML file."""
    root = ET.parse(path).getroot()
    areas: dict[str, AreaResult] = {}
    for case in root.iter("testcase"):
        area = _area_of(case.get("classname", ""), case.get("file"))
        result = areas.setdefault(area, AreaResult(area))
        result.seconds += float(case.get("time") or 0)
        if case.find("failure") is not None or case.find("error") is not None:
            result.failed += 1
            result.failures.append(f"{case.get('classname')}::{case.get('name')}")
        elif case.find("skipped") is not None:
            result.skipped += 1
        else:
            result.passed += 1
    return sorted(areas.values(), key=lambda r: r.area)


def _badge_color(result: AreaResult) -> str:
    return {"passing": "green", "failing": "red", "skipped": "lightgrey"}[result.status]


def write_badges(results: list[AreaResult], directory: Path) -> list[Path]:
    """One SVG per area (`api.svg`, ...) plus `conformance.svg` for the whole run."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    total = AreaResult("conformance", sum(r.passed for r in results), sum(r.failed for r in results),
                       sum(r.skipped for r in results))
    for result in [*results, total]:
        ran = result.passed + result.failed
        value = f"{result.passed}/{ran} passed" if ran else "skipped"
        label = "kproof conformance" if result is total else f"kproof {result.area}"
        badge = anybadge.Badge(label=label, value=value, default_color=_badge_color(result))
        path = directory / f"{result.area}.svg"
        badge.write_badge(str(path), overwrite=True)
        written.append(path)
    return written


def summary_table(results: list[AreaResult], title: str = "kproof conformance") -> Table:
    table = Table(title=title)
    for column in ("area", "passed", "failed", "skipped", "seconds", "status"):
        table.add_column(column, justify="right" if column in ("passed", "failed", "skipped", "seconds")
                         else "left")
    for r in results:
        style = {"passing": "green", "failing": "red", "skipped": "dim"}[r.status]
        table.add_row(r.area, str(r.passed), str(r.failed), str(r.skipped), f"{r.seconds:.1f}",
                      f"[{style}]{r.status}[/{style}]")
    return table


def summary_markdown(results: list[AreaResult]) -> str:
    lines = ["| area | passed | failed | skipped | status |", "|---|---:|---:|---:|---|"]
    lines += [f"| {r.area} | {r.passed} | {r.failed} | {r.skipped} | {r.status} |" for r in results]
    failures = [f for r in results for f in r.failures]
    if failures:
        lines += ["", "Failures:", *(f"- `{f}`" for f in failures)]
    return "\n".join(lines) + "\n"


def write_report(reports: Path, console: Console | None = None) -> list[AreaResult]:
    """Reads reports/junit.xml; writes badges, summary.json and summary.md; prints the table."""
    results = read_junit(reports / "junit.xml")
    write_badges(results, reports / "badges")
    (reports / "summary.json").write_text(json.dumps(
        [{**asdict(r), "status": r.status} for r in results], indent=2))
    (reports / "summary.md").write_text(summary_markdown(results))
    if console is not None:
        console.print(summary_table(results))
    return results
