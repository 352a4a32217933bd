"""Benthos's metrics with Benthos's names (`input_received`, `output_sent`, ...; labels `label` and
`path`), served in Prometheus's text format on /metrics while a stream runs."""

from __future__ import annotations

from collections import defaultdict

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

COUNTERS = ("input_received", "processor_received", "processor_sent", "processor_error", "output_sent",
            "output_batch_sent", "output_error")
TIMERS = ("processor_latency_ns", "output_latency_ns")


class StreamMetrics:
    """Counts by (name, path); timers keep a count and a sum in nanoseconds, as summaries."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], float] = defaultdict(float)
        self.timers: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def count(self, name: str, path: str, by: float = 1) -> None:
        self.counts[(name, path)] += by

    def time(self, name: str, path: str, seconds: float) -> None:
        timer = self.timers[(name, path)]
        timer[0] += 1
        timer[1] += seconds * 1e9

    def value(self, name: str, path: str | None = None) -> float:
        return sum(v for (n, p), v in self.counts.items() if n == name and (path is None or p == path))

    def collect(self):
        """Counters named exactly as Benthos names them (the client library would add `_total` to a
        counter, so they go out untyped), timers as summaries."""
        for name in COUNTERS:
            metric = Metric(name, f"Benthos {name}", "unknown")
            for (n, path), value in sorted(self.counts.items()):
                if n == name:
                    metric.add_sample(name, {"label": "", "path": path}, value)
            yield metric
        for name in TIMERS:
            metric = Metric(name, f"Benthos {name}", "summary")
            for (n, path), (count, total) in sorted(self.timers.items()):
                if n == name:
                    metric.add_sample(f"{name}_count", {"label": "", "path": path}, count)
                    metric.add_sample(f"{name}_sum", {"label": "", "path": path}, total)
            yield metric
