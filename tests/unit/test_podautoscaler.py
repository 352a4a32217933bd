"""The PodAutoscaler controller in process: metrics in, decisions out, on a fake clock."""

import asyncio

import pytest

from reference.apis import conditions
from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.registry import Registry
from reference.apiserver.store import Store
from reference.serving.podautoscaler import PodAutoscalerReconciler


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _pa(registry: Registry, annotations: dict[str, str], cc: int = 1) -> None:
    kind = registry.kinds.by_path("autoscaling.internal.knative.dev", "v1alpha1", "podautoscalers")
    registry.create(kind, "default", {
        "metadata": {"name": "rev-00001", "annotations": annotations},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "rev-00001-deployment"},
                 "containerConcurrency": cc, "protocolType": "http1"}})


@pytest.fixture
def setup() -> tuple[Registry, PodAutoscalerReconciler, Clock, dict]:
    registry = Registry(Store())
    bootstrap(registry)
    clock = Clock()
    feed: dict = {"revisions": {}}

    async def stats(since: int) -> dict:
        return feed

    return registry, PodAutoscalerReconciler(registry, stats=stats, clock=clock), clock, feed


def _status(registry: Registry) -> dict:
    kind = registry.kinds.by_path("autoscaling.internal.knative.dev", "v1alpha1", "podautoscalers")
    return registry.get(kind, "default", "rev-00001")["status"]


def test_concurrency_in_decides_replicas_out(setup) -> None:
    registry, controller, clock, feed = setup
    _pa(registry, {"autoscaling.knative.dev/window": "6s"})
    asyncio.run(controller.reconcile(("default", "rev-00001")))
    first = _status(registry)
    assert first["desiredScale"] == -1 and first["scaleTargetReplicas"] == 1  # no metrics yet: initial scale
    feed["revisions"]["default/rev-00001"] = {"inflight": 3, "queued": 0,
                                              "buckets": [[int(clock.now) - 1, 3.5, 10]]}
    asyncio.run(controller._scrape())
    asyncio.run(controller.reconcile(("default", "rev-00001")))
    status = _status(registry)
    assert status["desiredScale"] == 5 and status["scaleTargetReplicas"] == 5  # ceil(3.5 / 0.7)
    assert conditions.get({"status": status}, "Active")["status"] == "Unknown"  # none ready yet


def test_the_hpa_class_is_not_supported(setup) -> None:
    registry, controller, _, _ = setup
    _pa(registry, {"autoscaling.knative.dev/class": "hpa.autoscaling.knative.dev",
                   "autoscaling.knative.dev/metric": "cpu"})
    asyncio.run(controller.reconcile(("default", "rev-00001")))
    ready = conditions.get({"status": _status(registry)}, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NotSupported")
    assert "HorizontalPodAutoscaler" in ready["message"]


def test_config_autoscaler_changes_apply_without_a_restart(setup) -> None:
    registry, controller, _, _ = setup
    _pa(registry, {})
    asyncio.run(controller.reconcile(("default", "rev-00001")))
    configmaps = registry.kinds.by_path("", "v1", "configmaps")
    registry.patch(configmaps, "knative-serving", "config-autoscaler", "application/merge-patch+json",
                   b'{"data": {"min-scale": "3"}}')
    assert controller._on_config(registry.get(configmaps, "knative-serving", "config-autoscaler")) == [
        ("default", "rev-00001")]
    asyncio.run(controller.reconcile(("default", "rev-00001")))
    assert _status(registry)["scaleTargetReplicas"] == 3


def test_decisions_are_published_as_knatives_autoscaler_metrics(setup) -> None:
    registry, controller, clock, feed = setup
    _pa(registry, {"autoscaling.knative.dev/window": "6s", "autoscaling.knative.dev/panic-window-percentage": "50"})
    key = ("default", "rev-00001")
    asyncio.run(controller.reconcile(key))
    labels = {"namespace_name": "default", "revision_name": "rev-00001", "service_name": "",
              "configuration_name": ""}
    sample = controller.published.registry.get_sample_value
    assert sample("autoscaler_panic_mode", labels) == 0  # no metrics yet: no decision, no panic
    feed["revisions"]["default/rev-00001"] = {"inflight": 3, "queued": 0, "buckets": [[int(clock.now) - 1, 3.5, 10]]}
    asyncio.run(controller._scrape())
    asyncio.run(controller.reconcile(key))
    # The panic window asks 5 pods of one (none ready counts as one): at or over 200%, panic.
    assert sample("autoscaler_panic_mode", labels) == 1
    assert sample("autoscaler_desired_pods", labels) == 5
    assert sample("autoscaler_panic_request_concurrency", labels) == 3.5
    kind = registry.kinds.by_path("autoscaling.internal.knative.dev", "v1alpha1", "podautoscalers")
    registry.delete(kind, "default", "rev-00001")
    asyncio.run(controller.reconcile(key))
    assert sample("autoscaler_panic_mode", labels) is None, "a deleted revision's series go"
