"""Seed 001's GPU Service on whole GPUs (nvidia.com/gpu): one GPU per replica, a burst stops at the GPUs
there are, the replicas beyond stay Pending with Kubernetes' message, and GPUs go to the next Pod as soon
as they are free.

The seed's image (bert-intent-detection) answers in milliseconds; the burst here needs requests that
last, so these tests run the seed's GPU settings with the autoscale app, and a 6 s window so that
scale-in takes seconds, not minutes.
"""

from __future__ import annotations

import re
import shutil
import time

import pytest
from kubernetes.utils import parse_quantity

from conformance.api.test_kubectl import kubectl
from conformance.autoscaling.support import Load, autoscaler, ready_pods
from conformance.gpu.support import (
    FAST_WINDOW,
    NVIDIA_GPU,
    free_whole_gpus,
    requested,
    revision_condition,
    seed_manifest,
    service_pods,
    unschedulable,
)
from conformance.helpers import eventually, restoring_config
from conformance.serving.support import deploy, service
from kproof.target import GPU, Target

pytestmark = pytest.mark.requires(GPU)  # the whole area; conftest.py waits for free GPUs

SEED = "seed-001/test-ai-process.yaml"
INSUFFICIENT = re.compile(r"^0/\d+ nodes are available: .*\d+ Insufficient nvidia\.com/gpu")


def _free_gpus_or_skip(target: Target, at_least: int = 1) -> int:
    free = free_whole_gpus(target)
    if free < at_least:
        pytest.skip(f"needs {at_least} free nvidia.com/gpu, the target has {free}")
    return free


def _gpu_service(name: str, namespace: str, app_image, **annotations: str) -> dict:
    return service(name, namespace, app_image("autoscale"), containerConcurrency=1,
                   annotations={**FAST_WINDOW, **annotations},
                   resources={"limits": {NVIDIA_GPU: "1"}})


@pytest.mark.spec("MUST", "stable", source="Kubernetes scheduling of extended resources (nvidia.com/gpu): a Pod that "
                  "no node fits stays Pending until one does")
@pytest.mark.quick
def test_a_burst_stops_at_the_gpus_and_a_pending_replica_starts_when_one_frees(
        target: Target, namespace: str, app_image) -> None:
    free = _free_gpus_or_skip(target)
    deploy(target, seed_manifest(SEED, namespace, FAST_WINDOW, image=app_image("autoscale")))
    clients = 2 * (free + 2)  # containerConcurrency 2: asks for more replicas than there are GPUs
    with Load(target, "test-ai-process", namespace, path="/?sleep=3000", clients=clients) as load:
        eventually(lambda: ready_pods(target, namespace, "test-ai-process") == free, 120,
                   f"running on all {free} free GPUs")
        waiting = eventually(lambda: [p for p in service_pods(target, namespace, "test-ai-process")
                                      if unschedulable(p)], 60, "a replica Pending for want of a GPU")
        condition = unschedulable(waiting[0])
        assert condition["reason"] == "Unschedulable"
        assert INSUFFICIENT.match(condition["message"]), condition["message"]
        running = [p for p in service_pods(target, namespace, "test-ai-process") if p["spec"].get("nodeName")]
        assert all(requested(p, NVIDIA_GPU) == 1 for p in running)
        assert free_whole_gpus(target) == 0
        events = target.list("v1", "Event", namespace,
                             field_selector=f"involvedObject.name={waiting[0]['metadata']['name']}")
        assert any(e.get("reason") == "FailedScheduling" and INSUFFICIENT.match(e.get("message", ""))
                   for e in events), events
        # Knative's view: the KPA wants more than it has ready.
        status = autoscaler(target, namespace, "test-ai-process-00001")["status"]
        assert int(status["desiredScale"]) > int(status["actualScale"]) == free
        if shutil.which("kubectl"):
            _describe_shows_gpus(target, {p["spec"]["nodeName"] for p in running})

        # Another GPU Service cannot start while the burst holds every GPU ...
        deploy_later = _gpu_service("second", namespace, app_image)
        target.apply(deploy_later)
        eventually(lambda: revision_condition(target, namespace, "second-00001", "ResourcesAvailable").get(
            "reason") == "Unschedulable", 60, "the second revision marked Unschedulable")
        ready = revision_condition(target, namespace, "second-00001", "Ready")
        assert ready.get("status") == "False" and ready.get("reason") == "Unschedulable"
        assert INSUFFICIENT.match(ready.get("message", "")), ready
    assert not load.failures, load.failures
    # ... and starts once the load has gone and the first one scaled in (its minScale is 1).
    target.wait_for("serving.knative.dev/v1", "Service", "second", namespace, timeout=180, fail_on=())
    assert target.http("second", "/", namespace=namespace).status_code == 200


