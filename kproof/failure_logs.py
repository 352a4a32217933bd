"""What the platform said while a test failed, for its Allure result and its folder in the results bundle:
the objects of the test's namespaces (YAML, Secrets' values left out), the pods with their containers' logs
(queue-proxy's are the request logs where they are on), the namespaces' events and the autoscaler's decisions
(PodAutoscalers' desired and actual scale); on the embedded reference also the platform's and the data
plane's log lines about those namespaces.

Everything is read through the API the suite drives, with short timeouts, a time budget and a tail of
each source: collecting never fails, never hangs and never floods a report."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path

import requests
import yaml

from kproof.cleanup import collections
from kproof.target import REFERENCE, Target

TAIL_LINES = 200
LIMIT_BYTES = 64 * 1024  # of one container's log
MAX_PODS = 12  # per namespace
BUDGET_SECONDS = 20.0
REQUEST_SECONDS = 5.0
FILE_WINDOW = 4 * 1024 * 1024  # how much of a platform log's end is searched for a namespace
PLATFORM_LOGS = ("reference.log", "dataplane.log")  # in the embedded reference's state directory
OBJECT_SECONDS = 10.0  # for listing every kind in one namespace
NOT_OBJECTS = {"events", "pods"}  # shown on their own (pods with their logs)


def collect(target: Target, namespaces: Iterable[str], budget: float = BUDGET_SECONDS) -> dict[str, str]:
    """Attachment name -> text, for each source that had something to say."""
    deadline = time.monotonic() + budget
    namespaces = list(dict.fromkeys(namespaces))
    found: dict[str, str] = {}
    reading = True  # until the API stops answering or the budget is spent
    for namespace in namespaces:
        for name, read in _sources(target, namespace) if reading else ():
            if time.monotonic() >= deadline:
                found["collecting stopped"] = f"the {budget:.0f}s budget for reading the API ran out"
                reading = False
                break
            try:
                text = read()
            except (requests.ConnectionError, requests.Timeout) as err:  # the API is gone: do not wait on it
                found["collecting stopped"] = f"the API did not answer: {err}"
                reading = False
                break
            except Exception as err:  # one source that cannot be read does not hide the others
                text = f"could not read it: {type(err).__name__}: {err}"
            if text and text.strip():
                found[name] = text
    state_dir = getattr(target.platform, "state_dir", None) if target.has(REFERENCE) else None
    if isinstance(state_dir, Path) and namespaces:
        for log in PLATFORM_LOGS:
            try:
                lines = tail_matching(state_dir / log, namespaces)
            except OSError:
                continue
            if lines:
                found[f"platform {log}"] = "\n".join(lines)
    return found


def _sources(target: Target, namespace: str):
    """(attachment name, reader) pairs for one namespace."""
    yield f"{namespace} objects", lambda: format_objects(namespace_objects(target, namespace))
    yield f"{namespace} events", lambda: format_events(_items(target, f"/api/v1/namespaces/{namespace}/events"))
    yield f"{namespace} podautoscalers", lambda: format_autoscalers(_items(
        target, f"/apis/autoscaling.internal.knative.dev/v1alpha1/namespaces/{namespace}/podautoscalers"))
    pods: list[dict] = []

    def list_pods() -> str:  # read before the generator goes on to each pod's logs
        pods.extend(_items(target, f"/api/v1/namespaces/{namespace}/pods"))
        return format_pods(pods)

    yield f"{namespace} pods", list_pods
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"])[:MAX_PODS]:
        name = pod["metadata"]["name"]
        spec = pod.get("spec") or {}
        for container in (c["name"] for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]):
            yield f"logs {namespace}/{name}/{container}", _log_reader(target, namespace, name, container)


def _log_reader(target: Target, namespace: str, pod: str, container: str):
    def read() -> str:
        response = target.raw("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}/log", timeout=REQUEST_SECONDS,
                              params={"container": container, "tailLines": TAIL_LINES, "limitBytes": LIMIT_BYTES})
        return response.text if response.ok else ""  # a container that has not started has no log
    return read


def _items(target: Target, path: str) -> list[dict]:
    response = target.raw("GET", path, timeout=REQUEST_SECONDS)
    if response.status_code == 404:
        return []  # e.g. no Knative Serving on the target
    response.raise_for_status()
    return response.json().get("items") or []


def namespace_objects(target: Target, namespace: str, budget: float = OBJECT_SECONDS) -> list[dict]:
    """Every object of every kind in the namespace but events and pods (listed on their own)."""
    deadline = time.monotonic() + budget
    found: list[dict] = []
    for path, api_version, kind, namespaced in collections(target):
        plural = path.rsplit("/", 1)[1]
        if not namespaced or plural in NOT_OBJECTS or time.monotonic() >= deadline:
            continue
        base = path.rsplit("/", 1)[0]
        response = target.raw("GET", f"{base}/namespaces/{namespace}/{plural}", timeout=REQUEST_SECONDS)
        if response.status_code != 200:
            continue
        for item in response.json().get("items") or []:
            found.append({"apiVersion": api_version, "kind": kind, **item})
    return found


def format_objects(objects: list[dict]) -> str:
    """YAML documents, managed fields dropped and Secrets' values left out (a bundle travels)."""
    documents = []
    for obj in objects:
        obj = {**obj, "metadata": {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}}
        if obj.get("kind") == "Secret":
            for key in ("data", "stringData"):
                if obj.get(key):
                    obj[key] = {name: "(left out)" for name in obj[key]}
        documents.append(obj)
    return yaml.safe_dump_all(documents, sort_keys=False) if documents else ""


