"""The autoscaler's decisions as Knative's autoscaler publishes them (`autoscaler_panic_mode`,
`autoscaler_desired_pods`, ...), labelled by namespace, service, configuration and revision; the API server
serves them where a cluster's clients read Knative's: the `autoscaler` Service's `http-metrics` port,
through the service proxy."""

from __future__ import annotations

import contextlib

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from reference.autoscaler.kpa import ScaleResult
from reference.autoscaler.spec import RPS, DeciderSpec

NAMESPACE = "knative-serving"
SERVICE = "autoscaler:http-metrics"
LABELS = ("namespace_name", "service_name", "configuration_name", "revision_name")


class AutoscalerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()

        def gauge(name: str, text: str) -> Gauge:
            return Gauge(f"autoscaler_{name}", text, LABELS, registry=self.registry)

        self.panic_mode = gauge("panic_mode", "1 if the autoscaler is in panic mode for the revision, else 0")
        self.desired_pods = gauge("desired_pods", "Number of pods the autoscaler's decider wants (before the "
                                                  "scale bounds)")
        self.requested_pods = gauge("requested_pods", "Number of pods the autoscaler asked for")
        self.actual_pods = gauge("actual_pods", "Number of pods that are ready")
        self.excess_burst_capacity = gauge("excess_burst_capacity", "Excess burst capacity observed")
        self.stable = gauge("stable_request_concurrency", "Average concurrency over the stable window")
        self.panic = gauge("panic_request_concurrency", "Average concurrency over the panic window")
        self.target = gauge("target_concurrency_per_pod", "The desired concurrency per pod")
        self.stable_rps = gauge("stable_requests_per_second", "Average requests per second over the stable window")
        self.panic_rps = gauge("panic_requests_per_second", "Average requests per second over the panic window")
        self.target_rps = gauge("target_requests_per_second", "The desired requests per second per pod")
        self._all = (self.panic_mode, self.desired_pods, self.requested_pods, self.actual_pods,
                     self.excess_burst_capacity, self.stable, self.panic, self.target, self.stable_rps,
                     self.panic_rps, self.target_rps)

    def record(self, labels: dict[str, str], result: ScaleResult, requested: int, ready: int,
               spec: DeciderSpec | None = None) -> None:
        """One tick, as Knative's decider (desired pods, the averages of its metric, its target) and its
        PodAutoscaler reconciler (requested and actual pods) report it."""
        values = [labels.get(name, "") for name in LABELS]
        self.panic_mode.labels(*values).set(1 if result.panicking else 0)
        if result.valid:
            self.desired_pods.labels(*values).set(result.desired)
            self.excess_burst_capacity.labels(*values).set(result.excess_burst_capacity)
        self.requested_pods.labels(*values).set(requested)
        self.actual_pods.labels(*values).set(ready)
        rps = spec is not None and spec.metric == RPS
        stable, panic = (self.stable_rps, self.panic_rps) if rps else (self.stable, self.panic)
        stable.labels(*values).set(result.stable_value)
        panic.labels(*values).set(result.panic_value)
        if spec is not None:
            (self.target_rps if rps else self.target).labels(*values).set(spec.target)

    def forget(self, labels: dict[str, str]) -> None:
        values = [labels.get(name, "") for name in LABELS]
        for gauge in self._all:
            with contextlib.suppress(KeyError):  # never recorded
                gauge.remove(*values)

    async def serve(self, request: web.Request, path: str) -> web.Response:
        if path.rstrip("/") != "/metrics":
            raise web.HTTPNotFound(text="404 page not found\n")
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
