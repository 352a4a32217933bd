"""Per-revision request metrics: 1-second buckets of concurrency and request rate (what Knative's
autoscaler scrapes from queue-proxy), plus Prometheus counters and histograms."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BUCKETS_KEPT = 120


@dataclass(frozen=True)
class Bucket:
    second: int  # the epoch second the bucket covers
    concurrency: float  # time-weighted average of requests in flight during that second
    requests: int  # requests that arrived during that second


class RevisionStats:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.inflight = 0
        self.queued = 0
        now = clock()
        self._last = now
        self._second = math.floor(now)
        self._area = 0.0
        self._requests = 0
        self.buckets: deque[Bucket] = deque(maxlen=BUCKETS_KEPT)

    def _advance(self) -> None:
        now = self._clock()
        while now >= self._second + 1:
            boundary = self._second + 1
            self._area += self.inflight * (boundary - self._last)
            self.buckets.append(Bucket(self._second, self._area, self._requests))
            self._second, self._last, self._area, self._requests = boundary, boundary, 0.0, 0
        self._area += self.inflight * (now - self._last)
        self._last = now

    def started(self) -> None:
        self._advance()
        self.inflight += 1
        self._requests += 1

    def finished(self) -> None:
        self._advance()
        self.inflight -= 1

    def recent(self, since: int = 0) -> list[Bucket]:
        """Completed buckets for seconds after `since`."""
        self._advance()
        return [b for b in self.buckets if b.second > since]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["namespace", "revision"]
        self.requests = Counter("kproof_revision_requests", "Requests proxied to a revision",
                                [*labels, "response_code_class"], registry=self.registry)
        self.latency = Histogram("kproof_revision_request_latency_seconds", "Time to the full response",
                                 labels, registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.inflight = Gauge("kproof_revision_requests_in_flight", "Requests being served", labels,
                              registry=self.registry)
        self.queued = Gauge("kproof_revision_requests_queued", "Requests waiting for a free replica", labels,
                            registry=self.registry)
        self.revisions: dict[tuple[str, str], RevisionStats] = {}

    def stats(self, key: tuple[str, str]) -> RevisionStats:
        stats = self.revisions.get(key)
        if stats is None:
            stats = self.revisions[key] = RevisionStats()
        return stats

    def observe(self, key: tuple[str, str], code: int, seconds: float) -> None:
        self.requests.labels(key[0], key[1], f"{code // 100}xx").inc()
        self.latency.labels(*key).observe(seconds)

    def snapshot(self, since: int = 0) -> dict:
        """JSON for the autoscaler: per revision, its buckets after `since` and what is in flight now."""
        out = {}
        for (namespace, name), stats in self.revisions.items():
            out[f"{namespace}/{name}"] = {
                "inflight": stats.inflight,
                "queued": stats.queued,
                "buckets": [[b.second, round(b.concurrency, 4), b.requests] for b in stats.recent(since)],
            }
        return out
