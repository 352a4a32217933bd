"""`kproof lint PATH...`: fix what can be fixed (--fix), lint, write the report, and say how it went.

Exit status: 1 when a finding is as severe as `--fail-on` or more (error by default: warning, info or none
instead, as hadolint's --failure-threshold), 0 otherwise, 2 for a usage error (argparse's: a path that does not
exist, a start-up or response time that is not a positive number).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from kproof.commands.argtypes import existing_path, float_above
from kproof.lint.engine import SEVERITIES, lint_paths
from kproof.lint.fix import fix_file
from kproof.lint.manifests import manifest_files
from kproof.lint.output import FORMATS, summary
from kproof.lint.rules import Options

SECONDS = float_above(0, "takes a number of seconds above 0")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("lint", help="check Knative manifests against the seeds' practices (exit 1 on "
                                   "errors)")
    parser.add_argument("paths", nargs="+", type=existing_path, metavar="PATH",
                        help="YAML files, or folders of *.yaml/*.yml")
    parser.add_argument("--format", choices=tuple(FORMATS), default="text")
    parser.add_argument("--output", type=Path, help="write the report to this file instead of stdout")
    parser.add_argument("--startup", type=SECONDS, metavar="SECONDS",
                        help="measured pod start-up time: checks the stable and panic windows against it")
    parser.add_argument("--response-seconds", type=SECONDS, metavar="SECONDS",
                        help="longest expected response: checks timeoutSeconds against 1.2 times it")
    parser.add_argument("--fix", action="store_true", help="rewrite deprecated forms in place, then report the rest")
    parser.add_argument("--fail-on", choices=(*SEVERITIES, "none"), default="error",
                        help="the least severe finding that makes the exit status 1 (default error; none: never)")
    parser.set_defaults(func=handle)
    return parser


def handle(args: argparse.Namespace) -> int:
    return run(args.paths, fmt=args.format, output=args.output, startup=args.startup,
               response_seconds=args.response_seconds, fix=args.fix, fail_on=args.fail_on)


def run(paths: list[Path], fmt: str = "text", output: Path | None = None, startup: float | None = None,
        response_seconds: float | None = None, fix: bool = False, out: TextIO | None = None,
        err: TextIO | None = None, fail_on: str = "error") -> int:
    """Lints `paths` (they exist; the times, when given, are above 0) and writes the report in `fmt`."""
    out = out or sys.stdout
    err = err or sys.stderr
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
    return 1 if report.fails(fail_on) else 0


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
