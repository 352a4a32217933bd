import asyncio
from pathlib import Path

import pytest

from reference.apiserver.store import ResourceVersionTooOld, Store


def put(store: Store, name: str, created: bool = True, **data: str) -> dict:
    obj = {"metadata": {"name": name, "namespace": "ns", "resourceVersion": store.next_version()}, "data": data}
    return store.put("/configmaps", obj, created=created)


def test_objects_and_versions_survive_reopening(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    put(store, "a", x="1")
    put(store, "a", created=False, x="2")
    store.close()
    again = Store(tmp_path / "state.db")
    assert again.get("/configmaps", "ns", "a")["data"] == {"x": "2"}
    assert again.resource_version == 2
    assert put(again, "b")["metadata"]["resourceVersion"] == "3"


def test_reads_are_copies(tmp_path: Path) -> None:
    store = Store()
    put(store, "a", x="1")
    store.get("/configmaps", "ns", "a")["data"]["x"] = "changed"
    assert store.get("/configmaps", "ns", "a")["data"] == {"x": "1"}


def test_watch_replays_from_a_version_then_streams() -> None:
    async def scenario() -> list[tuple[str, str]]:
        store = Store()
        put(store, "a")
        since = store.resource_version
        put(store, "b")
        watcher = store.watch("/configmaps", "ns", since)
        store.remove("/configmaps", "ns", "a")
        seen = []
        async for event in store.events(watcher):
            seen.append((event.type, event.obj["metadata"]["name"]))
            if len(seen) == 2:
                break
        return seen

    assert asyncio.run(scenario()) == [("ADDED", "b"), ("DELETED", "a")]


def test_versions_before_a_restart_are_too_old(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    put(store, "a")
    put(store, "b")
    store.close()
    again = Store(tmp_path / "db")
    with pytest.raises(ResourceVersionTooOld):
        again.watch("/configmaps", None, 1)
    assert again.watch("/configmaps", None, 2) is not None


def test_the_database_and_its_wal_files_are_private(tmp_path: Path) -> None:
    """state.db holds Secrets: no other user may read it, nor its write-ahead log."""
    old = tmp_path / "old.db"
    old.write_bytes(b"")
    old.chmod(0o644)
    for path in (tmp_path / "state.db", old):
        store = Store(path)
        put(store, "a", x="1")
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert name.exists() and name.stat().st_mode & 0o777 == 0o600, name
        store.close()
