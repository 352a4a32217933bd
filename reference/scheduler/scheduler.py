"""kube-scheduler's part of the reference: every Pod without a node is bound to one, or left Pending with
PodScheduled=False, reason Unschedulable, Kubernetes' message and a FailedScheduling event; Pending Pods
are tried again whenever room may have freed (a Pod gone or finished, a node or ResourcePolicy changed).

Pods run one at a time through the same pure decision (`placement`, `policy`), so each sees the Pods
bound before it. A Pod that another scheduler should place (`spec.schedulerName`) is left alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from reference.apis import times
from reference.apis.resources import GPU_MEM, pod_requests
from reference.apiserver.registry import Options
from reference.reconciler.controller import Controller, Key, Watch
from reference.reconciler.events import NORMAL, WARNING, EventRecorder
from reference.scheduler import gpushare
from reference.scheduler.placement import FINISHED, Fit, NoFit, node_infos, schedule
from reference.scheduler.policy import Placed, Policy, Waiting, place, policy_for

log = logging.getLogger("kproof.scheduler")

SCHEDULER_NAME = "default-scheduler"


def _epoch(timestamp: str) -> float:
    parsed = times.parse(timestamp)
    return time.time() if parsed is None else parsed


def unscheduled(pod: dict) -> bool:
    """Waiting for this scheduler: no node yet, not being deleted."""
    spec = pod.get("spec") or {}
    return (not spec.get("nodeName") and not pod["metadata"].get("deletionTimestamp")
            and spec.get("schedulerName", SCHEDULER_NAME) in ("", SCHEDULER_NAME))


class Scheduler(Controller):
    name = SCHEDULER_NAME

    def __init__(self, registry, clock: Callable[[], float] = time.time) -> None:
        super().__init__(registry)
        self.opts = Options(user="system:kube-scheduler")
        kinds = registry.kinds
        self.kind = kinds.require("", "v1", "pods")
        self.nodes = kinds.require("", "v1", "nodes")
        self.policies = kinds.require("scheduling.alibabacloud.com", "v1alpha1", "resourcepolicies")
        self.events = EventRecorder(registry, SCHEDULER_NAME)
        self.clock = clock

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, self._pod_keys), Watch(self.nodes, lambda _node: self._unscheduled_keys()),
                Watch(self.policies, lambda policy: self._unscheduled_keys(policy["metadata"].get("namespace")))]

    def _unscheduled_keys(self, namespace: str | None = None) -> list[Key]:
        return [(e.obj["metadata"].get("namespace", ""), e.obj["metadata"]["name"])
                for e in self.registry.store.entries(self.kind.resource, namespace) if unscheduled(e.obj)]

    def _pod_keys(self, pod: dict) -> list[Key]:
        meta = pod["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if unscheduled(pod):
            return [key]
        current = self.registry.store.entry(self.kind.resource, *key)
        if (current is None or current.obj["metadata"].get("uid") != meta.get("uid")
                or (current.obj.get("status") or {}).get("phase") in FINISHED):
            return self._unscheduled_keys()  # its room is free again
        return []

    def enqueue_all(self) -> None:
        for key in self._unscheduled_keys():
            self.enqueue(key)

    async def reconcile(self, key: Key) -> float | None:
        pod = self.get(self.kind, *key)
        if pod is None or not unscheduled(pod):
            return None
        store = self.registry.store
        infos = node_infos([e.obj for e in store.entries(self.nodes.resource)],
                           [e.obj for e in store.entries(self.kind.resource)])
        policies = [Policy.from_object(e.obj) for e in store.entries(self.policies.resource, key[0])]
        policy = policy_for(pod, policies)
        if policy is not None:
            pods = [e.obj for e in store.entries(self.kind.resource, key[0])]
            waited = self.clock() - _epoch(pod["metadata"].get("creationTimestamp", ""))
            decision: Fit | NoFit | Placed | Waiting = place(pod, policy, infos, pods, waited)
        else:
            decision = schedule(pod, infos)
        if isinstance(decision, Placed):
            self._bind(pod, decision.fit, decision.labels, decision.annotations)
            return None
        if isinstance(decision, Fit):
            self._bind(pod, decision, {}, {})
            return None
        self._unschedulable(pod, decision.message)
        return decision.retry_after if isinstance(decision, Waiting) else None

    def _bind(self, pod: dict, fit: Fit, labels: dict[str, str], annotations: dict[str, str]) -> None:
        meta = pod["metadata"]
        extra = dict(annotations)
        if fit.gpu_index is not None:
            extra.update(gpushare.bind_annotations(fit.gpu_index, fit.gpu_mem_each, pod_requests(pod)[GPU_MEM],
                                                   time.time_ns()))
        bound = {**pod, "spec": {**pod["spec"], "nodeName": fit.node},
                 "metadata": {**meta, "labels": {**(meta.get("labels") or {}), **labels},
                              "annotations": {**(meta.get("annotations") or {}), **extra}}}
        bound = self.registry.update(self.kind, meta.get("namespace", ""), meta["name"], bound, self.opts)
        status = dict(bound.get("status") or {})
        if any(c.get("type") == "PodScheduled" for c in status.get("conditions") or []):
            status["conditions"] = [c for c in status["conditions"] if c.get("type") != "PodScheduled"] + [
                _condition("True")]
            self.write_status(self.kind, bound, status)
        self.events.record(bound, NORMAL, "Scheduled",
                           f"Successfully assigned {meta.get('namespace', '')}/{meta['name']} to {fit.node}")

    def _unschedulable(self, pod: dict, message: str) -> None:
        status = dict(pod.get("status") or {})
        before: dict = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {})
        if before.get("status") == "False" and before.get("message") == message:
            return
        status["phase"] = "Pending"
        status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"] + [
            _condition("False", "Unschedulable", message)]
        self.write_status(self.kind, pod, status)
        self.events.record(pod, WARNING, "FailedScheduling", message)
        log.info("%s/%s: %s", pod["metadata"].get("namespace"), pod["metadata"]["name"], message)


def _condition(status: str, reason: str = "", message: str = "") -> dict:
    out = {"type": "PodScheduled", "status": status, "lastProbeTime": None,
           "lastTransitionTime": times.now()}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out
