"""What runs left on a target, found by their label (kproof.dev/run) and removed.

Every object a run creates through the driver carries `kproof.dev/run=<run id>`: the `namespace` fixture's
namespaces (and so everything in them) and the objects tests create or apply. A run removes its own at the
end unless told to keep them; a run that was killed leaves them for `kproof cleanup`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import requests

from kproof.target import RUN_LABEL, Target

REQUEST_SECONDS = 30.0
SKIPPED = {"events", "events.events.k8s.io"}  # never labelled by a run, and too many to list


@dataclass(frozen=True)
class Found:
    """One labelled object: where to delete it and how to name it."""

    path: str  # its API path
    kind: str
    api_version: str
    name: str
    namespace: str | None
    run: str

    @property
    def is_namespace(self) -> bool:
        return self.kind == "Namespace" and self.api_version == "v1"

    def describe(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where} ({self.api_version}, run {self.run})"


def new_run_id() -> str:
    """A label value that sorts by time: 20261207-103422-1a2b."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"


def selector(run: str | None) -> str:
    return f"{RUN_LABEL}={run}" if run else RUN_LABEL


def collections(target: Target) -> list[tuple[str, str, str, bool]]:
    """(list path, apiVersion, kind, namespaced) of every kind the API can list and delete."""
    found = []
    groups = [("/api/v1", "v1")]
    response = target.raw("GET", "/apis", timeout=REQUEST_SECONDS)
    response.raise_for_status()
    for group in response.json().get("groups") or []:
        version = (group.get("preferredVersion") or {}).get("groupVersion")
        if version:
            groups.append((f"/apis/{version}", version))
    for base, api_version in groups:
        listed = target.raw("GET", base, timeout=REQUEST_SECONDS)
        if listed.status_code != 200:
            continue
        for resource in listed.json().get("resources") or []:
            name = resource.get("name", "")
            verbs = set(resource.get("verbs") or [])
            if "/" in name or not {"list", "delete"} <= verbs:
                continue
            if name in SKIPPED or f"{name}.{api_version.split('/')[0]}" in SKIPPED:
                continue
            found.append((f"{base}/{name}", api_version, resource.get("kind", name), bool(resource.get("namespaced"))))
    return found


def find(target: Target, run: str | None = None) -> list[Found]:
    """Every object labelled by a run (by run `run` only, when given), namespaces last."""
    found: list[Found] = []
    for path, api_version, kind, namespaced in collections(target):
        response = target.raw("GET", f"{path}?labelSelector={quote(selector(run))}", timeout=REQUEST_SECONDS)
        if response.status_code != 200:
            continue
        for item in response.json().get("items") or []:
            meta = item.get("metadata") or {}
            namespace = meta.get("namespace") if namespaced else None
            base = path.rsplit("/", 1)[0]
            plural = path.rsplit("/", 1)[1]
            item_path = (f"{base}/namespaces/{namespace}/{plural}/{meta['name']}" if namespace
                         else f"{path}/{meta['name']}")
            found.append(Found(item_path, kind, api_version, meta["name"], namespace,
                               (meta.get("labels") or {}).get(RUN_LABEL, "")))
    # namespaces go last: what is inside them goes with them, and what is elsewhere is named on its own
    return sorted(found, key=lambda f: (f.is_namespace, f.path))


def remove(target: Target, run: str | None = None, timeout: float = 120.0) -> tuple[list[Found], list[Found]]:
    """Deletes every labelled object (of `run`, when given) and waits up to `timeout` seconds for them to go.
    Returns (what was removed, what is still there); an object in a namespace that is removed is not named
    on its own."""
    removed = []
    everything = find(target, run)
    namespaces = {f.name for f in everything if f.is_namespace}
    # what sits in a namespace that goes anyway goes with it
    for found in [f for f in everything if f.namespace not in namespaces]:
        try:
            response = target.raw("DELETE", found.path, timeout=REQUEST_SECONDS,
                                  json={"propagationPolicy": "Background"})
        except requests.RequestException:
            continue
        if response.status_code in (200, 202):
            removed.append(found)
    deadline = time.monotonic() + timeout
    left = find(target, run)
    while left and time.monotonic() < deadline:
        time.sleep(1)
        left = find(target, run)
    return removed, left