def folder_name(nodeid: str) -> str:
    """A folder name for a test's node id: conformance/api/test_x.py::test_y[a] -> api__test_x__test_y-a."""
    text = nodeid.removeprefix("conformance/").replace(".py::", "__").replace("::", "__").replace("/", "__")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:150]


def write(found: dict[str, str], directory: Path) -> list[Path]:
    """Writes what `collect` found as files: <ns>-objects.yaml, <ns>-events.txt, logs/<ns>/<pod>/<container>.log,
    platform/<log>, ..."""
    written = []
    for name, text in found.items():
        if name.startswith("logs "):
            *where, container = [_safe(part) for part in name[len("logs "):].split("/")]
            relative = Path("logs", *where, f"{container}.log")
        elif name.startswith("platform "):
            relative = Path("platform", _safe(name[len("platform "):]))
        elif name.endswith(" objects"):
            relative = Path(_safe(name.replace(" ", "-")) + ".yaml")
        else:
            relative = Path(_safe(name.replace(" ", "-")) + ".txt")
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text if text.endswith("\n") else text + "\n")
        written.append(path)
    return written


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", part) or "-"


def format_pods(pods: list[dict]) -> str:
    lines = []
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        status = pod.get("status") or {}
        ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), "?")
        states = []
        for container in status.get("containerStatuses") or []:
            state = container.get("state") or {}
            detail = next(((kind, value.get("reason", "")) for kind, value in state.items() if value), ("?", ""))
            states.append(f"{container.get('name')}={detail[0]}{'(' + detail[1] + ')' if detail[1] else ''}"
                          f" restarts={container.get('restartCount', 0)}")
        deleting = " deleting" if pod["metadata"].get("deletionTimestamp") else ""
        lines.append(f"{pod['metadata']['name']} phase={status.get('phase')} ready={ready}{deleting} "
                     f"node={(pod.get('spec') or {}).get('nodeName', '')} {' '.join(states)}")
    return "\n".join(lines[-TAIL_LINES:])


def format_events(events: list[dict]) -> str:
    def when(event: dict) -> str:
        return (event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
                or event["metadata"].get("creationTimestamp") or "")

    lines = []
    for event in sorted(events, key=when):
        involved = event.get("involvedObject") or {}
        count = f" (x{event['count']})" if (event.get("count") or 1) > 1 else ""
        lines.append(f"{when(event)} {event.get('type', '')} {event.get('reason', '')} "
                     f"{involved.get('kind', '')}/{involved.get('name', '')}: {event.get('message', '')}{count}")
    return "\n".join(lines[-TAIL_LINES:])


def format_autoscalers(autoscalers: list[dict]) -> str:
    lines = []
    for pa in autoscalers:
        status = pa.get("status") or {}
        conditions = ", ".join(f"{c.get('type')}={c.get('status')}" + (f" ({c['reason']})" if c.get("reason") else "")
                               for c in status.get("conditions") or [])
        lines.append(f"{pa['metadata']['name']}: desiredScale={status.get('desiredScale')} "
                     f"actualScale={status.get('actualScale')} "
                     f"scaleTargetReplicas={status.get('scaleTargetReplicas', '-')} {conditions}")
    return "\n".join(lines)


def tail_matching(path: Path, words: list[str], lines: int = TAIL_LINES) -> list[str]:
    """The last `lines` lines of a log's end that mention one of `words`."""
    with path.open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - FILE_WINDOW))
        text = f.read().decode(errors="replace")
    return [line for line in text.splitlines() if any(word in line for word in words)][-lines:]
