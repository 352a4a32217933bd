"""Kubernetes' rules for container resources, on Pods and on Knative Services, and ACK's ResourcePolicy
admission: each refusal names its field, and nothing refused is stored."""

from __future__ import annotations

import pytest

from reference.apiserver.admission.resources import validate_requirements
from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.errors import ApiError
from reference.apiserver.registry import Registry
from reference.apiserver.store import Store


@pytest.mark.parametrize(("resources", "message"), [
    ({"limits": {"nvidia.com/gpu": "1"}}, None),
    ({"limits": {"nvidia.com/gpu": 1, "cpu": "500m"}, "requests": {"nvidia.com/gpu": 1}}, None),
    ({"limits": {"aliyun.com/gpu-mem": "3"}}, None),
    ({"limits": {"nvidia.com/gpu": "500m"}}, 'Invalid value: "500m": must be an integer: limits[nvidia.com/gpu]'),
    ({"limits": {"nvidia.com/gpu": 0.5}}, 'Invalid value: "0.5": must be an integer: limits[nvidia.com/gpu]'),
    ({"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "2"}},
     'Invalid value: "2": must be equal to nvidia.com/gpu limit of 1: requests'),
    ({"requests": {"nvidia.com/gpu": "1"}},
     "Required value: Limit must be set for non overcommitable resources: limits"),
    ({"limits": {"cpu": "1"}, "requests": {"cpu": "2"}},
     'Invalid value: "2": must be less than or equal to cpu limit of 1: requests'),
    ({"limits": {"memory": "-1Gi"}}, 'Invalid value: "-1Gi": must be greater than or equal to 0: limits[memory]'),
    ({"limits": {"memory": "lots"}}, "quantities must match the regular expression"),
    ({"limits": {"gpu": "1"}}, 'Invalid value: "gpu": must be a standard resource type or fully qualified'),
])
def test_resource_requirements(resources: dict, message: str | None) -> None:
    problem = validate_requirements(resources)
    if message is None:
        assert problem is None
    else:
        assert problem is not None and message in str(problem), str(problem)


@pytest.fixture
def registry() -> Registry:
    reg = Registry(Store())
    bootstrap(reg)
    return reg


def _refused(call) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    assert caught.value.code == 422
    return caught.value


def _fields(err: ApiError) -> list[str]:
    return [c["field"] for c in (err.details or {}).get("causes") or []]


def test_a_pod_with_half_a_gpu_is_refused_and_not_stored(registry: Registry) -> None:
    pods = registry.kinds.by_path("", "v1", "pods")
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "half"},
            "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": "0.5"}}}]}}
    err = _refused(lambda: registry.create(pods, "default", body))
    assert "spec.containers[0].resources.limits[nvidia.com/gpu]" in _fields(err)
    assert registry.store.get(pods.resource, "default", "half") is None


def test_a_pod_requests_its_limits(registry: Registry) -> None:
    pods = registry.kinds.by_path("", "v1", "pods")
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "gpu"},
            "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}
    created = registry.create(pods, "default", body)
    assert created["spec"]["containers"][0]["resources"]["requests"] == {"nvidia.com/gpu": 1}
    assert created["status"]["qosClass"] == "BestEffort"


def test_a_service_asking_for_requests_unequal_to_limits_is_refused(registry: Registry) -> None:
    services = registry.kinds.by_path("serving.knative.dev", "v1", "services")
    body = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "gpu"},
            "spec": {"template": {"spec": {"containers": [{"image": "ghcr.io/kproof/autoscale", "resources": {
                "limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "2"}}}]}}}}
    err = _refused(lambda: registry.create(services, "default", body))
    assert "spec.template.spec.containers[0].resources.requests" in _fields(err)
    assert registry.store.get(services.resource, "default", "gpu") is None


@pytest.mark.parametrize(("spec", "field"), [
    ({"strategy": "spread", "units": [{"resource": "ecs"}]}, "spec.strategy"),
    ({"units": []}, "spec.units"),
    ({"units": [{"resource": "gpu"}]}, "spec.units[0].resource"),
    ({"units": [{"resource": "ecs", "max": -1}]}, "spec.units[0].max"),
    ({"units": [{"resource": "ecs"}], "whenTryNextUnits": {"policy": "Never"}}, "spec.whenTryNextUnits.policy"),
    ({"units": [{"resource": "ecs"}], "whenTryNextUnits": {"policy": "TimeoutOrExceedMax", "timeout": "soon"}},
     "spec.whenTryNextUnits.timeout"),
    ({"units": [{"resource": "ecs"}], "preemptPolicy": "Always"}, "spec.preemptPolicy"),
])
def test_resource_policy_admission(registry: Registry, spec: dict, field: str) -> None:
    policies = registry.kinds.by_path("scheduling.alibabacloud.com", "v1alpha1", "resourcepolicies")
    body = {"apiVersion": "scheduling.alibabacloud.com/v1alpha1", "kind": "ResourcePolicy",
            "metadata": {"name": "pools"}, "spec": {"selector": {"app": "x"}, **spec}}
    err = _refused(lambda: registry.create(policies, "default", body))
    assert field in _fields(err)