def _describe_shows_gpus(target: Target, nodes: set[str]) -> None:
    """kubectl describe node: the Pods' GPUs in "Allocated resources" (requests and limits, no percent)."""
    for node in nodes:
        text = kubectl(target, "describe", "node", node).stdout
        allocated = text.split("Allocated resources:", 1)[1]
        row = re.search(r"^\s+nvidia\.com/gpu\s+(\d+)\s+(\d+)\s*$", allocated, re.MULTILINE)
        assert row, allocated
        held = sum(1 for p in target.list("v1", "Pod", field_selector=f"spec.nodeName={node}")
                   if requested(p, NVIDIA_GPU) and p["status"].get("phase") not in ("Succeeded", "Failed"))
        assert int(row.group(1)) == int(row.group(2)) == held


@pytest.mark.spec("MAY", "stable", source="knative/specs serving/knative-api-specification-1.0.md#revision: "
                  "\"Revisions ... MAY be automatically scaled to zero instances\"")
def test_scale_to_zero_frees_every_gpu(target: Target, namespace: str, app_image) -> None:
    free = _free_gpus_or_skip(target)
    with restoring_config(target, "knative-serving", "config-autoscaler"):
        # The shortest grace period Knative allows, so that zero comes in seconds.
        target.patch("v1", "ConfigMap", "config-autoscaler", {"data": {"scale-to-zero-grace-period": "6s"}},
                     "knative-serving")
        deploy(target, _gpu_service("sleepy", namespace, app_image))
        assert target.http("sleepy", "/", namespace=namespace).status_code == 200
        assert free_whole_gpus(target) == free - 1
        # Zero after the 6 s window and the grace period; its GPU is free again.
        eventually(lambda: not target.list("v1", "Pod", namespace,
                                           label_selector="serving.knative.dev/service=sleepy"), 120, "scaled to zero")
    assert free_whole_gpus(target) == free
    assert target.http("sleepy", "/", namespace=namespace, timeout=120).status_code == 200, "woken on a GPU again"


def _more_gpus_than_any_node(target: Target) -> str:
    most = max(parse_quantity((n["status"].get("allocatable") or {}).get(NVIDIA_GPU, "0"))
               for n in target.list("v1", "Node"))
    return str(int(most) + 1)


def _conditions(obj: dict | None) -> dict[str, dict]:
    return {c["type"]: c for c in ((obj or {}).get("status") or {}).get("conditions") or []}


@pytest.mark.spec("SHOULD", "stable", source="knative/serving config-deployment progress-deadline (600s): a Revision "
                  "not ready by then fails")
def test_a_revision_that_never_fits_fails_after_its_progress_deadline(target: Target, namespace: str,
                                                                      app_image) -> None:
    target.apply(service("greedy", namespace, app_image("autoscale"),
                         annotations={"serving.knative.dev/progress-deadline": "5s"},
                         resources={"limits": {NVIDIA_GPU: _more_gpus_than_any_node(target)}}))
    eventually(lambda: revision_condition(target, namespace, "greedy-00001", "ResourcesAvailable").get(
        "reason") == "Unschedulable", 60, "marked Unschedulable while no Pod fits")
    failed = target.wait_until("serving.knative.dev/v1", "Revision", "greedy-00001", lambda r: _conditions(r).get(
        "Ready", {}).get("reason") == "ProgressDeadlineExceeded", namespace, timeout=90,
        what="failed by its progress deadline (5 s, then 10 s more to give up activating)")
    ready = _conditions(failed)["Ready"]
    assert ready["status"] == "False" and ready["message"] == "Initial scale was never achieved"
    assert not service_pods(target, namespace, "greedy"), "it gave up: no Pod is left waiting"
    ksvc = target.wait_until("serving.knative.dev/v1", "Service", "greedy", lambda s: _conditions(s).get(
        "ConfigurationsReady", {}).get("status") == "False", namespace, timeout=30, what="not Ready")
    assert _conditions(ksvc)["ConfigurationsReady"]["reason"] == "RevisionFailed"


@pytest.mark.spec("SHOULD", "stable", source="knative/serving config-autoscaler pod-is-always-schedulable")
def test_pod_is_always_schedulable_keeps_pending_revisions_deploying(target: Target, namespace: str,
                                                                     app_image) -> None:
    # config-deployment's pod-is-always-schedulable (Knative 1.21): for clusters whose autoscaler adds nodes.
    with restoring_config(target, "knative-serving", "config-deployment"):
        target.patch("v1", "ConfigMap", "config-deployment", {"data": {"pod-is-always-schedulable": "true"}},
                     "knative-serving")
        target.apply(service("patient", namespace, app_image("autoscale"),
                             resources={"limits": {NVIDIA_GPU: _more_gpus_than_any_node(target)}}))
        eventually(lambda: any(unschedulable(p) for p in service_pods(target, namespace, "patient")), 60,
                   "its Pod Pending")
        for _ in range(10):
            available = revision_condition(target, namespace, "patient-00001", "ResourcesAvailable")
            assert available.get("status") != "False", available
            time.sleep(0.3)
