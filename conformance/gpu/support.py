"""What the GPU tests read off any target: its nodes' GPUs and what the running Pods hold of them.

Everything comes from Node and Pod objects, so the same tests run on the reference's virtual GPUs and
on a cluster's real ones (with NVIDIA's device plugin and, for sharing, ACK's gpushare).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml
from kubernetes.utils import parse_quantity

from conformance.helpers import eventually
from kproof.target import Target

NVIDIA_GPU = "nvidia.com/gpu"
GPU_MEM = "aliyun.com/gpu-mem"
GPU_COUNT = "aliyun.com/gpu-count"
GPU_MEM_INDEX = "ALIYUN_COM_GPU_MEM_IDX"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "manifests"
FAST_WINDOW = {"autoscaling.knative.dev/window": "6s"}  # decisions in seconds, not minutes


def _amount(resources: dict, name: str) -> Decimal:
    return parse_quantity(resources.get(name, 0))


def holds_resources(pod: dict) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName")) and (pod.get("status") or {}).get("phase") not in (
        "Succeeded", "Failed")


def requested(pod: dict, name: str) -> Decimal:
    total = Decimal(0)
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        total += _amount(resources.get("requests") or resources.get("limits") or {}, name)
    return total


@dataclass(frozen=True)
class SharedGpus:
    node: str
    count: int
    memory_each: Decimal  # GiB


def free_whole_gpus(target: Target) -> int:
    """nvidia.com/gpu allocatable on every node, less what bound Pods request."""
    total = sum(_amount(n["status"].get("allocatable") or {}, NVIDIA_GPU) for n in target.list("v1", "Node"))
    used = sum(requested(p, NVIDIA_GPU) for p in target.list("v1", "Pod") if holds_resources(p))
    return int(total - used)


def gpu_holders(target: Target) -> list[dict]:
    """Bound Pods that hold any GPU (whole or shared)."""
    return [p for p in target.list("v1", "Pod") if holds_resources(p)
            and (requested(p, NVIDIA_GPU) or requested(p, GPU_MEM))]


def shared_gpu_nodes(target: Target) -> list[SharedGpus]:
    """Nodes that share their GPUs by memory (ACK's gpushare), with no share in use."""
    busy = {p["spec"]["nodeName"] for p in gpu_holders(target)}
    out = []
    for node in target.list("v1", "Node"):
        capacity = node["status"].get("capacity") or {}
        count = int(_amount(capacity, GPU_COUNT))
        if count and node["metadata"]["name"] not in busy:
            out.append(SharedGpus(node["metadata"]["name"], count, _amount(capacity, GPU_MEM) / count))
    return out


def wait_for_gpus_released(target: Target, timeout: float = 120) -> None:
    """Earlier tests' namespaces go away in the background; their Pods may still hold GPUs a while."""
    def leaving(pod: dict) -> bool:
        return bool(pod["metadata"].get("deletionTimestamp")) or _namespace_gone(target, pod["metadata"]["namespace"])

    eventually(lambda: not any(leaving(p) for p in gpu_holders(target)), timeout, "GPUs released by earlier tests")


def _namespace_gone(target: Target, namespace: str) -> bool:
    found = target.get("v1", "Namespace", namespace)
    return found is None or bool(found["metadata"].get("deletionTimestamp"))


def seed_manifest(path: str, namespace: str, annotations: dict[str, str] | None = None,
                  image: str | None = None) -> dict:
    """A seed's fixture in the test's namespace; extra template annotations or another image (which then
    mounts none of the seed's volumes: they hold the seed's model) only where a test says why."""
    doc = yaml.safe_load((FIXTURES / path).read_text())
    doc["metadata"]["namespace"] = namespace
    template = doc["spec"]["template"]
    template.setdefault("metadata", {}).setdefault("annotations", {}).update(annotations or {})
    if image:
        template["spec"]["containers"][0]["image"] = image
        template["spec"]["containers"][0].pop("volumeMounts", None)
        template["spec"].pop("volumes", None)
    return doc


def service_pods(target: Target, namespace: str, service: str) -> list[dict]:
    return [p for p in target.list("v1", "Pod", namespace, label_selector=f"serving.knative.dev/service={service}")
            if not p["metadata"].get("deletionTimestamp")]


def unschedulable(pod: dict) -> dict | None:
    return next((c for c in (pod.get("status") or {}).get("conditions") or []
                 if c.get("type") == "PodScheduled" and c.get("status") == "False"), None)


def revision_condition(target: Target, namespace: str, revision: str, condition: str) -> dict:
    obj = target.get("serving.knative.dev/v1", "Revision", revision, namespace) or {}
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == condition), {})
