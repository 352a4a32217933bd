"""Placement as kube-scheduler and ACK's extender decide it, as table tests over nodes and Pods."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from reference.apis.resources import pod_requests, qos_class
from reference.reconciler.podset import deletion_order
from reference.scheduler import gpushare
from reference.scheduler.placement import (
    ONE_DEVICE,
    SELECTOR_MISMATCH,
    Fit,
    NoFit,
    fit_error,
    node_infos,
    schedule,
)

_uids = itertools.count()


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110", labels: dict | None = None,
         taints: list | None = None, unschedulable: bool = False, **extended: str) -> dict:
    capacity = {"cpu": cpu, "memory": memory, "pods": pods,
                **{k.replace("__", "/").replace("_", "-"): v for k, v in extended.items()}}
    spec: dict = {"taints": taints} if taints else {}
    if unschedulable:
        spec["unschedulable"] = True
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec,
            "status": {"capacity": capacity, "allocatable": capacity}}


def gpu_node(name: str, gpus: int = 2, **kwargs: object) -> dict:
    return node(name, **{"nvidia.com__gpu": str(gpus)}, **kwargs)  # type: ignore[arg-type]


def share_node(name: str, gpus: int = 2, gib: int = 16, **kwargs: object) -> dict:
    return node(name, **{"aliyun.com__gpu_mem": str(gpus * gib), "aliyun.com__gpu_count": str(gpus)},
                **kwargs)  # type: ignore[arg-type]


def pod(name: str = "p", limits: dict | None = None, requests: dict | None = None, on: str = "",
        annotations: dict | None = None, labels: dict | None = None, phase: str = "Running", **spec: object) -> dict:
    resources = {}
    if limits:
        resources["limits"] = limits
    if requests:
        resources["requests"] = requests
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{next(_uids)}", "labels": labels or {},
                         "annotations": annotations or {}, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "c", "image": "i", "resources": resources}],
                     **({"nodeName": on} if on else {}), **spec},
            "status": {"phase": phase}}


def place(incoming: dict, nodes: list[dict], pods: list[dict] | None = None) -> Fit | NoFit:
    return schedule(incoming, node_infos(nodes, pods or []))


def test_a_gpu_pod_goes_where_a_gpu_is_free() -> None:
    nodes = [node("cpu-only"), gpu_node("gpu", gpus=1)]
    assert place(pod(limits={"nvidia.com/gpu": "1"}), nodes) == Fit("gpu")


def test_kubernetes_message_when_no_gpu_is_free() -> None:
    nodes = [node("cpu-only"), gpu_node("gpu", gpus=1)]
    held = [pod("running", limits={"nvidia.com/gpu": "1"}, on="gpu")]
    decision = place(pod(limits={"nvidia.com/gpu": "1"}), nodes, held)
    assert isinstance(decision, NoFit)
    assert decision.message == "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."


@pytest.mark.parametrize(("failures", "message"), [
    ({"a": ["Insufficient cpu"], "b": ["Insufficient nvidia.com/gpu"], "c": ["Insufficient nvidia.com/gpu"]},
     "0/3 nodes are available: 1 Insufficient cpu, 2 Insufficient nvidia.com/gpu."),
    ({"a": ["Insufficient cpu", "Insufficient memory"]},
     "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."),
    ({}, "no nodes available to schedule pods"),
])
def test_fit_error_reads_as_kube_scheduler_writes_it(failures: dict, message: str) -> None:
    assert fit_error(len(failures), failures) == message


def test_finished_and_unbound_pods_hold_nothing() -> None:
    nodes = [gpu_node("gpu", gpus=1)]
    others = [pod("done", limits={"nvidia.com/gpu": "1"}, on="gpu", phase="Succeeded"),
              pod("pending", limits={"nvidia.com/gpu": "1"})]
    assert place(pod(limits={"nvidia.com/gpu": "1"}), nodes, others) == Fit("gpu")


def test_terminating_pods_hold_their_gpus_until_gone() -> None:
    leaving = pod("leaving", limits={"nvidia.com/gpu": "1"}, on="gpu")
    leaving["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
    assert isinstance(place(pod(limits={"nvidia.com/gpu": "1"}), [gpu_node("gpu", gpus=1)], [leaving]), NoFit)


@pytest.mark.parametrize(("candidate", "selector", "reason"), [
    (node("n", unschedulable=True), {}, "node(s) were unschedulable"),
    (node("n", taints=[{"key": "gpu", "value": "only", "effect": "NoSchedule"}]), {},
     "node(s) had untolerated taint {gpu: only}"),
    (node("n", labels={"pool": "other"}), {"pool": "mine"}, SELECTOR_MISMATCH),
    (node("n", pods="0"), {}, "Too many pods"),
    (node("n", cpu="500m"), {}, "Insufficient cpu"),
])
def test_each_filter_names_its_reason(candidate: dict, selector: dict, reason: str) -> None:
    decision = place(pod(requests={"cpu": "1"}, nodeSelector=selector), [candidate])
    assert isinstance(decision, NoFit) and decision.failures == {"n": [reason]}


def test_tolerations_and_node_affinity() -> None:
    tainted = node("t", taints=[{"key": "gpu", "value": "only", "effect": "NoSchedule"}], labels={"zone": "a"})
    tolerant = pod(tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
                   affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                       "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In",
                                                                    "values": ["a", "b"]}]}]}}})
    assert place(tolerant, [tainted]) == Fit("t")
    elsewhere = node("t2", labels={"zone": "c"})
    assert isinstance(place(tolerant, [elsewhere]), NoFit)


def test_prefer_no_schedule_taints_do_not_filter() -> None:
    soft = node("soft", taints=[{"key": "k", "value": "v", "effect": "PreferNoSchedule"}])
    assert place(pod(), [soft]) == Fit("soft")


def test_default_score_spreads_by_what_is_left() -> None:
    busy, idle = node("busy", cpu="2"), node("idle", cpu="2")
    held = [pod("x", requests={"cpu": "1"}, on="busy")]
    assert place(pod(requests={"cpu": "500m"}), [busy, idle], held) == Fit("idle")


def _share(pods: list[dict], index: int, on: str = "share", gib: str = "3") -> dict:
    return pod(f"p{len(pods)}", limits={"aliyun.com/gpu-mem": gib}, on=on,
               annotations=gpushare.bind_annotations(index, Decimal(16), Decimal(gib), 0))


def test_gpu_memory_packs_one_gpu_before_the_next() -> None:
    nodes = [share_node("share")]
    placed: list[dict] = []
    indexes = []
    for _ in range(6):
        decision = place(pod(limits={"aliyun.com/gpu-mem": "3"}), nodes, placed)
        assert isinstance(decision, Fit) and decision.gpu_mem_each == 16
        indexes.append(decision.gpu_index)
        placed.append(_share(placed, decision.gpu_index))
    assert indexes == [0, 0, 0, 0, 0, 1]


def test_gpu_memory_picks_the_fullest_gpu_that_fits() -> None:
    placed = [_share([], 0, gib="14"), _share([], 1, gib="10")]
    decision = place(pod(limits={"aliyun.com/gpu-mem": "3"}), [share_node("share")], placed)
    assert decision == Fit("share", 1, Decimal(16))  # GPU 0 has 2 GiB free, too little; GPU 1 has 6


def test_more_memory_than_one_gpu_has_stays_pending_with_the_reason() -> None:
    nodes = [node("cpu-only"), gpu_node("whole"), share_node("share")]
    decision = place(pod(limits={"aliyun.com/gpu-mem": "20"}), nodes)
    assert isinstance(decision, NoFit)
    assert decision.message == (f"0/3 nodes are available: 1 {ONE_DEVICE}, 2 Insufficient aliyun.com/gpu-mem.")


def test_pod_requests_sum_containers_and_respect_init_containers() -> None:
    incoming = pod(limits={"nvidia.com/gpu": "1", "cpu": "1"}, requests={"cpu": "250m"})
    incoming["spec"]["containers"].append({"name": "d", "resources": {"requests": {"cpu": "250m"}}})
    incoming["spec"]["initContainers"] = [{"name": "init", "resources": {"requests": {"cpu": "2"}}}]
    requests = pod_requests(incoming)
    assert requests["cpu"] == Decimal("2") and requests["nvidia.com/gpu"] == 1


@pytest.mark.parametrize(("resources", "qos"), [
    ({}, "BestEffort"),
    ({"limits": {"nvidia.com/gpu": "1"}}, "BestEffort"),
    ({"requests": {"cpu": "100m"}}, "Burstable"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1Gi"}}, "Guaranteed"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}, "Burstable"),
])
def test_qos_class(resources: dict, qos: str) -> None:
    assert qos_class({"spec": {"containers": [{"resources": resources}]}}) == qos


def _ranked(**status: object) -> dict:
    meta = {"name": str(status.pop("name", "p")), "creationTimestamp": status.pop("created", "2026-01-01T00:00:00Z"),
            "annotations": status.pop("annotations", {})}
    ready = status.pop("ready", True)
    out = {"metadata": meta, "spec": {"nodeName": status.pop("node", "n")},
           "status": {"phase": status.pop("phase", "Running"),
                      "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                      "lastTransitionTime": status.pop("since", "2026-01-01T00:00:10Z")}]}}
    return out


def test_scale_in_ranks_as_the_replicaset_does() -> None:
    pods = [
        _ranked(name="old-reserved", annotations={"controller.kubernetes.io/pod-deletion-cost": "0"}),
        _ranked(name="new-reserved", created="2026-01-01T00:00:05Z",
                annotations={"controller.kubernetes.io/pod-deletion-cost": "0"}),
        _ranked(name="burst", annotations={"controller.kubernetes.io/pod-deletion-cost": "-1"}),
        _ranked(name="not-ready", ready=False),
        _ranked(name="pending", node="", phase="Pending", ready=False),
    ]
    order = [p["metadata"]["name"] for p in sorted(pods, key=deletion_order)]
    assert order == ["pending", "not-ready", "burst", "new-reserved", "old-reserved"]
