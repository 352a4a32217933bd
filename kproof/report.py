"""Reports from a suite run: per-area results from JUnit XML, counted by requirement level (MUST, SHOULD,
MAY: a level's figure is passed/applied, a skipped test did not apply), SVG badges, a summary table.

A run is conformant when every MUST that applied passed (and at least one did)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

import anybadge
from rich.console import Console
from rich.table import Table

from kproof.profiles import area_of
from kproof.spec import LEVELS


@dataclass
class LevelCount:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def applied(self) -> int:
        return self.passed + self.failed


@dataclass
class AreaResult:
    area: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    levels: dict[str, LevelCount] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped

    @property
    def status(self) -> str:
        if self.failed:
            return "failing"
        return "passing" if self.passed else "skipped"

    @property
    def conformance(self) -> str:
        """"MUST 182/182, SHOULD 40/41, MAY 12/12": passed/applied per level it has tests of."""
        return conformance_text(self.levels)


def conformance_text(levels: dict[str, LevelCount]) -> str:
    parts = [f"{level} {levels[level].passed}/{levels[level].applied}" for level in LEVELS if level in levels]
    return ", ".join(parts) or "-"


def total_levels(results: list[AreaResult]) -> dict[str, LevelCount]:
    totals: dict[str, LevelCount] = {}
    for result in results:
        for level, count in result.levels.items():
            total = totals.setdefault(level, LevelCount())
            total.passed += count.passed
            total.failed += count.failed
            total.skipped += count.skipped
    return totals


def conformant(results: list[AreaResult]) -> bool:
    """No MUST that applied failed, and at least one applied."""
    must = total_levels(results).get("MUST", LevelCount())
    return must.failed == 0 and must.passed > 0


def _path_of(classname: str, file: str | None) -> str:
    """A node id's path from JUnit's classname (`conformance.api.test_crud` -> `conformance/api/test_crud.py`)."""
    if file:
        return file
    parts = classname.split(".")
    # a class inside the module: keep the parts up to the test module
    while len(parts) > 1 and not parts[-1].startswith("test"):
        parts.pop()
    return "/".join(parts) + ".py::"


def read_junit(path: Path) -> list[AreaResult]:
    """Results per area from a pytest JUnit XML file."""
    root = ET.parse(path).getroot()
    areas: dict[str, AreaResult] = {}
    for case in root.iter("testcase"):
        area = area_of(_path_of(case.get("classname", ""), case.get("file")))
        result = areas.setdefault(area, AreaResult(area))
        result.seconds += float(case.get("time") or 0)
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        level = properties.get("spec.level")
        count = result.levels.setdefault(level, LevelCount()) if level in LEVELS else LevelCount()
        if case.find("failure") is not None or case.find("error") is not None:
            result.failed += 1
            count.failed += 1
            result.failures.append(f"{case.get('classname')}::{case.get('name')}")
        elif case.find("skipped") is not None:
            result.skipped += 1
            count.skipped += 1
        else:
            result.passed += 1
            count.passed += 1
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


def verdict(results: list[AreaResult]) -> str:
    """One line: conformant or not, and the run's figures by level."""
    figures = conformance_text(total_levels(results))
    if conformant(results):
        return f"conformant: every MUST that applied passed ({figures})"
    must = total_levels(results).get("MUST", LevelCount())
    why = f"{must.failed} MUST failed" if must.failed else "no MUST test ran"
    return f"not conformant: {why} ({figures})"


def summary_table(results: list[AreaResult], title: str = "kproof conformance") -> Table:
    table = Table(title=title)
    for column in ("area", "conformance", "passed", "failed", "skipped", "seconds", "status"):
        table.add_column(column, justify="right" if column in ("passed", "failed", "skipped", "seconds")
                         else "left")
    for r in results:
        style = {"passing": "green", "failing": "red", "skipped": "dim"}[r.status]
        table.add_row(r.area, r.conformance, str(r.passed), str(r.failed), str(r.skipped), f"{r.seconds:.1f}",
                      f"[{style}]{r.status}[/{style}]")
    return table


def summary_markdown(results: list[AreaResult]) -> str:
    lines = [verdict(results), "", "| area | conformance | passed | failed | skipped | status |",
             "|---|---|---:|---:|---:|---|"]
    lines += [f"| {r.area} | {r.conformance} | {r.passed} | {r.failed} | {r.skipped} | {r.status} |"
              for r in results]
    failures = [f for r in results for f in r.failures]
    if failures:
        lines += ["", "Failures:", *(f"- `{f}`" for f in failures)]
    return "\n".join(lines) + "\n"


def summary(results: list[AreaResult]) -> dict:
    """What summary.json holds: the verdict, the figures by level, and each area's."""
    return {"conformant": conformant(results), "conformance": conformance_text(total_levels(results)),
            "levels": {level: asdict(count) for level, count in total_levels(results).items()},
            "areas": [{**asdict(r), "status": r.status, "conformance": r.conformance} for r in results]}


def write_report(reports: Path, console: Console | None = None) -> list[AreaResult]:
    """Reads reports/junit.xml (and the SLO checks of reports/slo.json, when the run has them); writes badges,
    summary.json and summary.md; prints the table."""
    results = read_junit(reports / "junit.xml")
    write_badges(results, reports / "badges")
    written = summary(results)
    if (reports / "slo.json").is_file():
        written["slo"] = json.loads((reports / "slo.json").read_text())
    (reports / "summary.json").write_text(json.dumps(written, indent=2))
    (reports / "summary.md").write_text(summary_markdown(results))
    if console is not None:
        console.print(summary_table(results))
        console.print(verdict(results))
    return results
