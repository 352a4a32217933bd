"""EventTransform's data plane: each EventTransform answers on its own host, as Knative's JSONata Service
`<name>-jsonata.<namespace>.svc.cluster.local` does, with what Knative's transform-jsonata image does
(knative-extensions/eventing-integrations):

- POST / : the request's CloudEvent (or its JSON or text body) goes through spec.jsonata's expression.
  Without spec.sink the result is the response (200). With a sink the result is POSTed there once and the
  sink's answer comes back: its status alone when spec.reply.discard is true; its body transformed by
  spec.reply.jsonata when there is one (with the sink's status); else its status and body as they are.
- a failed transformation, or a sink that cannot be reached, answers 500 with the error in `Reason`.
- GET /healthz and /readyz answer 200; anything else 404, as the image's express routes do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from reference.apis.eventing import JSONATA_SUFFIX, service_host
from reference.cloudevents.delivery import Dispatcher
from reference.cloudevents.receiver import MAX_EVENT_BYTES, read_body
from reference.cloudevents.transform import Expression, TransformError, compile_expression, input_document, render
from reference.serving.resources.services import child_name

log = logging.getLogger("kproof.eventing")


@dataclass(frozen=True)
class Transform:
    namespace: str
    name: str
    generation: int
    expression: Expression
    reply: Expression | None
    discard: bool
    sink: str | None  # status.sinkUri: spec.sink as the controller resolved it


def transform_host(namespace: str, name: str) -> str:
    return service_host(namespace, child_name(name, JSONATA_SUFFIX))


def compile_transform(obj: dict, known: Transform | None) -> Transform | None:
    """The transform an EventTransform describes (expressions compiled once per generation); None when its
    expression does not compile (admission refuses those; one stored before cannot be served)."""
    meta, spec = obj["metadata"], obj.get("spec") or {}
    generation = int(meta.get("generation") or 0)
    reply = spec.get("reply") or {}
    try:
        if known is not None and known.generation == generation:
            expression, reply_expression = known.expression, known.reply
        else:
            expression = compile_expression((spec.get("jsonata") or {}).get("expression") or "")
            reply_expression = compile_expression(reply["jsonata"].get("expression") or "") \
                if reply.get("jsonata") else None
    except ValueError as err:
        log.warning("EventTransform %s/%s: %s", meta.get("namespace"), meta["name"], err)
        return None
    sink = (obj.get("status") or {}).get("sinkUri") if spec.get("sink") else None
    return Transform(meta.get("namespace", ""), meta["name"], generation, expression, reply_expression,
                     bool(reply.get("discard")), sink)


class TransformPlane:
    def __init__(self, dispatcher: Dispatcher, registry: CollectorRegistry | None = None) -> None:
        self.dispatcher = dispatcher
        self.by_host: dict[str, Transform] = {}
        self.transformed = Counter("kproof_event_transform_requests", "Requests EventTransforms answered, by code",
                                   ["namespace", "transform", "code"], registry=registry)

    def set_transform(self, kind: str, obj: dict, old: dict | None) -> None:
        meta = obj["metadata"]
        host = transform_host(meta.get("namespace", ""), meta["name"])
        if kind == "DELETED":
            self.by_host.pop(host, None)
            return
        compiled = compile_transform(obj, self.by_host.get(host))
        if compiled is None:
            self.by_host.pop(host, None)
        else:
            self.by_host[host] = compiled

    def route(self, host: str) -> Transform | None:
        return self.by_host.get(host)

    def serves(self, namespace: str, name: str, generation: int, sink: str) -> bool:
        """Whether this generation (and sink) is what requests to the transform meet now (the readiness probe)."""
        found = self.by_host.get(transform_host(namespace, name))
        return found is not None and found.generation == generation and (found.sink or "") == sink

    async def handle(self, request: web.Request, transform: Transform) -> web.Response:
        response = await self._handle(request, transform)
        self.transformed.labels(transform.namespace, transform.name, str(response.status)).inc()
        return response

    async def _handle(self, request: web.Request, transform: Transform) -> web.Response:
        path = request.path or "/"  # a client going through a proxy may send no path at all
        if request.method == "GET" and path in ("/healthz", "/readyz"):
            return web.Response(text="OK" if path == "/healthz" else "READY")
        if request.method != "POST" or path != "/":
            return web.Response(status=404, text=f"Cannot {request.method} {path}\n")
        body = await read_body(request)
        if body is None:
            return web.Response(status=413, text=f"the request is larger than {MAX_EVENT_BYTES} bytes\n")
        try:
            content_type, payload = render(transform.expression.evaluate(input_document(dict(request.headers), body)))
        except TransformError as err:
            return _failed(err)
        if transform.sink is None:
            return web.Response(status=200, body=payload, headers={"Content-Type": content_type})
        answer = await self.dispatcher.request(transform.sink, {"Content-Type": content_type}, payload, None)
        if answer.status is None:
            return _failed(answer.error or "the sink did not answer")
        if transform.discard:
            return web.Response(status=answer.status)
        if transform.reply is None:
            return web.Response(status=answer.status, body=answer.body)
        try:
            content_type, payload = render(transform.reply.evaluate(input_document(answer.headers, answer.body)))
        except TransformError as err:
            return _failed(err)
        return web.Response(status=answer.status, body=payload, headers={"Content-Type": content_type})


def _failed(error: object) -> web.Response:
    reason = " ".join(str(error).split())  # one header line
    return web.Response(status=500, headers={"Reason": reason})
