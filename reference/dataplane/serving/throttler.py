"""Per-revision admission: the breaker (containerConcurrency per replica), the queue, load balancing.

As in Knative: containerConcurrency > 0 is a hard limit per replica. While the activator is in the path
(no ready replica, or too little spare capacity for the target burst capacity) it holds up to 10,000
requests per revision; otherwise requests wait in the replicas' queue-proxy queues, 10 x
containerConcurrency per replica, and are refused with 503 when those are full. Load balancing follows
Knative's activator: unlimited concurrency -> the less busy of two random replicas; containerConcurrency
up to 3 -> the first replica with a free slot; otherwise round robin over replicas with a free slot.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from dataclasses import dataclass

ACTIVATOR_QUEUE = 10_000
QUEUE_PER_SLOT = 10


class Overloaded(Exception):
    """The queue is full: the request is refused (503)."""


class NoCapacity(Exception):
    """The revision went away while the request waited."""


@dataclass(eq=False)
class Endpoint:
    name: str
    address: str  # host:port
    uid: str = ""
    inflight: int = 0


class Throttler:
    def __init__(self) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.leaving: dict[str, Endpoint] = {}  # removed from routing, requests still in flight
        self.concurrency = 0
        self.burst_capacity = 211.0  # target-burst-capacity (-1: the activator always stays in the path)
        self.per_pod_total = 100.0  # what one replica can take (containerConcurrency, else the default)
        self._waiters: deque[asyncio.Future[Endpoint]] = deque()
        self._next = 0

    # Endpoints -----------------------------------------------------------------------------------

    def set_concurrency(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self._wake()

    def upsert(self, endpoint: Endpoint) -> None:
        current = self.endpoints.get(endpoint.name) or self.leaving.pop(endpoint.name, None)
        if current is not None:
            current.address = endpoint.address
            self.endpoints[endpoint.name] = current
        else:
            self.endpoints[endpoint.name] = endpoint
        self._wake()

    def remove(self, name: str) -> None:
        endpoint = self.endpoints.pop(name, None)
        if endpoint is not None and endpoint.inflight:
            self.leaving[name] = endpoint

    def inflight_on(self, name: str) -> int:
        endpoint = self.endpoints.get(name) or self.leaving.get(name)
        return endpoint.inflight if endpoint else 0

    def routed(self, name: str) -> bool:
        return name in self.endpoints

    @property
    def queued(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    @property
    def ready(self) -> int:
        return len(self.endpoints)

    @property
    def inflight(self) -> int:
        return sum(e.inflight for e in self.endpoints.values())

    def activator_in_path(self) -> bool:
        """Knative keeps the activator in the path while the excess burst capacity is negative."""
        if not self.endpoints or self.burst_capacity == -1:
            return True
        if self.burst_capacity == 0:
            return False  # only scale from zero goes through the activator
        spare = len(self.endpoints) * self.per_pod_total - self.burst_capacity - self.inflight - self.queued
        return spare < 0

    @property
    def max_queue(self) -> int:
        if self.activator_in_path() or not self.concurrency:
            return ACTIVATOR_QUEUE
        return QUEUE_PER_SLOT * self.concurrency * len(self.endpoints)

    # Admission ------------------------------------------------------------------------------------

    def _has_slot(self, endpoint: Endpoint) -> bool:
        return not self.concurrency or endpoint.inflight < self.concurrency

    def _pick(self) -> Endpoint | None:
        candidates = [e for e in self.endpoints.values() if self._has_slot(e)]
        if not candidates:
            return None
        if not self.concurrency:
            if len(candidates) == 1:
                return candidates[0]
            a, b = random.sample(candidates, 2)
            return a if a.inflight <= b.inflight else b
        if self.concurrency <= 3:
            return candidates[0]
        self._next = (self._next + 1) % len(candidates)
        return candidates[self._next]

    async def acquire(self) -> Endpoint:
        """A replica with a free slot, waiting in the queue for one if need be."""
        endpoint = self._pick() if not self.queued else None
        if endpoint is not None:
            endpoint.inflight += 1
            return endpoint
        if self.queued >= self.max_queue:
            raise Overloaded(f"queue of {self.max_queue} requests is full")
        waiter: asyncio.Future[Endpoint] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release(waiter.result())  # granted just as the request gave up
            raise

    def release(self, endpoint: Endpoint) -> None:
        endpoint.inflight -= 1
        if endpoint.inflight <= 0 and endpoint.name in self.leaving:
            del self.leaving[endpoint.name]
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            if self._waiters[0].done():
                self._waiters.popleft()
                continue
            endpoint = self._pick()
            if endpoint is None:
                return
            endpoint.inflight += 1
            self._waiters.popleft().set_result(endpoint)

    def close(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(NoCapacity("the revision was deleted"))
