"""The reference's own data-plane endpoints: Prometheus metrics and the 1 s buckets the autoscaler reads."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kproof.embedded import ReferenceProcess
from kproof.target import Target


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceProcess]:
    process = ReferenceProcess(Path(tmp_path_factory.mktemp("metrics")))
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_requests_show_in_prometheus_metrics_and_buckets(reference: ReferenceProcess) -> None:
    target: Target = reference.target()
    target.apply({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                  "metadata": {"name": "counted", "namespace": "default"},
                  "spec": {"template": {"spec": {"containers": [{"image": "ghcr.io/kproof/helloworld"}]}}}})
    target.wait_for("serving.knative.dev/v1", "Service", "counted", "default", timeout=120)
    for _ in range(20):
        assert target.http("counted", "/", namespace="default").status_code == 200
    admin = json.loads((reference.state_dir / "endpoints.json").read_text())["dataplane_admin"]
    metrics = requests.get(f"{admin}/metrics", timeout=5).text
    line = next(line for line in metrics.splitlines()
                if line.startswith("kproof_revision_requests_total") and 'revision="counted-00001"' in line)
    assert float(line.split()[-1]) == 20
    count = next(line for line in metrics.splitlines()
                 if line.startswith("kproof_revision_request_latency_seconds_count") and "counted-00001" in line)
    assert float(count.split()[-1]) == 20
    time.sleep(1.1)  # let the second of those requests close
    stats = requests.get(f"{admin}/stats", timeout=5).json()
    buckets = stats["revisions"]["default/counted-00001"]["buckets"]
    assert sum(b[2] for b in buckets) == 20
    assert stats["ready"]["default/counted-00001"] == 1


def test_the_admin_port_answers_400_to_a_query_value_it_cannot_read(reference: ReferenceProcess) -> None:
    admin = json.loads((reference.state_dir / "endpoints.json").read_text())["dataplane_admin"]
    bad = [("get", "/stats?since=abc"), ("get", "/activations?since=-1"), ("get", "/stats?since=1e9"),
           ("post", "/drain/default/p?timeout=nan"), ("post", "/drain/default/p?timeout=soon"),
           ("get", "/eventing/triggers/default/t?generation=x"),
           ("get", "/eventing/kafkasources/default/k?generation=1.5")]
    for method, path in bad:
        response = requests.request(method, f"{admin}{path}", timeout=5)
        assert response.status_code == 400, (path, response.status_code, response.text)
        assert path.split("?")[1].split("=")[0] in response.text, "the answer names the parameter"
    assert requests.get(f"{admin}/stats?since=0", timeout=5).status_code == 200
