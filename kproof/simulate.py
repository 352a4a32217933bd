"""`kproof simulate`: replay a traffic trace through the KPA to tune a Service's autoscaling offline.

Seed 004: measure the start-up time first, then tune the windows. The trace (CSV: `second` and
`concurrency` or `rps`) drives the same KPA code the reference runs, with the Service's annotations,
config-autoscaler's values and a pod start-up time; out come desired and ready replicas and the
requests left waiting, second by second.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from reference.autoscaler.config import AutoscalerConfig
from reference.autoscaler.kpa import TICK_SECONDS, Decider, RevisionMetrics
from reference.autoscaler.scaling import ACTIVATING, SCALE_UNKNOWN, ActiveState, tick
from reference.autoscaler.spec import decider_spec, scale_bounds


@dataclass(frozen=True)
class TracePoint:
    second: int
    concurrency: float
    rps: float


@dataclass(frozen=True)
class Row:
    second: int
    offered: float  # requests in the system (concurrency)
    desired: int  # what the autoscaler wants (-1: no opinion yet)
    replicas: int  # pods asked for
    ready: int
    queued: float  # requests waiting for a free replica
    panicking: bool


@dataclass
class Simulation:
    rows: list[Row] = field(default_factory=list)

    @property
    def peak_replicas(self) -> int:
        return max((r.ready for r in self.rows), default=0)

    @property
    def queued_request_seconds(self) -> float:
        return sum(r.queued for r in self.rows)


def read_trace(path: Path, request_seconds: float) -> list[TracePoint]:
    """A trace CSV; the missing measure follows from Little's law with `request_seconds` per request."""
    points = []
    with Path(path).open() as f:
        for row in csv.DictReader(f):
            second = int(float(row["second"]))
            if row.get("concurrency") not in (None, ""):
                concurrency = float(row["concurrency"])
                rps = concurrency / request_seconds if request_seconds else 0.0
            else:
                rps = float(row["rps"])
                concurrency = rps * request_seconds
            points.append(TracePoint(second, concurrency, rps))
    return sorted(points, key=lambda p: p.second)


def service_settings(manifest: Path | None) -> tuple[dict[str, str], int]:
    """The revision template's annotations and containerConcurrency from a Service manifest."""
    if manifest is None:
        return {}, 0
    doc = next(d for d in yaml.safe_load_all(Path(manifest).read_text()) if d and d.get("kind") == "Service")
    template = doc["spec"]["template"]
    return dict((template.get("metadata") or {}).get("annotations") or {}), int(
        (template.get("spec") or {}).get("containerConcurrency") or 0)


def simulate(trace: list[TracePoint], annotations: dict[str, str], container_concurrency: int,
             config: AutoscalerConfig, startup_seconds: float, tail_seconds: int | None = None) -> Simulation:
    """Second by second: offer the trace's load, record what the data plane would measure, decide every
    tick (2 s) as the KPA does, and start pods that become ready `startup_seconds` later."""
    spec = decider_spec(annotations, container_concurrency, config)
    bounds = scale_bounds(annotations, config)
    metrics = RevisionMetrics(spec.stable_window, spec.panic_window)
    initial = max(bounds.initial, bounds.min)
    pods = [-startup_seconds] * initial  # ready at these times; the initial pods are up at the start
    decider = Decider(spec, ready_pods=initial, now=0.0)
    state = ActiveState(ACTIVATING, 0.0)
    by_second = {p.second: p for p in trace}
    end = (trace[-1].second if trace else 0) + (tail_seconds if tail_seconds is not None else
                                                spec.stable_window + int(config.scale_to_zero_grace_period) + 10)
    desired, panicking = SCALE_UNKNOWN, False
    result = Simulation()
    for second in range(end + 1):
        point = by_second.get(second, TracePoint(second, 0.0, 0.0))
        ready = sum(1 for t in pods if t <= second)
        capacity = ready * container_concurrency if container_concurrency else (math.inf if ready else 0)
        queued = max(0.0, point.concurrency - capacity)
        metrics.record(second, point.concurrency, point.rps)
        if second % TICK_SECONDS == 0:
            decided = tick(decider, metrics, bounds, state, config, float(second), ready)
            panicking, step = decided.decision.panicking, decided.step
            desired = step.want
            if step.apply and step.want >= 0:
                if step.want > len(pods):
                    pods += [second + startup_seconds] * (step.want - len(pods))
                elif step.want < len(pods):
                    pods = sorted(pods)[: step.want]  # the newest (not yet ready) go first
            state = decided.state
        result.rows.append(Row(second, round(point.concurrency, 3), desired, len(pods), ready, round(queued, 3),
                               panicking))
    return result


def write_csv(simulation: Simulation, path: Path) -> None:
    with Path(path).open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["second", "offered", "desired", "replicas", "ready", "queued", "panicking"])
        writer.writerows((r.second, r.offered, r.desired, r.replicas, r.ready, r.queued, int(r.panicking))
                         for r in simulation.rows)


def chart(simulation: Simulation, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = simulation.rows
    seconds = [r.second for r in rows]
    figure, (replicas, load) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    replicas.step(seconds, [max(0, r.desired) for r in rows], where="post", label="desired", linestyle="--")
    replicas.step(seconds, [r.ready for r in rows], where="post", label="ready")
    for r in rows:
        if r.panicking:
            replicas.axvspan(r.second, r.second + 1, color="orange", alpha=0.15, linewidth=0)
    replicas.set_ylabel("replicas")
    replicas.set_title(title)
    replicas.legend(loc="upper right")
    load.plot(seconds, [r.offered for r in rows], label="offered concurrency")
    load.plot(seconds, [r.queued for r in rows], label="queued requests")
    load.set_xlabel("seconds")
    load.set_ylabel("requests")
    load.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
