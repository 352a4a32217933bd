"""A failed test's Allure result carries what the platform said about the test's namespace: its pods and
their logs (queue-proxy's request logs among them), its events and the autoscaler's decisions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conformance.helpers import eventually, restoring_config
from conformance.serving.support import deploy, service
from kproof.failure_logs import collect
from kproof.target import Target

ROOT = Path(__file__).resolve().parents[1]
INNER = """
from conformance.serving.support import deploy, service


def test_fails_beside_a_service(target, namespace, app_image):
    deploy(target, service("broken", namespace, app_image("helloworld")))
    assert False, "failing on purpose"


def test_passes(target, namespace):
    pass
"""


def test_collect_reads_the_namespaces_pods_logs_events_and_autoscalers(target: Target, namespace: str,
                                                                        app_image) -> None:
    with restoring_config(target, "knative-serving", "config-observability"):
        target.patch("v1", "ConfigMap", "config-observability", {"data": {
            "logging.enable-request-log": "true",
            "logging.request-log-template": "{{.Request.Method}} {{.Request.RequestURI}} {{.Response.Code}}"}},
            "knative-serving")
        deploy(target, service("logged", namespace, app_image("helloworld")))

        def request_logged() -> dict[str, str] | None:
            target.http("logged", "/traced", namespace=namespace)
            found = collect(target, [namespace])
            logs = [text for name, text in found.items() if name.endswith("/queue-proxy")]
            return found if any("GET /traced 200" in text for text in logs) else None

        found = eventually(request_logged, 60, "the request in queue-proxy's log")
    assert isinstance(found, dict)
    assert "phase=Running ready=True" in found[f"{namespace} pods"]
    assert any(name.startswith(f"logs {namespace}/logged-00001-") and name.endswith("/user-container")
               for name in found), sorted(found)
    assert found[f"{namespace} podautoscalers"].startswith("logged-00001: desiredScale=")
    assert "collecting stopped" not in found


def test_a_failed_test_gets_the_platform_logs_in_its_allure_result(target: Target, tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    results = tmp_path / "allure-results"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",  # kproof's plugin: its pytest11 entry point
         f"--kubeconfig={target.kubeconfig}", f"--ingress={target.ingress}", f"--alluredir={results}",
         "test_inner.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert "1 failed, 1 passed" in completed.stdout, completed.stdout + completed.stderr
    by_name = {r["name"]: r for r in (json.loads(p.read_text()) for p in results.glob("*-result.json"))}
    failed = {a["name"] for a in by_name["test_fails_beside_a_service"].get("attachments") or []}
    namespaces = {name.split(" ")[0] for name in failed if name.endswith(" pods")}
    assert len(namespaces) == 1, sorted(failed)
    ns = namespaces.pop()
    assert {f"{ns} events", f"{ns} podautoscalers"} <= failed, sorted(failed)
    assert any(name.startswith(f"logs {ns}/broken-00001-") and name.endswith("/user-container") for name in failed)
    passed = by_name["test_passes"].get("attachments") or []
    assert not [a for a in passed if a["name"].endswith(" pods")], "a passing test gets no platform logs"
