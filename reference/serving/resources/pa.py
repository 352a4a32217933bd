"""A revision's PodAutoscaler (Knative's pkg/reconciler/revision/resources/pa.go)."""

from __future__ import annotations

from reference.apis.labels import REVISION, REVISION_UID, ROUTING_STATE
from reference.apis.objects import owner_reference, protocol_type


def reachability(revision: dict) -> str:
    """The PodAutoscaler's reachability from the revision's routing state."""
    state = (revision["metadata"].get("labels") or {}).get(ROUTING_STATE)
    return {"active": "Reachable", "reserve": "Unreachable"}.get(state or "", "")


def make_pod_autoscaler(revision: dict) -> dict:
    """The KPA-class PodAutoscaler scaling the revision's (notional) Deployment."""
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
