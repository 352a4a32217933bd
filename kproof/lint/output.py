"""The lint report as text (one line per finding), JSON, or SARIF 2.1.0 for code-scanning tools."""

from __future__ import annotations

import json
from pathlib import Path

from kproof import __version__
from kproof.lint.engine import Report
from kproof.lint.manifests import format_path
from kproof.lint.rules import RULES, SEVERITIES, Finding

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_LEVELS = {"error": "error", "warning": "warning", "info": "note"}
SOURCE_ROOT = "%SRCROOT%"


def summary(report: Report) -> str:
    counts = ", ".join(f"{report.count(s)} {s}{'s' if s != 'info' and report.count(s) != 1 else ''}"
                       for s in SEVERITIES)
    return f"{len(report.files)} file{'s' if len(report.files) != 1 else ''} checked: {counts}"


def text_line(f: Finding) -> str:
    """`file:line: severity id field: message (source)`."""
    where = format_path(f.path)
    message = " ".join(f.message.split())  # one line, whatever a validation message holds
    field = f" {where}" if where else ""
    return f"{f.file}:{f.line}: {f.rule.severity} {f.rule.id}{field}: {message} ({f.rule.source})"


def as_text(report: Report) -> str:
    return "".join(text_line(f) + "\n" for f in report.findings)


def as_json(report: Report) -> str:
    findings = [{
        "file": f.file, "line": f.line, "column": f.column, "document": f.document, "object": f.object,
        "rule": f.rule.id, "name": f.rule.name, "severity": f.rule.severity, "field": format_path(f.path),
        "message": f.message, "source": f.rule.source, "helpUri": f.rule.help_uri,
    } for f in report.findings]
    body = {"files": [str(p) for p in report.files], "findings": findings,
            "summary": {s: report.count(s) for s in SEVERITIES}}
    return json.dumps(body, indent=2) + "\n"


def _artifact(file: str) -> dict:
    """A path below the working directory as a relative URI against %SRCROOT%, others as file URIs."""
    path = Path(file)
    try:
        relative = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return {"uri": path.resolve().as_uri()}
    return {"uri": relative.as_posix(), "uriBaseId": SOURCE_ROOT}


def as_sarif(report: Report) -> str:
    rules = list(RULES.values())
    index = {r.id: i for i, r in enumerate(rules)}
    results = []
    for f in report.findings:
        where = format_path(f.path)
        location: dict[str, object] = {"physicalLocation": {
            "artifactLocation": _artifact(f.file),
            "region": {"startLine": max(1, f.line), "startColumn": max(1, f.column)}}}
        if where or f.object:
            location["logicalLocations"] = [{"fullyQualifiedName": f"{f.object}:{where}" if f.object else where,
                                             "kind": "member"}]
        results.append({"ruleId": f.rule.id, "ruleIndex": index[f.rule.id], "level": SARIF_LEVELS[f.rule.severity],
                        "message": {"text": f"{where}: {f.message}" if where else f.message},
                        "locations": [location]})
    run = {
        "tool": {"driver": {
            "name": "kproof lint", "version": __version__, "semanticVersion": __version__,
            "rules": [{
                "id": r.id, "name": r.name,
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": f"{r.summary} Source: {r.source}."},
                "helpUri": r.help_uri,
                "help": {"text": f"{r.source} ({r.help_uri})"},
                "defaultConfiguration": {"level": SARIF_LEVELS[r.severity]},
            } for r in rules],
        }},
        "originalUriBaseIds": {SOURCE_ROOT: {"uri": Path.cwd().resolve().as_uri() + "/"}},
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2) + "\n"


FORMATS = {"text": as_text, "json": as_json, "sarif": as_sarif}
