"""The GPUs of this machine and what a container given some of them sees: the NVIDIA device plugin's
part of the node agent.

Real GPUs are found through NVML (the `nvidia-ml-py` package), else `nvidia-smi`; none found means
none. Virtual GPUs are declared in a node file: they schedule and account like real ones, and a
replica given one runs on the CPU (it sees the GPU's id, never a device).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass

log = logging.getLogger("kproof.devices")

# The device files a CUDA process needs besides its GPUs' own /dev/nvidia<minor>.
CONTROL_DEVICES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")
_VIRTUAL_NAMESPACE = uuid.UUID("6f1c2b0e-5d0a-4c1e-9a77-6b70726f6f66")


@dataclass(frozen=True)
class Gpu:
    """One GPU of a node: `uuid` as NVIDIA names it (`GPU-...`), `index` on its node."""

    uuid: str
    index: int
    product: str
    memory_mib: int
    virtual: bool = True
    minor: int | None = None  # /dev/nvidia<minor>, real GPUs only

    @property
    def device_files(self) -> tuple[str, ...]:
        if self.virtual or self.minor is None:
            return ()
        return (f"/dev/nvidia{self.minor}", *(d for d in CONTROL_DEVICES if os.path.exists(d)))


def virtual_uuid(node: str, index: int) -> str:
    """A stable id in NVIDIA's form for a declared GPU: the same node file gives the same ids."""
    return f"GPU-{uuid.uuid5(_VIRTUAL_NAMESPACE, f'{node}/{index}')}"


def product_label(name: str) -> str:
    """GPU feature discovery's form of a product name: `NVIDIA H200` -> `NVIDIA-H200`."""
    return "-".join(name.split())


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _from_nvml() -> list[Gpu] | None:
    """The GPUs NVML reports, or None when NVML cannot be used here."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return None
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            minor = None
            with contextlib.suppress(pynvml.NVMLError):
                minor = int(pynvml.nvmlDeviceGetMinorNumber(handle))
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total // (1024 * 1024)
            gpus.append(Gpu(_text(pynvml.nvmlDeviceGetUUID(handle)), index,
                            _text(pynvml.nvmlDeviceGetName(handle)), int(memory), virtual=False, minor=minor))
        return gpus
    except pynvml.NVMLError as err:
        log.warning("NVML: %s", err)
        return None
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


def _from_nvidia_smi() -> list[Gpu]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        query = ["--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader,nounits"]
        out = subprocess.run([smi, *query], capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError) as err:
        log.warning("nvidia-smi: %s", err)
        return []
    gpus = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4 or not parts[0].isdigit():
            continue
        index = int(parts[0])
        # Without NVML the minor number is not known; the index is what the driver numbers it on
        # nearly every machine.
        gpus.append(Gpu(parts[1], index, parts[2], int(float(parts[3])), virtual=False, minor=index))
    return gpus


def discover() -> list[Gpu]:
    """This machine's real GPUs (empty without an NVIDIA driver). `KPROOF_GPUS=none` hides them."""
    if os.environ.get("KPROOF_GPUS", "").lower() in ("none", "0", "off"):
        return []
    found = _from_nvml()
    return found if found is not None else _from_nvidia_smi()


def whole_gpu_env(gpus: list[Gpu], host_has_gpus: bool) -> dict[str, str]:
    """What NVIDIA's device plugin gives a container with these GPUs: their ids in NVIDIA_VISIBLE_DEVICES.
    Without a container runtime CUDA_VISIBLE_DEVICES is what keeps a process to them: on a virtual GPU
    it hides every real one, so the replica runs on the CPU."""
    env = {"NVIDIA_VISIBLE_DEVICES": ",".join(g.uuid for g in gpus)}
    real = [g.uuid for g in gpus if not g.virtual]
    if real or host_has_gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(real)
    return env


def no_gpu_env(host_has_gpus: bool) -> dict[str, str]:
    """A container given no GPU sees none, as under a container runtime."""
    return {"CUDA_VISIBLE_DEVICES": ""} if host_has_gpus else {}


class DevicesUnavailable(RuntimeError):
    """Fewer free GPUs than a container asks for (the kubelet's UnexpectedAdmissionError)."""


class DeviceManager:
    """The kubelet's device manager for whole GPUs: each GPU belongs to one container at a time."""

    def __init__(self) -> None:
        self._owners: dict[str, tuple[str, str]] = {}  # GPU uuid -> (pod uid, container)

    def allocate(self, gpus: tuple[Gpu, ...], pod_uid: str, container: str, count: int) -> list[Gpu]:
        owner = (pod_uid, container)
        mine = [g for g in gpus if self._owners.get(g.uuid) == owner]
        free = [g for g in gpus if g.uuid not in self._owners]
        if len(mine) + len(free) < count:
            raise DevicesUnavailable(f"Allocate failed due to requested number of devices unavailable for "
                                     f"nvidia.com/gpu. Requested: {count}, Available: {len(mine) + len(free)}")
        for gpu in free[: max(0, count - len(mine))]:
            self._owners[gpu.uuid] = owner
        return [g for g in gpus if self._owners.get(g.uuid) == owner][:count]

    def release(self, pod_uid: str) -> None:
        for gpu, (uid, _) in list(self._owners.items()):
            if uid == pod_uid:
                del self._owners[gpu]
