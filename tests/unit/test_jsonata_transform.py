"""EventTransform's JSONata transformation: what an expression sees (the structured event, else the body), what
it yields and the content type guessed for it, parse errors, runaway expressions, and how the data plane
answers with and without a sink."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from reference.cloudevents.codec import STRUCTURED, Event, to_binary
from reference.cloudevents.delivery import Attempt
from reference.cloudevents.transform import (
    TransformError,
    compile_expression,
    content_type,
    input_document,
    render,
)
from reference.dataplane.eventing.transform import TransformPlane, compile_transform, transform_host

EVENT = Event({"specversion": "1.0", "id": "e-1", "source": "/shop", "type": "order.created",
               "datacontenttype": "application/json"}, b'{"user": {"id": "u-7"}, "region": "eu"}')
DOCS_EXAMPLE = """{
  "specversion": "1.0",
  "id": id,
  "type": "user.event",
  "source": source,
  "userid": data.user.id,
  "region": data.region,
  "data": $
}"""


def test_the_expression_sees_the_event_in_structured_form() -> None:
    headers, body = to_binary(EVENT)
    document = input_document(headers, body)
    assert document == {"specversion": "1.0", "id": "e-1", "source": "/shop", "type": "order.created",
                        "datacontenttype": "application/json", "data": {"user": {"id": "u-7"}, "region": "eu"}}
    out = compile_expression(DOCS_EXAMPLE).evaluate(document)
    assert out["userid"] == "u-7" and out["region"] == "eu" and out["data"] == document


def test_a_body_that_is_no_cloudevent_is_read_as_json_else_as_text() -> None:
    assert input_document({"content-type": "application/json"}, b'{"a": 1}') == {"a": 1}
    assert input_document({}, b"plain words") == "plain words"


def test_the_docs_restructuring_example_gives_the_documented_result() -> None:
    expression = compile_expression("""{
  "specversion": "1.0",
  "id": order.id,
  "type": "order.transformed",
  "source": "transform.order-processor",
  "time": order.time,
  "orderid": order.id,
  "data": {
    "customer": {"id": order.user.id, "name": order.user.name},
    "items": order.items.{ "sku": sku, "quantity": qty, "price": price },
    "total": $sum(order.items.(price * qty))
  }
}""")
    order = {"order": {"time": "2024-04-05T17:31:05Z", "id": "8a76", "user": {"id": "bd97", "name": "John Doe"},
                       "items": [{"sku": "KNATIVE-1", "price": 99.99, "qty": 1},
                                 {"sku": "KNATIVE-2", "price": 129.99, "qty": 2}]}}
    out = expression.evaluate(order)
    assert out["orderid"] == "8a76" and out["data"]["customer"] == {"id": "bd97", "name": "John Doe"}
    assert out["data"]["items"][1] == {"sku": "KNATIVE-2", "quantity": 2, "price": 129.99}
    assert out["data"]["total"] == pytest.approx(359.97)


@pytest.mark.parametrize(("value", "expected"), [
    ({"specversion": "1.0", "id": "x"}, STRUCTURED),
    ({"a": 1}, "application/json"),
    ({"contenttype": "text/csv", "specversion": "1.0"}, "text/csv"),
    ([1, 2], "application/json"),
])
def test_the_content_type_is_guessed_as_transform_jsonata_does(value: object, expected: str) -> None:
    assert content_type(value) == expected
    assert json.loads(render(value)[1]) == value


@pytest.mark.parametrize("value", [None, "text", 3])
def test_a_result_that_is_no_object_cannot_be_sent(value: object) -> None:
    with pytest.raises(TransformError):
        render(value)


@pytest.mark.parametrize("text", ["# a shell comment\n{}", '{"a": ', "$$$(", ""])
def test_an_expression_that_does_not_parse_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        compile_expression(text)


def test_a_runaway_expression_is_stopped() -> None:
    endless = compile_expression("($f := function($n) { $f($n + 1) }; $f(0))")
    with pytest.raises(TransformError):
        endless.evaluate({})


def test_an_evaluation_error_is_a_transform_error() -> None:
    with pytest.raises(TransformError):
        compile_expression('$number("not a number")').evaluate({})


# The data plane ---------------------------------------------------------------------------------------

class FakeSink:
    """What the plane's dispatcher would reach: records the request and answers as told."""

    def __init__(self, answer: Attempt) -> None:
        self.answer, self.sent = answer, []

    async def request(self, url: str, headers: dict, body: bytes, timeout: float | None) -> Attempt:
        self.sent.append((url, headers, body))
        return self.answer


