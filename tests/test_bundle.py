"""A run's one results bundle, as a user gets it: a run in which one test fails (its Service broken on purpose
with --break-services) keeps that test's namespace objects and pod logs, the target's versions and the command
line; `kproof results` reads it in its three modes; `kproof run --rerun-failed` runs that test alone. The images
each test's objects named are among what `kproof images` lists for it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from kproof.bundle import open_bundle
from kproof.failure_logs import folder_name
from kproof.images import images_of
from kproof.pytest_target import BROKEN_IMAGE

ROOT = Path(__file__).resolve().parents[1]
BROKEN = "conformance/serving/test_basics.py::test_service_becomes_ready_and_answers"
PASSING = "conformance/api/test_crud.py::test_crud[Service]"


def kproof(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kproof", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


def test_a_failed_test_leaves_its_namespace_and_logs_in_the_bundle_and_reruns_alone(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run = kproof("run", "--profile", "quick", "--focus", r"test_basics\.py|test_crud\.py::test_crud\[Service\]",
                 "--break-services", "test_service_becomes_ready", "--reports", reports)
    assert run.returncode == 1, run.stdout + run.stderr
    (path,) = reports.glob("kproof-results-*.tar.gz")
    assert f"results bundle: {path}" in run.stdout.replace("\n", "")
    bundle = open_bundle(path)
    assert bundle.failed() == [BROKEN]
    assert {t["nodeid"]: t["outcome"] for t in bundle.tests} == {BROKEN: "failed", PASSING: "passed"}

    kept = bundle.under(f"failures/{folder_name(BROKEN)}")
    objects = [yaml.safe_load_all(bundle.text(n) or "") for n in kept if n.endswith("-objects.yaml")]
    kinds = {(d["apiVersion"], d["kind"], d["metadata"]["name"]) for docs in objects for d in docs}
    assert ("serving.knative.dev/v1", "Service", "hello") in kinds, kinds
    logs = [bundle.text(n) or "" for n in kept if n.endswith("/user-container.log")]
    assert any("kproof broke this Service on purpose" in log for log in logs), kept
    assert any(n.endswith("-events.txt") for n in kept) and any(n.endswith("-pods.txt") for n in kept)

    meta = bundle.json("meta/run.json")
    assert "--break-services" in meta["command"] and meta["profile"] == "quick" and meta["run_id"]
    target = bundle.json("meta/target.json")
    assert target["versions"]["kubernetes"].startswith("v1.") and "reference" in target["versions"]
    assert "reference" in target["capabilities"]
    for name in ("junit.xml", "html/index.html", "summary.json", "slo.json", "measurements/pod-startup.json"):
        assert bundle.text(name) is not None, name
    assert bundle.under("allure-results")
    serving = next(a for a in bundle.json("summary.json")["areas"] if a["area"] == "serving")
    assert serving["conformance"] == "MUST 0/1" and bundle.json("summary.json")["conformant"] is False

    report = kproof("results", path)
    assert report.returncode == 1
    assert f"failed {BROKEN}" in report.stdout and "-objects.yaml" in report.stdout
    assert "not conformant" in report.stdout and "MUST 1/2" in report.stdout
    detailed = kproof("results", path, "--mode", "detailed").stdout.splitlines()
    assert any(line.startswith("failed   MUST    stable") and line.endswith(BROKEN) for line in detailed)
    dumped = json.loads(kproof("results", path, "--mode", "dump").stdout)
    assert dumped["run"]["run_id"] == meta["run_id"] and len(dumped["tests"]) == 2
    assert dumped["failures"][folder_name(BROKEN)]

    for test in bundle.tests:  # what each test's objects named is what `kproof images` finds for it
        listed = images_of([ROOT / test["nodeid"].split("::")[0]])
        assert set(test["images"]) - {BROKEN_IMAGE} <= set(listed), test

    again = kproof("run", "--rerun-failed", path, "--reports", tmp_path / "again")
    assert again.returncode == 0, again.stdout + again.stderr
    (rerun,) = (tmp_path / "again").glob("kproof-results-*.tar.gz")
    assert [t["nodeid"] for t in open_bundle(rerun).tests] == [BROKEN]
    assert open_bundle(rerun).json("meta/run.json")["rerun"] == [BROKEN]
