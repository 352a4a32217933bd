"""Seed 004's practices for a GPU model server: containerConcurrency 1 and target 1 (the app never holds
two requests at once), scale-out under concurrent clients, and a graceful scale-in under load within
timeoutSeconds, with no failed request."""

from __future__ import annotations

import time

import pytest

from conformance.ai.support import claims_allowed, intent_service
from conformance.autoscaling.support import Load, ready_pods
from conformance.helpers import eventually, log
from conformance.serving.support import deploy
from kproof.target import GPU, Target

pytestmark = [pytest.mark.timing, pytest.mark.requires(GPU)]
TIMEOUT_SECONDS = 6  # seed 004: 1.2 times the longest expected answer
ONE_CLIENT = 2  # replicas for one client: target 1 at Knative's 70% utilization is ceil(1 / 0.7)


@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): \"For "
                  "GPU-intensive tasks with containerConcurrency set to 1, target must also be set to 1\"; \"The "
                  "container should initiate a graceful shutdown upon receiving a SIGTERM signal\"")
def test_one_request_at_a_time_scales_out_and_drains(target: Target, in_models_namespace: str, app_image,
                                                     capsys: pytest.CaptureFixture) -> None:
    namespace = in_models_namespace
    with claims_allowed(target):
        # one CPU each, as a GPU node pool gives a model server: replicas loading their model beside one that
        # serves do not starve it of both cores
        deploy(target, intent_service("gpu-server", namespace, app_image("intent"), cc=1, cpu="1",
                                      timeoutSeconds=TIMEOUT_SECONDS, annotations={
                                          "autoscaling.knative.dev/target": "1",
                                          "autoscaling.knative.dev/window": "6s"}), timeout=240)
    path = "/predict?query=play%20the%20latest%20album%20by%20radiohead"
    with Load(target, "gpu-server", namespace, path=path, clients=4) as busy:
        eventually(lambda: ready_pods(target, namespace, "gpu-server") >= 2, 180, "scaled out under 4 clients")
        seen = {}
        for _ in range(40):  # each answer comes from one of the replicas
            stats = target.http("gpu-server", "/stats", namespace=namespace).json()
            seen[stats["pod"]] = stats["max_concurrency"]
        peak = ready_pods(target, namespace, "gpu-server")
    assert not busy.failures, busy.failures
    assert len(seen) >= 2 and set(seen.values()) <= {1}, f"concurrency seen by each replica: {seen}"

    # One client left: the replicas beyond its two drain and go, none failing a request, each within its time.
    departures = Departures(target, namespace, "gpu-server")
    with Load(target, "gpu-server", namespace, path=path, clients=1) as calm:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            leaving = departures.look()
            if not leaving and ready_pods(target, namespace, "gpu-server") <= ONE_CLIENT:
                break
            time.sleep(0.2)
    assert not calm.failures, calm.failures
    assert ready_pods(target, namespace, "gpu-server") <= ONE_CLIENT < peak
    slowest = max(departures.took.values(), default=0.0)
    log(capsys, f"seed 004: up to {peak} replicas under 4 clients; {len(departures.took)} left under load, the slowest "
          f"in {slowest:.1f}s (timeoutSeconds {TIMEOUT_SECONDS})")
    assert departures.took, "replicas left while one client went on"
    assert slowest <= TIMEOUT_SECONDS + 2


class Departures:
    """When each terminating Pod of a Service began to leave, and how long it took to be gone."""

    def __init__(self, target: Target, namespace: str, service: str) -> None:
        self.target, self.namespace, self.service = target, namespace, service
        self.started: dict[str, float] = {}
        self.took: dict[str, float] = {}

    def look(self) -> bool:
        """Notes what changed; whether some Pod is still on its way out."""
        pods = {p["metadata"]["name"]: p for p in self.target.list(
            "v1", "Pod", self.namespace, label_selector=f"serving.knative.dev/service={self.service}")}
        now = time.monotonic()
        for name, pod in pods.items():
            if pod["metadata"].get("deletionTimestamp"):
                self.started.setdefault(name, now)
        for name, since in self.started.items():
            if name not in pods and name not in self.took:
                self.took[name] = now - since
        return any(name not in self.took for name in self.started)
