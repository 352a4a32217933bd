"""A table-test harness for reconcilers, in the spirit of Knative's pkg/reconciler/testing/table.go: each row
puts objects in a store, runs one reconcile of one key, and compares what the reconciler did (creates,
updates, status updates, deletes, the conditions it wrote) with what the row wants."""

from __future__ import annotations

import asyncio
import copy
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field

from reference.apis import conditions
from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.kinds import Kind
from reference.apiserver.registry import Options, Registry
from reference.apiserver.store import Store
from reference.reconciler.controller import Controller


class RecordingRegistry(Registry):
    """A registry that writes as the real one does and remembers each write as `Kind/name`."""

    def __init__(self) -> None:
        super().__init__(Store())
        self.recording = False
        self.creates: list[str] = []
        self.updates: list[str] = []
        self.status_updates: list[str] = []
        self.deletes: list[str] = []

    def create(self, kind: Kind, namespace: str, body: object, opts: Options | None = None) -> dict:
        created = super().create(kind, namespace, body, opts)
        if self.recording:
            generated = (body or {}).get("metadata", {}).get("generateName") if isinstance(body, dict) else None
            self.creates.append(f"{kind.kind}/{generated + '*' if generated else created['metadata']['name']}")
        return created

    def update(self, kind: Kind, namespace: str, name: str, body: object, opts: Options | None = None, *,
               subresource: str = "") -> dict:
        updated = super().update(kind, namespace, name, body, opts, subresource=subresource)
        if self.recording:
            (self.status_updates if subresource == "status" else self.updates).append(f"{kind.kind}/{name}")
        return updated

    def delete(self, kind: Kind, namespace: str, name: str, options: dict, opts: Options | None = None) -> dict:
        deleted = super().delete(kind, namespace, name, options, opts)
        if self.recording:
            self.deletes.append(f"{kind.kind}/{name}")
        return deleted


@dataclass
class Row:
    name: str
    objects: list[dict]  # created in order; a "status" in one is written after it
    key: tuple[str, str]
    want_creates: list[str] = field(default_factory=list)  # Kind/name; a pattern (Kind/<generateName>*) too
    want_updates: list[str] = field(default_factory=list)
    want_deletes: list[str] = field(default_factory=list)
    # condition type -> (status, reason) on the reconciled object's status after the reconcile
    want_conditions: dict[str, tuple[str, str]] = field(default_factory=dict)
    want_status: dict = field(default_factory=dict)  # other status fields that must have these values
    config: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (namespace, ConfigMap) -> data


def seed(registry: Registry, objects: list[dict], config: dict[tuple[str, str], dict[str, str]]) -> None:
    for (namespace, name), data in config.items():
        kind = registry.kinds.by_path("", "v1", "configmaps")
        current = registry.store.get(kind.resource, namespace, name)
        body = {**(current or {"metadata": {"name": name, "namespace": namespace}}), "data": data}
        if current is None:
            registry.create(kind, namespace, body)
        else:
            registry.update(kind, namespace, name, body)
    for obj in objects:
        obj = copy.deepcopy(obj)
        kind = registry.kinds.by_kind(obj["apiVersion"], obj["kind"])
        assert kind is not None, obj["kind"]
        status = obj.pop("status", None)
        namespace = obj["metadata"].get("namespace", "")
        if kind.namespaced and registry.store.get("/namespaces", "", namespace) is None:
            registry.create(registry.kinds.by_path("", "v1", "namespaces"), "", {"metadata": {"name": namespace}})
        created = registry.create(kind, namespace, obj)
        if status is not None:
            registry.update(kind, namespace, created["metadata"]["name"], {**created, "status": status},
                            subresource="status")


def _match(done: list[str], wanted: list[str]) -> bool:
    """Whether each write is one the row wants (shell patterns: `Pod/rev-deployment-*`), each want used once."""
    left = list(done)
    for pattern in sorted(wanted, key=lambda w: "*" in w):  # exact names first
        found = next((d for d in left if fnmatch.fnmatchcase(d, pattern)), None)
        if found is None:
            return False
        left.remove(found)
    return not left


def run(row: Row, make: Callable[[Registry], Controller]) -> None:
    """Seeds the row's objects, reconciles its key once and checks everything the row wants."""
    registry = RecordingRegistry()
    bootstrap(registry)
    seed(registry, row.objects, row.config)
    controller = make(registry)
    registry.recording = True
    asyncio.run(controller.reconcile(row.key))
    registry.recording = False
    for what, done, wanted in (("creates", registry.creates, row.want_creates),
                               ("updates", registry.updates, row.want_updates),
                               ("deletes", registry.deletes, row.want_deletes)):
        assert _match(done, wanted), f"{row.name}: {what} {done}, wanted {wanted}"
    reconciled = registry.store.get(controller.kind.resource, *row.key) or {}
    for type_, (status, reason) in row.want_conditions.items():
        found = conditions.get(reconciled, type_)
        assert (found["status"], found.get("reason", "")) == (status, reason), (
            f"{row.name}: {type_} is {found}")
    for name, value in row.want_status.items():
        assert (reconciled.get("status") or {}).get(name) == value, f"{row.name}: status.{name}"
