"""Broker throughput: events through the broker ingress, filtered by 10 triggers of mixed dialects and
delivered to a recorder, against the same number of raw HTTP POSTs straight to the recorder, in one run.
Prints deliveries per second both ways and their ratio."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp

from kproof.target import Target, pod_is_ready

EVENTS = 300
CONCURRENCY = 8
NAMESPACE = "default"
# Five triggers pass a "bench.order" event from eu, five do not.
FILTERS = [
    {"filter": {"attributes": {"type": "bench.order"}}},
    {"filters": [{"exact": {"region": "eu"}}]},
    {"filters": [{"prefix": {"type": "bench."}}, {"suffix": {"source": "/shop"}}]},
    {"filters": [{"cesql": "type = 'bench.order' AND region IN ('eu', 'us')"}]},
    {"filters": [{"any": [{"exact": {"region": "us"}}, {"cel": "region == 'eu'"}]}]},
    {"filter": {"attributes": {"type": "bench.refund"}}},
    {"filters": [{"exact": {"region": "us"}}]},
    {"filters": [{"not": {"prefix": {"type": "bench."}}}]},
    {"filters": [{"cesql": "LENGTH(source) > 100"}]},
    {"filters": [{"all": [{"exact": {"type": "bench.order"}}, {"exact": {"region": "ap"}}]}]},
]
MATCHING = 5


def _headers() -> dict[str, str]:
    return {"ce-specversion": "1.0", "ce-id": uuid.uuid4().hex, "ce-source": "/shop", "ce-type": "bench.order",
            "ce-region": "eu", "content-type": "application/json"}


async def _post_all(url: str, host: str | None, count: int) -> None:
    queue = iter(range(count))

    async def worker(session: aiohttp.ClientSession) -> None:
        for _ in queue:
            headers = _headers()
            if host:
                headers["Host"] = host
            async with session.post(url, data=b'{"n": 1}', headers=headers) as response:
                await response.read()
                assert response.status in (200, 202), response.status

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))


async def _recorded(session: aiohttp.ClientSession, target: Target, host: str) -> int:
    async with session.get(f"{target.ingress}/count", headers={"Host": host}) as response:
        return (await response.json())["count"]


async def _broker_run(target: Target, sink_host: str) -> float:
    """Seconds from the first event sent to the last delivery recorded."""
    async with aiohttp.ClientSession() as session:
        async with session.delete(f"{target.ingress}/events", headers={"Host": sink_host}):
            pass
        started = time.perf_counter()
        await _post_all(f"{target.ingress}/{NAMESPACE}/bench", "broker-ingress.knative-eventing.svc.cluster.local",
                        EVENTS)
        deadline = started + 120
        while await _recorded(session, target, sink_host) < EVENTS * MATCHING:
            assert time.perf_counter() < deadline, "the broker did not deliver everything within 120 s"
            await asyncio.sleep(0.01)
        return time.perf_counter() - started


def _pod_url(target: Target, service: str) -> str:
    pods = target.list("v1", "Pod", NAMESPACE, label_selector=f"serving.knative.dev/service={service}")
    pod = next(p for p in pods if pod_is_ready(p))
    port = next(p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports") or [])
    return f"http://{pod['status']['podIP']}:{port}"


def test_broker_throughput_against_a_raw_hop(benchmark, reference_target: Target) -> None:
    target = reference_target
    target.apply({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                  "metadata": {"name": "bench-sink", "namespace": NAMESPACE},
                  "spec": {"template": {"metadata": {"annotations": {"autoscaling.knative.dev/min-scale": "1",
                                                                     "autoscaling.knative.dev/max-scale": "1"}},
                                        "spec": {"containers": [{"image": "ghcr.io/kproof/recorder"}]}}}})
    target.apply({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                  "metadata": {"name": "bench", "namespace": NAMESPACE}})
    for i, spec in enumerate(FILTERS):
        target.apply({"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
                      "metadata": {"name": f"bench-{i}", "namespace": NAMESPACE},
                      "spec": {"broker": "bench", **spec, "subscriber": {"ref": {
                          "apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "bench-sink"},
                          "uri": f"/t{i}"}}})
    target.wait_for("serving.knative.dev/v1", "Service", "bench-sink", NAMESPACE, timeout=120)
    for i in range(len(FILTERS)):
        target.wait_for("eventing.knative.dev/v1", "Trigger", f"bench-{i}", NAMESPACE, timeout=60)
    sink_host = target.service_host("bench-sink", NAMESPACE)
    direct_url = _pod_url(target, "bench-sink") + "/direct"

    def both() -> tuple[float, float]:
        direct_started = time.perf_counter()
        asyncio.run(_post_all(direct_url, None, EVENTS * MATCHING))
        direct = time.perf_counter() - direct_started
        return direct, asyncio.run(_broker_run(target, sink_host))

    direct_s, broker_s = benchmark.pedantic(both, rounds=1, iterations=1)
    deliveries = EVENTS * MATCHING
    ratio = (deliveries / broker_s) / (deliveries / direct_s)
    benchmark.extra_info.update(direct_per_s=deliveries / direct_s, broker_per_s=deliveries / broker_s, ratio=ratio)
    print(f"\nraw HTTP to the recorder: {deliveries / direct_s:.0f} deliveries/s; "
          f"broker (ingress -> 10 triggers -> recorder): {deliveries / broker_s:.0f} deliveries/s "
          f"({EVENTS / broker_s:.0f} events/s); broker / raw = {ratio:.2f}")
