"""Seed 004's ResourcePolicy (ACK, scheduling.alibabacloud.com/v1alpha1): scale-out fills the units in
order, and scale-in removes the Pods of the last units first."""

from __future__ import annotations

import time
from collections import Counter

import pytest
import yaml

from conformance.gpu.support import FIXTURES, seed_manifest, service_pods
from conformance.helpers import eventually
from kproof.target import GPU, Target

pytestmark = pytest.mark.requires(GPU)  # the whole area; conftest.py waits for free GPUs

POOL = "kproof.dev/pool"


def _policy(namespace: str) -> dict:
    doc = yaml.safe_load((FIXTURES / "seed-004" / "resource-policy.yaml").read_text())
    doc["metadata"]["namespace"] = namespace
    return doc


@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): "
                  "ResourcePolicy (scheduling.alibabacloud.com/v1alpha1), reserved units first, burst next, burst "
                  "removed first")
def test_reserved_unit_first_burst_next_and_burst_leaves_first(target: Target, namespace: str) -> None:
    try:
        target.resource("scheduling.alibabacloud.com/v1alpha1", "ResourcePolicy")
    except Exception:
        pytest.skip("the target serves no ResourcePolicy (ACK's scheduling.alibabacloud.com)")
    pools = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(POOL) for n in target.list("v1", "Node")}
    if not {"reserved", "burst"} <= set(pools.values()):
        pytest.skip(f"needs nodes labelled {POOL}=reserved and {POOL}=burst")
    policy = _policy(namespace)
    reserved_max = policy["spec"]["units"][0]["max"]
    target.apply(policy)
    # Six replicas at first, two once the initial scale is reached; the delay leaves time to see all six.
    target.apply(seed_manifest("seed-004/helloworld-go.yaml", namespace, {
        "autoscaling.knative.dev/initial-scale": "6", "autoscaling.knative.dev/min-scale": str(reserved_max),
        "autoscaling.knative.dev/window": "6s", "autoscaling.knative.dev/scale-down-delay": "10s"}))
    seen: dict[str, str] = {}
    deadline = time.monotonic() + 180
    while len(seen) < 6 and time.monotonic() < deadline:
        for pod in service_pods(target, namespace, "helloworld-go"):
            if pod["spec"].get("nodeName"):
                seen[pod["metadata"]["name"]] = pools.get(pod["spec"]["nodeName"])
        time.sleep(0.2)
    assert Counter(seen.values()) == {"reserved": reserved_max, "burst": 6 - reserved_max}, seen

    def remaining() -> list[dict]:
        return service_pods(target, namespace, "helloworld-go")

    eventually(lambda: len(remaining()) == reserved_max, 120, f"scaled in to {reserved_max}")
    assert {pools[p["spec"]["nodeName"]] for p in remaining()} == {"reserved"}, "the burst Pods left first"
