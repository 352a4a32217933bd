"""The resource quota controller: each ResourceQuota's status says what its namespace's Pods use of what
it bounds (`kubectl describe quota`); admission (reference.apiserver.admission.quota) enforces it."""

from __future__ import annotations

from collections.abc import Iterable

from reference.apiserver.admission.quota import TRACKED, namespace_usage, show
from reference.apiserver.registry import Registry
from reference.reconciler.controller import Controller, Key, Watch, own_key


def quota_status(quota: dict, pods: list[dict]) -> dict:
    """status.hard (spec.hard as given) and status.used (every bounded resource, 0 when unused)."""
    hard = dict((quota.get("spec") or {}).get("hard") or {})
    used = namespace_usage(pods)
    return {"hard": hard, "used": {name: show(name, used[name]) for name in hard if name in TRACKED}}


class ResourceQuotaController(Controller):
    name = "resourcequota-controller"

    def __init__(self, registry: Registry) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("", "v1", "resourcequotas")
        self.pods = registry.kinds.require("", "v1", "pods")

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), Watch(self.pods, self._quotas_of)]

    def _quotas_of(self, pod: dict) -> Iterable[Key]:
        namespace = pod["metadata"].get("namespace", "")
        return [(namespace, e.obj["metadata"]["name"]) for e in self.registry.store.entries(self.kind.resource,
                                                                                           namespace)]

    async def reconcile(self, key: Key) -> float | None:
        quota = self.get(self.kind, *key)
        if quota is None:
            return None
        pods = [e.obj for e in self.registry.store.entries(self.pods.resource, key[0])]
        self.write_status(self.kind, quota, quota_status(quota, pods))
        return None
