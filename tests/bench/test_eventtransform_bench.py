"""EventTransform throughput: the same CloudEvents POSTed through the ingress straight to a recorder, and to an
EventTransform whose JSONata expression reshapes each event and sends it on to that recorder, in one run.
Prints events per second both ways and their ratio."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp

from kproof.target import Target

EVENTS = 1000
CONCURRENCY = 8
NAMESPACE = "default"
EXPRESSION = ('{"specversion": "1.0", "id": id, "type": "bench.transformed", "source": source, '
              '"region": data.region, "data": {"order": data.order, "total": $sum(data.items.price)}}')


def _headers(host: str) -> dict[str, str]:
    return {"Host": host, "ce-specversion": "1.0", "ce-id": uuid.uuid4().hex, "ce-source": "/shop",
            "ce-type": "bench.order", "content-type": "application/json"}


async def _post_all(ingress: str, host: str, count: int) -> float:
    """Seconds to have `count` events answered (a transform answers once its sink has the event)."""
    queue = iter(range(count))
    body = b'{"order": 7, "region": "eu", "items": [{"price": 3}, {"price": 4}]}'

    async def worker(session: aiohttp.ClientSession) -> None:
        for _ in queue:
            async with session.post(f"{ingress}/", data=body, headers=_headers(host)) as response:
                await response.read()
                assert response.status in (200, 202), response.status

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
        return time.perf_counter() - started


def test_eventtransform_throughput_against_passing_straight_through(benchmark, reference_target: Target) -> None:
    target = reference_target
    target.apply({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                  "metadata": {"name": "bench-sink", "namespace": NAMESPACE},
                  "spec": {"template": {"metadata": {"annotations": {"autoscaling.knative.dev/min-scale": "1",
                                                                     "autoscaling.knative.dev/max-scale": "1"}},
                                        "spec": {"containers": [{"image": "ghcr.io/kproof/recorder"}]}}}})
    target.apply({"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "EventTransform",
                  "metadata": {"name": "bench-transform", "namespace": NAMESPACE},
                  "spec": {"sink": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                            "name": "bench-sink"}},
                           "jsonata": {"expression": EXPRESSION}}})
    target.wait_for("serving.knative.dev/v1", "Service", "bench-sink", NAMESPACE, timeout=120)
    transform = target.wait_for("eventing.knative.dev/v1alpha1", "EventTransform", "bench-transform", NAMESPACE,
                                timeout=60)
    sink_host = target.service_host("bench-sink", NAMESPACE)
    transform_host = transform["status"]["address"]["url"].removeprefix("http://")
    ingress = target.ingress or ""
    asyncio.run(_post_all(ingress, sink_host, 50))  # warm both paths
    asyncio.run(_post_all(ingress, transform_host, 50))

    def both() -> tuple[float, float]:
        return asyncio.run(_post_all(ingress, sink_host, EVENTS)), asyncio.run(_post_all(ingress, transform_host,
                                                                                          EVENTS))

    direct_s, transform_s = benchmark.pedantic(both, rounds=1, iterations=1)
    recorded = target.http("bench-sink", "/count", namespace=NAMESPACE).json()["count"]
    assert recorded >= 2 * (EVENTS + 50), "every event reached the recorder both ways"
    ratio = (EVENTS / transform_s) / (EVENTS / direct_s)
    benchmark.extra_info.update(direct_per_s=EVENTS / direct_s, transform_per_s=EVENTS / transform_s, ratio=ratio)
    print(f"\nstraight to the recorder: {EVENTS / direct_s:.0f} events/s; through the EventTransform (JSONata, "
          f"then the recorder): {EVENTS / transform_s:.0f} events/s; transform / straight = {ratio:.2f}")
