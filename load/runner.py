"""Running a Locust scenario headless in its own process (gevent never meets asyncio) while watching the
Service's replicas from this one; writing both to reports/load/<scenario>/ with a chart."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kproof.allure_attach import attach_load_report
from kproof.target import Target
from load.distributed import free_port, local_workers, master_arguments
from load.knative import SAMPLE_SECONDS, KnativeReader

LOCUSTFILES = Path(__file__).resolve().parent / "locustfiles"
RUN_TIMEOUT_MARGIN = 60.0


@dataclass
class Sample:
    seconds: float  # since the scenario started
    ready: int
    desired: int


@dataclass
class LoadResult:
    scenario: str
    requests: int
    failures: int
    median_ms: float
    p95_ms: float
    rps: float
    history: list[dict] = field(default_factory=list)  # Locust's per-second stats
    workers: int = 1  # Locust processes that ran the users (more than one: a master and its workers)
    replicas: list[Sample] = field(default_factory=list)
    directory: Path | None = None

    @property
    def max_ready(self) -> int:
        return max((s.ready for s in self.replicas), default=0)

    def ready_at_end(self) -> int:
        return self.replicas[-1].ready if self.replicas else 0

    def first_time_ready(self, count: int) -> float | None:
        return next((s.seconds for s in self.replicas if s.ready >= count), None)


class ReplicaWatcher:
    """Samples the Service's ready Pods and its autoscalers' desired scale twice a second, in a thread, with the
    reader of the web UI's Knative tab."""

    def __init__(self, target: Target, namespace: str, service: str) -> None:
        self.reader = KnativeReader(target, service, namespace, metrics=())  # replicas only: no metrics endpoints
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> ReplicaWatcher:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        deadline = time.monotonic() + 3600
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                sample = self.reader.read()
                if sample.ready is not None:  # None: the Pods could not be listed, a lost sample
                    # desired None: no autoscaler has decided yet (or none could be listed)
                    self.samples.append(Sample(round(time.monotonic() - self._started, 2), sample.ready,
                                               sample.desired or 0))
            except Exception:  # a lost sample is not a failed run
                pass
            self._stop.wait(SAMPLE_SECONDS)


def _read_stats(prefix: Path) -> tuple[dict, list[dict]]:
    with open(f"{prefix}_stats.csv") as f:
        rows = list(csv.DictReader(f))
    aggregated = next(r for r in rows if r["Name"] == "Aggregated")
    history_path = Path(f"{prefix}_stats_history.csv")
    history = []
    if history_path.exists():
        with history_path.open() as f:
            history = [r for r in csv.DictReader(f) if r.get("Name") == "Aggregated"]
    return aggregated, history


def run_scenario(target: Target, scenario: str, service: str, namespace: str, *, users: int = 1,
                 run_time: str = "", path: str = "/?sleep=200", env: dict[str, str] | None = None,
                 reports: Path = Path("reports"), timeout: float = 600, workers: int = 1) -> LoadResult:
    """Runs load/locustfiles/<scenario>.py headless against the Service and returns what happened; with
    `workers` above one, users run in that many worker processes of a Locust master."""
    if not target.ingress:
        raise RuntimeError("the target has no ingress address")
    arguments = ["--host", target.ingress, "--service-host", target.service_host(service, namespace), "--path", path]
    if run_time:
        arguments += ["--run-time", run_time, "-u", str(users), "-r", str(users)]
    with ReplicaWatcher(target, namespace, service) as watcher:
        return _run_locust(scenario, arguments, env or {}, reports, timeout, watcher, workers)


def run_producer(bootstrap: str, topic: str, *, rate: float = 50, duration: float = 100,
                 env: dict[str, str] | None = None, reports: Path = Path("reports"),
                 watch: tuple[Target, str, str] | None = None) -> LoadResult:
    """Runs the kafka_producer scenario (seed 001: `rate` messages a second into `topic` for `duration`
    seconds); `watch` = (target, service, namespace) also samples the replicas of the Service that consumes
    the topic through its KafkaSource. Each request in the result is one message's delivery report."""
    env = {"KPROOF_KAFKA_BOOTSTRAP": bootstrap, "KPROOF_TOPIC": topic, "KPROOF_RATE": f"{rate:g}",
           "KPROOF_DURATION": f"{duration:g}", **(env or {})}
    timeout = duration + RUN_TIMEOUT_MARGIN
    if watch is None:
        return _run_locust("kafka_producer", [], env, reports, timeout, None)
    target, service, namespace = watch
    with ReplicaWatcher(target, namespace, service) as watcher:
        return _run_locust("kafka_producer", [], env, reports, timeout, watcher)


