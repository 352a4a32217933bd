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

NAMESPACE = "knative-serving"
SERVICE = "autoscaler:http-metrics"
LABELS = ("namespace_name", "service_name", "configuration_name", "revision_name")


class AutoscalerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()

        def gauge(name: str, text: str) -> Gauge:
            return Gauge(f"autoscaler_{name}", text, LABELS, registry=self.registry)

        self.panic_mode = gauge("panic_mode", "1 if the autoscaler is in panic mode for the revision, else 0")
        self.desired_pods = gauge("desired_pods", "Number of pods the autoscaler wants")
        self.actual_pods = gauge("actual_pods", "Number of pods that are ready")
        self.stable = gauge("stable_request_concurrency", "Average concurrency over the stable window")
        self.panic = gauge("panic_request_concurrency", "Average concurrency over the panic window")

    def record(self, labels: dict[str, str], result: ScaleResult, desired: int, ready: int) -> None:
        values = [labels.get(name, "") for name in LABELS]
        self.panic_mode.labels(*values).set(1 if result.panicking else 0)
        self.desired_pods.labels(*values).set(desired)
        self.actual_pods.labels(*values).set(ready)
        self.stable.labels(*values).set(result.stable_value)
        self.panic.labels(*values).set(result.panic_value)

    def forget(self, labels: dict[str, str]) -> None:
        values = [labels.get(name, "") for name in LABELS]
        for gauge in (self.panic_mode, self.desired_pods, self.actual_pods, self.stable, self.panic):
            with contextlib.suppress(KeyError):  # never recorded
                gauge.remove(*values)

    async def serve(self, request: web.Request, path: str) -> web.Response:
        if path.rstrip("/") != "/metrics":
            raise web.HTTPNotFound(text="404 page not found\n")
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
