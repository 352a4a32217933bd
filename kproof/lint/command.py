"""`kproof lint PATH...`: fix what can be fixed (--fix), lint, write the report, and say how it went.

Exit status: 0 without error findings, 1 with any, 2 for a usage error (a path that does not exist,
a start-up or response time that is not a positive number).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from kproof.lint.engine import lint_paths
from kproof.lint.fix import fix_file
from kproof.lint.manifests import manifest_files
from kproof.lint.output import FORMATS, summary
from kproof.lint.rules import Options

USAGE_ERROR = 2


def run(paths: list[Path], fmt: str = "text", output: Path | None = None, startup: float | None = None,
        response_seconds: float | None = None, fix: bool = False, out: TextIO | None = None,
        err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    missing = [p for p in paths if not p.exists()]
    if missing:
        err.write(f"kproof lint: no such file or folder: {', '.join(map(str, missing))}\n")
        return USAGE_ERROR
    for name, value in (("--startup", startup), ("--response-seconds", response_seconds)):
        if value is not None and not value > 0:
            err.write(f"kproof lint: {name} takes a number of seconds above 0, not {value:g}\n")
            return USAGE_ERROR
    # the report owns stdout when it is JSON or SARIF there; notes then go to stderr
    notes = out if fmt == "text" or output else err
    if fix:
        _fix(paths, notes)
    report = lint_paths(paths, Options(startup=startup, response_seconds=response_seconds))
    text = FORMATS[fmt](report)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        notes.write(f"report: {output}\n")
    else:
        out.write(text)
    err.write(summary(report) + "\n")
    return 1 if report.failed else 0


def _fix(paths: list[Path], notes: TextIO) -> None:
    seen: set[Path] = set()
    for path in paths:
        for file in manifest_files(path):
            if file in seen:
                continue
            seen.add(file)
            for change in fix_file(file):
                verb = "fixed" if change.done else "left"
                notes.write(f"{verb} {change.file}:{change.line}: {change.rule} {change.text}\n")