def _run_locust(scenario: str, arguments: list[str], env: dict[str, str], reports: Path, timeout: float,
                watcher: ReplicaWatcher | None, workers: int = 1) -> LoadResult:
    directory = reports / "load" / scenario
    directory.mkdir(parents=True, exist_ok=True)
    prefix = directory / "locust"
    locustfile = LOCUSTFILES / f"{scenario}.py"
    distributed = workers > 1
    port = free_port() if distributed else 0
    command = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
               *arguments, "--csv", str(prefix), "--csv-full-history", "--only-summary",
               "--exit-code-on-error", "0"]
    if distributed:  # at INFO a master logs its workers as they connect
        command += [*master_arguments(workers, port), "--loglevel", "INFO"]
    else:
        command += ["--loglevel", "WARNING"]
    environment = {**os.environ, **env}
    with local_workers(locustfile, workers if distributed else 0, port, environment, logs=directory):
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment)
    if watcher is not None:
        time.sleep(1)  # one more sample after the load
    (directory / "locust.log").write_text(completed.stdout + completed.stderr)
    if completed.returncode not in (0, 1) or not Path(f"{prefix}_stats.csv").exists():
        raise RuntimeError(f"locust failed ({completed.returncode}): {completed.stderr[-2000:]}")
    if "Gave up waiting for workers" in completed.stderr:
        raise RuntimeError(f"{workers} Locust workers did not connect; see {directory}/locust-worker-*.log")
    aggregated, history = _read_stats(prefix)
    result = LoadResult(
        scenario=scenario,
        requests=int(aggregated["Request Count"]),
        failures=int(aggregated["Failure Count"]),
        median_ms=_float(aggregated["Median Response Time"]),
        p95_ms=_float(aggregated["95%"]),
        rps=_float(aggregated["Requests/s"]),
        history=history,
        replicas=list(watcher.samples) if watcher is not None else [],
        directory=directory,
        workers=workers,
    )
    write_report(result)
    attach_load_report(directory)  # to the running test's Allure result, if any
    return result


def write_report(result: LoadResult) -> None:
    """replicas.csv, summary.json and chart.png (replicas and latency over time)."""
    assert result.directory is not None
    with (result.directory / "replicas.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["seconds", "ready", "desired"])
        writer.writerows((s.seconds, s.ready, s.desired) for s in result.replicas)
    summary = {k: v for k, v in asdict(result).items() if k not in ("history", "replicas", "directory")}
    summary["max_ready"] = result.max_ready
    (result.directory / "summary.json").write_text(json.dumps(summary, indent=2))
    chart(result, result.directory / "chart.png")


def _float(value: object) -> float:
    """Locust writes N/A for seconds without data."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def chart(result: LoadResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (replicas, latency) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    times = [s.seconds for s in result.replicas]
    replicas.step(times, [s.ready for s in result.replicas], where="post", label="ready")
    replicas.step(times, [s.desired for s in result.replicas], where="post", label="desired", linestyle="--")
    replicas.set_ylabel("replicas")
    replicas.legend(loc="upper left")
    if not result.replicas:  # e.g. a producer run that watched no Service
        replicas.text(0.5, 0.5, "no Service watched", ha="center", va="center", transform=replicas.transAxes)
    replicas.set_title(f"{result.scenario}: {result.requests} requests, {result.failures} failed")
    if result.history:
        start = _float(result.history[0]["Timestamp"])
        seconds = [_float(h["Timestamp"]) - start for h in result.history]
        latency.plot(seconds, [_float(h.get("50%")) for h in result.history], label="p50 ms")
        latency.plot(seconds, [_float(h.get("95%")) for h in result.history], label="p95 ms")
        users = latency.twinx()
        users.plot(seconds, [_float(h.get("User Count")) for h in result.history], color="grey",
                   linestyle=":", label="users")
        users.set_ylabel("users")
    latency.set_ylabel("latency (ms)")
    latency.set_xlabel("seconds")
    latency.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
