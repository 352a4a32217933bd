"""One Service over time, as the Knative tab of Locust's web UI shows it and `kproof load` charts it: its
ready and desired replicas, the autoscaler's panic mode and the requests the activator holds. KnativeReader
takes the samples of both (the load runner's ReplicaWatcher asks it for replicas only).

Replicas come from the Kubernetes API (ready Pods, the PodAutoscalers' desiredScale); panic mode and the
activator's queue from metrics endpoints: Knative's autoscaler (`autoscaler_panic_mode`) and activator
(`activator_request_concurrency`) through the API server's service proxy, or the reference's data plane
(`/stats`, `queued` per revision). A value the platform does not give stays empty (None), never an error.

No Locust here (importing it monkey-patches the process): the web UI glue is load/locustfiles/knative_tab.py.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import requests
from prometheus_client.parser import text_string_to_metric_families

from kproof.target import Target, pod_is_ready

SERVICE_LABEL = "serving.knative.dev/service"
REVISION_LABEL = "serving.knative.dev/revision"
# Knative's autoscaler and activator publish their metrics on the port `http-metrics` of their Services.
CLUSTER_METRICS = (
    "/api/v1/namespaces/knative-serving/services/autoscaler:http-metrics/proxy/metrics",
    "/api/v1/namespaces/knative-serving/services/activator-service:http-metrics/proxy/metrics",
)
PANIC_SUFFIX = "panic_mode"
QUEUE_METRICS = ("activator_request_concurrency", "kproof_revision_requests_queued")
REQUEST_TIMEOUT = 2.0
RETRY_SECONDS = 15.0  # a metrics source that failed is left alone this long
SAMPLE_SECONDS = 0.5  # between two samples, in the web UI and in a headless run alike
SAMPLES_KEPT = 7200  # an hour at two samples a second
CSV_FIELDS = ("time", "seconds", "ready", "desired", "panic", "queue")


@dataclass(frozen=True)
class KnativeSample:
    time: float  # epoch seconds
    ready: int | None  # ready Pods of the Service
    desired: int | None  # the sum of its PodAutoscalers' desiredScale
    panic: bool | None  # any of its revisions' autoscalers in panic mode
    queue: float | None  # requests the activator holds for it


def summarize(now: float, pods: list[dict] | None, autoscalers: list[dict] | None, metrics: Iterable[str],
              namespace: str) -> KnativeSample:
    """One sample from what the API listed (None: the list failed) and the bodies the metrics endpoints gave."""
    revisions = {a["metadata"]["name"] for a in autoscalers or []}  # a PodAutoscaler is named after its revision
    revisions |= {(p["metadata"].get("labels") or {}).get(REVISION_LABEL, "") for p in pods or []} - {""}
    panic: bool | None = None
    queue: float | None = None
    for body in metrics:
        try:
            found_panic, found_queue = _read_metrics(body, namespace, revisions)
        except (ValueError, TypeError, AttributeError):  # not the metrics it claimed to be: nothing known
            continue
        if found_panic is not None:
            panic = bool(panic) or found_panic
        if queue is None:  # the first source that knows it: two sources may report the same queue
            queue = found_queue
    return KnativeSample(
        time=now,
        ready=None if pods is None else sum(1 for p in pods if pod_is_ready(p)),
        desired=desired_scale(autoscalers),
        panic=panic,
        queue=queue,
    )


def desired_scale(autoscalers: list[dict] | None) -> int | None:
    """The desired scale of the Service's revisions; None before any autoscaler decided (Knative's -1)."""
    known = [int(scale) for a in autoscalers or [] if (scale := (a.get("status") or {}).get("desiredScale")) is not None
             and int(scale) >= 0]
    return sum(known) if known else None


def _read_metrics(body: str, namespace: str, revisions: set[str]) -> tuple[bool | None, float | None]:
    """(panic, queue) for the revisions from one endpoint's body: the reference's /stats JSON or Prometheus text."""
    if body.lstrip().startswith("{"):
        stats = json.loads(body).get("revisions") or {}
        queued = [s.get("queued", 0) for key, s in stats.items() if key in {f"{namespace}/{r}" for r in revisions}]
        return None, float(sum(queued)) if queued else None
    panic: list[float] = []
    queue: list[float] = []
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if not _belongs(sample.labels, namespace, revisions):
                continue
            if sample.name.endswith(PANIC_SUFFIX):
                panic.append(sample.value)
            elif sample.name.endswith(QUEUE_METRICS):
                queue.append(sample.value)
    return (any(v > 0 for v in panic) if panic else None), (sum(queue) if queue else None)


def queued_by_revision(body: str, namespace: str) -> dict[str, float]:
    """The requests the activator holds for each revision of `namespace`, from one metrics body (the
    reference's /stats JSON or Knative's activator metrics); {} when the body says nothing of them."""
    try:
        if body.lstrip().startswith("{"):
            stats = json.loads(body).get("revisions") or {}
            return {key.split("/", 1)[1]: float(s.get("queued", 0)) for key, s in stats.items()
                    if key.startswith(f"{namespace}/")}
        found: dict[str, float] = {}
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                if not sample.name.endswith(QUEUE_METRICS):
                    continue
                labels = sample.labels
                revision = next((v for k, v in labels.items() if "revision" in k and "namespace" not in k), None)
                if revision and all(v == namespace for k, v in labels.items() if "namespace" in k):
                    found[revision] = found.get(revision, 0.0) + sample.value
        return found
    except (ValueError, TypeError, AttributeError):
        return {}


def _belongs(labels: dict[str, str], namespace: str, revisions: set[str]) -> bool:
    """Whether a metric's labels name one of the revisions (Knative: revision_name and namespace_name;
    the reference: revision and namespace)."""
    named = any(value in revisions for key, value in labels.items() if "revision" in key and "namespace" not in key)
    return named and all(value == namespace for key, value in labels.items() if "namespace" in key)


def default_metrics(kubeconfig: Path) -> list[str]:
    """Where panic mode and the activator's queue can be read: Knative's autoscaler, and the reference's data
    plane when the kubeconfig is a reference's (its state directory names the admin address), else Knative's
    activator."""
    try:
        endpoints = json.loads((kubeconfig.parent / "endpoints.json").read_text())
    except (OSError, ValueError):
        return list(CLUSTER_METRICS)
    admin = endpoints.get("dataplane_admin") if isinstance(endpoints, dict) else None
    # The reference's autoscaler publishes panic mode where Knative's does; its queue is in the data plane.
    return [CLUSTER_METRICS[0], f"{admin}/stats", f"{admin}/metrics"] if admin else list(CLUSTER_METRICS)


class KnativeReader:
    """Reads one Service's sample from a target; every request is bounded and no failure is raised."""

    def __init__(self, target: Target, service: str, namespace: str, metrics: Sequence[str]) -> None:
        self.target = target
        self.service = service
        self.namespace = namespace
        self.metrics = list(metrics)
        self._failed_at: dict[str, float] = {}

    def read(self) -> KnativeSample:
        selector = quote(f"{SERVICE_LABEL}={self.service}")
        pods = self._items(f"/api/v1/namespaces/{self.namespace}/pods?labelSelector={selector}")
        autoscalers = self._items(f"/apis/autoscaling.internal.knative.dev/v1alpha1/namespaces/{self.namespace}"
                                  f"/podautoscalers?labelSelector={selector}")
        return summarize(time.time(), pods, autoscalers, self.metric_bodies(), self.namespace)

    def _items(self, path: str) -> list[dict] | None:
        try:
            response = self.target.raw("GET", path, timeout=REQUEST_TIMEOUT)
            if response.status_code != 200:
                return None
            return response.json().get("items") or []
        except (requests.RequestException, ValueError):
            return None

    def metric_bodies(self) -> list[str]:
        """What the metrics endpoints answer now (those that failed lately are left out)."""
        return [body for body in map(self._fetch, self.metrics) if body is not None]

    def _fetch(self, source: str) -> str | None:
        """A metrics body: a path goes to the API server (with the kubeconfig's credentials), a URL as it is."""
        if time.monotonic() - self._failed_at.get(source, -RETRY_SECONDS) < RETRY_SECONDS:
            return None
        try:
            if source.startswith("/"):
                response = self.target.raw("GET", source, timeout=REQUEST_TIMEOUT)
            else:
                response = requests.get(source, timeout=REQUEST_TIMEOUT)
            if response.status_code == 200:
                return response.text
        except requests.RequestException:
            pass
        self._failed_at[source] = time.monotonic()
        return None


