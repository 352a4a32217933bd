"""EventTransform (eventing.knative.dev/v1alpha1) with JSONata: Knative's documented examples applied as the docs
give them; the transformed event as the response without a sink, sent on to the sink with one, the sink's
reply transformed (or discarded); an EventTransform behind a Trigger whose reply goes back into the Broker;
bad specs refused naming the field."""

from __future__ import annotations

import json
import re

import pytest

from conformance.eventing.docs_support import apply_example, example
from conformance.eventing.flows_support import EVENT_TRANSFORM, KSVC
from conformance.eventing.support import PINNED, TRIGGER, Bench, event, ids, sink_ref
from conformance.helpers import assert_invalid, refused, unique
from conformance.serving.support import deploy, service

DOCS = "https://knative.dev/docs/eventing/transforms/"
JSONATA_DOCS = "https://knative.dev/docs/eventing/transforms/event-transform-jsonata/"
STRUCTURED = "application/cloudevents+json"


def transform_url(bench: Bench, name: str) -> str:
    return bench.target.wait_for(*EVENT_TRANSFORM, name, bench.namespace, timeout=90)["status"]["address"]["url"]


def transform(name: str, namespace: str, expression: str, sink: dict | None = None, reply: dict | None = None
              ) -> dict:
    spec: dict = {"jsonata": {"expression": expression}}
    if sink:
        spec["sink"] = sink
    if reply is not None:
        spec["reply"] = reply
    return {"apiVersion": EVENT_TRANSFORM[0], "kind": EVENT_TRANSFORM[1],
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


@pytest.fixture(scope="module")
def services(bench: Bench, app_image) -> Bench:
    """Recorders under the names the docs' examples give their sinks."""
    for name in ("destination-service", "processor-service"):
        deploy(bench.target, service(name, bench.namespace, app_image("recorder"), annotations=PINNED))
    return bench


@pytest.mark.spec("MUST", "alpha", source=DOCS)
def test_the_docs_event_enricher_answers_with_the_transformed_event(bench: Bench) -> None:
    (applied,) = apply_example(bench.target, "eventtransform", "event-enricher.yaml", namespace=bench.namespace)
    assert applied["kind"] == "EventTransform"
    ready = bench.target.wait_for(*EVENT_TRANSFORM, "event-enricher", bench.namespace, timeout=90)
    url = ready["status"]["address"]["url"]
    assert url == f"http://event-enricher-jsonata.{bench.namespace}.svc.cluster.local"
    assert {c["type"] for c in ready["status"]["conditions"] if c["status"] == "True"} >= {
        "TransformationReady", "Addressable", "EventPoliciesReady", "Ready"}
    sent = event("order.created", data={"order": 7})
    answer = bench.send(sent, url=url)
    assert answer["status"] == 200
    assert answer["headers"]["Content-Type"].startswith(STRUCTURED)
    transformed = json.loads(answer["body"])
    assert (transformed["id"], transformed["type"], transformed["source"]) == (sent["id"], sent["type"],
                                                                            sent["source"])
    assert (transformed["environment"], transformed["region"]) == ("production", "us-west-1")
    assert transformed["data"]["data"] == {"order": 7}, "data is the whole input event ($)"
    assert transformed["data"]["id"] == sent["id"]


@pytest.mark.spec("MUST", "alpha", source=DOCS)
def test_the_docs_format_converter_sends_the_transformed_event_to_its_sink(services: Bench) -> None:
    bench = services
    bench.configure("destination-service")
    apply_example(bench.target, "eventtransform", "format-converter.yaml", namespace=bench.namespace)
    ready = bench.target.wait_for(*EVENT_TRANSFORM, "format-converter", bench.namespace, timeout=90)
    assert ready["status"]["sinkUri"].startswith("http://destination-service.")
    order = {"id": "o-1", "user": {"fullName": "Ada Lovelace", "email": "ada@example.com"}, "items": [{"sku": "k"}]}
    sent = event("order.placed", data=order)
    assert bench.send(sent, url=ready["status"]["address"]["url"])["status"] == 200
    (received,) = bench.await_records("destination-service", 1)
    assert received["event"]["type"] == "order.converted"
    assert received["event"]["source"] == "transform.format-converter"
    assert received["event"]["id"] == sent["id"]
    assert received["data"] == {"orderId": "o-1", "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
                                "items": [{"sku": "k"}]}


@pytest.mark.spec("MUST", "alpha", source=JSONATA_DOCS)
def test_the_sinks_reply_comes_back_transformed(services: Bench) -> None:
    """The docs' request-reply-transform, whose `#` lines are not JSONata comments: as written it is refused;
    with them as JSONata comments it transforms the request and the processor's reply."""
    bench = services
    (documented,) = example("eventtransform", "request-reply-transform.yaml")
    assert_invalid(refused(lambda: bench.target.create(documented, namespace=bench.namespace)),
                   "spec.jsonata.expression")
    fixed = json.loads(json.dumps(documented))
    for block in (fixed["spec"]["jsonata"], fixed["spec"]["reply"]["jsonata"]):
        block["expression"] = re.sub(r"^# (.*)$", r"/* \1 */", block["expression"], flags=re.MULTILINE)
    bench.configure("processor-service", reply={"type": "processed", "source": "/processor", "data": {"ok": True}})
    bench.target.create(fixed, namespace=bench.namespace)
    url = transform_url(bench, "request-reply-transform")
    sent = event("request.original", data={"q": 1})
    answer = bench.send(sent, url=url)
    (request,) = bench.await_records("processor-service", 1)
    assert (request["event"]["type"], request["event"]["id"]) == ("request.transformed", sent["id"])
    assert answer["status"] == 200
    reply = json.loads(answer["body"])
    assert (reply["type"], reply["source"], reply["data"]) == ("reply.transformed", "transform.reply-processor",
                                                              {"ok": True})


@pytest.mark.spec("MUST", "alpha", source="knative/eventing pkg/apis/eventing/v1alpha1/eventtransform_types.go")
def test_a_discarded_reply_leaves_only_the_sinks_status(services: Bench) -> None:
    bench = services
    name = unique("discard")
    bench.configure("processor-service", status=202)
    bench.target.create(transform(name, bench.namespace, '{"specversion": "1.0", "id": id, "type": "t", '
                                  '"source": source, "data": data}',
                                  sink=sink_ref("processor-service", bench.namespace), reply={"discard": True}))
    answer = bench.send(event("kproof.discard"), url=transform_url(bench, name))
    assert (answer["status"], answer["body"]) == (202, "")
    assert len(bench.await_records("processor-service", 1)) == 1


@pytest.mark.spec("MUST", "alpha", source=DOCS)
def test_behind_a_trigger_its_answer_goes_back_into_the_broker(bench: Bench) -> None:
    """The docs' "Using Broker Reply Feature": no sink, the transformed event is the reply."""
    name = unique("replier")
    bench.configure("sink")
    bench.target.create(transform(name, bench.namespace, '{"specversion": "1.0", "id": id, "time": time, '
                                  '"type": "transformed.event.type", "source": "transform.event-transformer", '
                                  '"data": $}'))
    transform_url(bench, name)
    bench.target.create({"apiVersion": TRIGGER[0], "kind": TRIGGER[1],
                         "metadata": {"name": f"{name}-in", "namespace": bench.namespace},
                         "spec": {"broker": "default", "filter": {"attributes": {"type": "original.event.type"}},
                                  "subscriber": {"ref": {"apiVersion": EVENT_TRANSFORM[0], "kind": EVENT_TRANSFORM[1],
                                                         "name": name}}}})
    bench.trigger(f"{name}-out", f"/{name}", attributes={"type": "transformed.event.type"})
    bench.target.wait_for(*TRIGGER, f"{name}-in", bench.namespace, timeout=60)
    sent = event("original.event.type", data={"x": 1})
    assert bench.send(sent)["status"] == 202
    (got,) = bench.await_records("sink", 1, f"/{name}")
    assert ids([got]) == [sent["id"]]
    assert got["event"]["source"] == "transform.event-transformer"
    assert got["data"]["type"] == "original.event.type", "the original event is the data"


@pytest.mark.spec("MUST", "alpha", source="knative/eventing pkg/apis/eventing/v1alpha1/eventtransform_validation.go")
@pytest.mark.parametrize(("spec", "field"), [
    ({"jsonata": {"expression": '{"a": '}}, "spec.jsonata.expression"),
    ({}, "spec.jsonata"),
    ({"jsonata": {"expression": "$"}, "reply": {"discard": True}}, "spec.reply"),
    ({"jsonata": {"expression": "$"}, "sink": {"uri": "http://example.com"},
      "reply": {"jsonata": {"expression": "$$$("}}}, "spec.reply.jsonata.expression"),
    ({"jsonata": {"expression": "$"}, "sink": {"uri": "/relative"}}, "spec.sink.uri"),
], ids=["broken-expression", "no-transformation", "reply-without-sink", "broken-reply", "relative-sink"])
def test_a_bad_event_transform_is_refused_naming_the_field(bench: Bench, spec: dict, field: str) -> None:
    body = {"apiVersion": EVENT_TRANSFORM[0], "kind": EVENT_TRANSFORM[1],
            "metadata": {"name": unique("bad"), "namespace": bench.namespace}, "spec": spec}
    assert_invalid(refused(lambda: bench.target.create(body)), field)


@pytest.mark.spec("MUST", "alpha", source=DOCS)
def test_it_waits_for_a_sink_that_does_not_exist(bench: Bench) -> None:
    name = unique("nosink")
    bench.target.create(transform(name, bench.namespace, "$", sink=sink_ref("nobody", bench.namespace)))
    found = bench.target.wait_until(
        *EVENT_TRANSFORM, name,
        lambda t: any(c.get("type") == "TransformationReady" and c.get("status") == "False"
                      for c in ((t or {}).get("status") or {}).get("conditions") or []),
        bench.namespace, 30, what="TransformationReady=False")
    assert found is not None and "address" not in found["status"]
    assert bench.target.get(*KSVC, "nobody", bench.namespace) is None
