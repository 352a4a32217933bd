"""Gradual rollout (knative.dev/serving pkg/reconciler/route/traffic/rollout.go): with
`serving.knative.dev/rollout-duration` a new revision starts at 1% and takes its Configuration's traffic in
equal steps, each visible in the Route's status.traffic, until it has it all."""

from __future__ import annotations

import time

import pytest

from conformance.helpers import eventually, log
from conformance.serving.support import deploy, service, wait_for_revision
from kproof.target import Target

ROUTE = ("serving.knative.dev/v1", "Route")
DURATION = 12  # seconds


@pytest.mark.timing
@pytest.mark.spec("SHOULD", "stable", source="Knative docs, serving/rolling-out-latest-revision: the "
                  "serving.knative.dev/rollout-duration annotation (and config-network's rollout-duration) roll a "
                  "new revision out gradually; seed 004: \"the traffic percentage determines the time when Knative "
                  "switches traffic from the earlier version to the new version\"")
def test_a_new_revision_takes_its_traffic_in_steps(target: Target, namespace: str, app_image,
                                                   capsys: pytest.CaptureFixture) -> None:
    manifest = service("rolled", namespace, app_image("helloworld"), env={"TARGET": "one"})
    manifest["metadata"]["annotations"] = {"serving.knative.dev/rollout-duration": f"{DURATION}s"}
    deploy(target, manifest)
    manifest["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "TARGET", "value": "two"}]
    target.apply(manifest)

    shares: list[int] = []  # the new revision's percent, each time it changes
    reasons: set[str] = set()

    def rolled_out() -> bool:
        route = target.get(*ROUTE, "rolled", namespace) or {}
        status = route.get("status") or {}
        new = sum(t.get("percent", 0) for t in status.get("traffic") or [] if t.get("revisionName") == "rolled-00002")
        if new and (not shares or shares[-1] != new):
            shares.append(new)
        reasons.update(c.get("reason", "") for c in status.get("conditions") or [] if c["type"] == "IngressReady")
        return new == 100

    started = time.monotonic()
    eventually(rolled_out, DURATION * 4, "the new revision at 100%", interval=0.1)
    took = time.monotonic() - started
    wait_for_revision(target, "rolled", namespace, "rolled-00002")
    assert shares[0] == 1, f"the first step gives 1%: {shares}"
    assert shares == sorted(shares) and len(shares) >= 4, f"steps up to 100%: {shares}"
    assert "RolloutInProgress" in reasons
    seen = eventually(lambda: target.http("rolled", "/", namespace=namespace).text == "Hello two!\n", 30,
                      "the new revision answering")
    assert seen
    log(capsys, f"rollout over {DURATION}s: shares of the new revision {shares} in {took:.1f}s")
