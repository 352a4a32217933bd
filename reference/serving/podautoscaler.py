"""The KPA-class PodAutoscaler controller: feeds the data plane's metrics to the pure KPA every tick
(2 s), and at once when the activator holds a request for a revision at zero; writes the decision to
the PodAutoscaler's status, where the revision reconciler reads its replicas from.

`status.scaleTargetReplicas` is the reference's stand-in for the Deployment's spec.replicas that
Knative's KPA patches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from reference.apis import conditions
from reference.apis.labels import CONFIGURATION, REVISION, SERVICE
from reference.apis.objects import is_reserved, pod_ready
from reference.autoscaler.config import HPA_CLASS, KPA_CLASS, XPA_CLASS, AutoscalerConfig
from reference.autoscaler.kpa import TICK_SECONDS, Decider, RevisionMetrics
from reference.autoscaler.scaling import ACTIVATING, ActiveState, Tick, tick
from reference.autoscaler.spec import (
    DeciderSpec,
    autoscaler_class,
    decider_spec,
    progress_deadline,
    scale_bounds,
)
from reference.autoscaler.xpa import Buffer, buffer_spec
from reference.reconciler.controller import Controller, Key, Watch, own_key
from reference.reconciler.events import NORMAL, EventRecorder
from reference.serving.autoscaler_metrics import AutoscalerMetrics

log = logging.getLogger("kproof.autoscaler")

# (since epoch second) -> {"revisions": {"ns/name": {"inflight", "queued", "buckets": [[second, conc, reqs]]}}}
Stats = Callable[[int], Awaitable[dict]]
# (since sequence) -> (next sequence, ["ns/name", ...]) : revisions whose requests the activator holds
Activations = Callable[[int], Awaitable[tuple[int, list[str]]]]

REPLICAS = "scaleTargetReplicas"


def _epoch(timestamp: str | None, default: float) -> float:
    if not timestamp:
        return default
    try:
        return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return default


def active_state(pa: dict, now: float) -> ActiveState:
    active = conditions.get(pa, "Active")
    initialized = conditions.is_true(pa, "ScaleTargetInitialized")
    status = active.get("status", ACTIVATING)
    return ActiveState(status, _epoch(active.get("lastTransitionTime"), now), initialized, active.get("reason", ""))


class PodAutoscalerReconciler(Controller):
    name = "autoscaler"

    def __init__(self, registry, stats: Stats | None = None, activations: Activations | None = None,
                 clock: Callable[[], float] = time.time, published: AutoscalerMetrics | None = None) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("autoscaling.internal.knative.dev", "v1alpha1", "podautoscalers")
        self.revisions = registry.kinds.require("serving.knative.dev", "v1", "revisions")
        self.pods = registry.kinds.require("", "v1", "pods")
        self.configmaps = registry.kinds.require("", "v1", "configmaps")
        self.stats = stats
        self.activations = activations
        self.clock = clock
        self.deciders: dict[Key, Decider] = {}
        self.metrics: dict[Key, RevisionMetrics] = {}
        self.buffers: dict[Key, Buffer] = {}  # xpa-class revisions' spare replicas
        self._panicking: dict[Key, bool] = {}
        self.events = EventRecorder(registry, "autoscaler")
        self.published = published or AutoscalerMetrics()
        self._published_labels: dict[Key, dict[str, str]] = {}
        self._last_second = 0

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), Watch(self.pods, self._pa_of_pod), Watch(self.configmaps, self._on_config)]

    def _pa_of_pod(self, pod: dict) -> list[Key]:
        revision = (pod["metadata"].get("labels") or {}).get(REVISION)
        return [(pod["metadata"].get("namespace", ""), revision)] if revision else []

    def _on_config(self, config_map: dict) -> list[Key]:
        meta = config_map["metadata"]
        if meta.get("namespace") == "knative-serving" and meta["name"] in ("config-autoscaler", "config-deployment"):
            return [(e.obj["metadata"]["namespace"], e.obj["metadata"]["name"])
                    for e in self.registry.store.entries(self.kind.resource)]
        return []

    def config(self) -> AutoscalerConfig:
        return AutoscalerConfig.from_map(self.registry.read_config("knative-serving", "config-autoscaler"))

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._tick())]
        if self.activations is not None:
            tasks.append(asyncio.create_task(self._wake()))
        try:
            await super().run()
        finally:
            for task in tasks:
                task.cancel()

    # Metrics ---------------------------------------------------------------------------------------

    async def _scrape(self) -> dict:
        if self.stats is None:
            return {}
        try:
            body = await self.stats(self._last_second)
        except Exception as err:  # the data plane restarting: no data this time
            log.debug("no stats: %s", err)
            return {}
        for name, revision in (body.get("revisions") or {}).items():
            namespace, _, rev = name.partition("/")
            window = self.metrics.get((namespace, rev))
            if window is None:
                continue
            for second, concurrency, requests in revision.get("buckets") or []:
                window.record(second, concurrency, requests)
                self._last_second = max(self._last_second, int(second))
        return body

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            await self._scrape()
            self.enqueue_all()

    async def _wake(self) -> None:
        """Scale from zero at once: the activator tells which revisions hold requests."""
        assert self.activations is not None
        since = 0
        while True:
            try:
                since, woken = await self.activations(since)
            except Exception as err:
                log.debug("activations: %s", err)
                await asyncio.sleep(0.5)
                continue
            if not woken:
                continue
            body = await self._scrape()
            now = self.clock()
            for name in woken:
                namespace, _, rev = name.partition("/")
                window = self.metrics.get((namespace, rev))
                held = (body.get("revisions") or {}).get(name) or {}
                if window is not None:
                    window.record(now, max(1, held.get("inflight", 1)), 1)
                self.enqueue((namespace, rev))

    # Reconcile -------------------------------------------------------------------------------------

    def _ready_pods(self, namespace: str, revision: str) -> int:
        return sum(1 for e in self.registry.store.entries(self.pods.resource, namespace)
                   if (e.obj["metadata"].get("labels") or {}).get(REVISION) == revision and not is_reserved(e.obj)
                   and pod_ready(e.obj))

    def _publish(self, key: Key, pa: dict, decided: Tick, spec: DeciderSpec, ready: int) -> None:
        labels = pa["metadata"].get("labels") or {}
        names = {"namespace_name": key[0], "revision_name": key[1], "service_name": labels.get(SERVICE, ""),
                 "configuration_name": labels.get(CONFIGURATION, "")}
        self._published_labels[key] = names
        self.published.record(names, decided.decision, decided.step.want, ready, spec)

    def _report_panic(self, key: Key, pa: dict, decided: Tick, spec: DeciderSpec, ready: int) -> None:
        """An Event when panic mode starts or ends (Knative's autoscaler logs "PANICKING." and "Un-panicking."),
        naming the windows and the target the decision used."""
        result = decided.decision
        if not result.valid or result.panicking == self._panicking.get(key, False):
            return
        self._panicking[key] = result.panicking
        windows = (f"panic window {spec.panic_window}s of a stable window {spec.stable_window}s, target "
                   f"{spec.target:g} per pod")
        if result.panicking:
            self.events.record(pa, NORMAL, "PanicStarted",
                               f"panic mode: {result.panic_value:g} over the {windows} asks for "
                               f"{result.desired} pods with {ready} ready (threshold "
                               f"{spec.panic_threshold * 100:g}%)")
        else:
            self.events.record(pa, NORMAL, "PanicEnded",
                               f"stable mode: no surge for a whole stable window ({windows})")

    async def reconcile(self, key: Key) -> float | None:
        pa = self.get(self.kind, *key)
        if pa is None or pa["metadata"].get("deletionTimestamp"):
            self.deciders.pop(key, None)
            self.metrics.pop(key, None)
            self.buffers.pop(key, None)
            self._panicking.pop(key, None)
            self.published.forget(self._published_labels.pop(key, {}))
            return None
        config = self.config()
        annotations = pa["metadata"].get("annotations") or {}
        klass = autoscaler_class(annotations, config)
        previous = pa.get("status") or {}
        if klass not in (KPA_CLASS, XPA_CLASS):
            reason = "NotSupported"
            message = (f"the reference platform runs the KPA (and ACK's xpa) only; class {klass!r} is not supported"
                       if klass != HPA_CLASS else "the reference platform runs the KPA only; the HPA class "
                                                  "needs a Kubernetes HorizontalPodAutoscaler")
            status = {**previous, "observedGeneration": pa["metadata"]["generation"],
                      "conditions": conditions.merge([conditions.condition("Ready", False, reason, message)],
                                                     previous.get("conditions"))}
            self.write_status(self.kind, pa, status)
            return None
        spec = pa.get("spec") or {}
        reachable = spec.get("reachability") != "Unreachable"
        dspec = decider_spec(annotations, int(spec.get("containerConcurrency") or 0), config, reachable)
        deadline = progress_deadline(annotations, self.registry.read_config("knative-serving", "config-deployment"))
        bounds = scale_bounds(annotations, config, reachable, deadline)
        now = self.clock()
        ready = self._ready_pods(*key)
        window = self.metrics.get(key)
        if window is None:
            window = self.metrics[key] = RevisionMetrics(dspec.stable_window, dspec.panic_window)
        window.resize(dspec.stable_window, dspec.panic_window)
        decider = self.deciders.get(key)
        if decider is None:
            decider = self.deciders[key] = Decider(dspec, ready, now)
        decider.update(dspec)
        state = active_state(pa, now)
        decided = tick(decider, window, bounds, state, config, now, ready, self._buffer(key, klass, annotations))
        step, after = decided.step, decided.state
        self._publish(key, pa, decided, dspec, ready)
        self._report_panic(key, pa, decided, dspec, ready)
        status = {k: v for k, v in previous.items() if k != "conditions"}
        status.update({"observedGeneration": pa["metadata"]["generation"], "desiredScale": step.want,
                       "actualScale": ready, "metricsServiceName": f"{key[1]}-private",
                       "serviceName": key[1]})
        if step.apply:
            status[REPLICAS] = step.want
        elif REPLICAS not in status:
            status[REPLICAS] = max(bounds.initial, bounds.min) if not state.initialized else ready
        active = conditions.condition("Active", after.status, after.reason if after.status != "True" else "",
                                      _active_message(after.status, after.reason))
        initialized = conditions.condition("ScaleTargetInitialized", after.initialized or None)
        ready_condition = conditions.condition("Ready", after.status if after.status != "False" else False,
                                               active.get("reason", ""), active.get("message", ""))
        status["conditions"] = conditions.merge(
            [active, initialized, conditions.condition("SKSReady", True), ready_condition],
            previous.get("conditions"))
        # The transition times drive scale to zero: keep them at this reconcile's clock, not the wall's.
        for cond in status["conditions"]:
            if cond["type"] == "Active" and after.since == now and state.status != after.status:
                cond["lastTransitionTime"] = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.write_status(self.kind, pa, status)
        return step.requeue_after


    def _buffer(self, key: Key, klass: str, annotations: dict[str, str]) -> Buffer | None:
        """The xpa class's spare replicas (None for the KPA)."""
        if klass != XPA_CLASS:
            self.buffers.pop(key, None)
            return None
        spec = buffer_spec(annotations)
        buffer = self.buffers.get(key)
        if buffer is None:
            buffer = self.buffers[key] = Buffer(spec)
        buffer.update(spec)
        return buffer


def _active_message(status: str, reason: str) -> str:
    if status == "True":
        return ""
    if reason == "NoTraffic":
        return "The target is not receiving traffic."
    if reason == "TimedOut":
        return "The target could not be activated."
    return "Requests to the target are being buffered as resources are provisioned."
