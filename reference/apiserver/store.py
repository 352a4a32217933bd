"""The object store: SQLite for durability, memory for reads, an event log for watches.

Everything runs on the API server's event loop, so each method is atomic: no locks. Objects are kept
as their JSON text (what the wire needs) next to the parsed dict (what filters need); callers get
fresh copies and never touch the stored dicts.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

# How many past events a watch can resume from; older resourceVersions get 410 Gone.
EVENT_LOG_SIZE = 100_000


class ResourceVersionTooOld(Exception):
    """A watch asked to resume from a version the event log no longer holds."""


@dataclass(slots=True)
class Entry:
    obj: dict
    text: str


@dataclass(slots=True, frozen=True)
class Event:
    """One change: ADDED, MODIFIED or DELETED, with the object before the change (if any)."""

    type: str
    resource: str
    namespace: str
    rv: int
    obj: dict
    text: str
    old: dict | None


@dataclass(eq=False)
class Watcher:
    resource: str
    namespace: str | None
    queue: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)

    def wants(self, event: Event) -> bool:
        return event.resource == self.resource and (
            self.namespace is None or self.namespace == event.namespace
        )


def _make_private(path: Path) -> None:
    """The database holds Secrets: 0600, created so before SQLite opens it (SQLite gives its -wal and
    -shm files the database's mode); files from before are tightened."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if name.exists():
            name.chmod(0o600)


def dumps(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":"))


class Store:
    """Objects keyed by resource ("group/plural"), namespace ("" when cluster-scoped) and name."""

    def __init__(self, path: Path | str | None = None) -> None:
        if path:
            _make_private(Path(path))
        self._db = sqlite3.connect(str(path) if path else ":memory:", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS objects (resource TEXT, namespace TEXT, name TEXT, body TEXT,"
            " PRIMARY KEY (resource, namespace, name))"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._objects: dict[str, dict[tuple[str, str], Entry]] = {}
        for resource, namespace, name, body in self._db.execute("SELECT * FROM objects"):
            self._objects.setdefault(resource, {})[(namespace, name)] = Entry(json.loads(body), body)
        row = self._db.execute("SELECT value FROM meta WHERE key='rv'").fetchone()
        self._rv = int(row[0]) if row else 0
        # Watches may resume from any version after this one; older ones were before a restart.
        self._log_floor = self._rv
        self._log: deque[Event] = deque(maxlen=EVENT_LOG_SIZE)
        self._watchers: set[Watcher] = set()

    @property
    def resource_version(self) -> int:
        return self._rv

    def end_watches(self) -> None:
        for watcher in list(self._watchers):
            watcher.queue.put_nowait(None)

    def close(self) -> None:
        self.end_watches()
        self._db.close()

    # Reads ---------------------------------------------------------------------------------------

    def get(self, resource: str, namespace: str, name: str) -> dict | None:
        entry = self._objects.get(resource, {}).get((namespace, name))
        return json.loads(entry.text) if entry else None

    def entry(self, resource: str, namespace: str, name: str) -> Entry | None:
        """The stored entry itself: read-only, for the hot read path."""
        return self._objects.get(resource, {}).get((namespace, name))

    def entries(self, resource: str, namespace: str | None = None) -> list[Entry]:
        items = self._objects.get(resource, {})
        if namespace is None:
            return [items[key] for key in sorted(items)]
        return [entry for (ns, name), entry in sorted(items.items()) if ns == namespace]

    def find(self, predicate: Callable[[str, dict], bool]) -> Iterable[tuple[str, dict]]:
        """Every (resource, object) the predicate accepts, as read-only dicts."""
        for resource, items in self._objects.items():
            for entry in items.values():
                if predicate(resource, entry.obj):
                    yield resource, entry.obj

    # Writes --------------------------------------------------------------------------------------

    def next_version(self) -> str:
        """Claims a resourceVersion for an object about to be written."""
        self._rv += 1
        return str(self._rv)

    def put(self, resource: str, obj: dict, *, created: bool) -> dict:
        """Writes an object whose metadata.resourceVersion was claimed with next_version()."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        old = self._objects.get(resource, {}).get(key)
        text = dumps(obj)
        self._db.execute("BEGIN")
        self._db.execute(
            "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)", (resource, key[0], key[1], text)
        )
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('rv', ?)", (str(self._rv),))
        self._db.execute("COMMIT")
        stored = json.loads(text)
        self._objects.setdefault(resource, {})[key] = Entry(stored, text)
        self._emit(
            Event("ADDED" if created else "MODIFIED", resource, key[0], self._rv, stored, text,
                  old.obj if old else None)
        )
        return json.loads(text)

    def remove(self, resource: str, namespace: str, name: str) -> dict | None:
        entry = self._objects.get(resource, {}).pop((namespace, name), None)
        if entry is None:
            return None
        obj = entry.obj
        obj["metadata"]["resourceVersion"] = self.next_version()
        text = dumps(obj)
        self._db.execute("BEGIN")
        self._db.execute(
            "DELETE FROM objects WHERE resource=? AND namespace=? AND name=?", (resource, namespace, name)
        )
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('rv', ?)", (str(self._rv),))
        self._db.execute("COMMIT")
        self._emit(Event("DELETED", resource, namespace, self._rv, obj, text, obj))
        return json.loads(text)

    # Watches -------------------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        self._log.append(event)
        for watcher in self._watchers:
            if watcher.wants(event):
                watcher.queue.put_nowait(event)

    def watch(self, resource: str, namespace: str | None, since: int | None) -> Watcher:
        """Registers a watcher; with `since`, first queues every logged event after that version."""
        watcher = Watcher(resource, namespace)
        if since is not None:
            log_full = len(self._log) == self._log.maxlen
            if since < self._log_floor or (log_full and since < self._log[0].rv - 1):
                raise ResourceVersionTooOld(str(since))
            for event in self._log:
                if event.rv > since and watcher.wants(event):
                    watcher.queue.put_nowait(event)
        self._watchers.add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    async def events(self, watcher: Watcher) -> AsyncIterator[Event]:
        while True:
            event = await watcher.queue.get()
            if event is None:
                return
            yield event
