"""Revision -> its Pods (what Knative's Deployment and ReplicaSet do), its Kubernetes Services (what its
ServerlessService makes: reference.serving.k8s_services), and the Revision's status.

The number of Pods comes from a scaler (initial / min scale until the autoscaler takes over). Each Pod
runs the revision's containers with Knative's runtime contract: $PORT (a port of its own here),
K_SERVICE, K_CONFIGURATION, K_REVISION; probes on the traffic port are pointed at that port.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from reference.apis import conditions
from reference.apis.labels import CONFIGURATION, REVISION, REVISION_UID, ROUTING_STATE, SERVICE
from reference.apis.objects import owner_reference
from reference.apiserver.admission.autoscaling import INITIAL_SCALE, MAX_SCALE, MIN_SCALE, lookup
from reference.apiserver.admission.podspec import user_container_index
from reference.apiserver.errors import ApiError
from reference.reconciler.controller import Controller, Key, Watch, own_key, owner_keys
from reference.runtime.catalog import parse_reference
from reference.runtime.ports import claimed_ports, free_port
from reference.scheduler.policy import DELETION_COST
from reference.serving import k8s_services, reserve

log = logging.getLogger("kproof.revision")

REVISION_ONLY_FIELDS = ("containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds", "idleTimeoutSeconds")
# Container states that mean the revision cannot get its resources (Knative: ResourcesAvailable=False).
RESOURCE_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
                     "CreateContainerError")
USER_PORT_NAME = "user-port"
MAX_REPLICAS_ENV = "KPROOF_MAX_REPLICAS"
DEFAULT_MAX_REPLICAS = 100  # Pods of every revision together, on this one machine
RETRY_REFUSED_SECONDS = 5.0  # a Pod admission refused is tried again (the ReplicaSet's back-off)
# Knative requests queue-sidecar-cpu-request (25m) for its queue-proxy; a cpu quota counts it
QUEUE_PROXY = {"name": "queue-proxy", "image": "ghcr.io/kproof/queue-proxy", "resources": {"requests": {"cpu": "25m"}}}
_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")

Scaler = Callable[[dict, dict[str, str]], int]


def static_scale(revision: dict, autoscaler_config: dict[str, str]) -> int:
    """Before (or without) the autoscaler: the initial scale, at least min-scale, at most max-scale."""
    annotations = revision["metadata"].get("annotations") or {}

    def number(keys: tuple[str, ...], default: str) -> int:
        found = lookup(annotations, keys)
        try:
            return int(found[1] if found else default)
        except ValueError:
            return int(default)

    initial = number(INITIAL_SCALE, autoscaler_config.get("initial-scale", "1"))
    low = number(MIN_SCALE, "0")
    high = number(MAX_SCALE, autoscaler_config.get("max-scale", "0"))
    desired = max(initial, low)
    return min(desired, high) if high else desired


def max_replicas() -> int:
    """The platform-wide cap on Pods: an absurd scale becomes a condition, not a fork bomb."""
    value = os.environ.get(MAX_REPLICAS_ENV, "")
    return int(value) if value.isascii() and value.isdigit() else DEFAULT_MAX_REPLICAS


def template_hash(revision: dict) -> str:
    return hashlib.sha256(json.dumps(revision.get("spec"), sort_keys=True).encode()).hexdigest()[:10]


def image_digest(image: str) -> str:
    """`<repository>@sha256:<hex>` as Knative's tag resolution reports it. An image already pinned keeps
    its digest; otherwise the digest is stable for the image (not the registry's: nothing is pulled), so
    `nginx` and `docker.io/library/nginx:latest` resolve alike."""
    ref = parse_reference(image)
    _, _, pinned = image.partition("@")
    if _DIGEST.fullmatch(pinned):
        return f"{ref.repository}@{pinned}"
    return f"{ref.repository}@sha256:{hashlib.sha256(f'{ref.repository}:{ref.tag}'.encode()).hexdigest()}"


def _user_container(spec: dict) -> dict:
    containers = spec.get("containers") or []
    return containers[user_container_index(containers)] if containers else {}


def _first_port(spec: dict) -> dict:
    """The user container's declared port (Knative takes the first), {} when it declares none."""
    return (_user_container(spec).get("ports") or [{}])[0]


def declared_port(revision: dict) -> int:
    """The user container's containerPort, 8080 when it declares none (Knative's default)."""
    return int(_first_port(revision.get("spec") or {}).get("containerPort") or 8080)


def protocol_type(revision: dict) -> str:
    """`h2c` when the user container's first port is named so, else `http1` (Knative's Revision.GetProtocol):
    the protocol the data plane speaks to the replica."""
    return "h2c" if _first_port(revision.get("spec") or {}).get("name") == "h2c" else "http1"


def pod_for(revision: dict, port: int) -> dict:
    """The Pod a revision runs, listening on `port`."""
    meta = revision["metadata"]
    labels = dict(meta.get("labels") or {})
    spec = copy.deepcopy(revision.get("spec") or {})
    timeout = spec.get("timeoutSeconds", 300)
    for field in REVISION_ONLY_FIELDS:
        spec.pop(field, None)
    user = _user_container(spec)
    declared = _first_port(spec)
    declared_port, declared_name = declared.get("containerPort") or 8080, declared.get("name")
    user["ports"] = [{"name": USER_PORT_NAME, "containerPort": port, "protocol": "TCP"}]
    env = [e for e in user.get("env") or [] if e.get("name") not in ("PORT", "K_REVISION", "K_CONFIGURATION",
                                                                         "K_SERVICE")]
    env += [{"name": "PORT", "value": str(port)}, {"name": "K_REVISION", "value": meta["name"]},
            {"name": "K_CONFIGURATION", "value": labels.get(CONFIGURATION, "")},
            {"name": "K_SERVICE", "value": labels.get(SERVICE, "")}]
    user["env"] = env
    for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = user.get(probe_name) or {}
        for action in ("httpGet", "tcpSocket"):
            if action in probe and probe[action].get("port") in (None, 0, "", declared_port, declared_name, "http"):
                probe[action]["port"] = port
    spec["containers"] = [*(spec.get("containers") or []), copy.deepcopy(QUEUE_PROXY)]
    spec.update({"restartPolicy": "Always", "terminationGracePeriodSeconds": timeout,
                 "enableServiceLinks": False})
    labels.update({REVISION: meta["name"], REVISION_UID: meta["uid"], "app": meta["name"],
                   "pod-template-hash": template_hash(revision)})
    suffix = "".join(secrets.choice(_CHARS) for _ in range(5))
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{meta['name']}-deployment-{template_hash(revision)}-{suffix}",
                     "namespace": meta["namespace"], "labels": labels,
                     "annotations": dict(meta.get("annotations") or {}),
                     "ownerReferences": [owner_reference(revision)]},
        "spec": spec,
    }


