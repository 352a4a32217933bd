"""Configuration -> one immutable Revision per template change; status follows the latest one."""

from __future__ import annotations

import copy

from reference.apis import conditions
from reference.apis.labels import (
    CONFIGURATION,
    CONFIGURATION_GENERATION,
    CONFIGURATION_UID,
    CREATOR,
    LAST_MODIFIER,
    ROUTING_STATE,
    SERVICE,
    SERVICE_UID,
)
from reference.apis.objects import owner_reference
from reference.reconciler.controller import Controller, Key, Watch, own_key, owner_keys


def revision_name(config: dict) -> str:
    """The template's own name (bring your own), else `<config>-00001` by generation."""
    template_name = ((config["spec"].get("template") or {}).get("metadata") or {}).get("name")
    return template_name or f"{config['metadata']['name']}-{config['metadata']['generation']:05d}"


class ConfigurationReconciler(Controller):
    name = "configuration-controller"

    def __init__(self, registry) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.by_path("serving.knative.dev", "v1", "configurations")
        self.revisions = registry.kinds.by_path("serving.knative.dev", "v1", "revisions")

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), Watch(self.revisions, owner_keys("Configuration"))]

    def desired_revision(self, config: dict) -> dict:
        meta = config["metadata"]
        template = copy.deepcopy(config["spec"].get("template") or {})
        template_meta = template.get("metadata") or {}
        labels = {**(template_meta.get("labels") or {}), CONFIGURATION: meta["name"],
                  CONFIGURATION_UID: meta["uid"], CONFIGURATION_GENERATION: str(meta["generation"]),
                  ROUTING_STATE: "pending"}
        for key in (SERVICE, SERVICE_UID):
            if key in (meta.get("labels") or {}):
                labels[key] = meta["labels"][key]
        annotations = dict(template_meta.get("annotations") or {})
        modifier = (meta.get("annotations") or {}).get(LAST_MODIFIER)
        if modifier:
            annotations[CREATOR] = modifier  # Knative: a revision's creator is who last changed the template
        return {
            "apiVersion": "serving.knative.dev/v1", "kind": "Revision",
            "metadata": {"name": revision_name(config), "namespace": meta["namespace"], "labels": labels,
                         "annotations": annotations,
                         "ownerReferences": [owner_reference(config)]},
            "spec": template.get("spec") or {},
        }

    async def reconcile(self, key: Key) -> float | None:
        config = self.get(self.kind, *key)
        if config is None or config["metadata"].get("deletionTimestamp"):
            return None
        meta = config["metadata"]
        name = revision_name(config)
        revision = self.get(self.revisions, meta["namespace"], name)
        problem = None
        if revision is None:
            revision = self.registry.create(self.revisions, meta["namespace"], self.desired_revision(config),
                                            self.opts)
        elif not any(r.get("uid") == meta["uid"] for r in revision["metadata"].get("ownerReferences") or []):
            problem = conditions.condition("Ready", False, "RevisionFailed",
                                           f'Revision "{name}" already exists and is not owned by this Configuration')
        owned = self.children(self.revisions, meta["namespace"], meta["uid"])
        for stale in owned:
            # Superseded before any route sent it traffic: it need not keep replicas.
            stale_meta = stale["metadata"]
            if stale_meta["name"] != name and (stale_meta.get("labels") or {}).get(ROUTING_STATE) == "pending":
                labels = {**stale_meta["labels"], ROUTING_STATE: "reserve"}
                self.registry.update(self.revisions, meta["namespace"], stale_meta["name"],
                                     {**stale, "metadata": {**stale_meta, "labels": labels}}, self.opts)
        ready = [r for r in owned if conditions.is_true(r)]
        latest_ready = max(ready, key=lambda r: int(r["metadata"]["labels"].get(CONFIGURATION_GENERATION, "0")),
                           default=None)
        status = dict(config.get("status") or {})
        status["observedGeneration"] = meta["generation"]
        status["latestCreatedRevisionName"] = name
        if latest_ready is not None:
            previous = status.get("latestReadyRevisionName")
            previous_obj = next((r for r in owned if r["metadata"]["name"] == previous), None)
            # The latest ready revision only moves forward (a newer generation).
            if previous_obj is None or _generation(latest_ready) >= _generation(previous_obj):
                status["latestReadyRevisionName"] = latest_ready["metadata"]["name"]
        if problem:
            ready_condition = problem
        else:
            latest = conditions.get(revision)
            if latest["status"] == "True":
                ready_condition = conditions.condition("Ready", True)
            elif latest["status"] == "False":
                ready_condition = conditions.condition(
                    "Ready", False, "RevisionFailed",
                    f'Revision "{name}" failed with message: {latest.get("message", "")}.')
            else:
                ready_condition = conditions.condition("Ready", None, latest.get("reason", ""),
                                                       latest.get("message", ""))
        status["conditions"] = conditions.merge([ready_condition], status.get("conditions"))
        self.write_status(self.kind, config, status)
        return None


def _generation(revision: dict) -> int:
    return int(revision["metadata"].get("labels", {}).get(CONFIGURATION_GENERATION, "0"))
