"""Kubernetes' rules for GPUs as extended resources: whole numbers, requests equal to limits, no request
without a limit. Refused with the field named, and nothing stored.

Knative validates a Service's PodSpec against the cluster with a dry-run Pod when the Service asks for
it (`features.knative.dev/podspec-dryrun: enabled`); the reference always does.
"""

from __future__ import annotations

import pytest

from conformance.gpu.support import NVIDIA_GPU
from conformance.helpers import assert_invalid, refused, unique
from conformance.serving.support import service
from kproof.target import GPU, Target

pytestmark = pytest.mark.requires(GPU)  # the whole area; conftest.py waits for free GPUs

DRY_RUN = {"features.knative.dev/podspec-dryrun": "enabled"}
FIELD = "spec.template.spec.containers[0].resources"


@pytest.mark.spec("MUST", "stable", source="Kubernetes extended resources "
                  "(kubernetes.io/docs/tasks/configure-pod-container/extended-resource): quantities are integers, a "
                  "request needs a limit and equals it")
@pytest.mark.parametrize(("resources", "field"), [
    ({"limits": {NVIDIA_GPU: "500m"}}, f"{FIELD}.limits[{NVIDIA_GPU}]"),
    ({"limits": {NVIDIA_GPU: "1"}, "requests": {NVIDIA_GPU: "2"}}, f"{FIELD}.requests"),
    ({"requests": {NVIDIA_GPU: "1"}}, f"{FIELD}.limits"),
    ({"limits": {"aliyun.com/gpu-mem": "1.5"}}, f"{FIELD}.limits[aliyun.com/gpu-mem]"),
])
def test_invalid_gpu_resources_of_a_service(target: Target, namespace: str, app_image, resources: dict,
                                            field: str) -> None:
    name = unique("bad-gpu")
    manifest = service(name, namespace, app_image("autoscale"), annotations=DRY_RUN, resources=resources)
    manifest["metadata"]["annotations"] = DRY_RUN
    assert_invalid(refused(lambda: target.create(manifest)), field)
    assert target.get("serving.knative.dev/v1", "Service", name, namespace) is None


@pytest.mark.spec("MUST", "stable", source="Kubernetes extended resources: \"Extended resources cannot be "
                  "overcommitted\", fractional quantities are refused")
def test_half_a_gpu_for_a_pod(target: Target, namespace: str, app_image) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "half", "namespace": namespace},
           "spec": {"containers": [{"name": "c", "image": app_image("autoscale"),
                                    "resources": {"limits": {NVIDIA_GPU: "0.5"}}}]}}
    err = refused(lambda: target.create(pod))
    assert err.status == 422, err.body
    assert f"spec.containers[0].resources.limits[{NVIDIA_GPU}]" in err.body and "must be an integer" in err.body
    assert target.get("v1", "Pod", "half", namespace) is None
