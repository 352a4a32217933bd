"""What Kubernetes' Deployment and ReplicaSet do for the controllers that make Pods themselves (a revision's
replicas, a ContainerSource's adapter): the Pod of a template (named `<owner>-deployment-<hash>-<random>`
through generateName, labelled with the template's hash), the order in which replicas leave on scale-in,
and the first container that cannot run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from reference.apis import conditions, times
from reference.apis.labels import DELETION_COST
from reference.apis.objects import owner_reference, pod_ready

HASH_LABEL = "pod-template-hash"
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}
# Container states that keep a Pod from ever running as it is (the Deployment would not become Available).
RESOURCE_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
                     "CreateContainerError")


def template_hash(value: object) -> str:
    """A stable short hash of a template (any JSON value), as the Deployment labels its ReplicaSets."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:10]


def replica_pod(owner: dict, labels: dict[str, str], annotations: dict[str, str], spec: dict, digest: str) -> dict:
    """A Pod of `owner`'s replica set: the API server completes its name (generateName), the template's
    `digest` names and labels it, `owner` controls it."""
    meta = owner["metadata"]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": f"{meta['name']}-deployment-{digest}-", "namespace": meta["namespace"],
                     "labels": {**labels, HASH_LABEL: digest}, "annotations": annotations,
                     "ownerReferences": [owner_reference(owner)]},
        "spec": spec,
    }


def _deletion_cost(pod: dict) -> int:
    try:
        return int((pod["metadata"].get("annotations") or {}).get(DELETION_COST, "0"))
    except ValueError:
        return 0


def _descending(timestamp: str) -> float:
    """A sort key for RFC 3339 times: none at all first, then the newest."""
    seconds = times.parse(timestamp)
    return float("-inf") if seconds is None else -seconds


def deletion_order(pod: dict) -> tuple:
    """The ReplicaSet's ranking for scale-in, first to go first: unscheduled, then pending, then not ready;
    then the lowest pod-deletion-cost (ResourcePolicy's last units); then ready for the shortest time, most
    restarts, and the newest."""
    status = pod.get("status") or {}
    ready_since = conditions.get(pod).get("lastTransitionTime", "") if pod_ready(pod) else ""
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    return (bool((pod.get("spec") or {}).get("nodeName")), _PHASE_RANK.get(status.get("phase", ""), 1),
            pod_ready(pod), _deletion_cost(pod), _descending(ready_since), -restarts,
            _descending(pod["metadata"].get("creationTimestamp", "")))


@dataclass(frozen=True)
class ContainerFailure:
    """A container that cannot run: it waits for one of the given reasons, or it ran and exited non-zero."""

    reason: str  # the waiting reason, or ExitCode<n>
    message: str
    exited: bool


def container_failure(pods: list[dict], waiting_reasons: tuple[str, ...]) -> ContainerFailure | None:
    """The first container of `pods` that cannot run, if any."""
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in waiting_reasons:
                return ContainerFailure(waiting["reason"], waiting.get("message", ""), exited=False)
            state = status.get("state") or {}
            terminated = (status.get("lastState") or {}).get("terminated") or state.get("terminated") or {}
            if terminated.get("exitCode") and not status.get("ready"):
                return ContainerFailure(f"ExitCode{terminated['exitCode']}", terminated.get("message", ""),
                                        exited=True)
    return None


def unschedulable(pods: list[dict]) -> dict | None:
    """The PodScheduled=False condition of the first Pod that cannot be placed, if any."""
    for pod in pods:
        scheduled = conditions.get(pod, "PodScheduled")
        if scheduled.get("status") == "False":
            return scheduled
    return None
