"""Core v1 Events, written the way client-go's recorder writes them: a repeat of the same event on the
same object raises `count` and `lastTimestamp` instead of adding a new Event."""

from __future__ import annotations

import secrets

from reference.apis import times
from reference.apiserver.errors import ApiError
from reference.apiserver.registry import Options, Registry

NORMAL, WARNING = "Normal", "Warning"
REMEMBERED = 4096  # recent events kept for aggregation


def reference_to(obj: dict) -> dict:
    meta = obj["metadata"]
    ref = {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj.get("kind", ""), "name": meta["name"],
           "uid": meta.get("uid", ""), "resourceVersion": meta.get("resourceVersion", "")}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref


class EventRecorder:
    def __init__(self, registry: Registry, component: str, host: str = "") -> None:
        self.registry = registry
        self.kind = registry.kinds.require("", "v1", "events")
        self.source = {"component": component, **({"host": host} if host else {})}
        self.opts = Options(user=f"system:{component}")
        self._seen: dict[tuple[str, str, str, str], str] = {}  # (uid, type, reason, message) -> Event name

    def record(self, obj: dict, type_: str, reason: str, message: str) -> None:
        """Records an event about `obj` (best effort: an event that cannot be written is dropped)."""
        ref = reference_to(obj)
        namespace = ref.get("namespace", "default")
        key = (ref["uid"], type_, reason, message)
        now = times.now()
        name = self._seen.get(key)
        current = self.registry.store.get(self.kind.resource, namespace, name) if name else None
        try:
            if name and current is not None:
                current.update({"count": int(current.get("count") or 1) + 1, "lastTimestamp": now})
                self.registry.update(self.kind, namespace, name, current, self.opts)
                return
            name = f"{ref['name']}.{secrets.token_hex(8)}"
            self.registry.create(self.kind, namespace, {
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
                "involvedObject": ref, "reason": reason, "message": message, "type": type_,
                "source": self.source, "count": 1, "firstTimestamp": now, "lastTimestamp": now,
                "reportingComponent": self.source["component"], "reportingInstance": self.source.get("host", "")},
                self.opts)
            self._seen[key] = name
            if len(self._seen) > REMEMBERED:
                self._seen.pop(next(iter(self._seen)))
        except ApiError:
            pass  # a namespace on its way out, say: events are not worth failing the caller for
