"""ACK's reserved instances (`knative.aliyun.com/reserve-instance: enable`): where a revision would
scale to zero, a small replica stays; the first requests go to it while standard replicas start, and it
leaves once one of them is ready.

The reserved replica is the revision's Pod without extended resources (no GPU: a low-specification
instance, which for a model server means the CPU), labelled as reserved. It does not count as a ready
replica for the autoscaler, and a request that finds only reserved replicas wakes the revision.
"""

from __future__ import annotations

import copy

from reference.apis.labels import RESERVE, RESERVE_REPLICAS, RESERVED_LABEL
from reference.apis.resources import is_extended


def reserve_replicas(revision: dict) -> int:
    """How many reserved replicas the revision keeps at zero (0 when the feature is off)."""
    annotations = revision["metadata"].get("annotations") or {}
    if annotations.get(RESERVE, "").lower() != "enable":
        return 0
    try:
        return max(1, int(annotations.get(RESERVE_REPLICAS, "1")))
    except ValueError:
        return 1


def reserved(pod: dict) -> dict:
    """A standard Pod turned into a reserved one: labelled, without GPUs or other extended resources."""
    out = copy.deepcopy(pod)
    out["metadata"]["labels"][RESERVED_LABEL] = "true"
    for container in out["spec"].get("containers") or []:
        resources = container.get("resources") or {}
        for section in ("limits", "requests"):
            if isinstance(resources.get(section), dict):
                resources[section] = {k: v for k, v in resources[section].items() if not is_extended(k)}
    return out


def wanted(replicas: int, desired: int, standard_ready: int, reserved_now: int) -> int:
    """Reserved replicas to keep: `replicas` at zero; while standard ones start, those already there."""
    if not replicas:
        return 0
    if desired == 0:
        return replicas
    return 0 if standard_ready else min(reserved_now, replicas)
