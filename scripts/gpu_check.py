"""The GPU check behind scripts/gpu-check.sh: on a machine with NVIDIA GPUs, the reference's node shows
them and a replica given one GPU sees exactly that one through torch.cuda."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from kproof.embedded import ReferenceProcess
from reference.runtime.devices import discover

GPU = "nvidia.com/gpu"
SERVICE = {
    "apiVersion": "serving.knative.dev/v1", "kind": "Service",
    "metadata": {"name": "cuda-check", "namespace": "default"},
    "spec": {"template": {"spec": {"containerConcurrency": 1, "containers": [
        {"image": "ghcr.io/kproof/autoscale", "resources": {"limits": {GPU: "1"}}}]}}},
}


def main() -> int:
    started = time.monotonic()
    gpus = discover()
    print(f"this machine: {len(gpus)} GPU(s) " + ", ".join(f"{g.index}: {g.product} ({g.memory_mib} MiB, {g.uuid})"
                                                            for g in gpus))
    with tempfile.TemporaryDirectory() as state:
        reference = ReferenceProcess(Path(state))
        reference.start()
        try:
            target = reference.target()
            for node in target.list("v1", "Node"):
                labels = node["metadata"].get("labels") or {}
                print(f"node {node['metadata']['name']}: {GPU}={node['status']['allocatable'].get(GPU, '0')} "
                      f"product={labels.get('nvidia.com/gpu.product', '-')} "
                      f"memory={labels.get('nvidia.com/gpu.memory', '-')} MiB")
            if not gpus:
                print("no GPU on this machine: nothing more to check")
                return 0
            target.apply(SERVICE)
            target.wait_for("serving.knative.dev/v1", "Service", "cuda-check", "default", timeout=180)
            seen = target.http("cuda-check", "/runtime", params={"cuda": "1"}, timeout=120).json()
            env = seen["env"]
            print(f"replica: NVIDIA_VISIBLE_DEVICES={env.get('NVIDIA_VISIBLE_DEVICES')} "
                  f"CUDA_VISIBLE_DEVICES={env.get('CUDA_VISIBLE_DEVICES')}")
            print(f"replica's torch.cuda: {seen['cuda']}")
            node = next(n for n in target.list("v1", "Node") if GPU in n["status"]["allocatable"])
            held = [p for p in target.list("v1", "Pod", field_selector=f"spec.nodeName={node['metadata']['name']}")
                    if p["metadata"].get("labels", {}).get("serving.knative.dev/service") == "cuda-check"]
            print(f"{len(held)} replica(s) of cuda-check on {node['metadata']['name']}")
            ok = seen["cuda"].get("count") == 1
            print(("OK" if ok else "FAILED") + f": the replica sees {seen['cuda'].get('count')} device(s) "
                  f"({time.monotonic() - started:.0f} s)")
            return 0 if ok else 1
        finally:
            reference.stop()


if __name__ == "__main__":
    sys.exit(main())
