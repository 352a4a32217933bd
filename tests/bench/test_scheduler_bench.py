"""The scheduler's hot path: binding a burst of Pods, measured against creating them, in one run."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.registry import Registry
from reference.apiserver.store import Store
from reference.runtime.devices import Gpu
from reference.runtime.nodes import NodeSpec, node_object
from reference.scheduler.placement import node_infos, schedule
from reference.scheduler.scheduler import Scheduler

PODS = 300
NODES = [NodeSpec("cpu", Decimal(64), 256 << 30, pods=500),
         NodeSpec("gpu", Decimal(64), 256 << 30, pods=500, gpus=tuple(Gpu(f"GPU-{i}", i, "T4", 16384)
                                                                        for i in range(8)))]


def _pod(i: int) -> dict:
    limits = {"nvidia.com/gpu": "1"} if i % 50 == 0 else {}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": limits,
                                                                                "requests": {"cpu": "100m"}}}]}}


async def _burst(scheduled: bool) -> float:
    registry = Registry(Store())
    bootstrap(registry)
    nodes, pods = registry.kinds.by_path("", "v1", "nodes"), registry.kinds.by_path("", "v1", "pods")
    for spec in NODES:
        node = node_object(spec, 1 << 40, "2026-01-01T00:00:00Z")
        created = registry.create(nodes, "", {k: v for k, v in node.items() if k != "status"})
        registry.update(nodes, "", spec.name, {**created, "status": node["status"]}, subresource="status")
    scheduler = Scheduler(registry)
    task = asyncio.create_task(scheduler.run()) if scheduled else None
    await asyncio.sleep(0.05)  # its watches are open, as they are long before any Pod in a platform
    started = time.perf_counter()
    for i in range(PODS):
        registry.create(pods, "default", _pod(i))
        await asyncio.sleep(0)
    if task is not None:
        deadline = time.monotonic() + 60
        while any(not (e.obj.get("spec") or {}).get("nodeName") for e in registry.store.entries(pods.resource)):
            assert time.monotonic() < deadline, "not every Pod was bound"
            await asyncio.sleep(0.001)
        task.cancel()
    return time.perf_counter() - started


def test_binding_a_burst_of_pods(benchmark) -> None:
    created = asyncio.run(_burst(scheduled=False))
    bound = benchmark.pedantic(lambda: asyncio.run(_burst(scheduled=True)), rounds=1, iterations=1)
    print(f"\n{PODS} Pods on 2 nodes: created in {created:.2f}s, created and bound in {bound:.2f}s "
          f"({bound / created:.1f}x the creation alone; {PODS / bound:.0f} Pods bound a second)")


def test_one_decision(benchmark) -> None:
    bound = [{**_pod(i), "metadata": {"name": f"b{i}", "namespace": "default", "uid": str(i)},
              "spec": {**_pod(i)["spec"], "nodeName": "cpu"}, "status": {"phase": "Running"}} for i in range(PODS)]
    nodes = [node_object(spec, 1 << 40, "t") for spec in NODES]
    incoming = _pod(0)

    def decide() -> None:
        schedule(incoming, node_infos(nodes, bound))

    benchmark(decide)
    mean = benchmark.stats.stats.mean
    print(f"\none decision with {PODS} bound Pods (their requests re-added each time): {mean * 1e3:.2f} ms, "
          f"{1 / mean:,.0f} decisions a second")
