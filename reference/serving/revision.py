"""Revision -> its Pods (what Knative's Deployment and ReplicaSet do), its PodAutoscaler, its Kubernetes
Services (what its ServerlessService makes) and its status.

The number of Pods comes from the PodAutoscaler's decision, else the initial scale (at least min-scale, at
most max-scale). Each Pod runs the revision's containers with Knative's runtime contract
(reference.serving.resources.pod); the status rules are in reference.serving.status.revision.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable

from reference.apis.objects import declared_port, is_reserved, pod_active, pod_ready
from reference.apiserver.errors import ApiError
from reference.apiserver.registry import Registry
from reference.autoscaler.config import AutoscalerConfig
from reference.autoscaler.spec import scale_bounds
from reference.reconciler.controller import Controller, Key, Watch, own_key, owner_keys
from reference.reconciler.podset import deletion_order
from reference.runtime.ports import claimed_ports, free_port
from reference.serving import reserve
from reference.serving.resources.pa import make_pod_autoscaler
from reference.serving.resources.pod import make_pod
from reference.serving.resources.services import make_revision_services
from reference.serving.status.revision import Replicas, revision_status

log = logging.getLogger("kproof.revision")

MAX_REPLICAS_ENV = "KPROOF_MAX_REPLICAS"
DEFAULT_MAX_REPLICAS = 100  # Pods of every revision together, on this one machine
RETRY_REFUSED_SECONDS = 5.0  # a Pod admission refused is tried again (the ReplicaSet's back-off)

Scaler = Callable[[dict, dict[str, str]], int]


def static_scale(revision: dict, autoscaler_config: dict[str, str]) -> int:
    """Before (or without) the autoscaler: the initial scale, at least min-scale, at most max-scale, as the
    KPA resolves them (reference.autoscaler.spec.scale_bounds)."""
    bounds = scale_bounds(revision["metadata"].get("annotations") or {}, AutoscalerConfig.from_map(autoscaler_config))
    desired = max(bounds.initial, bounds.min)
    return min(desired, bounds.max) if bounds.max else desired


def max_replicas() -> int:
    """The platform-wide cap on Pods: an absurd scale becomes a condition, not a fork bomb."""
    value = os.environ.get(MAX_REPLICAS_ENV, "")
    return int(value) if value.isascii() and value.isdigit() else DEFAULT_MAX_REPLICAS


def _ports_and_selector(current: dict, desired: dict) -> dict | None:
    """A revision's Services keep their ports and selector as Knative's ServerlessService reconciler keeps them;
    labels and annotations are set once, at creation."""
    spec = current.get("spec") or {}
    if spec.get("ports") == desired["spec"]["ports"] and spec.get("selector") == desired["spec"].get("selector"):
        return None
    updated = copy.deepcopy(current)
    updated["spec"]["ports"] = desired["spec"]["ports"]
    updated["spec"].pop("selector", None)
    if desired["spec"].get("selector"):
        updated["spec"]["selector"] = desired["spec"]["selector"]
    return updated


class RevisionReconciler(Controller):
    name = "revision-controller"

    def __init__(self, registry: Registry, scaler: Scaler = static_scale, own_network: bool = False) -> None:
        super().__init__(registry)
        # Pods with network namespaces of their own listen on the declared containerPort, as Knative's
        # runtime contract says; pods sharing the host's network each need a port of their own.
        self.own_network = own_network
        self.kind = registry.kinds.require("serving.knative.dev", "v1", "revisions")
        self.pods = registry.kinds.require("", "v1", "pods")
        self.autoscalers = registry.kinds.require("autoscaling.internal.knative.dev", "v1alpha1", "podautoscalers")
        self.services = registry.kinds.require("", "v1", "services")
        self._foreign_services: set[tuple[str, str]] = set()
        self.scaler = scaler

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), Watch(self.pods, owner_keys("Revision")),
                Watch(self.autoscalers, owner_keys("Revision")), Watch(self.services, owner_keys("Revision"))]

    async def reconcile(self, key: Key) -> float | None:
        revision = self.get(self.kind, *key)
        if revision is None or revision["metadata"].get("deletionTimestamp"):
            return None
        uid = revision["metadata"]["uid"]
        live = [p for p in self.children(self.pods, key[0], uid) if pod_active(p)]
        pods = [p for p in live if not is_reserved(p)]
        standby = [p for p in live if is_reserved(p)]
        autoscaler, _ = self.ensure_child(self.autoscalers, make_pod_autoscaler(revision), revision)
        self._ensure_services(revision, autoscaler)
        wanted = self.desired_scale(revision, autoscaler)
        desired = min(wanted, self._room(uid))
        keep = reserve.wanted(reserve.reserve_replicas(revision), desired, sum(1 for p in pods if pod_ready(p)),
                              len(standby))
        standard = desired
        if desired == 0 and keep and not any(pod_ready(p) for p in standby):
            standard = len(pods)  # the last standard replicas leave once a reserved one is ready
        pods, refused = self._scale(revision, pods, standard, lambda pod: pod)
        _, refused_standby = self._scale(revision, standby, keep, reserve.reserved)
        replicas = Replicas(pods, desired, wanted, max_replicas(), refused or refused_standby,
                            self._always_schedulable())
        self.write_status(self.kind, revision, revision_status(revision, replicas, autoscaler))
        return RETRY_REFUSED_SECONDS if replicas.refused else None

    def desired_scale(self, revision: dict, autoscaler: dict | None) -> int:
        """The replicas the PodAutoscaler set, else (before it decides, or for a class it cannot run) the
        initial scale."""
        replicas = ((autoscaler or {}).get("status") or {}).get("scaleTargetReplicas")
        if isinstance(replicas, int) and replicas >= 0:
            return replicas
        return self.scaler(revision, self.registry.read_config("knative-serving", "config-autoscaler"))

    def _ensure_services(self, revision: dict, autoscaler: dict) -> None:
        """The revision's public and private Services (a Service of that name that is not the revision's is
        left alone, and said once)."""
        protocol = (autoscaler.get("spec") or {}).get("protocolType", "http1")
        namespace = revision["metadata"]["namespace"]
        for desired in make_revision_services(revision, protocol):
            _, owned = self.ensure_child(self.services, desired, revision, _ports_and_selector)
            name = desired["metadata"]["name"]
            if not owned and (namespace, name) not in self._foreign_services:
                self._foreign_services.add((namespace, name))
                log.warning("revision %s/%s: Service %s exists and is not the revision's; left alone",
                            namespace, revision["metadata"]["name"], name)

    def _room(self, uid: str) -> int:
        """How many Pods this revision may have under the platform's replica cap (its own count too)."""
        others = sum(1 for e in self.registry.store.entries(self.pods.resource) if pod_active(e.obj)
                     and not any(o.get("uid") == uid for o in e.obj["metadata"].get("ownerReferences") or []))
        return max(0, max_replicas() - others)

    def _scale(self, revision: dict, pods: list[dict], count: int, shape: Callable[[dict], dict]
               ) -> tuple[list[dict], str]:
        """Creates or deletes Pods (of the shape `shape` gives) until there are `count`; returns them, and the
        message of the API server's refusal when admission (a ResourceQuota) refused one."""
        namespace = revision["metadata"]["namespace"]
        if len(pods) < count:
            taken = claimed_ports([e.obj for e in self.registry.store.entries(self.pods.resource)])
            for _ in range(count - len(pods)):
                port = declared_port(revision) if self.own_network else free_port(taken)
                taken.add(port)
                try:
                    pods.append(self.registry.create(self.pods, namespace, shape(make_pod(revision, port)), self.opts))
                except ApiError as err:
                    if err.code != 403:
                        raise
                    return pods, err.message
        elif len(pods) > count:
            victims = sorted(pods, key=deletion_order)[: len(pods) - count]
            for pod in victims:
                self.registry.delete(self.pods, namespace, pod["metadata"]["name"], {}, self.opts)
            pods = [p for p in pods if p not in victims]
        return pods, ""

    def _always_schedulable(self) -> bool:
        """config-deployment's pod-is-always-schedulable: Pending Pods do not fail the revision."""
        config = self.registry.read_config("knative-serving", "config-deployment")
        return config.get("pod-is-always-schedulable", "false").strip().lower() == "true"
