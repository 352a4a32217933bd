"""A Revision's status: ResourcesAvailable and ContainerHealthy from its Pods and PodAutoscaler, Ready from
both (Knative's revision_lifecycle.go and reconcile_resources.go)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from reference.apis import conditions
from reference.apis.objects import pod_ready
from reference.reconciler.podset import RESOURCE_FAILURES, ContainerFailure, container_failure, unschedulable
from reference.runtime.catalog import parse_reference

AVAILABLE = "ResourcesAvailable"
HEALTHY = "ContainerHealthy"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Replicas:
    """What the revision's reconcile saw of its replicas."""

    pods: list[dict]  # its standard (not reserved) Pods that count
    desired: int  # replicas it runs for now (the autoscaler's, within the platform's cap)
    wanted: int  # replicas the autoscaler asked for
    limit: int  # the platform's cap on Pods in all (KPROOF_MAX_REPLICAS)
    refused: str = ""  # the API server's refusal of a new Pod (a ResourceQuota), if any
    always_schedulable: bool = False  # config-deployment's pod-is-always-schedulable


def image_digest(image: str) -> str:
    """`<repository>@sha256:<hex>` as Knative's tag resolution reports it. An image already pinned keeps its
    digest; otherwise the digest is stable for the image (not the registry's: nothing is pulled), so `nginx`
    and `docker.io/library/nginx:latest` resolve alike."""
    ref = parse_reference(image)
    _, _, pinned = image.partition("@")
    if _DIGEST.fullmatch(pinned):
        return f"{ref.repository}@{pinned}"
    return f"{ref.repository}@sha256:{hashlib.sha256(f'{ref.repository}:{ref.tag}'.encode()).hexdigest()}"


def _rules(revision: dict, replicas: Replicas, autoscaler: dict | None, ready: int,
           failure: ContainerFailure | None) -> list[tuple[bool, Callable[[], dict]]]:
    """ResourcesAvailable's rules, the first that holds deciding, in Knative's precedence."""
    was_available = conditions.is_true(revision, AVAILABLE)
    active = conditions.get(autoscaler, "Active")
    waiting = unschedulable(replicas.pods) if replicas.desired > 0 and ready == 0 else None

    def false(reason: str, message: str) -> Callable[[], dict]:
        return lambda: conditions.condition(AVAILABLE, False, reason, message)

    return [
        # the ReplicaSet's ReplicaFailure, as Knative propagates the Deployment's status
        (bool(replicas.refused), false("FailedCreate", replicas.refused)),
        (replicas.wanted > replicas.desired, false("ReplicaLimit", (
            f"{replicas.wanted} replicas wanted, and this platform runs at most {replicas.limit} in all "
            f"(KPROOF_MAX_REPLICAS); {replicas.desired} can run"))),
        # Knative copies the first Pod's PodScheduled reason and message while none is available
        (waiting is not None and not replicas.always_schedulable,
         false((waiting or {}).get("reason", ""), (waiting or {}).get("message", ""))),
        (failure is not None and not failure.exited and not was_available,
         false(failure.reason if failure else "", failure.message if failure else "")),
        # inactive before ever reaching the initial scale: it gave up activating at the progress deadline
        (ready == 0 and active.get("status") == "False" and not conditions.is_true(autoscaler,
                                                                                  "ScaleTargetInitialized"),
         false("ProgressDeadlineExceeded", "Initial scale was never achieved")),
        # scaled to zero, or an initial scale of 0
        (replicas.desired == 0 and ready == 0 and failure is None and active.get("reason") == "NoTraffic",
         lambda: conditions.condition(AVAILABLE, True)),
        (ready >= max(replicas.desired, 1) or (was_available and failure is None),
         lambda: conditions.condition(AVAILABLE, True)),
    ]


def resources_available(revision: dict, replicas: Replicas, autoscaler: dict | None) -> dict:
    ready = sum(1 for p in replicas.pods if pod_ready(p))
    failure = container_failure(replicas.pods, RESOURCE_FAILURES)
    for holds, make in _rules(revision, replicas, autoscaler, ready, failure):
        if holds:
            return make()
    return conditions.condition(AVAILABLE, None, "Deploying")


def container_healthy(revision: dict, replicas: Replicas) -> dict:
    """False once a container exited with an error before the revision was ever available."""
    failure = container_failure(replicas.pods, RESOURCE_FAILURES)
    if failure is not None and failure.exited and not conditions.is_true(revision, AVAILABLE):
        return conditions.condition(HEALTHY, False, failure.reason,
                                    f"Container failed with: {failure.message}".rstrip())
    return conditions.condition(HEALTHY, True)


def revision_status(revision: dict, replicas: Replicas, autoscaler: dict | None) -> dict:
    previous = revision.get("status") or {}
    status = {k: v for k, v in previous.items() if k != "conditions"}
    status.update({
        "observedGeneration": revision["metadata"]["generation"],
        "actualReplicas": sum(1 for p in replicas.pods if pod_ready(p)),
        "desiredReplicas": replicas.desired,
        "containerStatuses": [{"name": c.get("name", ""), "imageDigest": image_digest(c.get("image", ""))}
                              for c in (revision.get("spec") or {}).get("containers") or []],
    })
    parts = [resources_available(revision, replicas, autoscaler), container_healthy(revision, replicas)]
    extra = []
    active = conditions.get(autoscaler, "Active")
    if autoscaler is not None and active.get("status") in ("True", "False"):
        extra.append(conditions.condition("Active", active["status"], active.get("reason", ""),
                                          active.get("message", ""), severity="Info"))
    status["conditions"] = conditions.merge([*parts, *extra, conditions.all_of("Ready", parts)],
                                            previous.get("conditions"))
    return status
