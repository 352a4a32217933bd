"""Helpers for the tests of Knative's Sequence, Parallel, EventTransform and RequestReply: the docs' example
manifests applied as they are, many events sent at once from inside the platform, and what Knative's
event_display logged, read back as events."""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from conformance.eventing.docs_support import displayed, pod_log
from conformance.eventing.support import Bench, event
from kproof.target import Target

SEQUENCE = ("flows.knative.dev/v1", "Sequence")
PARALLEL = ("flows.knative.dev/v1", "Parallel")
EVENT_TRANSFORM = ("eventing.knative.dev/v1alpha1", "EventTransform")
REQUEST_REPLY = ("eventing.knative.dev/v1alpha1", "RequestReply")
KSVC = ("serving.knative.dev/v1", "Service")
PING_SOURCE = ("sources.knative.dev/v1", "PingSource")
SENDERS = 16


def flow(kind: tuple[str, str], name: str, namespace: str, parts: list[dict], reply: dict | None = None
         ) -> dict:
    """A Sequence (parts: its steps) or a Parallel (parts: its branches) over InMemoryChannels."""
    field = "steps" if kind == SEQUENCE else "branches"
    spec: dict = {"channelTemplate": {"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel"},
                  field: parts}
    if reply:
        spec["reply"] = reply
    return {"apiVersion": kind[0], "kind": kind[1], "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def flow_address(bench: Bench, kind: tuple[str, str], name: str) -> str:
    return bench.target.wait_for(*kind, name, bench.namespace, timeout=90)["status"]["address"]["url"]


def send_many(bench: Bench, url: str, bodies: list[dict]) -> list[int]:
    """Sends each event from inside the platform, SENDERS at a time; the status each got."""
    with ThreadPoolExecutor(SENDERS) as pool:
        return list(pool.map(lambda body: bench.send(body, url=url)["status"], bodies))


def numbered(type_: str, count: int, **data: object) -> list[dict]:
    return [event(type_, data={"id": n, **data}, id=f"{type_}-{n}-{uuid.uuid4().hex[:6]}") for n in range(count)]


def duplicates(ids: list[str]) -> list[str]:
    return [i for i, n in Counter(ids).items() if n > 1]


def event_display_log(target: Target, namespace: str, service: str = "event-display") -> str:
    """What the service's ready pods printed (the user container's log)."""
    return pod_log(target, namespace, f"serving.knative.dev/service={service}", "user-container")


def displayed_events(log: str) -> dict[str, dict]:
    """The events in event_display's log by id, as docs_support.displayed reads them (data decoded when JSON)."""
    return {e["id"]: e for e in displayed(log) if "id" in e}