def pod_ready(pod: dict) -> bool:
    return conditions.is_true(pod) and not pod["metadata"].get("deletionTimestamp")


def pod_active(pod: dict) -> bool:
    """A Pod that counts as a replica (the ReplicaSet's FilterActivePods): not being deleted, not ended
    (an evicted Pod is Failed and stays, its replacement is another Pod)."""
    return (not pod["metadata"].get("deletionTimestamp")
            and (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"))


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def _deletion_cost(pod: dict) -> int:
    try:
        return int((pod["metadata"].get("annotations") or {}).get(DELETION_COST, "0"))
    except ValueError:
        return 0


def deletion_order(pod: dict) -> tuple:
    """The ReplicaSet's ranking for scale-in, first to go first: unscheduled, then pending, then not
    ready; then the lowest pod-deletion-cost (ResourcePolicy's last units); then ready for the
    shortest time, most restarts, and the newest."""
    status = pod.get("status") or {}
    ready_since = conditions.get(pod).get("lastTransitionTime", "") if pod_ready(pod) else ""
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    return (bool((pod.get("spec") or {}).get("nodeName")), _PHASE_RANK.get(status.get("phase", ""), 1),
            pod_ready(pod), _deletion_cost(pod), _descending(ready_since), -restarts,
            _descending(pod["metadata"].get("creationTimestamp", "")))


def _descending(timestamp: str) -> float:
    """A sort key for RFC 3339 timestamps: none at all first, then the newest."""
    try:
        return -datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return float("-inf")


def unschedulable(pods: list[dict]) -> dict | None:
    """The PodScheduled=False condition of the first Pod that cannot be placed, if any."""
    for pod in pods:
        scheduled = conditions.get(pod, "PodScheduled")
        if scheduled.get("status") == "False":
            return scheduled
    return None


def _failure(pods: list[dict]) -> tuple[str, str, str] | None:
    """(condition, reason, message) for the first container that cannot run, if any."""
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in RESOURCE_FAILURES:
                return "ResourcesAvailable", waiting["reason"], waiting.get("message", "")
            terminated = (status.get("lastState") or {}).get("terminated") or (status.get("state") or {}).get(
                "terminated") or {}
            if terminated.get("exitCode") and not status.get("ready"):
                return ("ContainerHealthy", f"ExitCode{terminated['exitCode']}",
                        f"Container failed with: {terminated.get('message', '')}".rstrip())
    return None


def reachability(revision: dict) -> str:
    """The PodAutoscaler's reachability from the revision's routing state."""
    state = (revision["metadata"].get("labels") or {}).get(ROUTING_STATE)
    return {"active": "Reachable", "reserve": "Unreachable"}.get(state or "", "")


def pod_autoscaler_for(revision: dict) -> dict:
    meta = revision["metadata"]
    spec = revision.get("spec") or {}
    return {
        "apiVersion": "autoscaling.internal.knative.dev/v1alpha1", "kind": "PodAutoscaler",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                     "labels": {**(meta.get("labels") or {}), REVISION: meta["name"], REVISION_UID: meta["uid"]},
                     "annotations": dict(meta.get("annotations") or {}),
                     "ownerReferences": [owner_reference(revision)]},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": f"{meta['name']}-deployment"},
                 "containerConcurrency": int(spec.get("containerConcurrency") or 0),
                 "protocolType": protocol_type(revision), "reachability": reachability(revision)},
    }


