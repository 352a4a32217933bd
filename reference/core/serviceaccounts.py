"""The ServiceAccount controller: every namespace has a ServiceAccount named `default`, as Kubernetes makes
it (Pods and ApiServerSources that name no account use it)."""

from __future__ import annotations

from collections.abc import Iterable

from reference.apiserver.errors import ApiError
from reference.apiserver.registry import Registry
from reference.reconciler.controller import Controller, Key, Watch

DEFAULT = "default"


class ServiceAccountController(Controller):
    name = "serviceaccount-controller"

    def __init__(self, registry: Registry) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("", "v1", "namespaces")
        self.accounts = registry.kinds.require("", "v1", "serviceaccounts")

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, lambda ns: [("", ns["metadata"]["name"])]),
                Watch(self.accounts, self._namespace_of_default)]

    @staticmethod
    def _namespace_of_default(account: dict) -> Iterable[Key]:
        meta = account["metadata"]
        return [("", meta.get("namespace", ""))] if meta["name"] == DEFAULT else []

    async def reconcile(self, key: Key) -> float | None:
        namespace = self.get(self.kind, "", key[1])
        if namespace is None or namespace["metadata"].get("deletionTimestamp"):
            return None
        if self.get(self.accounts, key[1], DEFAULT) is None:
            try:
                self.registry.create(self.accounts, key[1], {"metadata": {"name": DEFAULT}}, self.opts)
            except ApiError as err:
                if err.code not in (404, 409):  # the namespace went, or somebody made it first
                    raise
        return None
