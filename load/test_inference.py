"""The inference scenario against the intent service (its model on a claim): no failed request, and a
p95 under load within a bound of the latency one request alone sees."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from conformance.ai.support import claims_allowed, intent_service
from conformance.helpers import log
from conformance.serving.support import deploy
from kproof.target import Target
from load.runner import run_scenario
from load.test_web_ui import swarm_from_the_web_ui

USERS = 4
SLOWER_UNDER_LOAD = 20  # p95 with USERS in a closed loop on one replica, against one request alone


def _inference_service(target: Target, namespace: str, app_image) -> str:
    with claims_allowed(target):
        deploy(target, intent_service("inference", namespace, app_image("intent"), cc=USERS, gpu=False,
                                      annotations={"autoscaling.knative.dev/max-scale": "1"}), timeout=240)
    return "inference"


@pytest.mark.spec("SHOULD", "stable", source="seed 001 (ACK Serverless: On-Demand Use of Heterogeneous Resources): "
                  "the intent service under load through the platform")
@pytest.mark.timing
def test_inference_scenario_latency_relative_to_a_baseline(target: Target, in_models_namespace: str, app_image,
                                                           reports: Path, capsys: pytest.CaptureFixture) -> None:
    namespace = in_models_namespace
    _inference_service(target, namespace, app_image)
    alone = []
    for _ in range(10):
        started = time.perf_counter()
        assert target.http("inference", "/predict?query=play%20some%20music", namespace=namespace).status_code == 200
        alone.append((time.perf_counter() - started) * 1000)
    baseline = statistics.median(alone)
    result = run_scenario(target, "inference", "inference", namespace, users=USERS, run_time="10s", path="/predict",
                          reports=reports)
    log(capsys, f"inference: one request alone {baseline:.0f} ms; {USERS} users: {result.requests} requests, "
          f"{result.rps:.0f}/s, p50 {result.median_ms:.0f} ms, p95 {result.p95_ms:.0f} ms")
    assert result.requests > 50 and result.failures == 0
    assert result.p95_ms <= SLOWER_UNDER_LOAD * baseline


def test_inference_scenario_runs_from_the_web_ui(target: Target, in_models_namespace: str, app_image) -> None:
    swarm_from_the_web_ui(target, "inference", _inference_service(target, in_models_namespace, app_image),
                          in_models_namespace)
