"""The storage provisioner's part: every PersistentVolumeClaim is Bound to a directory of its own under the
state directory (reference.runtime.volumes.claim_directory), which outlives the Pods that mount it."""

from __future__ import annotations

import contextlib
from pathlib import Path

from reference.apiserver.errors import ApiError
from reference.apiserver.kinds import Kind
from reference.apiserver.registry import Options, Registry
from reference.apiserver.store import Watcher
from reference.runtime import volumes
from reference.runtime.pod_worker import USER


class Provisioner:
    def __init__(self, registry: Registry, state_dir: Path) -> None:
        self.registry = registry
        self.state_dir = state_dir
        self.claims: Kind = registry.kinds.require("", "v1", "persistentvolumeclaims")

    async def run(self) -> None:
        """Binds the claims there are, then each new one, until cancelled."""
        watcher = self.registry.store.watch(self.claims.resource, None, None)
        try:
            for entry in self.registry.store.entries(self.claims.resource):
                self.bind(entry.obj)
            await self._follow(watcher)
        finally:
            self.registry.store.unwatch(watcher)

    async def _follow(self, watcher: Watcher) -> None:
        async for event in self.registry.store.events(watcher):
            if event.type != "DELETED":
                self.bind(event.obj)

    def bind(self, claim: dict) -> None:
        """The provisioner's part: every claim is Bound to a directory under the state directory."""
        if (claim.get("status") or {}).get("phase") == "Bound":
            return
        meta = claim["metadata"]
        volumes.claim_directory(self.state_dir, meta.get("namespace", ""), meta["name"]).mkdir(parents=True,
                                                                                              exist_ok=True)
        current = dict(claim)
        current["status"] = {"phase": "Bound", "accessModes": (claim.get("spec") or {}).get("accessModes", []),
                             "capacity": {"storage": ((claim.get("spec") or {}).get("resources") or {}).get(
                                 "requests", {}).get("storage", "1Gi")}}
        with contextlib.suppress(ApiError):
            self.registry.update(self.claims, meta.get("namespace", ""), meta["name"], current, Options(user=USER),
                                 subresource="status")
