"""containerConcurrency 1: a replica never handles two requests at once (Knative's single-threaded test)."""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict

import pytest
import requests

from conformance.serving.support import deploy, service
from kproof.target import Target

CLIENTS = 5
SECONDS = 6


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/knative-api-specification-1.0.md#revision: "
                  "containerConcurrency, \"The maximum number of concurrent requests being handled by a single "
                  "instance\"")
def test_single_concurrency_never_overlaps(target: Target, namespace: str, app_image) -> None:
    deploy(target, service("single", namespace, app_image("autoscale"), containerConcurrency=1,
                           annotations={"autoscaling.knative.dev/min-scale": "1",
                                        "autoscaling.knative.dev/max-scale": "2"}))
    host = target.service_host("single", namespace)
    spans: list[tuple[str, float, float, int]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        session = requests.Session()
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            response = session.get(target.ingress + "/?sleep=50", headers={"Host": host}, timeout=60)
            with lock:
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {response.text[:100]}")
                    continue
                spans.append((response.headers["X-Kproof-Pod"], float(response.headers["X-Kproof-Start"]),
                              float(response.headers["X-Kproof-End"]),
                              int(response.headers["X-Kproof-Concurrency"])))

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SECONDS + 120)
    assert not errors, errors[:5]
    assert len(spans) > 20
    assert {s[3] for s in spans} == {1}, "every request was alone on its replica when it arrived"
    by_pod: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for pod, start, end, _ in spans:
        by_pod[pod].append((start, end))
    for pod, intervals in by_pod.items():
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert start >= end, f"requests overlapped on {pod}"
