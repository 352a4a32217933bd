"""Thresholds on a run's measurements (kproof.measure), as kube-burner's alert profiles set them: each check
reads one figure of one measurement and compares it with a warning and an error level. An error fails the
run (kproof run exits 1) and shows as a failed check with the measured value; a warning is shown only.

The defaults, fixtures/slo/knative.yaml, are Knative's and Kubernetes' published figures, each with its source.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_THRESHOLDS = Path(__file__).resolve().parents[1] / "fixtures" / "slo" / "knative.yaml"
STATUSES = ("ok", "warning", "error", "not measured")


class ThresholdsError(ValueError):
    """A thresholds file kproof cannot read; the message names the entry and field."""


@dataclass(frozen=True)
class Threshold:
    name: str
    measurement: str
    value: str  # a path into the measurement's values: "Ready.p99"
    source: str
    warning: float | None = None
    error: float | None = None
    confirmed: bool = True
    note: str = ""
    unit: str | None = None  # the figure's unit, where it is not the measurement's (a count of requests)


@dataclass(frozen=True)
class Check:
    threshold: Threshold
    measured: float | None
    unit: str
    status: str

    def describe(self) -> str:
        t = self.threshold
        if self.measured is None:
            return f"{t.name}: not measured in this run"
        limit = t.error if self.status == "error" else t.warning
        word = {"error": "above the error level", "warning": "above the warning level"}.get(self.status, "within")
        levels = ", ".join(f"{kind} {value:g} {self.unit}" for kind, value in (("warning", t.warning),
                                                                             ("error", t.error)) if value is not None)
        shown = f"{limit:g} {self.unit}" if limit is not None and self.status in ("error", "warning") else levels
        return f"{t.name}: {self.measured:g} {self.unit}, {word} {shown}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self.threshold), "measured": self.measured, "unit": self.unit, "status": self.status,
                "text": self.describe()}


def load(path: Path = DEFAULT_THRESHOLDS) -> list[Threshold]:
    """The thresholds of a file: `thresholds: [{name, measurement, value, source, warning?, error?, ...}]`."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ThresholdsError(f"{path}: {err}") from err
    entries = (document or {}).get("thresholds") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ThresholdsError(f"{path}: no `thresholds:` list")
    found = []
    for index, entry in enumerate(entries):
        where = f"{path}: thresholds[{index}]"
        if not isinstance(entry, dict):
            raise ThresholdsError(f"{where}: not a mapping")
        for key in ("name", "measurement", "value", "source"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ThresholdsError(f"{where}.{key}: a non-empty string is required")
        levels = {}
        for key in ("warning", "error"):
            value = entry.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ThresholdsError(f"{where}.{key}: a number, not {value!r}")
            levels[key] = None if value is None else float(value)
        if levels["warning"] is None and levels["error"] is None:
            raise ThresholdsError(f"{where}: needs a warning or an error level")
        unknown = set(entry) - {"name", "measurement", "value", "source", "warning", "error", "confirmed", "note",
                                "unit"}
        if unknown:
            raise ThresholdsError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        found.append(Threshold(entry["name"], entry["measurement"], entry["value"], entry["source"].strip(),
                               levels["warning"], levels["error"], bool(entry.get("confirmed", True)),
                               str(entry.get("note") or "").strip(), entry.get("unit")))
    return found


def figure(measurement: dict, path: str) -> float | None:
    """measurement["values"] at a dotted path ("Ready.p99"), or None where it is absent."""
    value: Any = measurement.get("values") or {}
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def evaluate(thresholds: list[Threshold], measurements: dict[str, dict]) -> list[Check]:
    checks = []
    for threshold in thresholds:
        measurement = measurements.get(threshold.measurement) or {}
        measured = figure(measurement, threshold.value)
        if measured is None:
            status = "not measured"
        elif threshold.error is not None and measured > threshold.error:
            status = "error"
        elif threshold.warning is not None and measured > threshold.warning:
            status = "warning"
        else:
            status = "ok"
        checks.append(Check(threshold, measured, threshold.unit or str(measurement.get("unit") or "s"), status))
    return checks


def failed(checks: list[Check]) -> bool:
    return any(c.status == "error" for c in checks)


def write(checks: list[Check], reports: Path) -> Path:
    """reports/slo.json, and each measured check as an Allure result (suite `slo`): an error fails there."""
    path = reports / "slo.json"
    path.write_text(json.dumps([c.as_dict() for c in checks], indent=1))
    results = reports / "allure-results"
    if results.is_dir():
        now = int(time.time() * 1000)
        for check in checks:
            if check.measured is None:
                continue
            status = "failed" if check.status == "error" else "passed"
            result = {"uuid": str(uuid.uuid4()), "historyId": f"slo-{check.threshold.name}",
                      "name": f"SLO: {check.threshold.name}", "fullName": f"slo.{check.threshold.name}",
                      "status": status, "stage": "finished", "start": now, "stop": now,
                      "statusDetails": {"message": f"{check.describe()} (source: {check.threshold.source})"},
                      "labels": [{"name": "parentSuite", "value": "kproof"}, {"name": "suite", "value": "slo"},
                                 {"name": "severity", "value": "critical" if check.threshold.error else "normal"}]}
            (results / f"{result['uuid']}-result.json").write_text(json.dumps(result))
    return path
