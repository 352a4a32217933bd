"""Measurements taken while a run runs, kept as JSON files beside its results (reports/measurements/).

- pod-startup: for each Pod created during the run outside the system namespaces, the time from its
  creationTimestamp to each condition turning True (PodScheduled, Initialized, ContainersReady, Ready), as
  kube-burner's podLatency measures it; P50, P90 and P99 per condition. As Kubernetes' pod start-up SLO
  counts them, only schedulable and stateless pods count: a Pod that was ever Unschedulable (waiting for a
  GPU) or that mounts a volume other than secrets, config maps, the downward API, projections and emptyDir
  is left out, and counted as such. Kubernetes writes these times in whole seconds, so the figures are too.
- revision-ready: for each Revision created during the run, the time to its Ready condition.

Both come from watches of the whole cluster, in a thread, through the suite's driver. The load tests write
their own measurements (scale from zero) with `write`.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy

from kproof.target import Target

POD_CONDITIONS = ("PodScheduled", "Initialized", "ContainersReady", "Ready")
SYSTEM_NAMESPACES = ("kube-", "knative-")
STATELESS_VOLUMES = {"secret", "configMap", "downwardAPI", "emptyDir", "projected"}  # the SLO's "stateless pod"
WATCH_SECONDS = 5.0  # each watch call; the thread checks for the end between two
RETRY_SECONDS = 2.0


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def percentiles(values: list[float], points: tuple[int, ...] = (50, 90, 99)) -> dict[str, float]:
    """count, p<N> (linear interpolation between ranks) and max of `values`, in seconds to the millisecond."""
    if not values:
        return {"count": 0}
    found: dict[str, float] = {"count": len(values)}
    for point in points:
        found[f"p{point}"] = round(float(numpy.percentile(values, point)), 3)
    found["max"] = round(max(values), 3)
    return found


def write(directory: Path, name: str, values: dict[str, Any], unit: str = "s", **extra: Any) -> Path:
    """One measurement file: {"measurement": name, "unit": unit, "values": {...}, ...extra}."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps({"measurement": name, "unit": unit, "values": values, **extra}, indent=1))
    return path


def read_all(directory: Path) -> dict[str, dict]:
    """Every measurement file in `directory`, by measurement name."""
    found = {}
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text())
            found[str(data.get("measurement") or path.stem)] = data
    return found


def pod_left_out(pod: dict) -> str | None:
    """Why a Pod does not count towards Kubernetes' start-up SLO (None: it counts)."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
            return "unschedulable"
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if not STATELESS_VOLUMES & set(volume):
            return "stateful"
    return None


class ConditionLatency:
    """Seconds from each object's creation to the first time each of `conditions` was True; objects that
    `left_out` names a reason for are counted apart."""

    def __init__(self, conditions: tuple[str, ...], since: float,
                 left_out: Callable[[dict], str | None] | None = None) -> None:
        self.conditions = conditions
        self.since = since - 1.0  # creation times are whole seconds
        self.left_out = left_out
        self.seen: dict[str, dict[str, float]] = {}  # uid -> condition -> seconds
        self.excluded: dict[str, str] = {}  # uid -> why

    def observe(self, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        if str(meta.get("namespace", "")).startswith(SYSTEM_NAMESPACES):
            return
        created = parse_time(meta.get("creationTimestamp"))
        if created is None or created < self.since:
            return
        uid = str(meta.get("uid") or meta.get("name"))
        why = self.left_out(obj) if self.left_out is not None else None
        if why is not None and uid not in self.excluded:
            self.excluded[uid] = why
        times = self.seen.setdefault(uid, {})
        for condition in (obj.get("status") or {}).get("conditions") or []:
            kind = condition.get("type")
            if kind in self.conditions and kind not in times and condition.get("status") == "True":
                moment = parse_time(condition.get("lastTransitionTime"))
                if moment is not None:
                    times[kind] = max(0.0, moment - created)

    def summary(self) -> dict[str, dict[str, float]]:
        counted = [t for uid, t in self.seen.items() if uid not in self.excluded]
        return {kind: percentiles([t[kind] for t in counted if kind in t]) for kind in self.conditions}

    def left_out_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for why in self.excluded.values():
            counts[why] = counts.get(why, 0) + 1
        return counts


class Watch(threading.Thread):
    """Lists, then watches one kind across the cluster, handing every object to `observe`, until stopped."""

    def __init__(self, target: Target, api_version: str, kind: str, observe: Callable[[dict], None]) -> None:
        super().__init__(daemon=True, name=f"kproof-watch-{kind}")
        self.target, self.api_version, self.kind, self.observe = target, api_version, kind, observe
        self.stopping = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        version: str | None = None
        while not self.stopping.is_set():
            try:
                if version is None:
                    version = self._list()
                for event in self.target.watch(self.api_version, self.kind, None, timeout=WATCH_SECONDS,
                                               resource_version=version):
                    if event["type"] == "ERROR":
                        version = None  # expired: list again
                        break
                    obj = event["object"]
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    self.observe(obj)
                    if self.stopping.is_set():
                        return
            except Exception as err:  # a measurement never fails the run; it says why it is short
                self.error = f"{type(err).__name__}: {err}"[:300]
                version = None
                self.stopping.wait(RETRY_SECONDS)

    def _list(self) -> str | None:
        resource = self.target.resource(self.api_version, self.kind)
        listed = self.target.dynamic.get(resource).to_dict()
        for obj in listed.get("items") or []:
            self.observe(obj)
        return (listed.get("metadata") or {}).get("resourceVersion")

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=WATCH_SECONDS + 5)


class RunMeasurements:
    """The watches of one run: pods' start-up and revisions' readiness."""

    def __init__(self, target: Target) -> None:
        now = time.time()
        self.pods = ConditionLatency(POD_CONDITIONS, now, pod_left_out)
        self.revisions = ConditionLatency(("Ready",), now)
        self.watches = [Watch(target, "v1", "Pod", self.pods.observe)]
        with contextlib.suppress(Exception):  # a target without Knative Serving has no revisions to time
            target.resource("serving.knative.dev/v1", "Revision")
            self.watches.append(Watch(target, "serving.knative.dev/v1", "Revision", self.revisions.observe))
        for watch in self.watches:
            watch.start()

    def finish(self, directory: Path) -> list[Path]:
        for watch in self.watches:
            watch.stop()
        errors = {w.kind: w.error for w in self.watches if w.error}
        written = [write(directory, "pod-startup", self.pods.summary(), pods=len(self.pods.seen),
                         left_out=self.pods.left_out_counts(), errors=errors.get("Pod"),
                         description="creationTimestamp to each condition's lastTransitionTime, for the schedulable, "
                                     "stateless pods created during the run outside kube-* and knative-*")]
        if len(self.watches) > 1:
            written.append(write(directory, "revision-ready", self.revisions.summary(),
                                 revisions=len(self.revisions.seen), errors=errors.get("Revision"),
                                 description="creationTimestamp to Ready, revisions created during the run"))
        return written
