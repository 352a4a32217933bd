"""The job-sink receiver (knative/eventing cmd/jobsink) at `job-sink.knative-eventing.svc.cluster.local/<ns>/<name>`.

POST: an event for a JobSink starts a Job from its `spec.job`, named `<jobsink>-<md5(source + id)>` (so the same
source and id start one Job only), labelled with the JobSink and that id, owned by the JobSink. The event, as
structured JSON, goes in an immutable Secret of the Job's name (owned by the Job) mounted in every container at
/etc/jobsink-event (or where a container mounts a volume named `jobsink-event`), K_EVENT_PATH saying where.
202 with a Location `/namespaces/<ns>/name/<name>/sources/<source>/ids/<id>`; 400 for an unknown JobSink, a bad
path or a malformed event; 401/403 from sender identity; 500 when the Job or Secret cannot be made.
GET of a Location: 200 once that Job is Complete, 400 once Failed, else 202.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from reference.auth.names import child_name
from reference.cloudevents.codec import Event
from reference.cloudevents.receiver import receive
from reference.dataplane.eventing.identity import Gate, Verified

log = logging.getLogger("kproof.eventing")

NAME_LABEL = "sinks.knative.dev/job-sink-name"
ID_LABEL = "sinks.knative.dev/job-sink-id"
VOLUME = "jobsink-event"
MOUNT_PATH = "/etc/jobsink-event"
CORE = ("specversion", "id", "source", "type", "datacontenttype", "dataschema", "subject", "time")

# (method, API path, JSON body or None) -> (HTTP status, the JSON answer)
Api = Callable[[str, str, dict | None], Awaitable[tuple[int, dict[str, Any]]]]


def job_name(sink: str, source: str, event_id: str) -> str:
    """toJobName: kmeta.ChildName(<jobsink>-, md5(source + id)) (hex is already a DNS-1123 name)."""
    return child_name(f"{sink}-", hashlib.md5((source + event_id).encode()).hexdigest())


def location(namespace: str, name: str, source: str, event_id: str) -> str:
    return (f"/namespaces/{quote(namespace, safe='')}/name/{quote(name, safe='')}/sources/{quote(source, safe='')}"
            f"/ids/{quote(event_id, safe='')}")


def event_json(event: Event) -> bytes:
    """The event as sdk-go's MarshalJSON writes it: context attributes in the spec's order, extensions, data (JSON
    embedded, text as a string, anything else as data_base64)."""
    attrs = event.attributes
    out: dict[str, Any] = {k: attrs[k] for k in CORE if k in attrs}
    out.update({k: attrs[k] for k in sorted(attrs) if k not in CORE})
    if event.data is not None:
        media = attrs.get("datacontenttype", "application/json").split(";")[0].strip()
        if media.endswith("/json") or media.endswith("+json"):
            try:
                out["data"] = json.loads(event.data)
            except ValueError:
                out["data_base64"] = base64.b64encode(event.data).decode()
        elif media.startswith("text/"):
            out["data"] = event.data.decode(errors="replace")
        else:
            out["data_base64"] = base64.b64encode(event.data).decode()
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode()


def make_job(sink: dict, name: str) -> dict:
    """The JobSink's job for one event: its template with the event's volume, mount and K_EVENT_PATH."""
    meta = sink["metadata"]
    job = copy.deepcopy((sink.get("spec") or {}).get("job") or {})
    job["apiVersion"], job["kind"] = "batch/v1", "Job"
    job_meta = job.setdefault("metadata", {})
    job_meta.update({"name": name, "namespace": meta["namespace"]})
    job_meta["labels"] = {**(job_meta.get("labels") or {}), ID_LABEL: name, NAME_LABEL: meta["name"]}
    job_meta["ownerReferences"] = [*(job_meta.get("ownerReferences") or []), {
        "apiVersion": "sinks.knative.dev/v1alpha1", "kind": "jobsinks", "name": meta["name"], "uid": meta["uid"],
        "controller": True, "blockOwnerDeletion": False}]
    pod = job.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
    for container in pod.get("containers") or []:
        mounts = container.setdefault("volumeMounts", [])
        path = next((m.get("mountPath") for m in mounts if m.get("name") == VOLUME), None)
        if path is None:
            mounts.append({"name": VOLUME, "readOnly": True, "mountPath": MOUNT_PATH})
            path = MOUNT_PATH
        container["env"] = [*(container.get("env") or []), {"name": "K_EVENT_PATH", "value": path}]
    if not any(v.get("name") == VOLUME for v in pod.get("volumes") or []):
        pod["volumes"] = [*(pod.get("volumes") or []), {"name": VOLUME, "secret": {"secretName": name}}]
    return job


def make_secret(job: dict, sink_name: str, event: bytes) -> dict:
    meta = job["metadata"]
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "immutable": True,
            "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                         "labels": {ID_LABEL: meta["name"], NAME_LABEL: sink_name},
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
                                              "uid": meta.get("uid", ""), "controller": True,
                                              "blockOwnerDeletion": False}]},
            "data": {"event": base64.b64encode(event).decode()}}


class JobSinkPlane:
    def __init__(self, api: Api, gate: Gate | None = None) -> None:
        self.api = api
        self.gate = gate
        self.sinks: dict[tuple[str, str], dict] = {}

    def set_sink(self, kind: str, sink: dict, old: dict | None) -> None:
        meta = sink["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if kind == "DELETED":
            self.sinks.pop(key, None)
        else:
            self.sinks[key] = sink

    def serves(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.sinks

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            return await self._status(request)
        if request.method != "POST":
            return web.Response(status=400, text=f"unexpected method {request.method}\n")
        parts = request.path.rstrip("/").split("/")
        if len(parts) != 3 or (parts[1], parts[2]) not in self.sinks:
            return web.Response(status=400, text=f"no JobSink at {request.path}\n")
        namespace, name = parts[1], parts[2]
        sink = self.sinks[(namespace, name)]
        status = sink.get("status") or {}
        verified = Verified()
        if self.gate is not None:
            verified = await self.gate.authenticate(request.headers, (status.get("address") or {}).get("audience"))
            if verified.refusal is not None:
                return verified.refusal
        event = await receive(request)
        if isinstance(event, web.Response):
            return web.Response(status=400, text=event.text) if event.status == 405 else event
        if self.gate is not None:
            decision = self.gate.authorize(verified, namespace, status.get("policies"), event)
            if not decision.allowed:
                return web.Response(status=decision.status, text=decision.reason + "\n")
        return await self._start(sink, event)

    async def _start(self, sink: dict, event: Event) -> web.Response:
        meta = sink["metadata"]
        namespace, source, event_id = meta["namespace"], event.attributes.get("source", ""), event.id
        name = job_name(meta["name"], source, event_id)
        where = {"Location": location(namespace, meta["name"], source, event_id)}
        selector = quote(f"{ID_LABEL}={name},{NAME_LABEL}={meta['name']}", safe="")
        code, found = await self.api("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs?labelSelector={selector}"
                                            "&limit=1", None)
        if code != 200:
            return web.Response(status=500, text="failed to retrieve job\n")
        if found.get("items"):
            return web.Response(status=202, headers=where)
        code, job = await self.api("POST", f"/apis/batch/v1/namespaces/{namespace}/jobs", make_job(sink, name))
        if code == 409:
            code, job = await self.api("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}", None)
        if code not in (200, 201):
            reason = str(job.get("message", ""))
            log.warning("jobsink %s/%s: failed to create job %s: %s", namespace, meta["name"], name, reason)
            return web.Response(status=500, headers={"Reason": reason[:1000]})
        code, answer = await self.api("POST", f"/api/v1/namespaces/{namespace}/secrets",
                                      make_secret(job, meta["name"], event_json(event)))
        if code not in (200, 201, 409):
            reason = str(answer.get("message", ""))
            return web.Response(status=500, headers={"Reason": reason[:1000]})
        return web.Response(status=202, headers=where)

    async def _status(self, request: web.Request) -> web.Response:
        parts = request.rel_url.raw_path.rstrip("/").split("/")  # RequestURI: source and id stay escaped
        if len(parts) != 9:
            return web.Response(status=400, text="unexpected path format\n")
        namespace, name, source, event_id = (unquote(parts[i]) for i in (2, 4, 6, 8))
        sink = self.sinks.get((namespace, name))
        if sink is None:
            return web.Response(status=400, text=f"no JobSink {namespace}/{name}\n")
        if self.gate is not None:
            verified = await self.gate.authenticate(request.headers, ((sink.get("status") or {}).get("address")
                                                                      or {}).get("audience"))
            if verified.refusal is not None:
                return verified.refusal
        code, job = await self.api("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs/"
                                          f"{job_name(name, source, event_id)}", None)
        if code != 200:
            return web.Response(status=500)
        for condition in (job.get("status") or {}).get("conditions") or []:
            if condition.get("status") == "True" and condition.get("type") == "Failed":
                return web.Response(status=400, headers={"Reason": "Failed"})
            if condition.get("status") == "True" and condition.get("type") == "Complete":
                return web.Response(status=200, headers={"Reason": "Complete"})
        return web.Response(status=202, headers={"Location": location(namespace, name, source, event_id)})
