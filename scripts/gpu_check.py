"""The GPU check behind scripts/gpu-check.sh: on a machine with NVIDIA GPUs, the reference's node shows
them and a replica given one GPU sees exactly that one through torch.cuda; then the intent model server
on that GPU: its cold start (process start to first answer) and its throughput with and without
batching. KPROOF_GPU_CHECK_MODELS=1 runs the model part on a machine without a GPU too."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

from kproof.embedded import ReferenceProcess
from reference.apps.models.loader import prepare
from reference.runtime.devices import discover
from tests.bench.test_model_bench import CONCURRENCY, _serve, _throughput

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


def check_models() -> None:
    """The intent server straight on this machine (its GPU when torch sees one): cold start, batching."""
    with tempfile.TemporaryDirectory() as directory:
        about = prepare(Path(directory))
        print(f"intent model prepared: held-out accuracy {about['accuracy']:.3f}")
        cold = []
        for _ in range(3):
            began = time.monotonic()
            process, url = _serve(Path(directory), batching=False)
            try:
                answer = requests.post(url, json={"instances": ["play some music"]}, timeout=60).json()
                cold.append(time.monotonic() - began)
                device = requests.get(url.split("/v1/")[0] + "/stats", timeout=10).json()["device"]
                assert answer["predictions"] == ["PlayMusic"], answer
            finally:
                process.terminate()
                process.wait(30)
        print(f"intent server on {device}: cold start (process start to first answer) p50 "
              f"{statistics.median(cold):.2f}s of {len(cold)}")
        rates = []
        for batching in (False, True):
            process, url = _serve(Path(directory), batching)
            try:
                asyncio.run(_throughput(url))
                rates.append(asyncio.run(_throughput(url)))
            finally:
                process.terminate()
                process.wait(30)
        print(f"intent server on {device}, {CONCURRENCY} concurrent clients: {rates[0]:.0f}/s one at a time, "
              f"{rates[1]:.0f}/s batched: {rates[1] / rates[0]:.1f}x")


if __name__ == "__main__":
    status = main()
    if discover() or os.environ.get("KPROOF_GPU_CHECK_MODELS"):
        check_models()
    sys.exit(status)