def transform_object(spec: dict, sink: str | None = None) -> dict:
    obj = {"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "EventTransform",
           "metadata": {"name": "t", "namespace": "ns", "generation": 1}, "spec": spec}
    if sink:
        obj["status"] = {"sinkUri": sink}
    return obj


def call(plane: TransformPlane, obj: dict, event: Event = EVENT, path: str = "/") -> tuple[int, dict, bytes]:
    """POSTs the event to the plane serving `obj`; the answer's status, headers and body."""
    headers, body = to_binary(event)
    transform = compile_transform(obj, None)
    assert transform is not None

    async def handler(request: web.Request) -> web.Response:
        return await plane.handle(request, transform)

    async def go() -> tuple[int, dict, bytes]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        async with TestServer(app) as server, aiohttp.ClientSession() as session, session.post(
                server.make_url(path), data=body, headers=headers) as response:
            return response.status, dict(response.headers), await response.read()

    return asyncio.run(go())


def test_without_a_sink_the_transformed_event_is_the_response() -> None:
    plane = TransformPlane(FakeSink(Attempt(200)))  # type: ignore[arg-type]
    status, headers, body = call(plane, transform_object({"jsonata": {"expression": DOCS_EXAMPLE}}))
    assert status == 200 and headers["Content-Type"] == STRUCTURED
    assert json.loads(body)["userid"] == "u-7"


def test_with_a_sink_the_sinks_reply_is_transformed_and_its_status_kept() -> None:
    reply_headers, reply_body = to_binary(Event({"specversion": "1.0", "id": "r", "source": "/p", "type": "done"},
                                                b'{"ok": true}'))
    sink = FakeSink(Attempt(201, reply_body, reply_headers))
    plane = TransformPlane(sink)  # type: ignore[arg-type]
    spec = {"sink": {"uri": "http://sink"}, "jsonata": {"expression": DOCS_EXAMPLE},
            "reply": {"jsonata": {"expression": '{"specversion": "1.0", "id": id, "type": "reply." & type, '
                                                '"source": source, "data": data}'}}}
    status, _, answer = call(plane, transform_object(spec, sink="http://sink.ns.svc.cluster.local"))
    (url, headers, body), = sink.sent
    assert url == "http://sink.ns.svc.cluster.local" and headers["Content-Type"] == STRUCTURED
    assert json.loads(body)["type"] == "user.event"
    assert status == 201
    assert json.loads(answer) == {"specversion": "1.0", "id": "r", "type": "reply.done", "source": "/p",
                                         "data": {"ok": True}}


def test_a_discarded_reply_keeps_only_the_status_and_an_unreachable_sink_is_a_500() -> None:
    spec = {"sink": {"uri": "http://sink"}, "jsonata": {"expression": "$"}, "reply": {"discard": True}}
    discarding = TransformPlane(FakeSink(Attempt(202, b"ignored")))  # type: ignore[arg-type]
    status, _, body = call(discarding, transform_object(spec, sink="http://sink"))
    assert (status, body) == (202, b"")
    failing = TransformPlane(FakeSink(Attempt(None, error="connection refused")))  # type: ignore[arg-type]
    status, headers, _ = call(failing, transform_object(spec, sink="http://sink"))
    assert status == 500 and "connection refused" in headers["Reason"]


def test_only_post_to_the_root_is_transformed() -> None:
    plane = TransformPlane(FakeSink(Attempt(200)))  # type: ignore[arg-type]
    assert call(plane, transform_object({"jsonata": {"expression": "$"}}), path="/other")[0] == 404


def test_the_transform_answers_on_its_jsonata_service_host() -> None:
    assert transform_host("ns", "enricher") == "enricher-jsonata.ns.svc.cluster.local"
    assert len(transform_host("ns", "x" * 63).split(".")[0]) == 63, "kmeta.ChildName keeps it a valid name"
