"""Level-triggered controllers over the store: watches enqueue keys, one worker reconciles them.

A reconcile reads the current state, makes the world match the spec and writes status; it is
idempotent, so running it again (after a restart, a resync or a conflict) is always safe.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reference.apis.objects import controlled_by, owned_by
from reference.apiserver.errors import ApiError
from reference.apiserver.kinds import Kind
from reference.apiserver.registry import Options, Registry

log = logging.getLogger("kproof.controller")

Key = tuple[str, str]  # (namespace, name)
RESYNC_SECONDS = 30.0
# (the child as it is, as it should be) -> the child to write, or None when it needs no change
Update = Callable[[dict, dict], "dict | None"]


def replace_spec_and_metadata(current: dict, desired: dict) -> dict | None:
    """The child with the desired spec, labels and annotations, when any of them differs."""
    wanted = desired["metadata"]
    meta = current["metadata"]
    if (current.get("spec") == desired.get("spec") and meta.get("labels") == wanted.get("labels")
            and (meta.get("annotations") or {}) == (wanted.get("annotations") or {})):
        return None
    updated = copy.deepcopy(current)
    updated["spec"] = desired.get("spec")
    updated["metadata"]["labels"] = wanted.get("labels")
    updated["metadata"]["annotations"] = wanted.get("annotations")
    return updated


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
        return [e.obj for e in self.registry.store.entries(kind.resource, namespace) if owned_by(e.obj, owner_uid)]

    def ensure_child(self, kind: Kind, desired: dict, owner: dict,
                     update: Update = replace_spec_and_metadata) -> tuple[dict, bool]:
        """The child `desired` names: created when missing; brought to `desired` by `update` when `owner`
        controls it. Returns (the child, whether `owner` controls it): a child of that name that `owner`
        does not control is left as it is, for the caller to report (Knative's NotOwned)."""
        namespace = desired["metadata"].get("namespace") or owner["metadata"].get("namespace", "")
        name = desired["metadata"]["name"]
        current = self.get(kind, namespace, name)
        if current is None:
            return self.registry.create(kind, namespace, desired, self.opts), True
        if not controlled_by(current, owner):
            return current, False
        updated = update(current, desired)
        if updated is not None:
            current = self.registry.update(kind, namespace, name, updated, self.opts)
        return current, True

    def add_finalizer(self, kind: Kind, obj: dict, finalizer: str) -> dict:
        """`obj` with `finalizer` among its finalizers (written once)."""
        meta = obj["metadata"]
        if finalizer in (meta.get("finalizers") or []):
            return obj
        updated = {**obj, "metadata": {**meta, "finalizers": [*(meta.get("finalizers") or []), finalizer]}}
        return self.registry.update(kind, meta.get("namespace", ""), meta["name"], updated, self.opts)

    def remove_finalizer(self, kind: Kind, obj: dict, finalizer: str) -> dict:
        """`obj` without `finalizer`: once none is left, a deleting object goes."""
        meta = obj["metadata"]
        if finalizer not in (meta.get("finalizers") or []):
            return obj
        remaining = [f for f in meta["finalizers"] if f != finalizer]
        updated = {**obj, "metadata": {**meta, "finalizers": remaining}}
        return self.registry.update(kind, meta.get("namespace", ""), meta["name"], updated, self.opts)

    def write_status(self, kind: Kind, obj: dict, status: dict) -> dict:
        """Writes `status` if it differs from what is stored (no write, no event otherwise)."""
        if obj.get("status") == status:
            return obj
        updated = dict(obj)
        updated["status"] = status
        meta = obj["metadata"]
        return self.registry.update(kind, meta.get("namespace", ""), meta["name"], updated, self.opts,
                                    subresource="status")
