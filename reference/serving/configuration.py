"""Configuration -> one immutable Revision per template change; status follows the latest one."""

from __future__ import annotations

from reference.apis.labels import ROUTING_STATE
from reference.apiserver.registry import Registry
from reference.reconciler.controller import Controller, Key, Watch, own_key, owner_keys
from reference.serving.resources.revision import make_revision, revision_name
from reference.serving.status.configuration import configuration_status


class ConfigurationReconciler(Controller):
    name = "configuration-controller"

    def __init__(self, registry: Registry) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("serving.knative.dev", "v1", "configurations")
        self.revisions = registry.kinds.require("serving.knative.dev", "v1", "revisions")

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), Watch(self.revisions, owner_keys("Configuration"))]

    async def reconcile(self, key: Key) -> float | None:
        config = self.get(self.kind, *key)
        if config is None or config["metadata"].get("deletionTimestamp"):
            return None
        # A Revision never changes once made: an existing one is kept as it is.
        latest, owned = self.ensure_child(self.revisions, make_revision(config), config, lambda current, _: None)
        revisions = self.children(self.revisions, key[0], config["metadata"]["uid"])
        self._retire_pending(revisions, latest["metadata"]["name"])
        self.write_status(self.kind, config, configuration_status(config, revision_name(config), latest, revisions,
                                                                  not_owned=not owned))
        return None

    def _retire_pending(self, revisions: list[dict], latest: str) -> None:
        """Revisions superseded before any Route sent them traffic need not keep replicas: routingState reserve."""
        for stale in revisions:
            meta = stale["metadata"]
            if meta["name"] != latest and (meta.get("labels") or {}).get(ROUTING_STATE) == "pending":
                labels = {**meta["labels"], ROUTING_STATE: "reserve"}
                self.registry.update(self.revisions, meta["namespace"], meta["name"],
                                     {**stale, "metadata": {**meta, "labels": labels}}, self.opts)
