"""Nodes from a node file, their Node objects as the kubelet registers them, and the GPUs a container gets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reference.runtime.devices import DeviceManager, DevicesUnavailable, Gpu, no_gpu_env, whole_gpu_env
from reference.runtime.nodes import HOST_NODE, NodeFileError, load_node_file, node_object, node_specs

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "nodes" / "two-gpu-nodes.yaml"
REAL = Gpu("GPU-real-0", 0, "NVIDIA H200", 143771, virtual=False, minor=0)


def test_the_fixture_declares_whole_and_shared_virtual_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPROOF_GPUS", "none")
    host, whole, shared = node_specs(FIXTURE)
    assert host.name == HOST_NODE and not host.gpus
    assert [g.virtual for g in whole.gpus] == [True] * 4 and whole.gpus[0].memory_mib == 24 * 1024
    assert node_specs(FIXTURE)[1].gpus[0].uuid == whole.gpus[0].uuid, "virtual GPU ids are stable"
    a = node_object(whole, 1 << 40, "2026-01-01T00:00:00Z")
    assert a["status"]["capacity"]["nvidia.com/gpu"] == "4"
    assert a["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-A10"
    assert a["metadata"]["labels"]["kproof.dev/gpu.virtual"] == "true"
    b = node_object(shared, 1 << 40, "2026-01-01T00:00:00Z")
    assert b["status"]["capacity"]["aliyun.com/gpu-mem"] == "32"
    assert b["status"]["capacity"]["aliyun.com/gpu-count"] == "2"
    assert "nvidia.com/gpu" not in b["status"]["capacity"]


def test_a_real_gpu_can_move_to_a_declared_node(tmp_path: Path) -> None:
    file = tmp_path / "nodes.yaml"
    file.write_text("hostNode: false\nnodes:\n  - name: box\n    gpus: [{uuid: GPU-real-0}]\n")
    keep_host, (box,) = load_node_file(file, [REAL])
    assert not keep_host and box.gpus == (REAL,)
    assert "kproof.dev/gpu.virtual" not in node_object(box, 1 << 30, "t")["metadata"]["labels"]


@pytest.mark.parametrize(("text", "problem"), [
    ("nodes:\n  - labels: {}\n", "nodes[0].name"),
    ("nodes:\n  - name: a\n  - name: a\n", "declared twice"),
    (f"nodes:\n  - name: {HOST_NODE}\n", "declared twice"),
    ("nodes:\n  - name: a\n    gpus: [{uuid: GPU-nope}]\n", "nodes[0].gpus[0].uuid"),
    ("nodes:\n  - name: a\n    gpus: [{memory: lots}]\n", "nodes[0].gpus[0].memory"),
    ("nodes:\n  - name: a\n    cpu: many\n", "nodes[0].cpu"),
    ("nodes:\n  - name: a\n    taints: [{key: k, effect: Never}]\n", "nodes[0].taints[0]"),
    ("nodes: 3\n", "a list of `nodes`"),
])
def test_node_file_errors_name_the_entry(tmp_path: Path, text: str, problem: str) -> None:
    file = tmp_path / "nodes.yaml"
    file.write_text(text)
    with pytest.raises(NodeFileError, match=re.escape(problem)):
        load_node_file(file, [REAL])


def test_what_a_container_sees_of_its_gpus() -> None:
    virtual = Gpu("GPU-virtual", 0, "Tesla T4", 16384)
    assert whole_gpu_env([virtual], host_has_gpus=False) == {"NVIDIA_VISIBLE_DEVICES": "GPU-virtual"}
    # On a machine with real GPUs, a virtual one hides them all: the replica runs on the CPU.
    assert whole_gpu_env([virtual], host_has_gpus=True) == {"NVIDIA_VISIBLE_DEVICES": "GPU-virtual",
                                                            "CUDA_VISIBLE_DEVICES": ""}
    assert whole_gpu_env([REAL], host_has_gpus=True)["CUDA_VISIBLE_DEVICES"] == "GPU-real-0"
    assert no_gpu_env(True) == {"CUDA_VISIBLE_DEVICES": ""} and no_gpu_env(False) == {}


def test_each_gpu_belongs_to_one_container_at_a_time() -> None:
    gpus = (Gpu("GPU-a", 0, "x", 1024), Gpu("GPU-b", 1, "x", 1024))
    devices = DeviceManager()
    first = devices.allocate(gpus, "pod-1", "c", 1)
    assert devices.allocate(gpus, "pod-1", "c", 1) == first, "a restart keeps its GPU"
    second = devices.allocate(gpus, "pod-2", "c", 1)
    assert first != second
    with pytest.raises(DevicesUnavailable, match="Requested: 1, Available: 0"):
        devices.allocate(gpus, "pod-3", "c", 1)
    devices.release("pod-1")
    assert devices.allocate(gpus, "pod-3", "c", 1) == first
