"""Resource names and quantities as Kubernetes reads them, and what a Pod requests in all.

A Pod's request of a resource is the sum over its containers (a limit without a request counts as
the request, as the API server defaults it), at least the largest init container's, plus overhead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from kubernetes.utils import parse_quantity

CPU = "cpu"
MEMORY = "memory"
PODS = "pods"
EPHEMERAL_STORAGE = "ephemeral-storage"
NVIDIA_GPU = "nvidia.com/gpu"
GPU_MEM = "aliyun.com/gpu-mem"  # ACK GPU sharing: GiB of one GPU's memory
GPU_COUNT = "aliyun.com/gpu-count"  # ACK GPU sharing: the node's GPUs (capacity only)
NATIVE = (CPU, MEMORY, EPHEMERAL_STORAGE)

# kubernetes ships no type hints: parse_quantity's signature as its docstring gives it
_parse_quantity: Callable[[str | int | float], Decimal] = parse_quantity


class Requests(dict[str, Decimal]):
    """Resource name -> quantity, read as a Counter reads: a resource not named is 0, and `add` sums."""

    def __missing__(self, name: str) -> Decimal:
        return Decimal(0)

    def add(self, other: Mapping[str, Decimal]) -> None:
        for name, value in other.items():
            self[name] += value


class QuantityError(ValueError):
    """Not a Kubernetes quantity."""


def quantity(value: object) -> Decimal:
    """`100m` -> 0.1, `2Gi` -> 2147483648, 3 -> 3."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise QuantityError(f"quantities must be strings or numbers, not {type(value).__name__}")
    try:
        parsed = _parse_quantity(value)
    except (ValueError, InvalidOperation) as err:
        raise QuantityError(str(err)) from err
    if not parsed.is_finite():
        raise QuantityError(f"{value!r} is not finite")
    return parsed


def is_extended(name: str) -> bool:
    """Extended resources (nvidia.com/gpu, aliyun.com/gpu-mem): whole numbers, never overcommitted."""
    if name in NATIVE or name.startswith("hugepages-") or name.startswith("requests."):
        return False
    domain = name.split("/", 1)[0] if "/" in name else ""
    return bool(domain) and domain != "kubernetes.io" and not domain.endswith(".kubernetes.io")


def container_requests(container: dict[str, Any]) -> Requests:
    resources = container.get("resources") or {}
    merged = dict(resources.get("limits") or {})
    merged.update(resources.get("requests") or {})
    out = Requests()
    for name, value in merged.items():
        try:
            out[name] = quantity(value)
        except QuantityError:
            continue  # admission refuses these; an object stored before that counts nothing
    return out


def pod_requests(pod: dict[str, Any]) -> Requests:
    """What the scheduler accounts for a Pod (k8s.io/component-helpers resource.PodRequests)."""
    spec = pod.get("spec") or {}
    total = Requests()
    for container in spec.get("containers") or []:
        total.add(container_requests(container))
    for container in spec.get("initContainers") or []:
        for name, value in container_requests(container).items():
            total[name] = max(total[name], value)
    for name, value in (spec.get("overhead") or {}).items():
        try:
            total[name] += quantity(value)
        except QuantityError:
            continue
    return total


def format_cpu(cores: Decimal) -> str:
    millis = int(cores * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_bytes(count: Decimal | int) -> str:
    """Memory as the kubelet writes it: Ki when it divides, else plain bytes."""
    value = int(count)
    for suffix, size in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if value and value % size == 0:
            return f"{value // size}{suffix}"
    return str(value)


def qos_class(pod: dict[str, Any]) -> str:
    """Guaranteed when every container sets cpu and memory limits equal to its requests; BestEffort
    when none sets a cpu or memory request or limit; Burstable otherwise."""
    spec = pod.get("spec") or {}
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    any_set, guaranteed = False, bool(containers)
    for container in containers:
        resources = container.get("resources") or {}
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        for name in (CPU, MEMORY):
            if name in limits or name in requests:
                any_set = True
            try:
                equal = name in limits and quantity(requests.get(name, limits[name])) == quantity(limits[name])
            except QuantityError:
                equal = False
            guaranteed = guaranteed and equal
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
