"""The Knative tab's samples (load/knative.py): replicas from Pods and PodAutoscalers, panic mode and the
activator's queue from Knative's Prometheus metrics or the reference's /stats, the CSV and the chart."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kproof.target import Target
from load.knative import (
    CLUSTER_METRICS,
    CSV_FIELDS,
    KnativeReader,
    KnativeSample,
    SampleLog,
    chart_svg,
    default_metrics,
    summarize,
)

NOW = 1_700_000_000.0


def pod(name: str, revision: str, ready: bool = True, leaving: bool = False) -> dict:
    metadata: dict = {"name": name, "labels": {"serving.knative.dev/revision": revision}}
    if leaving:
        metadata["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": metadata, "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


def autoscaler(revision: str, desired: int | None) -> dict:
    return {"metadata": {"name": revision}, "status": {} if desired is None else {"desiredScale": desired}}


KNATIVE_METRICS = """\
# HELP autoscaler_panic_mode 1 if autoscaler is in panic mode, 0 otherwise
# TYPE autoscaler_panic_mode gauge
autoscaler_panic_mode{configuration_name="web",namespace_name="ns",revision_name="web-00002",service_name="web"} 1
autoscaler_panic_mode{configuration_name="web",namespace_name="other",revision_name="web-00002",service_name="web"} 0
autoscaler_panic_mode{configuration_name="api",namespace_name="ns",revision_name="api-00001",service_name="api"} 0
# HELP activator_request_concurrency Concurrent requests that are routed to Activator
# TYPE activator_request_concurrency gauge
activator_request_concurrency{namespace_name="ns",revision_name="web-00001",pod_name="activator-1"} 2
activator_request_concurrency{namespace_name="ns",revision_name="web-00002",pod_name="activator-2"} 3
activator_request_concurrency{namespace_name="ns",revision_name="api-00001",pod_name="activator-2"} 40
"""


def test_replicas_count_ready_pods_and_sum_the_desired_scale_of_every_revision() -> None:
    pods = [pod("a", "web-00001"), pod("b", "web-00002"), pod("c", "web-00002", ready=False),
            pod("d", "web-00002", leaving=True)]
    sample = summarize(NOW, pods, [autoscaler("web-00001", 1), autoscaler("web-00002", 3)], [], "ns")
    assert (sample.ready, sample.desired) == (2, 4)
    assert (sample.panic, sample.queue) == (None, None), "no metrics: unknown, not zero"


def test_what_the_platform_does_not_give_stays_empty() -> None:
    assert summarize(NOW, None, None, [], "ns") == KnativeSample(NOW, None, None, None, None)
    undecided = summarize(NOW, [], [autoscaler("web-00001", -1), autoscaler("web-00002", None)], [], "ns")
    assert (undecided.ready, undecided.desired) == (0, None), "Knative's -1: no decision yet"


def test_knative_metrics_give_panic_mode_and_the_activator_queue_of_this_service_only() -> None:
    sample = summarize(NOW, [], [autoscaler("web-00001", 1), autoscaler("web-00002", 2)], [KNATIVE_METRICS], "ns")
    assert sample.panic is True
    assert sample.queue == 5
    calm = KNATIVE_METRICS.replace('revision_name="web-00002",service_name="web"} 1',
                                   'revision_name="web-00002",service_name="web"} 0')
    assert summarize(NOW, [], [autoscaler("web-00002", 2)], [calm], "ns").panic is False


def test_the_reference_data_plane_stats_give_the_queue() -> None:
    stats = json.dumps({"time": NOW, "revisions": {
        "ns/web-00001": {"inflight": 4, "queued": 6, "buckets": []},
        "ns/api-00001": {"inflight": 1, "queued": 9, "buckets": []},
        "other/web-00001": {"inflight": 0, "queued": 7, "buckets": []}}, "ready": {}})
    sample = summarize(NOW, [pod("a", "web-00001")], [], [stats, "# no samples in Prometheus text\n"], "ns")
    assert (sample.ready, sample.queue, sample.panic) == (1, 6, None)


def test_a_body_that_is_not_metrics_gives_nothing_and_raises_nothing() -> None:
    bodies = ["<html>403 Forbidden</html>", "{not json", "[1, 2]", 'activator_request_concurrency{revision_name="a" 1']
    sample = summarize(NOW, [], [autoscaler("web-00002", 1)], [*bodies, KNATIVE_METRICS], "ns")
    assert (sample.panic, sample.queue) == (True, 3)


def test_the_first_source_that_knows_the_queue_wins() -> None:
    stats = json.dumps({"revisions": {"ns/web-00002": {"queued": 1}}})
    assert summarize(NOW, [], [autoscaler("web-00002", 1)], [stats, KNATIVE_METRICS], "ns").queue == 1


def test_default_metrics_are_the_autoscaler_and_the_reference_data_plane_else_knatives(tmp_path: Path) -> None:
    assert default_metrics(tmp_path / "kubeconfig") == list(CLUSTER_METRICS)
    (tmp_path / "endpoints.json").write_text(json.dumps({"dataplane_admin": "http://127.0.0.1:9999"}))
    assert default_metrics(tmp_path / "kubeconfig") == [CLUSTER_METRICS[0], "http://127.0.0.1:9999/stats",
                                                        "http://127.0.0.1:9999/metrics"]


def test_the_log_is_bounded_and_its_csv_has_empty_cells_for_unknown_values() -> None:
    log = SampleLog(kept=3)
    for i in range(5):
        log.add(KnativeSample(NOW + i / 2, i, i + 1, (i % 2 == 1) if i < 4 else None, None if i == 3 else 1.5))
    assert [r["ready"] for r in log.rows()] == [2, 3, 4]
    assert [r["seconds"] for r in log.rows()] == [0.0, 0.5, 1.0]
    assert [r["ready"] for r in log.rows(last=2)] == [3, 4]
    rows = list(csv.DictReader(io.StringIO(log.csv())))
    assert tuple(rows[0]) == CSV_FIELDS
    assert [(r["ready"], r["desired"], r["panic"], r["queue"]) for r in rows] == [
        ("2", "3", "no", "1.5"), ("3", "4", "yes", ""), ("4", "5", "", "1.5")]
    assert rows[0]["time"].startswith("2023-11-14T22:13:21")
    log.clear()
    assert log.rows() == [] and log.csv().strip() == ",".join(CSV_FIELDS)


def test_the_chart_is_svg_with_what_is_known() -> None:
    samples = [KnativeSample(NOW + i, i, 4, i >= 2, float(i)) for i in range(5)]
    svg = chart_svg(samples, "ns/web")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "ns/web" in svg and "panic" in svg
    assert "not reported" in chart_svg([KnativeSample(NOW, 1, 1, None, None)], "ns/web")
    assert "<svg" in chart_svg([], "ns/web"), "before the first sample"


class _Failing(BaseHTTPRequestHandler):
    calls = 0

    def do_GET(self) -> None:
        type(self).calls += 1
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_metrics() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        thread.join(5)


def test_a_failing_metrics_source_is_left_alone_for_a_while(failing_metrics: str) -> None:
    reader = KnativeReader(Target(kubeconfig=Path("unused")), "web", "ns", [failing_metrics])
    assert reader._fetch(failing_metrics) is None
    assert reader._fetch(failing_metrics) is None
    assert _Failing.calls == 1


class _Response:
    def __init__(self, items: list[dict] | None) -> None:
        self.status_code = 200 if items is not None else 503
        self.items = items

    def json(self) -> dict:
        return {"items": self.items}


class _Cluster:
    """Answers the reader's two lists (Pods, PodAutoscalers) from what the test sets."""

    def __init__(self) -> None:
        self.pods: list[dict] | None = [pod("a", "web-00001"), pod("b", "web-00001", ready=False)]
        self.autoscalers: list[dict] | None = [autoscaler("web-00001", 2)]
        self.paths: list[str] = []

    def raw(self, method: str, path: str, **_: object) -> _Response:
        self.paths.append(path)
        return _Response(self.pods if "/pods?" in path else self.autoscalers)


