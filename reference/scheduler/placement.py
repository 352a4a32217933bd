"""Where a Pod fits, pure: kube-scheduler's filters in its order, its failure message, a score, and ACK's
GPU-share extender (aliyun.com/gpu-mem lands on the GPU with the least free memory that fits).

Filters run per node in kube-scheduler's plugin order (NodeUnschedulable, TaintToleration,
NodeAffinity, NodeResourcesFit, then the extender), and a node reports the reasons of the first filter
it fails, so the message reads as Kubernetes writes it:
`0/3 nodes are available: 1 Insufficient cpu, 2 Insufficient nvidia.com/gpu.`
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from reference.apis.resources import (
    CPU,
    GPU_COUNT,
    GPU_MEM,
    MEMORY,
    PODS,
    QuantityError,
    Requests,
    pod_requests,
    quantity,
)
from reference.scheduler import gpushare

UNSCHEDULABLE = "node(s) were unschedulable"
SELECTOR_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
TOO_MANY_PODS = "Too many pods"
ONE_DEVICE = "Insufficient GPU Memory in one device"  # ACK's gpushare extender
# What the scoring counts for a container that requests nothing (kube-scheduler's non-zero defaults).
DEFAULT_CPU, DEFAULT_MEMORY = Decimal("0.1"), Decimal(200 << 20)
FINISHED = ("Succeeded", "Failed")


@dataclass
class NodeInfo:
    """A node and the Pods bound to it that still hold resources."""

    node: dict
    pods: list[dict] = field(default_factory=list)
    requested: Requests = field(default_factory=Requests)
    gpu_mem_used: defaultdict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))  # GiB per GPU
    nonzero: Requests = field(default_factory=Requests)  # cpu and memory as the score counts them

    @property
    def name(self) -> str:
        return self.node["metadata"]["name"]

    @property
    def labels(self) -> dict[str, str]:
        return self.node["metadata"].get("labels") or {}

    @property
    def allocatable(self) -> Requests:
        out = Requests()
        for name, value in ((self.node.get("status") or {}).get("allocatable") or {}).items():
            try:
                out[name] = quantity(value)
            except QuantityError:
                continue
        return out

    def gpu_mem_each(self) -> Decimal:
        """GiB per GPU for sharing: the node's aliyun.com/gpu-mem over its aliyun.com/gpu-count."""
        capacity = (self.node.get("status") or {}).get("capacity") or {}
        count = int(quantity(capacity.get(GPU_COUNT, 0)))
        return self.allocatable[GPU_MEM] / count if count else Decimal(0)

    def add(self, pod: dict) -> None:
        self.pods.append(pod)
        requests = pod_requests(pod)
        self.requested.add(requests)
        self.requested[PODS] += 1
        for name, value in nonzero(requests).items():
            self.nonzero[name] += value
        index = gpushare.assigned_index(pod)
        if index is not None:
            self.gpu_mem_used[index] += requests[GPU_MEM]


def nonzero(requests: Requests) -> Requests:
    """cpu and memory for scoring: a Pod that asks for none still counts kube-scheduler's defaults."""
    return Requests({CPU: max(requests[CPU], DEFAULT_CPU), MEMORY: max(requests[MEMORY], DEFAULT_MEMORY)})


def holds_resources(pod: dict) -> bool:
    """Bound and not finished: terminating Pods count until they are gone, as kube-scheduler counts them."""
    return bool((pod.get("spec") or {}).get("nodeName")) and (pod.get("status") or {}).get("phase") not in FINISHED


def node_infos(nodes: list[dict], pods: list[dict]) -> list[NodeInfo]:
    infos = {n["metadata"]["name"]: NodeInfo(n) for n in nodes}
    for pod in pods:
        info = infos.get((pod.get("spec") or {}).get("nodeName") or "")
        if info is not None and holds_resources(pod):
            info.add(pod)
    return list(infos.values())


# Filters ------------------------------------------------------------------------------------------

def _tolerates(toleration: dict, taint: dict) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint.get("key")
    return toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get("value", "")


def untolerated_taint(pod: dict, node: dict) -> dict | None:
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(_tolerates(t, taint) for t in tolerations):
            return taint
    return None


