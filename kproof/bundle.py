"""One file per run, as Sonobuoy's `retrieve` gives: reports/kproof-results-<time>.tar.gz holds everything the
run wrote (JUnit, Allure results, the HTML report, the load scenarios' CSVs and charts, each failed test's
namespace objects and pod logs, the measurements and their SLO checks) and meta/: the command line, the run's
id and selection, the target's versions and capabilities.

`kproof results BUNDLE` reads one back; `kproof run --rerun-failed BUNDLE` runs what failed in it.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from kproof import __version__
from kproof.pytest_progress import parse_record
from kproof.target import REFERENCE, Target

PREFIX = "kproof-results-"
RECORD = "tests.jsonl"  # one JSON object per finished test (kproof.pytest_progress)
META = "meta"
LEFT_OUT = {"README.md", "status.json.part"}
SOURCE_ROOT = Path(__file__).resolve().parents[1]


class BundleError(ValueError):
    """Not a results bundle kproof can read; the message says why."""


def _get(target: Target, path: str) -> dict:
    try:
        response = target.raw("GET", path, timeout=10)
        return response.json() if response.status_code == 200 else {}
    except (requests.RequestException, ValueError):
        return {}


def knative_version(target: Target, namespace: str, group: str) -> str:
    """A Knative component's release from its namespace's labels (app.kubernetes.io/version, as Knative's
    release YAML sets them), else the API versions the group serves."""
    labels = (_get(target, f"/api/v1/namespaces/{namespace}").get("metadata") or {}).get("labels") or {}
    for key in ("app.kubernetes.io/version", f"{namespace.split('-')[-1]}.knative.dev/release"):
        if labels.get(key):
            return str(labels[key])
    served = [v.get("groupVersion") for v in _get(target, f"/apis/{group}").get("versions") or []]
    return f"not labelled; serves {', '.join(filter(None, served))}" if served else "not installed"


def target_facts(target: Target) -> dict[str, Any]:
    """The target's versions and capabilities, for the bundle's meta/target.json."""
    version = _get(target, "/version")
    facts: dict[str, Any] = {
        "api": target.api_url, "ingress": target.ingress,
        "capabilities": sorted(target.capabilities),
        "versions": {
            "kubernetes": version.get("gitVersion") or "unknown",
            "knative-serving": knative_version(target, "knative-serving", "serving.knative.dev"),
            "knative-eventing": knative_version(target, "knative-eventing", "eventing.knative.dev"),
            "kproof": __version__,
        },
    }
    if target.has(REFERENCE):
        facts["versions"]["reference"] = f"kproof {__version__}" + (f" ({commit})" if (commit := source_commit())
                                                                  else "")
    return facts


def source_commit() -> str | None:
    """The git commit of the source tree kproof runs from, when it runs from one."""
    if not (SOURCE_ROOT / ".git").exists():
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(["git", "-C", str(SOURCE_ROOT), "describe", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=10)
        if done.returncode == 0:
            return done.stdout.strip()
    return None


def write_meta(directory: Path, name: str, data: dict[str, Any]) -> Path:
    """directory/<name>.json (a run's meta/ folder)."""
    path = directory / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))
    return path


def stamp(moment: datetime | None = None) -> str:
    return f"{(moment or datetime.now(UTC)):%Y%m%dT%H%M%SZ}"


def write(reports: Path, when: str | None = None) -> Path:
    """reports/kproof-results-<time>.tar.gz of everything in reports/ but earlier bundles."""
    name = f"{PREFIX}{when or stamp()}"
    path = reports / f"{name}.tar.gz"
    scratch = path.with_name(path.name + ".part")
    with tarfile.open(scratch, "w:gz") as out:
        for child in sorted(reports.iterdir()):
            if child.name in LEFT_OUT or child.name.startswith(PREFIX):
                continue
            out.add(child, arcname=f"{name}/{child.name}")
    scratch.replace(path)
    return path


@dataclass
class Bundle:
    """A results bundle (or a reports folder) opened for reading."""

    path: Path
    files: dict[str, bytes]  # path inside the bundle's top folder -> content

    def text(self, name: str) -> str | None:
        data = self.files.get(name)
        return None if data is None else data.decode("utf-8", errors="replace")

    def json(self, name: str, default: Any = None) -> Any:
        text = self.text(name)
        if text is None:
            return default
        try:
            return json.loads(text)
        except ValueError:
            return default

    @property
    def tests(self) -> list[dict[str, Any]]:
        return parse_record(self.text(RECORD) or "")

    def failed(self) -> list[str]:
        """The node ids of the tests that failed."""
        return [t["nodeid"] for t in self.tests if t.get("outcome") == "failed"]

    def under(self, folder: str) -> list[str]:
        return sorted(name for name in self.files if name.startswith(folder.rstrip("/") + "/"))


def open_bundle(path: Path) -> Bundle:
    """Reads a kproof-results-*.tar.gz, or a reports folder a run wrote."""
    if path.is_dir():
        files = {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*")
                 if p.is_file() and not p.name.startswith(PREFIX)}
        if RECORD not in files and "junit.xml" not in files:
            raise BundleError(f"{path}: no {RECORD} or junit.xml: not the reports of a kproof run")
        return Bundle(path, files)
    try:
        with tarfile.open(path, "r:*") as archive:
            files = {}
            for member in archive.getmembers():
                if not member.isfile():
                    continue
                top, _, inner = member.name.partition("/")
                if not top.startswith(PREFIX) or not inner:
                    continue
                extracted = archive.extractfile(member)
                if extracted is not None:
                    files[inner] = extracted.read()
    except (OSError, tarfile.TarError) as err:
        raise BundleError(f"{path}: {err}") from err
    if not files:
        raise BundleError(f"{path}: no {PREFIX}* folder inside: not a kproof results bundle")
    return Bundle(path, files)


def dump(bundle: Bundle) -> dict[str, Any]:
    """Everything `kproof results --mode dump` prints: meta, summary, SLO checks and every test."""
    return {"bundle": str(bundle.path), "run": bundle.json("meta/run.json", {}),
            "target": bundle.json("meta/target.json", {}), "summary": bundle.json("summary.json", {}),
            "slo": bundle.json("slo.json", []), "tests": bundle.tests,
            "failures": {folder: bundle.under(f"failures/{folder}")
                         for folder in sorted({n.split("/")[1] for n in bundle.under("failures")})}}