def test_the_load_runner_samples_replicas_with_the_tab_s_reader() -> None:
    from load.runner import ReplicaWatcher

    def reads(count: int) -> None:  # each read lists Pods, then PodAutoscalers
        calls = len(cluster.paths)
        eventually(lambda: len(cluster.paths) >= calls + 2 * count, 5, f"{count} more reads")

    cluster = _Cluster()
    with ReplicaWatcher(cluster, "ns", "web") as watcher:  # type: ignore[arg-type]
        eventually(lambda: len(watcher.samples) >= 1, 5, "a first sample")
        cluster.pods = None
        reads(2)  # a read under way when the Pods went may still count
        lost = len(watcher.samples)
        reads(2)
        assert len(watcher.samples) == lost, "a sample whose Pods could not be listed is lost, not recorded"
        cluster.pods, cluster.autoscalers = [], [autoscaler("web-00001", -1)]
        eventually(lambda: watcher.samples[-1].ready == 0, 5, "a sample after the Pods are gone")
    first, last = watcher.samples[0], watcher.samples[-1]
    assert (first.ready, first.desired) == (1, 2)
    assert (last.ready, last.desired) == (0, 0), "no decision yet charts as 0"
    assert first.seconds < last.seconds
    assert {p.split("?")[0] for p in cluster.paths} == {
        "/api/v1/namespaces/ns/pods", "/apis/autoscaling.internal.knative.dev/v1alpha1/namespaces/ns/podautoscalers"}


def eventually(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {seconds}s"
        time.sleep(0.05)
