"""Seed 004's autoscaling values, each acting in the autoscaler's decisions: the 50 s stable window, the 10%
panic window, the 200% panic threshold and the 90% target utilization of helloworld-autoscaling.yaml; the
4.0 scale-down and 500 scale-up rates of config-autoscaler.yaml. The decisions are read where Knative's
autoscaler publishes them (its metrics, the PodAutoscaler's Events), so no test waits out a window."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conformance.autoscaling.support import Load, autoscaler_metrics
from conformance.helpers import eventually, log, restoring_config
from conformance.serving.support import deploy, service
from kproof.target import Target

SEED_004 = Path(__file__).resolve().parents[2] / "fixtures" / "manifests" / "seed-004"
PODAUTOSCALER = ("autoscaling.internal.knative.dev/v1alpha1", "PodAutoscaler")

pytestmark = pytest.mark.timing


def seed(name: str, namespace: str | None = None) -> dict:
    doc = yaml.safe_load((SEED_004 / name).read_text())
    if namespace:
        doc["metadata"]["namespace"] = namespace
    return doc


def pa_events(target: Target, namespace: str, revision: str, reason: str) -> list[dict]:
    return [e for e in target.list("v1", "Event", namespace)
            if e.get("involvedObject", {}).get("kind") == "PodAutoscaler"
            and e["involvedObject"].get("name") == revision and e.get("reason") == reason]


@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): "
                  "autoscaling.knative.dev/window 50s, panic-window-percentage 10.0, panic-threshold-percentage "
                  "200.0, target 1, target-utilization-percentage 90")
def test_seed_windows_threshold_and_utilization_act_under_a_burst(target: Target, namespace: str,
                                                                   capsys: pytest.CaptureFixture) -> None:
    served = deploy(target, seed("helloworld-autoscaling.yaml", namespace))
    revision = served["status"]["latestReadyRevisionName"]
    with Load(target, "helloworld", namespace, clients=4) as burst:
        (started,) = eventually(lambda: pa_events(target, namespace, revision, "PanicStarted"), 60,
                                "panic mode under 4 clients at one replica")
        during = autoscaler_metrics(target, namespace, revision)
    assert not burst.failures, burst.failures
    # target 1 x 90% utilization; panic window 10% of 50 s; threshold 200%
    assert during["target_concurrency_per_pod"] == pytest.approx(0.9)
    assert "panic window 5s of a stable window 50s, target 0.9 per pod" in started["message"], started["message"]
    assert "(threshold 200%)" in started["message"]
    assert during["requested_pods"] <= 3  # max-scale

    # After the burst the 5 s panic window empties while the 50 s stable window still holds it, and panic mode
    # lasts until a whole stable window has passed without a surge.
    def panic_window_empty() -> dict | None:
        gauges = autoscaler_metrics(target, namespace, revision)
        return gauges if gauges.get("panic_request_concurrency") == 0 else None

    after = eventually(panic_window_empty, 30, "the panic window empty after the burst", interval=0.5)
    assert after["stable_request_concurrency"] > 0, after
    assert after["panic_mode"] == 1, after
    assert not pa_events(target, namespace, revision, "PanicEnded")
    log(capsys, f"seed 004 windows: {started['message']}; after the burst stable "
                f"{after['stable_request_concurrency']:.3f}, panic 0, still panicking")


@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): "
                  "config-autoscaler max-scale-up-rate \"500.0\" and max-scale-down-rate \"4.0\"")
def test_seed_scale_rates_act_on_decisions(target: Target, namespace: str, app_image) -> None:
    config = seed("config-autoscaler.yaml")
    with restoring_config(target, "knative-serving", "config-autoscaler"):
        # Four replicas held by min-scale and a trickle of requests: the decider may go down to ready / rate.
        down = deploy(target, service("down", namespace, app_image("helloworld"), annotations={
            "autoscaling.knative.dev/min-scale": "4", "autoscaling.knative.dev/window": "6s"}))
        down_revision = down["status"]["latestReadyRevisionName"]

        def decided(revision: str, want: int) -> bool:
            gauges = autoscaler_metrics(target, namespace, revision)
            return gauges.get("actual_pods") == 4 and gauges.get("desired_pods") == want

        with Load(target, "down", namespace, rate=2):
            eventually(lambda: decided(down_revision, 2), 60, "floor(4 / 2) wanted under Knative's default rate 2")
            target.apply(config)  # the seed's ConfigMap, unchanged
            eventually(lambda: decided(down_revision, 1), 60, "floor(4 / 4) wanted under the seed's rate 4.0")

        # One replica (max-scale 1) whose load asks for far more than 500: the decider caps at 500 x 1.
        up = deploy(target, service("up", namespace, app_image("autoscale"), annotations={
            "autoscaling.knative.dev/target": "0.01", "autoscaling.knative.dev/max-scale": "1",
            "autoscaling.knative.dev/window": "6s"}))
        up_revision = up["status"]["latestReadyRevisionName"]

        def capped() -> dict | None:
            gauges = autoscaler_metrics(target, namespace, up_revision)
            asked = max(gauges.get("stable_request_concurrency", 0), gauges.get("panic_request_concurrency", 0))
            return gauges if asked / 0.01 > 500 and gauges.get("desired_pods") == 500 else None

        with Load(target, "up", namespace, path="/?sleep=500", clients=8):
            gauges = eventually(capped, 60, "500 pods wanted of one replica while the load asks for more",
                                interval=0.5)
    assert gauges["actual_pods"] == 1 and gauges["requested_pods"] == 1  # max-scale still bounds the replicas
