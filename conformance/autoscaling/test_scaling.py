"""Request-driven autoscaling as the KPA does it (short windows, small numbers).

Every assertion is on what any client can see: Pods, PodAutoscalers and responses.
"""

from __future__ import annotations

import time

import pytest

from conformance.autoscaling.support import FAST_WINDOW, Load, autoscaler, ready_pods
from conformance.helpers import eventually, restoring_config
from conformance.serving.support import deploy, service
from kproof.target import Target


def _deploy(target: Target, namespace: str, app_image, name: str, annotations: dict | None = None,
            cc: int = 1) -> None:
    deploy(target, service(name, namespace, app_image("autoscale"), containerConcurrency=cc,
                           annotations={**FAST_WINDOW, **(annotations or {})}))


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, serving/autoscaling/concurrency: the KPA scales a "
                  "Revision to the in-flight requests over its target; seed 004 (Best practices for AI model "
                  "inference with Knative): concurrency is the metric to use")
@pytest.mark.quick
def test_concurrency_scales_out_to_the_load(target: Target, namespace: str, app_image) -> None:
    _deploy(target, namespace, app_image, "conc")
    with Load(target, "conc", namespace, path="/?sleep=500", clients=5) as load:
        # containerConcurrency 1, 5 clients: at least 5 replicas (target 0.7 asks for ceil(5 / 0.7) = 8).
        eventually(lambda: ready_pods(target, namespace, "conc") >= 5, 90, "scaled out to 5 ready replicas")
    assert not load.failures, load.failures


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, serving/autoscaling/scale-bounds: max-scale, \"the "
                  "maximum number of replicas that each revision should have\"")
def test_max_scale_caps_the_replicas(target: Target, namespace: str, app_image) -> None:
    _deploy(target, namespace, app_image, "capped", {"autoscaling.knative.dev/max-scale": "2"})
    seen = []
    with Load(target, "capped", namespace, path="/?sleep=300", clients=6) as load:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            seen.append(ready_pods(target, namespace, "capped"))
            time.sleep(0.5)
    assert max(seen) == 2, seen
    assert int(autoscaler(target, namespace, "capped-00001")["status"]["desiredScale"]) <= 2
    assert not load.failures, load.failures


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, serving/autoscaling/scale-bounds: min-scale, \"the "
                  "minimum number of replicas that each Revision should have\"")
def test_min_scale_holds_a_floor_without_traffic(target: Target, namespace: str, app_image) -> None:
    _deploy(target, namespace, app_image, "floor", {"autoscaling.knative.dev/min-scale": "2"})
    eventually(lambda: ready_pods(target, namespace, "floor") == 2, 60, "at its floor of 2")
    time.sleep(10)  # longer than the 6 s window with no traffic at all
    assert ready_pods(target, namespace, "floor") == 2


@pytest.mark.spec("MUST", "stable", source="Knative docs, serving/autoscaling/scale-bounds: initial-scale, \"the "
                  "initial target scale a Revision must reach immediately after it is created before it is marked as "
                  "Ready\"")
def test_initial_scale_starts_that_many(target: Target, namespace: str, app_image) -> None:
    _deploy(target, namespace, app_image, "initial", {"autoscaling.knative.dev/initial-scale": "3"})
    assert ready_pods(target, namespace, "initial") >= 3, "Ready only once the initial scale is reached"


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, serving/autoscaling/autoscaling-metrics: the rps metric "
                  "with the KPA")
def test_rps_metric_scales_on_request_rate(target: Target, namespace: str, app_image) -> None:
    # 10 requests a second per replica at 70% utilization: 7; 40 a second asks for ceil(40 / 7) = 6.
    _deploy(target, namespace, app_image, "rate", {"autoscaling.knative.dev/metric": "rps",
                                                   "autoscaling.knative.dev/target": "10"}, cc=0)
    with Load(target, "rate", namespace, path="/", rate=40) as load:
        eventually(lambda: ready_pods(target, namespace, "rate") >= 4, 90, "scaled out on the request rate")
    assert not load.failures, load.failures


@pytest.mark.spec("SHOULD", "stable", source="seed 002 (Knative autoscaling with Benthos, pull-based): `metric: "
                  "rps`, `target: 200`, `window: 6s`, `max-scale: 10`")
