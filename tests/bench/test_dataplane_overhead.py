"""What the data plane adds: the autoscale app called directly and through the ingress, at a fixed
concurrency, in one run. Prints added p50/p95 latency and the throughput ratio (Knative's
dataplane-probe allows about +10 ms p95 through queue-proxy or the activator)."""

from __future__ import annotations

import asyncio
import statistics
import time

import aiohttp

from kproof.target import Target, pod_is_ready

CONCURRENCY = 8
REQUESTS = 800
APP_SLEEP_MS = 0


def always_on(target: Target, name: str, container: dict, namespace: str = "default") -> str:
    """Deploys a Service kept at one replica or more; returns that replica's address (scheme, host, port)."""
    target.apply({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                  "metadata": {"name": name, "namespace": namespace},
                  "spec": {"template": {"metadata": {"annotations": {"autoscaling.knative.dev/min-scale": "1"}},
                                        "spec": {"containers": [container]}}}})
    target.wait_for("serving.knative.dev/v1", "Service", name, namespace, timeout=120)
    return _ready_pod_address(target, namespace, name)


def _ready_pod_address(target: Target, namespace: str, service: str) -> str:
    pods = target.list("v1", "Pod", namespace, label_selector=f"serving.knative.dev/service={service}")
    pod = next(p for p in pods if pod_is_ready(p))
    port = next(p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports") or [])
    return f"http://{pod['status']['podIP']}:{port}"


async def _drive(url: str, host: str | None, requests: int, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    headers = {"Host": host} if host else {}
    queue = iter(range(requests))

    async def worker(session: aiohttp.ClientSession) -> None:
        for _ in queue:
            began = time.perf_counter()
            async with session.get(url, headers=headers) as response:
                await response.read()
                assert response.status == 200
            latencies.append(time.perf_counter() - began)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))  # warm the connections
        queue = iter(range(requests))
        started = time.perf_counter()
        latencies.clear()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return latencies, time.perf_counter() - started


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def test_ingress_overhead(benchmark, reference_target: Target) -> None:
    target = reference_target
    name, namespace = "bench", "default"
    direct_url = always_on(target, name, {"image": "ghcr.io/kproof/autoscale"}, namespace) + f"/?sleep={APP_SLEEP_MS}"
    ingress_url = f"{target.ingress}/?sleep={APP_SLEEP_MS}"
    host = target.service_host(name, namespace)

    def both() -> tuple:
        direct = asyncio.run(_drive(direct_url, None, REQUESTS, CONCURRENCY))
        through = asyncio.run(_drive(ingress_url, host, REQUESTS, CONCURRENCY))
        return direct, through

    (direct, direct_seconds), (through, through_seconds) = benchmark.pedantic(both, rounds=1, iterations=1)
    report(benchmark, "", direct, direct_seconds, through, through_seconds)
    assert len(through) == REQUESTS


def report(benchmark, label: str, direct: list[float], direct_seconds: float, through: list[float],
           through_seconds: float) -> None:
    """Prints (and records) each side's rate and percentiles, what the data plane adds, and the ratio."""
    added_p50 = _pct(through, 50) - _pct(direct, 50)
    added_p95 = _pct(through, 95) - _pct(direct, 95)
    ratio = direct_seconds / through_seconds  # the same number of requests on each side
    benchmark.extra_info.update(direct_rps=len(direct) / direct_seconds, ingress_rps=len(through) / through_seconds,
                                added_p50_ms=added_p50, added_p95_ms=added_p95)
    print(f"\n{label}direct: {len(direct) / direct_seconds:.0f} rps, p50 {_pct(direct, 50):.2f} ms, "
          f"p95 {_pct(direct, 95):.2f} ms")
    print(f"{label}ingress: {len(through) / through_seconds:.0f} rps, p50 {_pct(through, 50):.2f} ms, "
          f"p95 {_pct(through, 95):.2f} ms")
    print(f"added by the data plane{' on ' + label.strip() if label else ''}: p50 {added_p50:+.2f} ms, "
          f"p95 {added_p95:+.2f} ms; throughput ratio ingress/direct {ratio:.2f}")
