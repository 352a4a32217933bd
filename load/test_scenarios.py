"""Locust scenarios against a Service with a fast autoscaler (6 s window): scale-out, latency once scaled,
and no failed request while replicas come and go. Numbers are small so CI stays short; reports land in
reports/load/<scenario>/ (Locust's CSVs, the replica timeline and a chart)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.serving.support import deploy, service
from kproof.target import Target
from load.runner import LoadResult, run_scenario

pytestmark = pytest.mark.timing  # compares moments or rates: alone in a parallel run

APP_MS = 300
STEP_SECONDS = 12
FAST = {"autoscaling.knative.dev/window": "6s"}


@pytest.fixture
def autoscaled(target: Target, namespace: str, app_image) -> str:
    deploy(target, service("load", namespace, app_image("autoscale"), containerConcurrency=1, annotations=FAST))
    return "load"


def _steady_state_p50(result: LoadResult, last: int = 5) -> float:
    values = [float(h["50%"]) for h in result.history[-last:] if h.get("50%") not in (None, "", "N/A")]
    return max(values) if values else 0.0


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, serving/autoscaling/concurrency: steady load gets "
                  "ceil(users / (containerConcurrency x 0.7)) replicas; seed 004 (Best practices for AI model "
                  "inference with Knative)")
def test_steady_load_scales_out_and_latency_settles(target: Target, namespace: str, autoscaled: str,
        reports: Path) -> None:
    result = run_scenario(target, "steady", autoscaled, namespace, users=5, run_time="20s",
                          path=f"/?sleep={APP_MS}", reports=reports)
    assert result.requests > 50 and result.failures == 0
    # containerConcurrency 1, target 0.7 each: 5 users ask for ceil(5 / 0.7) = 8 replicas (7 if the measured
    # concurrency falls a little short of 5 between a user's requests).
    assert 7 <= result.max_ready <= 8, [(s.seconds, s.ready, s.desired) for s in result.replicas]
    # Once scaled out, a request waits for nobody: the median is close to the app's own time.
    assert _steady_state_p50(result) <= 2 * APP_MS, result.history[-5:]


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, serving/autoscaling: replicas follow a step in load; "
                  "seed 004 (Best practices for AI model inference with Knative)")
def test_a_step_in_load_is_followed_by_replicas(target: Target, namespace: str, autoscaled: str,
        reports: Path) -> None:
    result = run_scenario(target, "step", autoscaled, namespace, path=f"/?sleep={APP_MS}", reports=reports,
                          env={"KPROOF_LOW": "2", "KPROOF_HIGH": "6", "KPROOF_STEP_SECONDS": str(STEP_SECONDS)})
    assert result.failures == 0
    ready_for_high = result.first_time_ready(6)
    assert ready_for_high is not None, [(s.seconds, s.ready) for s in result.replicas]
    print(f"6 replicas ready {ready_for_high - STEP_SECONDS:.1f}s after the step")


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, serving/autoscaling/kpa-specific: panic mode absorbs a "
                  "burst; seed 000 (Knative: Serverless Practices in AI Event-Driven Scenarios): a burst scales the "
                  "Service out")
def test_a_burst_is_absorbed_without_failures(target: Target, namespace: str, autoscaled: str,
        reports: Path) -> None:
    result = run_scenario(target, "burst", autoscaled, namespace, path=f"/?sleep={APP_MS}", reports=reports,
                          env={"KPROOF_BURST": "12", "KPROOF_BURST_SECONDS": "15", "KPROOF_QUIET_SECONDS": "5"})
    assert result.failures == 0
    assert result.max_ready >= 10


@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): \"The "
                  "container should initiate a graceful shutdown upon receiving a SIGTERM signal\" while the load "
                  "falls")
def test_a_ramp_scales_up_then_down_without_failures(target: Target, namespace: str, autoscaled: str,
        reports: Path) -> None:
    result = run_scenario(target, "ramp", autoscaled, namespace, path=f"/?sleep={APP_MS}", reports=reports,
                          env={"KPROOF_PEAK": "6", "KPROOF_RAMP_SECONDS": "12", "KPROOF_HOLD_SECONDS": "8"})
    assert result.failures == 0, "replicas shut down gracefully while the load fell"
    assert result.max_ready >= 5
    assert result.ready_at_end() < result.max_ready, "the service scaled back in as the load left"
