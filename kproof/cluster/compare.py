"""Two runs of the suite side by side (`kproof run --compare A B`): per area and per test, each run's verdict.

A run is a results bundle or the reports folder a run wrote; its record (one line per test) gives each test's
outcome and area. A test one run did not select shows as "-".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kproof import bundle

VERDICTS = ("passed", "failed", "skipped")


@dataclass
class Side:
    name: str
    outcomes: dict[str, str]  # node id -> passed | failed | skipped
    areas: dict[str, str] = field(default_factory=dict)  # node id -> area


def read_side(path: Path, name: str | None = None) -> Side:
    """One run's verdicts (bundle.BundleError when `path` is not a run's results)."""
    opened = bundle.open_bundle(path)
    target = opened.json("meta/target.json", {}) or {}
    outcomes, areas = {}, {}
    for entry in opened.tests:
        nodeid = entry.get("nodeid")
        if not nodeid:
            continue
        outcomes[nodeid] = str(entry.get("outcome") or "failed")
        parts = nodeid.split("/")
        areas[nodeid] = str(entry.get("area") or (parts[1] if len(parts) > 2 else "other"))
    return Side(name or side_name(target, path), outcomes, areas)


def side_name(target: dict, path: Path) -> str:
    """"reference" or "upstream <Kubernetes version>" from the run's target facts, else the file's name."""
    versions = target.get("versions") or {}
    if "reference" in (target.get("capabilities") or []):
        return "reference"
    if versions.get("kubernetes"):
        return f"upstream {versions['kubernetes']}"
    return path.name


@dataclass
class AreaRow:
    area: str
    counts: list[dict[str, int]]  # per side: verdict -> count

    def applicable(self, side: int) -> int:
        return self.counts[side]["passed"] + self.counts[side]["failed"]


def by_area(sides: list[Side]) -> list[AreaRow]:
    areas: dict[str, str] = {}
    for side in sides:
        areas.update(side.areas)
    rows = []
    for area in sorted(set(areas.values())):
        counts = []
        for side in sides:
            count = dict.fromkeys(VERDICTS, 0)
            for nodeid, outcome in side.outcomes.items():
                if areas.get(nodeid) == area:
                    count[outcome if outcome in count else "failed"] += 1
            counts.append(count)
        rows.append(AreaRow(area, counts))
    return rows


def per_test(sides: list[Side], only_differences: bool = False) -> list[tuple[str, list[str]]]:
    """(node id, each side's verdict or "-"), sorted; with only_differences, where the verdicts differ."""
    nodeids = sorted({nodeid for side in sides for nodeid in side.outcomes})
    rows = [(nodeid, [side.outcomes.get(nodeid, "-") for side in sides]) for nodeid in nodeids]
    return [row for row in rows if len(set(row[1])) > 1] if only_differences else rows


def pass_rate(row_counts: dict[str, int]) -> str:
    applicable = row_counts["passed"] + row_counts["failed"]
    return f"{row_counts['passed']}/{applicable}" + (f" ({100 * row_counts['passed'] / applicable:.0f}%)"
                                                     if applicable else "")


def markdown(sides: list[Side], only_differences: bool = False) -> str:
    """The side-by-side report as Markdown: the area table (passed/applicable, skipped), then the tests."""
    names = [side.name for side in sides]
    lines = ["| area | " + " | ".join(f"{n} passed | {n} skipped" for n in names) + " |",
             "|---|" + "---|---|" * len(sides)]
    rows = by_area(sides)
    totals = [dict.fromkeys(VERDICTS, 0) for _ in sides]
    for row in rows:
        for total, count in zip(totals, row.counts, strict=True):
            for verdict in VERDICTS:
                total[verdict] += count[verdict]
        lines.append(f"| {row.area} | " + " | ".join(f"{pass_rate(c)} | {c['skipped']}" for c in row.counts) + " |")
    lines.append("| **all** | " + " | ".join(f"{pass_rate(c)} | {c['skipped']}" for c in totals) + " |")
    lines += ["", "| test | " + " | ".join(names) + " |", "|---|" + "---|" * len(sides)]
    tests = per_test(sides, only_differences)
    lines += [f"| `{nodeid}` | " + " | ".join(verdicts) + " |" for nodeid, verdicts in tests]
    return "\n".join(lines) + "\n"
