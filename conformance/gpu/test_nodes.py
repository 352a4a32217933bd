"""GPU nodes as kubectl shows them: their GPUs in capacity and in NVIDIA's feature-discovery labels."""

from __future__ import annotations

import shutil

import pytest

from conformance.api.test_kubectl import kubectl
from conformance.gpu.support import GPU_MEM, NVIDIA_GPU
from kproof.target import GPU, REFERENCE, Target

pytestmark = [pytest.mark.requires(GPU),
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]
LABELS = "nvidia.com/gpu.count,nvidia.com/gpu.product,kproof.dev/gpu.virtual"


@pytest.mark.spec("SHOULD", "stable", source="seed 001 (ACK Serverless: On-Demand Use of Heterogeneous Resources): "
                  "GPU nodes; NVIDIA GPU feature discovery labels (nvidia.com/gpu.product, nvidia.com/gpu.count)")
def test_kubectl_lists_the_gpu_nodes(target: Target) -> None:
    gpu_nodes = {n["metadata"]["name"]: n for n in target.list("v1", "Node")
                 if {NVIDIA_GPU, GPU_MEM} & set(n["status"].get("capacity") or {})}
    assert gpu_nodes, "a target with the gpu capability has GPU nodes"
    lines = kubectl(target, "get", "nodes", "-L", LABELS).stdout.splitlines()
    header = lines[0].split()
    assert header[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert header[5:7] == ["GPU.COUNT", "GPU.PRODUCT"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    for name, node in gpu_nodes.items():
        labels = node["metadata"]["labels"]
        assert rows[name][1] == "Ready"
        assert rows[name][5:7] == [labels["nvidia.com/gpu.count"], labels["nvidia.com/gpu.product"]]
        if target.has(REFERENCE) and labels.get("kproof.dev/gpu.virtual"):
            assert rows[name][7] == "true", "virtual GPUs say so"


@pytest.mark.spec("SHOULD", "stable", source="kubectl describe node: Capacity, Allocatable and Allocated resources, "
                  "nvidia.com/gpu among them")
def test_describe_node_shows_capacity_and_allocated_gpus(target: Target) -> None:
    node = next(n for n in target.list("v1", "Node") if NVIDIA_GPU in (n["status"].get("capacity") or {}))
    text = kubectl(target, "describe", "node", node["metadata"]["name"]).stdout
    capacity = text.split("Capacity:", 1)[1].split("Allocatable:", 1)[0]
    assert f"{NVIDIA_GPU}:" in capacity and node["status"]["capacity"][NVIDIA_GPU] in capacity
    assert "(Total limits may be over 100 percent, i.e., overcommitted.)" in text
    assert any(line.split()[:1] == [NVIDIA_GPU] for line in text.split("Allocated resources:", 1)[1].splitlines())
