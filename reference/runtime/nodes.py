"""The nodes the kubelet runs: this machine's, and those a node file declares (with virtual GPUs).

A node file (`kproof up --nodes FILE`):

    hostNode: true                 # keep this machine's node too (the default)
    nodes:
      - name: gpu-node-a
        labels: {pool: reserved}   # any labels; `ack.node.gpu.schedule: share` shares its GPUs by memory
        taints: [{key: dedicated, value: gpu, effect: NoSchedule}]
        cpu: "8"                   # default: this machine's
        memory: 32Gi               # default: this machine's
        pods: 110
        gpus:
          - {product: NVIDIA A10, memory: 24Gi, count: 2}
          - {uuid: GPU-...}        # a real GPU of this machine, moved off the host node

Every node runs its Pods on this machine; a GPU that is not one of this machine's is virtual.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml

from reference.apis.resources import (
    CPU,
    EPHEMERAL_STORAGE,
    GPU_COUNT,
    GPU_MEM,
    MEMORY,
    NVIDIA_GPU,
    PODS,
    QuantityError,
    format_bytes,
    format_cpu,
    quantity,
)
from reference.runtime.devices import Gpu, discover, product_label, virtual_uuid

HOST_NODE = "kproof-local"
HOST_IP = "127.0.0.1"
KUBELET_VERSION = "v1.32.0"
CONTAINER_RUNTIME = "kproof://process"  # replicas are sandboxed processes, not containers
DEFAULT_PODS = 110  # the kubelet's maxPods
GPU_SHARING_LABEL = "ack.node.gpu.schedule"  # ACK: `share` (or cgpu) exposes aliyun.com/gpu-mem
SHARING_VALUES = ("share", "cgpu")
VIRTUAL_GPU_LABEL = "kproof.dev/gpu.virtual"
MANAGED_LABEL = "kproof.dev/node"  # nodes this kubelet registered (and may remove again)
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


class NodeFileError(ValueError):
    """The node file cannot be used; the message names the entry and field."""


@dataclass(frozen=True)
class NodeSpec:
    name: str
    cpu: Decimal
    memory: int  # bytes
    pods: int = DEFAULT_PODS
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[dict, ...] = ()
    gpus: tuple[Gpu, ...] = ()
    address: str = HOST_IP  # its InternalIP: the reference's nodes are this machine's loopback
    kubelet_port: int = 0  # where the API server reaches its kubelet (logs); 0: it serves them itself

    @property
    def shares_gpus(self) -> bool:
        return self.labels.get(GPU_SHARING_LABEL) in SHARING_VALUES

    @property
    def virtual_gpus(self) -> bool:
        return any(g.virtual for g in self.gpus)


def host_cpus() -> Decimal:
    return Decimal(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def host_memory() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4 << 30


def host_node(gpus: list[Gpu]) -> NodeSpec:
    return NodeSpec(HOST_NODE, host_cpus(), host_memory(), gpus=tuple(gpus))


def _field(entry: dict, key: str, where: str, parse, default):
    if key not in entry or entry[key] is None:
        return default
    try:
        return parse(entry[key])
    except (QuantityError, ValueError, TypeError) as err:
        raise NodeFileError(f"{where}.{key}: {entry[key]!r} is not valid: {err}") from err


def _gpus(entry: dict, name: str, where: str, real: dict[str, Gpu]) -> list[Gpu]:
    out: list[Gpu] = []
    items = entry.get("gpus") or []
    if not isinstance(items, list):
        raise NodeFileError(f"{where}.gpus: a list of GPUs")
    for j, item in enumerate(items):
        here = f"{where}.gpus[{j}]"
        if not isinstance(item, dict):
            raise NodeFileError(f"{here}: a mapping with product, memory and count, or uuid")
        if item.get("uuid") in real:
            found = real[item["uuid"]]
            out.append(Gpu(found.uuid, len(out), found.product, found.memory_mib, virtual=False, minor=found.minor))
            continue
        if item.get("uuid"):
            raise NodeFileError(f"{here}.uuid: {item['uuid']!r} is not a GPU of this machine "
                                f"(found: {', '.join(real) or 'none'})")
        memory = _field(item, "memory", here, quantity, Decimal(16 << 30))
        count = _field(item, "count", here, int, 1)
        product = str(item.get("product") or "Virtual-GPU")
        if count < 1 or memory < (1 << 30):
            raise NodeFileError(f"{here}: count must be at least 1 and memory at least 1Gi")
        for _ in range(count):
            index = len(out)
            out.append(Gpu(virtual_uuid(name, index), index, product, int(memory) // (1 << 20)))
    return out


def load_node_file(path: Path, real_gpus: list[Gpu]) -> tuple[bool, list[NodeSpec]]:
    """(whether this machine's node stays, the declared nodes); NodeFileError when it cannot be used."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise NodeFileError(f"{path}: {err}") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes") or [], list):
        raise NodeFileError(f"{path}: a mapping with a list of `nodes`")
    real = {g.uuid: g for g in real_gpus}
    specs, names = [], {HOST_NODE}
    for i, entry in enumerate(doc.get("nodes") or []):
        where = f"nodes[{i}]"
        if not isinstance(entry, dict) or not entry.get("name"):
            raise NodeFileError(f"{where}.name: every node needs a name")
        name = str(entry["name"])
        if name in names:
            raise NodeFileError(f"{where}.name: {name!r} is declared twice (or is the host node's name)")
        names.add(name)
        labels = {str(k): str(v) for k, v in (entry.get("labels") or {}).items()}
        taints = tuple(entry.get("taints") or ())
        for j, taint in enumerate(taints):
            if not isinstance(taint, dict) or not taint.get("key") or taint.get("effect") not in _TAINT_EFFECTS:
                raise NodeFileError(f"{where}.taints[{j}]: a key and an effect ({', '.join(_TAINT_EFFECTS)})")
        specs.append(NodeSpec(
            name=name, cpu=_field(entry, "cpu", where, quantity, host_cpus()),
            memory=int(_field(entry, "memory", where, quantity, Decimal(host_memory()))),
            pods=_field(entry, "pods", where, int, DEFAULT_PODS), labels=labels, taints=taints,
            gpus=tuple(_gpus(entry, name, where, real))))
    return bool(doc.get("hostNode", True)), specs


def node_specs(node_file: Path | None) -> list[NodeSpec]:
    """This machine's node (with its real GPUs not moved elsewhere) and the node file's."""
    real = discover()
    if node_file is None:
        return [host_node(real)]
    keep_host, declared = load_node_file(node_file, real)
    moved = {g.uuid for spec in declared for g in spec.gpus if not g.virtual}
    host = host_node([Gpu(g.uuid, i, g.product, g.memory_mib, False, g.minor)
                      for i, g in enumerate(g for g in real if g.uuid not in moved)])
    return ([host] if keep_host else []) + declared


def _gpu_labels(spec: NodeSpec) -> dict[str, str]:
    """NVIDIA's GPU feature discovery labels (product, memory in MiB, count), and kproof's virtual mark."""
    if not spec.gpus:
        return {}
    first = spec.gpus[0]
    labels = {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.count": str(len(spec.gpus)),
              "nvidia.com/gpu.product": product_label(first.product), "nvidia.com/gpu.memory": str(first.memory_mib)}
    if spec.virtual_gpus:
        labels[VIRTUAL_GPU_LABEL] = "true"
    return labels


def capacity(spec: NodeSpec, disk: int) -> dict[str, str]:
    out = {CPU: format_cpu(spec.cpu), MEMORY: format_bytes(spec.memory), PODS: str(spec.pods),
           EPHEMERAL_STORAGE: format_bytes(disk)}
    if spec.gpus and spec.shares_gpus:
        # ACK's gpushare device plugin: memory in GiB, split evenly over the node's GPUs.
        out[GPU_MEM] = str(sum(g.memory_mib // 1024 for g in spec.gpus))
        out[GPU_COUNT] = str(len(spec.gpus))
    elif spec.gpus:
        out[NVIDIA_GPU] = str(len(spec.gpus))
    return out


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip('"')
    return platform.platform()


def node_object(spec: NodeSpec, disk: int, now: str) -> dict:
    """The Node as the kubelet registers it (status included)."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    labels = {"kubernetes.io/hostname": spec.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
              "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": arch, MANAGED_LABEL: "true",
              **_gpu_labels(spec), **spec.labels}
    resources = capacity(spec, disk)

    def condition(type_: str, status: str, reason: str, message: str) -> dict:
        return {"type": type_, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": now, "lastTransitionTime": now}

    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {"taints": list(spec.taints)} if spec.taints else {},
        "status": {
            "capacity": resources, "allocatable": dict(resources),
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                          "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": spec.address}, {"type": "Hostname", "address": spec.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": spec.kubelet_port}},
            "nodeInfo": {"machineID": _read("/etc/machine-id"), "systemUUID": _read("/etc/machine-id"),
                         "bootID": _read("/proc/sys/kernel/random/boot_id"), "kernelVersion": platform.release(),
                         "osImage": _os_image(), "containerRuntimeVersion": CONTAINER_RUNTIME,
                         "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "", "operatingSystem": "linux",
                         "architecture": arch},
        },
    }
