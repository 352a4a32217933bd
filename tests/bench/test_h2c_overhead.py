"""What the data plane adds on the h2c path: the protocols app (its port named h2c) called with HTTP/2 prior
knowledge directly and through the ingress, at a fixed number of concurrent streams on one connection, in
one run. Prints the added p50/p95 latency and the throughput ratio, as the HTTP/1.1 benchmark does."""

from __future__ import annotations

import asyncio
import time

import httpx

from kproof.target import Target
from tests.bench.test_dataplane_overhead import always_on, report

STREAMS = 8
REQUESTS = 800


async def _drive(url: str, host: str | None, requests: int, streams: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    headers = {"Host": host} if host else {}

    async def worker(client: httpx.AsyncClient, queue) -> None:
        for _ in queue:
            began = time.perf_counter()
            response = await client.get(url, headers=headers)
            assert response.status_code == 200 and response.http_version == "HTTP/2"
            latencies.append(time.perf_counter() - began)

    async with httpx.AsyncClient(http1=False, http2=True, timeout=30) as client:
        warm = iter(range(streams * 4))
        await asyncio.gather(*(worker(client, warm) for _ in range(streams)))
        latencies.clear()
        queue = iter(range(requests))
        started = time.perf_counter()
        await asyncio.gather(*(worker(client, queue) for _ in range(streams)))
        return latencies, time.perf_counter() - started


def test_h2c_overhead(benchmark, reference_target: Target) -> None:
    target = reference_target
    name, namespace = "bench-h2c", "default"
    container = {"image": "ghcr.io/kproof/protocols", "ports": [{"name": "h2c", "containerPort": 8080}]}
    direct_url = always_on(target, name, container, namespace) + "/"
    host = target.service_host(name, namespace)

    def both() -> tuple:
        direct = asyncio.run(_drive(direct_url, None, REQUESTS, STREAMS))
        through = asyncio.run(_drive(f"{target.ingress}/", host, REQUESTS, STREAMS))
        return direct, through

    (direct, direct_seconds), (through, through_seconds) = benchmark.pedantic(both, rounds=1, iterations=1)
    report(benchmark, "h2c ", direct, direct_seconds, through, through_seconds)
    assert len(through) == REQUESTS
