"""Autoscaling measurements on the reference, each printed with what it compares to in the same run:
cold start (first answer from zero) against a warm request, the time from a step in load to the
replicas it asks for, and the cost of one KPA decision against its 2 s tick."""

from __future__ import annotations

import statistics
import threading
import time

import requests

from kproof.target import Target, pod_is_ready
from reference.autoscaler.config import AutoscalerConfig
from reference.autoscaler.kpa import TICK_SECONDS, Decider, RevisionMetrics
from reference.autoscaler.spec import decider_spec

ROUNDS = 5


def _service(name: str, image: str, annotations: dict[str, str], cc: int = 0) -> dict:
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"template": {"metadata": {"annotations": annotations},
                                  "spec": {"containerConcurrency": cc, "containers": [{"image": image}]}}}}


def _get(target: Target, name: str, path: str = "/") -> float:
    host = target.service_host(name, "default")
    began = time.perf_counter()
    response = requests.get(target.ingress + path, headers={"Host": host}, timeout=60)
    assert response.status_code == 200, response.text
    return time.perf_counter() - began


def test_cold_start(benchmark, reference_target: Target) -> None:
    target = reference_target
    target.patch("v1", "ConfigMap", "config-autoscaler", {"data": {"allow-zero-initial-scale": "true"}},
                 "knative-serving")
    results = {}

    def measure() -> dict:
        for app in ("helloworld", "autoscale"):
            cold, warm = [], []
            for i in range(ROUNDS):
                name = f"cold-{app}-{i}"
                target.apply(_service(name, f"ghcr.io/kproof/{app}", {"autoscaling.knative.dev/initial-scale": "0"}))
                target.wait_for("serving.knative.dev/v1", "Service", name, "default", timeout=60)
                cold.append(_get(target, name))
                warm.append(statistics.median(_get(target, name) for _ in range(5)))
            results[app] = (statistics.median(cold), max(cold), statistics.median(warm))
        return results

    benchmark.pedantic(measure, rounds=1, iterations=1)
    for app, (cold_p50, cold_max, warm_p50) in results.items():
        benchmark.extra_info[f"{app}_cold_p50_s"] = cold_p50
        print(f"\n{app}: first answer from zero p50 {cold_p50 * 1000:.0f} ms (max {cold_max * 1000:.0f} ms); "
              f"warm p50 {warm_p50 * 1000:.1f} ms; cold/warm {cold_p50 / warm_p50:.0f}x "
              f"(Knative's examples: about 2 s p50 on a cluster)")
        assert cold_p50 > warm_p50


def test_step_to_ready_replicas(benchmark, reference_target: Target) -> None:
    target = reference_target
    target.apply(_service("step", "ghcr.io/kproof/autoscale", {"autoscaling.knative.dev/window": "6s"}, cc=1))
    target.wait_for("serving.knative.dev/v1", "Service", "step", "default", timeout=60)
    stop = threading.Event()
    clients = 6

    def client() -> None:
        session, host = requests.Session(), target.service_host("step", "default")
        while not stop.is_set():
            session.get(target.ingress + "/?sleep=500", headers={"Host": host}, timeout=60)

    def measure() -> float:
        threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                pods = target.list("v1", "Pod", "default", label_selector="serving.knative.dev/service=step")
                if sum(1 for p in pods if pod_is_ready(p)) >= clients:
                    return time.perf_counter() - started
                time.sleep(0.1)
            raise AssertionError("the step was never followed by enough replicas")
        finally:
            stop.set()

    seconds = benchmark.pedantic(measure, rounds=1, iterations=1)
    print(f"\nstep 0 -> {clients} clients (containerConcurrency 1): {clients} replicas ready after {seconds:.2f}s, "
          f"{seconds / TICK_SECONDS:.1f} decision ticks")


def test_kpa_decision_cost(benchmark) -> None:
    config = AutoscalerConfig()
    spec = decider_spec({"autoscaling.knative.dev/window": "60s"}, 10, config)
    metrics = RevisionMetrics(spec.stable_window, spec.panic_window)
    for second in range(120):
        metrics.record(second, 25.0 + second % 7, 50.0)
    decider = Decider(spec, ready_pods=4, now=0)
    clock = iter(range(10_000_000))

    def decide() -> None:
        now = 120 + next(clock) * 1e-6
        decider.scale(now, metrics.stable_and_panic(spec.metric, now), 4)

    benchmark(decide)
    mean = benchmark.stats.stats.mean
    print(f"\none KPA decision (60 s of buckets): {mean * 1e6:.1f} us; "
          f"{TICK_SECONDS / mean:,.0f} revisions could share one 2 s tick")
