"""Warm starts with ACK's reserved instances: at zero traffic one small replica stays, answers the first
request at once while a standard replica starts, and leaves once that one is ready."""

from __future__ import annotations

import time

import pytest

from conformance.ai.support import claims_allowed, intent_service
from conformance.helpers import eventually, log, restoring_config
from conformance.serving.support import deploy
from kproof.target import RESERVE_INSTANCE, Target, pod_is_ready

pytestmark = [pytest.mark.timing, pytest.mark.requires(RESERVE_INSTANCE)]
RESERVED = "serving.kproof.dev/reserved-instance"


def _pods(target: Target, namespace: str) -> tuple[list[dict], list[dict]]:
    """(standard, reserved) Pods of the `warm` Service that are not on their way out."""
    pods = [p for p in target.list("v1", "Pod", namespace, label_selector="serving.knative.dev/service=warm")
            if not p["metadata"].get("deletionTimestamp")]
    reserved = [p for p in pods if (p["metadata"].get("labels") or {}).get(RESERVED) == "true"]
    return [p for p in pods if p not in reserved], reserved


@pytest.mark.spec("MAY", "beta", source="Alibaba Cloud ACK Knative docs, reserved instances "
                  "(knative.aliyun.com/reserve-instance): a small instance stays at zero traffic")
def test_reserved_instance_answers_from_zero_and_hands_over(target: Target, in_models_namespace: str,
                                                            app_image, capsys: pytest.CaptureFixture) -> None:
    namespace = in_models_namespace
    with restoring_config(target, "knative-serving", "config-autoscaler"), claims_allowed(target):
        # The shortest grace period Knative allows, so that zero comes in seconds.
        target.patch("v1", "ConfigMap", "config-autoscaler", {"data": {"scale-to-zero-grace-period": "6s"}},
                     "knative-serving")
        deploy(target, intent_service("warm", namespace, app_image("intent"), cc=1, annotations={
            "knative.aliyun.com/reserve-instance": "enable", "autoscaling.knative.dev/window": "6s"}), timeout=240)
        load_seconds = target.http("warm", "/stats", namespace=namespace).json()["load_seconds"]
        def at_zero() -> bool:
            standard, reserved = _pods(target, namespace)
            return not standard and bool(reserved) and all(pod_is_ready(p) for p in reserved)

        def handed_over() -> bool:
            standard, reserved = _pods(target, namespace)
            return any(pod_is_ready(p) for p in standard) and not reserved

        eventually(at_zero, 120, "only a ready reserved replica left at zero traffic", interval=0.5)
        (standby,) = _pods(target, namespace)[1]
        limits = standby["spec"]["containers"][0].get("resources", {}).get("limits", {})
        assert "nvidia.com/gpu" not in limits, "the reserved replica is small: it holds no GPU"
        started = time.monotonic()
        answer = target.http("warm", "/predict?query=play%20some%20jazz", namespace=namespace)
        first = time.monotonic() - started
        assert answer.text == "PlayMusic"
        eventually(handed_over, 120, "a standard replica ready and the reserved one gone", interval=0.5)
    log(capsys, f"reserved instance: first answer from zero in {first:.3f}s; loading the model takes "
                f"{load_seconds:.1f}s")
    assert first < load_seconds, "the first request did not wait for a model to load"