class RevisionReconciler(Controller):
    name = "revision-controller"

    def __init__(self, registry, scaler: Scaler = static_scale, own_network: bool = False) -> None:
        super().__init__(registry)
        # Pods with network namespaces of their own listen on the declared containerPort, as Knative's
        # runtime contract says; pods sharing the host's network each need a port of their own.
        self.own_network = own_network
        self.kind = registry.kinds.by_path("serving.knative.dev", "v1", "revisions")
        self.pods = registry.kinds.by_path("", "v1", "pods")
        self.autoscalers = registry.kinds.by_path("autoscaling.internal.knative.dev", "v1alpha1", "podautoscalers")
        self.services = registry.kinds.by_path("", "v1", "services")
        self._foreign_services: set[tuple[str, str]] = set()
        self.scaler = scaler

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), Watch(self.pods, owner_keys("Revision")),
                Watch(self.autoscalers, owner_keys("Revision")), Watch(self.services, owner_keys("Revision"))]

    def _ensure_autoscaler(self, revision: dict) -> dict:
        desired = pod_autoscaler_for(revision)
        meta = revision["metadata"]
        current = self.get(self.autoscalers, meta["namespace"], meta["name"])
        if current is None:
            return self.registry.create(self.autoscalers, meta["namespace"], desired, self.opts)
        wanted = desired["metadata"]
        if (current["spec"] != desired["spec"] or current["metadata"].get("labels") != wanted["labels"]
                or current["metadata"].get("annotations", {}) != wanted["annotations"]):
            updated = {**current, "spec": desired["spec"],
                       "metadata": {**current["metadata"], "labels": wanted["labels"],
                                    "annotations": wanted["annotations"]}}
            current = self.registry.update(self.autoscalers, meta["namespace"], meta["name"], updated, self.opts)
        return current

    def _ensure_services(self, revision: dict, autoscaler: dict) -> None:
        """The revision's public and private Services: created, their ports and selector kept as Knative's
        ServerlessService reconciler keeps them (labels and annotations are set once, at creation)."""
        protocol = (autoscaler.get("spec") or {}).get("protocolType", "http1")
        namespace = revision["metadata"]["namespace"]
        for desired in k8s_services.revision_services(revision, protocol):
            name = desired["metadata"]["name"]
            current = self.get(self.services, namespace, name)
            if current is None:
                self.registry.create(self.services, namespace, desired, self.opts)
                continue
            if not k8s_services.controlled_by(current, revision):
                if (namespace, name) not in self._foreign_services:  # said once, not at every reconcile
                    self._foreign_services.add((namespace, name))
                    log.warning("revision %s/%s: Service %s exists and is not the revision's; left alone",
                                namespace, revision["metadata"]["name"], name)
                continue
            spec = current.get("spec") or {}
            if spec.get("ports") != desired["spec"]["ports"] or spec.get("selector") != desired["spec"].get("selector"):
                updated = copy.deepcopy(current)
                updated["spec"]["ports"] = desired["spec"]["ports"]
                updated["spec"].pop("selector", None)
                if desired["spec"].get("selector"):
                    updated["spec"]["selector"] = desired["spec"]["selector"]
                self.registry.update(self.services, namespace, name, updated, self.opts)

    def desired_scale(self, revision: dict, autoscaler: dict | None) -> int:
        """The replicas the PodAutoscaler set, else (before it decides, or for a class it cannot run)
        the initial scale."""
        replicas = ((autoscaler or {}).get("status") or {}).get("scaleTargetReplicas")
        if isinstance(replicas, int) and replicas >= 0:
            return replicas
        return self.scaler(revision, self.registry.read_config("knative-serving", "config-autoscaler"))

    async def reconcile(self, key: Key) -> float | None:
        revision = self.get(self.kind, *key)
        if revision is None or revision["metadata"].get("deletionTimestamp"):
            return None
        namespace, uid = revision["metadata"]["namespace"], revision["metadata"]["uid"]
        live = [p for p in self.children(self.pods, namespace, uid) if pod_active(p)]
        pods = [p for p in live if not reserve.is_reserved(p)]
        standby = [p for p in live if reserve.is_reserved(p)]
        autoscaler = self._ensure_autoscaler(revision)
        self._ensure_services(revision, autoscaler)
        wanted = self.desired_scale(revision, autoscaler)
        desired = min(wanted, self._room(uid))
        ready = sum(1 for p in pods if pod_ready(p))
        keep = reserve.wanted(reserve.reserve_replicas(revision), desired, ready, len(standby))
        standard = desired
        if desired == 0 and keep and not any(pod_ready(p) for p in standby):
            standard = len(pods)  # the last standard replicas leave once a reserved one is ready
        pods, refused = self._scale(revision, pods, standard, lambda pod: pod)
        _, refused_standby = self._scale(revision, standby, keep, reserve.reserved)
        self._write_status(revision, pods, desired, autoscaler, wanted, refused or refused_standby)
        return RETRY_REFUSED_SECONDS if refused or refused_standby else None

    def _room(self, uid: str) -> int:
        """How many Pods this revision may have under the platform's replica cap (its own count too)."""
        others = sum(1 for e in self.registry.store.entries(self.pods.resource) if pod_active(e.obj)
                     and not any(o.get("uid") == uid for o in e.obj["metadata"].get("ownerReferences") or []))
        return max(0, max_replicas() - others)

    def _scale(self, revision: dict, pods: list[dict], count: int, shape: Callable[[dict], dict]
               ) -> tuple[list[dict], str]:
        """Creates or deletes Pods (of the shape `shape` gives) until there are `count`; returns them, and
        the message of the API server's refusal when admission (a ResourceQuota) refused one."""
        namespace = revision["metadata"]["namespace"]
        if len(pods) < count:
            taken = claimed_ports([e.obj for e in self.registry.store.entries(self.pods.resource)])
            for _ in range(count - len(pods)):
                port = declared_port(revision) if self.own_network else free_port(taken)
                taken.add(port)
                try:
                    pods.append(self.registry.create(self.pods, namespace, shape(pod_for(revision, port)),
                                                     self.opts))
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

    def _write_status(self, revision: dict, pods: list[dict], desired: int, autoscaler: dict | None,
                      wanted: int | None = None, refused: str = "") -> None:
        previous = revision.get("status") or {}
        ready_pods = sum(1 for p in pods if pod_ready(p))
        was_available = conditions.is_true(revision, "ResourcesAvailable")
        failure = _failure(pods)
        healthy = conditions.condition("ContainerHealthy", True)
        if ready_pods >= max(desired, 1) or (was_available and failure is None):
            available = conditions.condition("ResourcesAvailable", True)
        else:
            available = conditions.condition("ResourcesAvailable", None, "Deploying")
        if failure is not None and not was_available:
            which, reason, message = failure
            problem = conditions.condition(which, False, reason, message)
            if which == "ContainerHealthy":
                healthy = problem
            else:
                available = problem
        status = {
            **{k: v for k, v in previous.items() if k not in ("conditions",)},
            "observedGeneration": revision["metadata"]["generation"],
            "actualReplicas": ready_pods,
            "desiredReplicas": desired,
            "containerStatuses": [{"name": c.get("name", ""), "imageDigest": image_digest(c.get("image", ""))}
                                  for c in (revision.get("spec") or {}).get("containers") or []],
        }
        if desired == 0 and ready_pods == 0 and failure is None and conditions.get(autoscaler, "Active").get(
                "reason") == "NoTraffic":
            available = conditions.condition("ResourcesAvailable", True)  # scaled to zero, or initial scale 0
        waiting = unschedulable(pods) if desired > 0 and ready_pods == 0 else None
        if waiting is not None and not self._always_schedulable():
            # Knative copies the first Pod's PodScheduled reason and message while none is available.
            available = conditions.condition("ResourcesAvailable", False, waiting.get("reason", ""),
                                             waiting.get("message", ""))
        # Inactive before ever reaching the initial scale: it gave up activating at the progress deadline.
        if (ready_pods == 0 and conditions.get(autoscaler, "Active").get("status") == "False"
                and not conditions.is_true(autoscaler, "ScaleTargetInitialized") and available["status"] != "False"):
            available = conditions.condition("ResourcesAvailable", False, "ProgressDeadlineExceeded",
                                             "Initial scale was never achieved")
        if wanted is not None and wanted > desired:
            available = conditions.condition("ResourcesAvailable", False, "ReplicaLimit", (
                f"{wanted} replicas wanted, and this platform runs at most {max_replicas()} in all "
                f"({MAX_REPLICAS_ENV}); {desired} can run"))
        if refused:  # the ReplicaSet's ReplicaFailure, as Knative propagates the Deployment's status
            available = conditions.condition("ResourcesAvailable", False, "FailedCreate", refused)
        parts = [available, healthy]
        extra = []
        if autoscaler is not None and conditions.get(autoscaler, "Active").get("status") in ("True", "False"):
            active = conditions.get(autoscaler, "Active")
            extra.append(conditions.condition("Active", active["status"], active.get("reason", ""),
                                              active.get("message", ""), severity="Info"))
        status["conditions"] = conditions.merge([*parts, *extra, conditions.all_of("Ready", parts)],
                                                previous.get("conditions"))
        self.write_status(self.kind, revision, status)
