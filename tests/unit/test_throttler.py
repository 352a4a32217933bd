import asyncio

import pytest

from reference.dataplane.serving.throttler import ACTIVATOR_QUEUE, Endpoint, NoCapacity, Overloaded, Throttler


def run(coroutine):
    return asyncio.run(coroutine)


def test_container_concurrency_is_a_hard_limit_per_replica() -> None:
    async def scenario() -> None:
        throttler = Throttler()
        throttler.set_concurrency(1)
        throttler.upsert(Endpoint("a", "127.0.0.1:1"))
        first = await throttler.acquire()
        waiting = asyncio.create_task(throttler.acquire())
        await asyncio.sleep(0)
        assert not waiting.done() and throttler.queued == 1
        throttler.release(first)
        second = await asyncio.wait_for(waiting, 1)
        assert second is first and first.inflight == 1

    run(scenario())


def test_queue_depth_is_ten_per_slot_once_the_activator_leaves_the_path() -> None:
    async def scenario() -> None:
        throttler = Throttler()
        throttler.set_concurrency(2)
        throttler.burst_capacity = 0  # no burst capacity asked for: traffic goes straight to the replicas
        throttler.upsert(Endpoint("a", "x"))
        await throttler.acquire()
        await throttler.acquire()
        waiters = [asyncio.create_task(throttler.acquire()) for _ in range(20)]
        await asyncio.sleep(0)
        assert throttler.max_queue == 20 and throttler.queued == 20
        with pytest.raises(Overloaded):
            await throttler.acquire()
        for waiter in waiters:
            waiter.cancel()

    run(scenario())


def test_activator_holds_requests_until_a_replica_is_ready() -> None:
    async def scenario() -> None:
        throttler = Throttler()
        assert throttler.max_queue == ACTIVATOR_QUEUE
        held = [asyncio.create_task(throttler.acquire()) for _ in range(5)]
        await asyncio.sleep(0)
        assert not any(h.done() for h in held)
        throttler.upsert(Endpoint("a", "x"))
        granted = await asyncio.wait_for(asyncio.gather(*held), 1)
        assert {e.name for e in granted} == {"a"} and granted[0].inflight == 5

    run(scenario())


def test_first_available_for_low_concurrency_and_round_robin_above() -> None:
    async def scenario() -> None:
        low = Throttler()
        low.set_concurrency(2)
        for name in ("a", "b"):
            low.upsert(Endpoint(name, name))
        picks = [(await low.acquire()).name for _ in range(4)]
        assert picks == ["a", "a", "b", "b"]
        high = Throttler()
        high.set_concurrency(10)
        for name in ("a", "b", "c"):
            high.upsert(Endpoint(name, name))
        picks = [(await high.acquire()).name for _ in range(6)]
        assert sorted(picks) == ["a", "a", "b", "b", "c", "c"]

    run(scenario())


def test_unlimited_concurrency_prefers_the_less_busy_of_two() -> None:
    async def scenario() -> None:
        throttler = Throttler()
        busy, idle = Endpoint("busy", "x", inflight=50), Endpoint("idle", "y")
        throttler.upsert(busy)
        throttler.upsert(idle)
        picks = {(await throttler.acquire()).name for _ in range(5)}
        assert picks == {"idle"}

    run(scenario())


def test_removed_replicas_keep_their_in_flight_count_until_done() -> None:
    async def scenario() -> None:
        throttler = Throttler()
        throttler.upsert(Endpoint("a", "x"))
        endpoint = await throttler.acquire()
        throttler.remove("a")
        assert not throttler.routed("a") and throttler.inflight_on("a") == 1
        throttler.release(endpoint)
        assert throttler.inflight_on("a") == 0

    run(scenario())


def test_waiters_fail_when_the_revision_goes_away() -> None:
    async def scenario() -> None:
        throttler = Throttler()
        waiter = asyncio.create_task(throttler.acquire())
        await asyncio.sleep(0)
        throttler.close()
        with pytest.raises(NoCapacity):
            await waiter

    run(scenario())


def test_the_activator_queue_holds_bursts_while_capacity_is_short() -> None:
    throttler = Throttler()
    throttler.set_concurrency(1)
    throttler.upsert(Endpoint("a", "x"))
    assert throttler.activator_in_path() and throttler.max_queue == ACTIVATOR_QUEUE  # 1 < 211 burst capacity
    throttler.per_pod_total = 100
    for name in "bcd":
        throttler.upsert(Endpoint(name, name))
    assert not throttler.activator_in_path()  # 4 x 100 - 211 - 0 >= 0
    assert throttler.max_queue == 40
    throttler.burst_capacity = -1
    assert throttler.activator_in_path()
