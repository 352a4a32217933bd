"""ACK's GPU sharing (gpushare): the annotations its scheduler extender writes when it binds a Pod that
asks for `aliyun.com/gpu-mem`, and what its device plugin then gives the containers.

Sharing isolates nothing by itself: a model server caps its own use from ALIYUN_COM_GPU_MEM_CONTAINER
over ALIYUN_COM_GPU_MEM_DEV (ACK's cGPU isolates in the driver instead).
"""

from __future__ import annotations

from decimal import Decimal

IDX = "ALIYUN_COM_GPU_MEM_IDX"  # the GPU's index on its node
DEV = "ALIYUN_COM_GPU_MEM_DEV"  # that GPU's memory (GiB)
POD = "ALIYUN_COM_GPU_MEM_POD"  # the Pod's share (GiB)
CONTAINER = "ALIYUN_COM_GPU_MEM_CONTAINER"  # the container's share (GiB)
ASSIGNED = "ALIYUN_COM_GPU_MEM_ASSIGNED"  # set to true once the device plugin allocated it
ASSUME_TIME = "ALIYUN_COM_GPU_MEM_ASSUME_TIME"  # when the extender chose it (unix ns)


def _whole(value: Decimal) -> str:
    return str(int(value))


def bind_annotations(index: int, gpu_memory: Decimal, pod_share: Decimal, now_ns: int) -> dict[str, str]:
    return {IDX: str(index), DEV: _whole(gpu_memory), POD: _whole(pod_share), ASSIGNED: "false",
            ASSUME_TIME: str(now_ns)}


def assigned_index(pod: dict) -> int | None:
    value = (pod["metadata"].get("annotations") or {}).get(IDX)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def container_env(pod: dict, container_share: Decimal) -> dict[str, str]:
    """The device plugin's environment for one container of a bound sharing Pod."""
    annotations = pod["metadata"].get("annotations") or {}
    index = annotations.get(IDX, "")
    return {"NVIDIA_VISIBLE_DEVICES": index, IDX: index, POD: annotations.get(POD, ""),
            CONTAINER: _whole(container_share), DEV: annotations.get(DEV, "")}
