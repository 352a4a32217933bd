"""A Service's Configuration and Route (Knative's pkg/reconciler/service/resources)."""

from __future__ import annotations

import copy

from reference.apis.labels import SERVICE, SERVICE_UID
from reference.apis.objects import owner_reference, propagated


def _child_meta(service: dict) -> dict:
    """Named after the Service, with its labels (and its own), its annotations, owned by it."""
    meta = service["metadata"]
    labels = {**(meta.get("labels") or {}), SERVICE: meta["name"], SERVICE_UID: meta["uid"]}
    return {"name": meta["name"], "namespace": meta["namespace"], "labels": labels,
            "annotations": propagated(meta.get("annotations")), "ownerReferences": [owner_reference(service)]}


def make_configuration(service: dict) -> dict:
    """The Service's template as a Configuration of its name."""
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Configuration", "metadata": _child_meta(service),
            "spec": {"template": copy.deepcopy(service["spec"].get("template") or {})}}


def make_route(service: dict) -> dict:
    """The Service's traffic as a Route of its name; a target without a revision follows its Configuration."""
    traffic = []
    for target in service["spec"].get("traffic") or []:
        entry = {k: v for k, v in target.items() if k != "url"}
        if not entry.get("revisionName"):
            entry["configurationName"] = service["metadata"]["name"]
            entry["latestRevision"] = True
        traffic.append(entry)
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Route", "metadata": _child_meta(service),
            "spec": {"traffic": traffic}}
