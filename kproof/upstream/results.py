"""Verdicts from `go test -json` output: per test, per package, and the table `kproof upstream-tests` prints."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

VERDICTS = ("pass", "fail", "skip")


@dataclass
class PackageResult:
    """One upstream package's verdicts: top-level tests and their subtests, each test's last verdict."""

    package: str
    tests: dict[str, str] = field(default_factory=dict)  # top-level test -> pass | fail | skip
    subtests: dict[str, str] = field(default_factory=dict)  # Parent/child -> verdict
    package_failed: bool = False  # go test's verdict on the package: fail when a test failed or the binary did
    ended: bool = False  # the package got a verdict at all (none: the binary or test2json was killed)
    output: dict[str, list[str]] = field(default_factory=dict)  # test -> its output lines
    # the subtests that are the package's cases, where one test runs them all (networking's RunConformance);
    # empty: its top-level tests are
    cases: tuple[str, ...] = ()

    @property
    def verdicts(self) -> dict[str, str]:
        """Each case's verdict (a case that never ran, e.g. one that -test.run or a flag left out, is skipped)."""
        if not self.cases:
            return self.tests
        return {case: self.subtests.get(case, "skip") for case in self.cases}

    def count(self, verdict: str, subtests: bool = False) -> int:
        return sum(1 for v in (self.subtests if subtests else self.verdicts).values() if v == verdict)

    @property
    def passed(self) -> int:
        return self.count("pass")

    @property
    def failed(self) -> int:
        return self.count("fail")

    @property
    def skipped(self) -> int:
        return self.count("skip")

    @property
    def binary_failed(self) -> bool:
        """The binary failed with no test to blame (bad flags, a panic outside tests, no test matched), or ended
        without a verdict (killed)."""
        return (self.package_failed and not self.failed) or not self.ended

    @property
    def pass_rate(self) -> float | None:
        """Passed over passed + failed (skipped tests do not count), None when nothing ran."""
        ran = self.passed + self.failed
        return self.passed / ran if ran else None

    def reason(self, test: str, lines: int = 6) -> str:
        """The last lines a failed or skipped test printed (its error or skip message)."""
        text = [line.strip() for line in self.output.get(test, []) if line.strip()]
        text = [line for line in text if not line.startswith(("=== RUN", "=== PAUSE", "=== CONT", "=== NAME",
                                                              "--- FAIL", "--- SKIP", "--- PASS"))]
        return "\n".join(text[-lines:])


def parse_events(lines: Iterable[str]) -> dict[str, PackageResult]:
    """Package -> its result, from the lines of `go test -json` (other lines, e.g. a build error, ignored)."""
    results: dict[str, PackageResult] = {}
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        package = event.get("Package") or ""
        if not package:
            continue
        result = results.setdefault(package, PackageResult(package))
        action, test = event.get("Action"), event.get("Test")
        if action == "output" and test:
            result.output.setdefault(test, []).append(event.get("Output", ""))
        if action not in VERDICTS:
            continue
        if not test:
            result.package_failed = result.package_failed or action == "fail"
            result.ended = True
        elif "/" in test:
            result.subtests[test] = action
        else:
            result.tests[test] = action
    for result in results.values():
        # a test still running when the binary died (a panic, -test.timeout) has no verdict: it failed
        for test in result.output:
            (result.subtests if "/" in test else result.tests).setdefault(test, "fail")
    return results


def read_json(path: Path) -> dict[str, PackageResult]:
    with open(path, errors="replace") as lines:
        return parse_events(lines)


def table(results: Iterable[PackageResult]) -> list[list[str]]:
    """Rows for the table: header, then one per package (counts of its cases; then of every subtest)."""
    rows = [["package", "passed", "failed", "skipped", "pass rate", "subtests passed/failed/skipped"]]
    for result in results:
        rate = result.pass_rate
        name = result.package + (" (the binary failed: see its output)" if result.binary_failed else "")
        rows.append([name, str(result.passed), str(result.failed), str(result.skipped),
                     "-" if rate is None else f"{rate:.0%}",
                     "/".join(str(result.count(v, subtests=True)) for v in VERDICTS)])
    return rows


def markdown(rows: list[list[str]]) -> str:
    """The table as Markdown (the README's and the summary's form)."""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines) + "\n"


def summary(results: Iterable[PackageResult]) -> dict:
    """What summary.json holds: per package, each test's verdict and, for failures and skips, why."""
    out = {}
    for result in results:
        out[result.package] = {
            "passed": result.passed, "failed": result.failed, "skipped": result.skipped,
            "binary_failed": result.binary_failed,
            "tests": {test: {"verdict": verdict,
                             **({"reason": result.reason(test)} if verdict != "pass" else {})}
                      for test, verdict in sorted(result.verdicts.items())},
        }
    return out
