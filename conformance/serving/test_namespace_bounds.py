"""What bounds a namespace's Pods, as on a cluster: a ResourceQuota (a Service asking for 500 replicas gets
what the quota leaves and says why, while another namespace still runs), a LimitRange's defaults, and
Knative's own defaults for a revision's resources (config-defaults)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.helpers import eventually, restoring_config
from conformance.serving.support import KSVC, deploy, service
from kproof.pytest_target import fresh_namespace
from kproof.target import Target

HELLO = "ghcr.io/knative/helloworld-go"


@pytest.fixture
def second_namespace(target: Target) -> Iterator[str]:
    with fresh_namespace(target) as name:
        yield name


def _pods(target: Target, namespace: str, service_name: str) -> list[dict]:
    return [p for p in target.list("v1", "Pod", namespace, label_selector=f"serving.knative.dev/service={service_name}")
            if not p["metadata"].get("deletionTimestamp")]


@pytest.mark.spec("SHOULD", "stable", source="Kubernetes ResourceQuota: Pods beyond the quota are refused; Knative "
                  "reports why on the Revision")
def test_a_quota_bounds_a_greedy_service_and_another_namespace_still_runs(target: Target, namespace: str,
                                                                         second_namespace: str) -> None:
    target.apply({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "pods", "namespace": namespace},
                  "spec": {"hard": {"pods": "3"}}})
    target.apply(service("greedy", namespace, HELLO, annotations={"autoscaling.knative.dev/min-scale": "500"}))

    def refused_revision() -> dict | None:
        for revision in target.list("serving.knative.dev/v1", "Revision", namespace):
            for condition in (revision.get("status") or {}).get("conditions") or []:
                if "exceeded quota" in condition.get("message", ""):
                    return condition
        return None

    condition = eventually(refused_revision, 120, "the revision saying the quota refused its Pods", interval=1)
    assert condition["status"] == "False", condition
    assert len(_pods(target, namespace, "greedy")) == 3, "as many Pods as the quota allows"
    quota = eventually(lambda: ((target.get("v1", "ResourceQuota", "pods", namespace) or {}).get("status") or {}
                                ).get("used"), 60, "the quota's usage in its status")
    assert quota == {"pods": "3"}

    deploy(target, service("modest", second_namespace, HELLO))
    assert "Hello" in target.http("modest", "/", namespace=second_namespace).text


@pytest.mark.spec("SHOULD", "stable", source="Kubernetes LimitRange defaults; Knative docs, config-defaults: "
                  "revision-cpu-request and the like")
def test_a_limit_range_and_config_defaults_fill_a_revisions_resources(target: Target, namespace: str) -> None:
    target.apply({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults", "namespace": namespace},
                  "spec": {"limits": [{"type": "Container", "default": {"memory": "192Mi"}}]}})
    with restoring_config(target, "knative-serving", "config-defaults"):
        target.patch("v1", "ConfigMap", "config-defaults", {"data": {"revision-cpu-request": "50m"}},
                     "knative-serving")
        deploy(target, service("bounded", namespace, HELLO))
    revision = target.list("serving.knative.dev/v1", "Revision", namespace)[0]
    resources = revision["spec"]["containers"][0]["resources"]
    assert resources.get("requests") == {"cpu": "50m"}, "Knative's webhook fills config-defaults' request"
    pod = _pods(target, namespace, "bounded")[0]
    user = next(c for c in pod["spec"]["containers"] if c["name"] == "user-container")
    assert user["resources"]["limits"] == {"memory": "192Mi"}, "the LimitRange's default limit"
    assert user["resources"]["requests"] == {"cpu": "50m", "memory": "192Mi"}, "the request defaults to the limit"
    assert target.get(*KSVC, "bounded", namespace) is not None