class SampleLog:
    """The samples of a web UI session, the newest last, at most SAMPLES_KEPT of them."""

    def __init__(self, kept: int = SAMPLES_KEPT) -> None:
        self.samples: deque[KnativeSample] = deque(maxlen=kept)

    def add(self, sample: KnativeSample) -> None:
        self.samples.append(sample)

    def clear(self) -> None:
        self.samples.clear()

    def rows(self, last: int | None = None) -> list[dict]:
        """Rows for a table, JSON or CSV: empty strings where the platform gave no value."""
        samples = list(self.samples)
        start = samples[0].time if samples else 0.0
        chosen = samples[-last:] if last else samples
        return [row(s, start) for s in chosen]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows())
        return out.getvalue()


def row(sample: KnativeSample, start: float) -> dict:
    return {
        "time": datetime.fromtimestamp(sample.time, UTC).isoformat(timespec="milliseconds"),
        "seconds": round(sample.time - start, 1),
        "ready": "" if sample.ready is None else sample.ready,
        "desired": "" if sample.desired is None else sample.desired,
        "panic": "" if sample.panic is None else ("yes" if sample.panic else "no"),
        "queue": "" if sample.queue is None else int(sample.queue) if sample.queue.is_integer() else sample.queue,
    }


def chart_svg(samples: Sequence[KnativeSample], title: str) -> str:
    """Ready and desired replicas, the activator's queue and panic mode (shaded) over time, as SVG."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure  # no pyplot: no global state in a long-lived process
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(9, 3.6))
    replicas = figure.add_subplot()
    start = samples[0].time if samples else 0.0
    seconds = [s.time - start for s in samples]
    for name, style in (("ready", "-"), ("desired", "--")):
        known = [(t, getattr(s, name)) for t, s in zip(seconds, samples, strict=True) if getattr(s, name) is not None]
        replicas.step([t for t, _ in known], [v for _, v in known], where="post", linestyle=style, label=name)
    for t, s, following in zip(seconds, samples, seconds[1:], strict=False):  # each sample until the next
        if s.panic:
            replicas.axvspan(t, following, color="tab:red", alpha=0.15, linewidth=0)
    replicas.set_xlabel("seconds")
    replicas.set_ylabel("replicas")
    replicas.set_ylim(bottom=0)
    replicas.yaxis.set_major_locator(MaxNLocator(integer=True))
    queued = [(t, s.queue) for t, s in zip(seconds, samples, strict=True) if s.queue is not None]
    if queued:
        queue = replicas.twinx()
        queue.plot([t for t, _ in queued], [v for _, v in queued], color="grey", linestyle=":", label="queue")
        queue.set_ylabel("requests held by the activator")
        queue.set_ylim(bottom=0)
        queue.yaxis.set_major_locator(MaxNLocator(integer=True))
        queue.legend(loc="upper right")
    replicas.legend(loc="upper left")
    panic_known = any(s.panic is not None for s in samples)
    note = "shaded: panic mode" if panic_known else "panic mode: not reported by this platform"
    replicas.set_title(f"{title} ({note})", fontsize=10)
    figure.tight_layout()
    out = io.StringIO()
    with rc_context({"svg.fonttype": "none"}):  # text stays text: smaller, and the browser's font
        figure.savefig(out, format="svg")
    return out.getvalue()
