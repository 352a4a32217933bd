"""Seed 004's Services and ConfigMaps applied unchanged, each showing its value acting: initial-scale 5, the TCP
liveness probe restarting a stuck container, timeoutSeconds 6 (a 5 s answer passes, a longer one is 504), and
the seed's request-log template in queue-proxy's log.

The helloworld-go sample never hangs and never takes seconds; on the reference its stand-in does both when
asked (`?sleep=MS`, `POST /kproof/hang`, reference/apps/helloworld.py), so those two tests need the reference.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import pytest
import yaml

from conformance.api.test_kubectl import kubectl
from conformance.autoscaling.support import ready_pods
from conformance.helpers import eventually, restoring_config
from conformance.serving.support import deploy, service
from kproof.target import REFERENCE, Target

SEED_004 = Path(__file__).resolve().parents[2] / "fixtures" / "manifests" / "seed-004"


def seed(name: str, namespace: str | None = None) -> dict:
    doc = yaml.safe_load((SEED_004 / name).read_text())
    if namespace:
        doc["metadata"]["namespace"] = namespace
    return doc


@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): "
                  "autoscaling.knative.dev/initial-scale \"5\" so that a new revision can take the existing traffic")
def test_seed_initial_scale_starts_five_replicas(target: Target, namespace: str) -> None:
    deploy(target, seed("helloworld-go.yaml", namespace))
    eventually(lambda: ready_pods(target, namespace, "helloworld-go") == 5, 120, "five ready replicas at the start")
    assert target.http("helloworld-go", "/", namespace=namespace).text == "Hello Go Sample v1!\n"


@pytest.mark.requires(REFERENCE)
@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): \"If the "
                  "container fails or gets stuck, the liveness probe will restart it\" (tcpSocket on port 8080)")
def test_seed_tcp_liveness_restarts_a_stuck_container(target: Target, namespace: str) -> None:
    deploy(target, seed("runtime-probes.yaml", namespace))
    assert target.http("runtime", "/kproof/hang", method="POST", namespace=namespace).status_code == 200
    selector = "serving.knative.dev/service=runtime"

    def restarted() -> bool:
        pods = target.list("v1", "Pod", namespace, label_selector=selector)
        return any(s["name"] == "first-container" and s.get("restartCount", 0) >= 1
                   for p in pods for s in (p.get("status") or {}).get("containerStatuses") or [])

    # Kubernetes' defaults: a probe every 10 s, restarted after 3 failures
    eventually(restarted, 120, "first-container restarted by its TCP liveness probe", interval=1)
    eventually(lambda: target.http("runtime", "/", namespace=namespace).status_code == 200, 90,
               "answering again after the restart")


@pytest.mark.requires(REFERENCE)
@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): "
                  "\"if the maximum response time takes 5 seconds, we recommend that you set the timeoutSeconds "
                  "parameter to 6\"")
def test_seed_timeout_passes_five_seconds_and_cuts_longer_answers(target: Target, namespace: str) -> None:
    deploy(target, seed("helloworld-go-timeout.yaml", namespace))
    assert target.http("helloworld-go", "/?sleep=5000", namespace=namespace, timeout=30).status_code == 200
    started = time.monotonic()
    late = target.http("helloworld-go", "/?sleep=9000", namespace=namespace, timeout=30)
    took = time.monotonic() - started
    assert late.status_code == 504, late.text
    assert took >= 6 - 0.2, f"cut after {took:.1f}s, before timeoutSeconds (6)"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): "
                  "config-observability logging.enable-request-log and its logging.request-log-template")
def test_seed_request_log_template_in_queue_proxy_logs(target: Target, namespace: str, app_image) -> None:
    doc = seed("config-observability.yaml")
    trace = uuid.uuid4().hex
    with restoring_config(target, "knative-serving", "config-observability"):
        kubectl(target, "apply", "-f", str(SEED_004 / "config-observability.yaml"))
        live = target.get("v1", "ConfigMap", "config-observability", "knative-serving")
        assert {k: live["data"][k] for k in doc["data"]} == doc["data"]
        deploy(target, service("logged", namespace, app_image("helloworld")))
        pod = target.list("v1", "Pod", namespace, label_selector="serving.knative.dev/service=logged")[0]

        def logged() -> dict | None:
            target.http("logged", "/fr", namespace=namespace, headers={"X-B3-Traceid": trace})
            lines = kubectl(target, "logs", "-n", namespace, pod["metadata"]["name"], "-c", "queue-proxy",
                            check=False).stdout
            records = [json.loads(line) for line in lines.splitlines() if line.startswith("{")]
            return next((r for r in records if r.get("traceId") == f"[{trace}]"), None)

        record = eventually(logged, 60, "the request in queue-proxy's log, in the seed's template")
    request = record["httpRequest"]
    # the seed's example line, field for field
    assert set(request) == {"requestMethod", "requestUrl", "requestSize", "status", "responseSize", "userAgent",
                            "remoteIp", "serverIp", "referer", "latency", "revisionName", "protocol"}
    assert (request["requestMethod"], request["requestUrl"], request["status"]) == ("GET", "/fr", 200)
    assert request["revisionName"] == "logged-00001" and request["protocol"] == "HTTP/1.1"
    assert request["latency"].endswith("s") and float(request["latency"][:-1]) >= 0
    assert request["serverIp"] == pod["status"]["podIP"]