def test_seed_002_annotations_are_honoured(target: Target, namespace: str, app_image) -> None:
    # benthos-vader's annotations: metric rps, target 200 (140 a second per replica), window 6s, max 10.
    annotations = {"autoscaling.knative.dev/metric": "rps", "autoscaling.knative.dev/target": "200",
                   "autoscaling.knative.dev/window": "6s", "autoscaling.knative.dev/max-scale": "10"}
    deploy(target, service("vader", namespace, app_image("autoscale"), annotations=annotations))
    with Load(target, "vader", namespace, path="/", rate=300) as load:
        eventually(lambda: ready_pods(target, namespace, "vader") >= 3, 90, "scaled out to ceil(300 / 140)")
    pa = autoscaler(target, namespace, "vader-00001")
    assert {k: pa["metadata"]["annotations"][k] for k in annotations} == annotations
    assert int(pa["status"]["desiredScale"]) <= 10
    assert not load.failures, load.failures


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, serving/autoscaling/kpa-specific: panic mode, when the "
                  "panic window's concurrency reaches the panic threshold")
def test_a_burst_panics_and_scales_within_a_few_ticks(target: Target, namespace: str, app_image) -> None:
    _deploy(target, namespace, app_image, "burst")
    with Load(target, "burst", namespace, path="/?sleep=3000", clients=12) as load:
        started = time.monotonic()
        eventually(lambda: ready_pods(target, namespace, "burst") >= 10, 60, "scaled out for the burst")
        elapsed = time.monotonic() - started
    assert elapsed < 30, f"took {elapsed:.1f}s: the panic window (0.6 s of a 6 s window) should act in a few ticks"
    assert not load.failures, load.failures


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, serving/autoscaling/kpa-specific: max-scale-down-rate "
                  "bounds each step down")
def test_scale_down_follows_the_max_scale_down_rate(target: Target, namespace: str, app_image) -> None:
    _deploy(target, namespace, app_image, "down")
    with Load(target, "down", namespace, path="/?sleep=500", clients=8):
        eventually(lambda: ready_pods(target, namespace, "down") >= 8, 90, "scaled out to 8")
    # Each decision keeps at least half the replicas that were ready when it was made (rate 2).
    samples: list[tuple[int, int]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = autoscaler(target, namespace, "down-00001").get("status", {})
        sample = (int(status.get("desiredScale", -1)), int(status.get("actualScale", 0)))
        if not samples or sample != samples[-1]:
            samples.append(sample)
        if sample[0] <= 1:
            break
        time.sleep(0.1)
    assert samples[-1][0] <= 1, samples
    for desired, ready in samples:
        assert desired >= ready // 2, f"wanted {desired} with {ready} ready: faster than max-scale-down-rate 2"
    assert any(1 < desired < 8 for desired, _ in samples), f"no step on the way down: {samples}"


@pytest.mark.spec("MAY", "stable", source="knative/specs serving/knative-api-specification-1.0.md#revision: "
                  "\"Revisions ... with no referencing Routes MAY be automatically scaled to zero\"; knative/specs "
                  "serving/knative-api-specification-1.0.md#request-routing: the routing infrastructure \"MUST hold "
                  "(delay) requests until an available instance is ready\"")
def test_idle_scales_to_zero_and_the_next_request_wakes_it(target: Target, namespace: str, app_image) -> None:
    with restoring_config(target, "knative-serving", "config-autoscaler"):
        # The shortest grace period Knative allows (6 s), so that zero comes in seconds.
        target.patch("v1", "ConfigMap", "config-autoscaler", {"data": {"scale-to-zero-grace-period": "6s"}},
                     "knative-serving")
        _deploy(target, namespace, app_image, "sleepy", cc=0)
        assert target.http("sleepy", "/", namespace=namespace).status_code == 200
        # Zero after the 6 s window and the 6 s grace period.
        eventually(lambda: ready_pods(target, namespace, "sleepy") == 0 and not target.list(
            "v1", "Pod", namespace, label_selector="serving.knative.dev/service=sleepy"), 120, "scaled to zero")
    pa = autoscaler(target, namespace, "sleepy-00001")
    assert any(c["type"] == "Active" and c["status"] == "False" for c in pa["status"]["conditions"])
    started = time.monotonic()
    response = target.http("sleepy", "/", namespace=namespace, timeout=120)
    assert response.status_code == 200, response.text
    print(f"answered from zero in {time.monotonic() - started:.2f}s")
    # Knative's activator probes a new Pod itself and may route to it before its Ready condition is written
    eventually(lambda: ready_pods(target, namespace, "sleepy") >= 1, 30, "the woken Pod Ready")


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, serving/autoscaling: the config-autoscaler ConfigMap; "
                  "changes apply to running Revisions")
def test_config_autoscaler_changes_apply_without_a_restart(target: Target, namespace: str, app_image) -> None:
    _deploy(target, namespace, app_image, "global")
    eventually(lambda: ready_pods(target, namespace, "global") == 1, 60, "at one replica")
    with restoring_config(target, "knative-serving", "config-autoscaler"):
        target.patch("v1", "ConfigMap", "config-autoscaler", {"data": {"min-scale": "2"}}, "knative-serving")
        eventually(lambda: ready_pods(target, namespace, "global") == 2, 90, "at the cluster-wide min-scale of 2")
