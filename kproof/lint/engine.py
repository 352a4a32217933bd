"""Lints files: loads their documents, runs every check on each, and places findings at file and line."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kproof.lint import admission, forms, practices
from kproof.lint.manifests import Document, load, manifest_files
from kproof.lint.rules import Finding, Options, finding

Check = Callable[[dict, Options], Iterator[Finding]]

SEVERITIES = ("error", "warning", "info")  # the most severe first
# forms first: a document in a removed version is reported as that before anything else
CHECKS: tuple[Check, ...] = (forms.check, practices.check, admission.check)


@dataclass
class Report:
    files: list[Path] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.rule.severity == severity)

    @property
    def failed(self) -> bool:
        return self.fails("error")

    def fails(self, threshold: str) -> bool:
        """Whether a finding is as severe as `threshold` or more (error > warning > info; "none" never fails),
        as hadolint's --failure-threshold decides its exit status."""
        if threshold == "none":
            return False
        worst = SEVERITIES.index(threshold)
        return any(SEVERITIES.index(f.rule.severity) <= worst for f in self.findings)


def check_document(doc: Document, options: Options) -> list[Finding]:
    """Every finding of one document, placed at the line of the field it points at."""
    problem = forms.not_an_object(doc.data)
    if problem is not None:
        found = [problem]
    else:
        assert isinstance(doc.data, dict)  # not_an_object passes objects only
        found = [f for check in CHECKS for f in check(doc.data, options)]
    out = []
    for f in found:
        line, column = doc.position(f.path)
        out.append(dataclasses.replace(f, file=str(doc.file), line=line, column=column, document=doc.index,
                                       object=doc.label))
    return out


def lint_file(file: Path, options: Options) -> list[Finding]:
    documents, syntax = load(file)
    found = [f for doc in documents for f in check_document(doc, options)]
    for problem in syntax:
        found.append(dataclasses.replace(finding("KP017", (), problem.message), file=str(file), line=problem.line,
                                         column=problem.column, document=len(documents)))
    return sorted(found, key=lambda f: (f.line, f.column, f.rule.id))


def lint_paths(paths: Iterable[Path], options: Options) -> Report:
    """Lints `paths` (files, or folders searched for *.yaml and *.yml); each file once, in order."""
    report = Report()
    for path in paths:
        for file in manifest_files(path):
            if file not in report.files:
                report.files.append(file)
                report.findings.extend(lint_file(file, options))
    return report
