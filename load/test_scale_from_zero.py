"""Scale from zero, as Knative Serving's performance test does it (test/performance/benchmarks/scale-from-zero):
N helloworld Services (1, 5, 25) with a 7 s window are made Ready, left to scale to zero, then called all at
once; each Service's latency is the time from the first request until it answers "Hello World!". The test
checks what Knative's spec asks (every request is held until an instance is ready, and answered); the
latencies, their P95 and the activator's queue depth go to reports/measurements/scale-from-zero-<N>.json,
which `kproof run` checks against Knative's thresholds (fixtures/slo/knative.yaml).

Two differences from Knative's test: the Services ask for no CPU limit (Knative's 50m suits its Go sample, not
kproof's Python one), and config-autoscaler's scale-to-zero-grace-period is 6 s while the test runs, so that
the wait for zero takes seconds rather than half a minute (it is put back afterwards)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests

from conformance.helpers import eventually, log, restoring_config
from conformance.serving.support import KSVC, READY_TIMEOUT, service
from kproof import measure
from kproof.target import Target
from load.knative import KnativeReader, default_metrics, queued_by_revision

pytestmark = [
    pytest.mark.timing,  # compares moments: alone in a parallel run
    pytest.mark.spec("MUST", "stable", source="knative/specs serving/knative-api-specification-1.0.md#request-routing: "
                     "\"When a selected Revision does not have available instances, the routing infrastructure MUST "
                     "hold (delay) requests until an available instance is ready\""),
]

WINDOW = {"autoscaling.knative.dev/window": "7s"}  # as Knative's test sets it
EXPECTED = "Hello World!"
WAIT_TO_SERVE = 300.0  # Knative's waitToServe (5 minutes)
SAMPLE_SECONDS = 0.25


@pytest.mark.parametrize("count", [1, 5, 25])
def test_services_scale_from_zero_at_once_and_answer(target: Target, namespace: str, app_image, reports: Path,
                                                     capsys: pytest.CaptureFixture, count: int) -> None:
    names = [f"sfz-{index:02d}" for index in range(count)]
    with restoring_config(target, "knative-serving", "config-autoscaler"):
        target.patch("v1", "ConfigMap", "config-autoscaler", {"data": {"scale-to-zero-grace-period": "6s"}},
                     "knative-serving")
        for name in names:  # all at once, as Knative's test creates them
            target.apply(service(name, namespace, app_image("helloworld"), annotations=WINDOW))
        for name in names:
            target.wait_for(*KSVC, name, namespace, timeout=READY_TIMEOUT)
        eventually(lambda: not target.list("v1", "Pod", namespace), 180, "with every Service scaled to zero")
        hosts = {name: target.service_host(name, namespace) for name in names}
        queue = QueueSampler(target, namespace)
        latencies: dict[str, float] = {}
        start = threading.Barrier(count + 1)
        callers = [threading.Thread(target=_first_answer, args=(target, hosts[n], n, start, latencies), daemon=True)
                   for n in names]
        with queue:
            for caller in callers:
                caller.start()
            start.wait()
            for caller in callers:
                caller.join(WAIT_TO_SERVE + 30)
    values = list(latencies.values())
    figures = measure.percentiles(values, (50, 95, 99))
    errors = count - len(values)
    measure.write(reports / "measurements", f"scale-from-zero-{count}",
                  {"latency": figures, "errors": errors, "activator-queue": queue.figures()},
                  services=dict(sorted(latencies.items())),
                  description=f"{count} Service(s) at zero called at once: seconds from the first request to "
                              f"\"{EXPECTED}\" (Knative's scale-from-zero benchmark)")
    log(capsys, f"scale from zero, {count} Service(s): {figures}, errors {errors}, activator queue {queue.figures()}")
    assert errors == 0, f"{errors} of {count} Services never answered from zero: {sorted(set(names) - set(latencies))}"


def _first_answer(target: Target, host: str, name: str, start: threading.Barrier, latencies: dict[str, float]) -> None:
    """Calls the Service until it answers with the expected text, as Knative's WaitForEndpointState does."""
    url = target.ingress.rstrip("/") + "/"
    start.wait()
    began = time.monotonic()
    while time.monotonic() - began < WAIT_TO_SERVE:
        try:
            response = requests.get(url, headers={"Host": host}, timeout=WAIT_TO_SERVE)
            if response.status_code == 200 and EXPECTED in response.text:
                latencies[name] = round(time.monotonic() - began, 3)
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)


class QueueSampler:
    """The requests the activator holds for the namespace's revisions, sampled in a thread: the most at once
    for one revision and for all of them."""

    def __init__(self, target: Target, namespace: str) -> None:
        self.reader = KnativeReader(target, "", namespace, default_metrics(Path(target.kubeconfig)))
        self.namespace = namespace
        self.most_one = 0.0
        self.most_all = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> QueueSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            for body in self.reader.metric_bodies():
                queued = queued_by_revision(body, self.namespace)
                if queued:  # the first source that knows: two may report the same queue
                    self.most_one = max(self.most_one, *queued.values())
                    self.most_all = max(self.most_all, sum(queued.values()))
                    self.samples += 1
                    break
            self._stop.wait(SAMPLE_SECONDS)

    def figures(self) -> dict[str, float]:
        """max: the most one revision waited for; total: the most for all at once; {} when no source told."""
        return {"max": self.most_one, "total": self.most_all, "samples": self.samples} if self.samples else {}
