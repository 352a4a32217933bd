"""Driving load at a Service and watching its replicas, for the autoscaling tests."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from kproof.target import Target, pod_is_ready

FAST_WINDOW = {"autoscaling.knative.dev/window": "6s"}
# Knative's autoscaler publishes its decisions on its Service's `http-metrics` port.
AUTOSCALER_METRICS = "/api/v1/namespaces/knative-serving/services/autoscaler:http-metrics/proxy/metrics"


def ready_pods(target: Target, namespace: str, service: str) -> int:
    pods = target.list("v1", "Pod", namespace, label_selector=f"serving.knative.dev/service={service}")
    return sum(1 for p in pods if pod_is_ready(p))


def autoscaler(target: Target, namespace: str, revision: str) -> dict:
    return target.get("autoscaling.internal.knative.dev/v1alpha1", "PodAutoscaler", revision, namespace) or {}


# Knative 1.19 moved its metrics to OpenTelemetry and renamed them: the new names (as Prometheus writes them)
# of the gauges the tests read, by their earlier names.
OTEL_GAUGES = {
    "kn_revision_pods_desired": "desired_pods", "kn_revision_pods_requested": "requested_pods",
    "kn_revision_pods_count": "actual_pods", "kn_revision_panic_mode": "panic_mode",
    "kn_revision_capacity_excess": "excess_burst_capacity",
    "kn_revision_concurrency_stable": "stable_request_concurrency",
    "kn_revision_concurrency_panic": "panic_request_concurrency",
    "kn_revision_concurrency_target": "target_concurrency_per_pod",
    "kn_revision_rps_stable": "stable_requests_per_second", "kn_revision_rps_panic": "panic_requests_per_second",
    "kn_revision_rps_target": "target_requests_per_second",
}


def autoscaler_metrics(target: Target, namespace: str, revision: str) -> dict[str, float]:
    """The autoscaler's gauges for one revision, by name less `autoscaler_` (desired_pods, requested_pods,
    panic_mode, stable_request_concurrency, target_concurrency_per_pod, ...), under either of Knative's
    namings (OpenCensus' `autoscaler_*` with `namespace_name`, OpenTelemetry's `kn_revision_*` with
    `k8s_namespace_name`)."""
    response = target.raw("GET", AUTOSCALER_METRICS)
    assert response.status_code == 200, response.text
    out = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = sample.labels
            ours = (labels.get("namespace_name", labels.get("k8s_namespace_name")) == namespace
                    and labels.get("revision_name", labels.get("kn_revision_name")) == revision)
            if ours:
                out[OTEL_GAUGES.get(sample.name, sample.name.removeprefix("autoscaler_"))] = sample.value
    return out


@dataclass
class Load:
    """Requests from a background thread: `clients` concurrent loops, or `rate` requests a second."""

    target: Target
    service: str
    namespace: str
    path: str = "/"
    clients: int = 0
    rate: float = 0.0
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)  # sent with each request, beside Host
    body: bytes = b""
    codes: dict[int | str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Load:
        host = self.target.service_host(self.service, self.namespace)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run(host)), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(120)

    def _count(self, code: int | str) -> None:
        self.codes[code] = self.codes.get(code, 0) + 1

    async def _one(self, session: aiohttp.ClientSession, host: str) -> None:
        try:
            async with session.request(self.method, self.target.ingress.rstrip("/") + self.path,
                                       headers={**self.headers, "Host": host}, data=self.body or None) as response:
                await response.read()
                self._count(response.status)
        except (aiohttp.ClientError, TimeoutError) as err:
            self._count(type(err).__name__)

    async def _run(self, host: str) -> None:
        deadline = time.monotonic() + 600  # a bound, should a test forget to stop the load
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
            if self.clients:
                async def loop() -> None:
                    while not self._stop.is_set() and time.monotonic() < deadline:
                        await self._one(session, host)

                await asyncio.gather(*(loop() for _ in range(self.clients)))
                return
            pending: set[asyncio.Task] = set()
            started = time.monotonic()
            sent = 0
            while not self._stop.is_set() and time.monotonic() < deadline:
                due = int((time.monotonic() - started) * self.rate)
                while sent < due:
                    task = asyncio.create_task(self._one(session, host))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    sent += 1
                await asyncio.sleep(0.005)
            await asyncio.gather(*pending, return_exceptions=True)

    @property
    def failures(self) -> dict:
        return {k: v for k, v in self.codes.items() if k != 200}