def _expression(requirement: dict, labels: dict[str, str]) -> bool:
    key, op, values = requirement.get("key", ""), requirement.get("operator"), requirement.get("values") or []
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt") and key in labels and values:
        try:
            have, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def matches_node(pod: dict, labels: dict[str, str]) -> bool:
    """nodeSelector, and the required terms of nodeAffinity (any term; all expressions of a term)."""
    spec = pod.get("spec") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    return not terms or any(all(_expression(r, labels) for r in term.get("matchExpressions") or [])
                            for term in terms)


def insufficient(requests: Requests, info: NodeInfo) -> list[str]:
    """NodeResourcesFit: every requested resource against what is left of the allocatable."""
    allocatable = info.allocatable
    reasons = []
    if info.requested[PODS] + 1 > allocatable[PODS]:
        reasons.append(TOO_MANY_PODS)
    for name, amount in sorted(requests.items()):
        if amount > 0 and info.requested[name] + amount > allocatable[name]:
            reasons.append(f"Insufficient {name}")
    return reasons


def gpu_share_index(amount: Decimal, info: NodeInfo) -> int | None:
    """ACK's bin-pack: the GPU with the least free memory that still holds `amount` (lowest index on a tie)."""
    each = info.gpu_mem_each()
    count = int(quantity(((info.node.get("status") or {}).get("capacity") or {}).get(GPU_COUNT, 0)))
    free = [(each - info.gpu_mem_used[i], i) for i in range(count) if each - info.gpu_mem_used[i] >= amount]
    return min(free)[1] if free else None


def reasons(pod: dict, requests: Requests, info: NodeInfo) -> list[str]:
    """Why `pod` does not fit on this node (empty when it fits)."""
    if (info.node.get("spec") or {}).get("unschedulable"):
        return [UNSCHEDULABLE]
    taint = untolerated_taint(pod, info.node)
    if taint is not None:
        return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"]
    if not matches_node(pod, info.labels):
        return [SELECTOR_MISMATCH]
    short = insufficient(requests, info)
    if short:
        return short
    if requests[GPU_MEM] > 0 and gpu_share_index(requests[GPU_MEM], info) is None:
        return [ONE_DEVICE]
    return []


def fit_error(total: int, failures: dict[str, list[str]]) -> str:
    """kube-scheduler's FitError: a histogram of reasons, sorted as strings."""
    if total == 0:
        return "no nodes available to schedule pods"
    counts = Counter(reason for found in failures.values() for reason in found)
    histogram = sorted(f"{count} {reason}" for reason, count in counts.items())
    return f"0/{total} nodes are available: {', '.join(histogram)}."


# Choosing -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fit:
    node: str
    gpu_index: int | None = None  # the shared GPU, for an aliyun.com/gpu-mem Pod
    gpu_mem_each: Decimal = Decimal(0)


@dataclass(frozen=True)
class NoFit:
    message: str
    failures: dict[str, list[str]] = field(default_factory=dict)


def _least_allocated(requests: Requests, info: NodeInfo) -> Decimal:
    """kube-scheduler's default score: the share of cpu and memory left after placing the Pod."""
    allocatable = info.allocatable
    wanted = nonzero(requests)
    score = Decimal(0)
    for name in (CPU, MEMORY):
        if allocatable[name] > 0:
            used = info.nonzero[name] + wanted[name]
            score += max(Decimal(0), allocatable[name] - used) / allocatable[name]
    return score


def _score(requests: Requests, info: NodeInfo) -> Decimal:
    if requests[GPU_MEM] > 0:
        # Pack shared GPUs: the fuller the chosen GPU, the better.
        index = gpu_share_index(requests[GPU_MEM], info)
        return -(info.gpu_mem_each() - info.gpu_mem_used[index]) if index is not None else Decimal("-Infinity")
    return _least_allocated(requests, info)


def schedule(pod: dict, infos: list[NodeInfo], total: int | None = None) -> Fit | NoFit:
    """The best node for `pod` among `infos` (the first of equal scores), or why there is none.
    `total` is the cluster's node count for the message, when `infos` are only some of them."""
    requests = pod_requests(pod)
    failures: dict[str, list[str]] = {}
    fitting = []
    for info in infos:
        found = reasons(pod, requests, info)
        if found:
            failures[info.name] = found
        else:
            fitting.append(info)
    if not fitting:
        return NoFit(fit_error(len(infos) if total is None else total, failures), failures)
    best = max(fitting, key=lambda info: _score(requests, info))  # max keeps the first of equals
    if requests[GPU_MEM] > 0:
        return Fit(best.name, gpu_share_index(requests[GPU_MEM], best), best.gpu_mem_each())
    return Fit(best.name)
