"""Level-triggered controllers over the store: watches enqueue keys, one worker reconciles them.

A reconcile reads the current state, makes the world match the spec and writes status; it is
idempotent, so running it again (after a restart, a resync or a conflict) is always safe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reference.apiserver.errors import ApiError
from reference.apiserver.kinds import Kind
from reference.apiserver.registry import Options, Registry

log = logging.getLogger("kproof.controller")

Key = tuple[str, str]  # (namespace, name)
RESYNC_SECONDS = 30.0


@dataclass(frozen=True)
class Watch:
    """Changes to `kind` enqueue the keys `keys(object)` returns."""

    kind: Kind
    keys: Callable[[dict], Iterable[Key]]


def own_key(obj: dict) -> Iterable[Key]:
    meta = obj["metadata"]
    return [(meta.get("namespace", ""), meta["name"])]


def owner_keys(owner_kind: str) -> Callable[[dict], Iterable[Key]]:
    """Keys of the owners of `owner_kind` named in an object's ownerReferences."""
    def keys(obj: dict) -> Iterable[Key]:
        meta = obj["metadata"]
        return [(meta.get("namespace", ""), ref["name"]) for ref in meta.get("ownerReferences") or []
                if ref.get("kind") == owner_kind]
    return keys


class Controller:
    """Subclasses set `kind` and `watches`, and implement reconcile()."""

    kind: Kind
    name: str = "controller"

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.opts = Options(user=f"system:serviceaccount:knative-serving:{self.name}")
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._pending: set[Key] = set()
        self._delayed: dict[Key, asyncio.TimerHandle] = {}
        self.healthy = True

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key)]

    def enqueue(self, key: Key) -> None:
        if key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    def enqueue_after(self, key: Key, seconds: float) -> None:
        if key in self._delayed:
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._delayed.pop(key, None)
            self.enqueue(key)

        self._delayed[key] = loop.call_later(seconds, fire)

    def enqueue_all(self) -> None:
        for entry in self.registry.store.entries(self.kind.resource):
            meta = entry.obj["metadata"]
            self.enqueue((meta.get("namespace", ""), meta["name"]))

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._follow(w)) for w in self.watches()]
        tasks.append(asyncio.create_task(self._resync()))
        self.enqueue_all()
        try:
            while True:
                key = await self._queue.get()
                self._pending.discard(key)
                try:
                    again = await self.reconcile(key)
                except ApiError as err:
                    if err.code == 409:  # somebody wrote first: read again and retry
                        self.enqueue_after(key, 0.05)
                    else:
                        log.warning("%s %s/%s: %s", self.name, key[0], key[1], err.message)
                        self.enqueue_after(key, 1.0)
                    continue
                except Exception:
                    log.exception("%s failed to reconcile %s/%s", self.name, *key)
                    self.enqueue_after(key, 2.0)
                    continue
                if again is not None:
                    self.enqueue_after(key, again)
        finally:
            for task in tasks:
                task.cancel()
            for handle in self._delayed.values():
                handle.cancel()

    async def _follow(self, watch: Watch) -> None:
        store = self.registry.store
        watcher = store.watch(watch.kind.resource, None, None)
        try:
            async for event in store.events(watcher):
                for key in watch.keys(event.obj):
                    self.enqueue(key)
                if event.old is not None and event.type == "MODIFIED":
                    for key in watch.keys(event.old):
                        self.enqueue(key)
        finally:
            store.unwatch(watcher)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_SECONDS)
            self.enqueue_all()

    async def reconcile(self, key: Key) -> float | None:
        """Brings `key` to its desired state; returns seconds until it should run again, or None."""
        raise NotImplementedError

    # Helpers for subclasses -----------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str, name: str) -> dict | None:
        return self.registry.store.get(kind.resource, namespace, name)

    def children(self, kind: Kind, namespace: str, owner_uid: str) -> list[dict]:
        return [e.obj for e in self.registry.store.entries(kind.resource, namespace)
                if any(r.get("uid") == owner_uid for r in e.obj["metadata"].get("ownerReferences") or [])]

    def write_status(self, kind: Kind, obj: dict, status: dict) -> dict:
        """Writes `status` if it differs from what is stored (no write, no event otherwise)."""
        if obj.get("status") == status:
            return obj
        updated = dict(obj)
        updated["status"] = status
        meta = obj["metadata"]
        return self.registry.update(kind, meta.get("namespace", ""), meta["name"], updated, self.opts,
                                    subresource="status")
