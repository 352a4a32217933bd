"""RequestReply (eventing.knative.dev/v1alpha1): an HTTP request to its address becomes an event in its Broker
with a signed correlation id, and the event that replies with that id (in `replyid`) comes back as the HTTP
response; concurrent requests each get their own reply; no reply in spec.timeout answers as Knative's data
plane does; forged replies are refused; bad specs refused naming the field.

knative.dev has no RequestReply page; the manifest follows Knative's API, and the behaviour Knative's data
plane (pkg/requestreply) and reconciler (pkg/reconciler/requestreply)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conformance.eventing.docs_support import apply_example
from conformance.eventing.flows_support import EVENT_TRANSFORM, REQUEST_REPLY
from conformance.eventing.support import BROKER, TRIGGER, Bench, event
from conformance.helpers import assert_invalid, refused, unique

SOURCE = "knative/eventing pkg/requestreply/ingress_handler.go"
API = "knative/eventing pkg/apis/eventing/v1alpha1/requestreply_validation.go"
# Answers kproof.request events with an event that carries the request's correlation id as its reply id.
RESPONDER = ('{"specversion": "1.0", "id": "reply-" & id, "type": "kproof.reply", "source": "/responder", '
             '"replyid": correlationid, "data": {"answer": data}}')


def header(answer: dict, name: str) -> str | None:
    return next((v for k, v in answer["headers"].items() if k.lower() == name.lower()), None)


@pytest.fixture(scope="module")
def answering(bench: Bench) -> Bench:
    """The documented RequestReply on the bench's Broker, and an EventTransform that answers requests the way a
    reply must: with the request's correlation id as its `replyid`."""
    apply_example(bench.target, "requestreply", "request-reply.yaml", namespace=bench.namespace)
    bench.target.create({"apiVersion": EVENT_TRANSFORM[0], "kind": EVENT_TRANSFORM[1],
                         "metadata": {"name": "responder", "namespace": bench.namespace},
                         "spec": {"jsonata": {"expression": RESPONDER}}})
    bench.target.wait_for(*EVENT_TRANSFORM, "responder", bench.namespace, timeout=90)
    return bench


@pytest.fixture
def responder(answering: Bench) -> Bench:
    """A Trigger taking kproof.request events to the responder (the bench deletes triggers after each test)."""
    bench = answering
    bench.target.create({"apiVersion": TRIGGER[0], "kind": TRIGGER[1],
                         "metadata": {"name": "requests", "namespace": bench.namespace},
                         "spec": {"broker": "default", "filter": {"attributes": {"type": "kproof.request"}},
                                  "subscriber": {"ref": {"apiVersion": EVENT_TRANSFORM[0], "kind": EVENT_TRANSFORM[1],
                                                         "name": "responder"}}}})
    bench.target.wait_for(*TRIGGER, "requests", bench.namespace, timeout=60)
    return bench


def address(bench: Bench, name: str = "request-reply") -> str:
    return bench.target.wait_for(*REQUEST_REPLY, name, bench.namespace, timeout=90)["status"]["address"]["url"]


@pytest.mark.spec("MUST", "alpha", source=SOURCE)
def test_a_request_is_answered_with_the_event_that_replies_to_it(responder: Bench) -> None:
    bench = responder
    ready = bench.target.wait_for(*REQUEST_REPLY, "request-reply", bench.namespace, timeout=90)
    status = ready["status"]
    assert status["address"]["url"] == (f"http://request-reply.knative-eventing.svc.cluster.local/"
                                        f"{bench.namespace}/request-reply")
    broker = bench.target.get(*BROKER, "default", bench.namespace)
    assert status["annotations"]["knative.dev/brokerAddress"] == broker["status"]["address"]["url"]
    assert (status["desiredReplicas"], status["readyReplicas"]) == (1, 1)
    assert ready["spec"]["correlationAttribute"] == "correlationid" and ready["spec"]["replyAttribute"] == "replyid"
    trigger = bench.target.get(*TRIGGER, "request-reply0-1", bench.namespace)
    assert trigger is not None and trigger["metadata"]["ownerReferences"][0]["kind"] == "RequestReply"
    assert trigger["spec"]["filters"][0]["cesql"].startswith("KN_VERIFY_CORRELATION_ID(replyid, ")
    assert trigger["spec"]["subscriber"]["uri"].endswith(f"/{bench.namespace}/request-reply/reply")

    sent = event("kproof.request", data={"question": 42})
    answer = bench.send(sent, url=status["address"]["url"])
    assert answer["status"] == 200
    assert header(answer, "ce-type") == "kproof.reply"
    assert header(answer, "ce-id") == f"reply-{sent['id']}"
    assert (header(answer, "ce-replyid") or "").startswith(f"{sent['id']}:"), "the reply carries the request's id"
    assert json.loads(answer["body"]) == {"answer": {"question": 42}}


@pytest.mark.spec("MUST", "alpha", source=SOURCE)
def test_concurrent_requests_each_get_their_own_reply(responder: Bench) -> None:
    bench = responder
    url = address(bench)
    requests = [event("kproof.request", data={"n": n}) for n in range(20)]
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda body: bench.send(body, url=url), requests))
    for sent, answer in zip(requests, answers, strict=True):
        assert answer["status"] == 200
        assert json.loads(answer["body"]) == {"answer": sent["data"]}
        assert header(answer, "ce-id") == f"reply-{sent['id']}"


@pytest.mark.spec("MUST", "alpha", source=SOURCE)
def test_a_request_without_a_reply_ends_after_the_timeout_with_no_event(responder: Bench) -> None:
    """Knative's handler writes nothing when it gives up, so the answer is an empty 200 (its data plane waits a
    fixed minute; spec.timeout says how long to wait)."""
    bench = responder
    name = unique("slow")
    bench.target.create({"apiVersion": REQUEST_REPLY[0], "kind": REQUEST_REPLY[1],
                         "metadata": {"name": name, "namespace": bench.namespace},
                         "spec": {"brokerRef": {"apiVersion": BROKER[0], "kind": "Broker", "name": "default"},
                                  "timeout": "PT2S"}})
    url = address(bench, name)
    started = time.monotonic()
    answer = bench.send(event("kproof.unanswered"), url=url)
    assert time.monotonic() - started >= 2.0
    assert (answer["status"], answer["body"]) == (200, "")
    assert header(answer, "ce-id") is None, "no event comes back"


@pytest.mark.spec("MUST", "alpha", source=SOURCE)
@pytest.mark.parametrize("reply_id", [None, "someid:bm90IHNlYWxlZCBieSB0aGUga2V5:0"], ids=["none", "forged"])
def test_a_reply_without_a_valid_reply_id_is_refused(responder: Bench, reply_id: str | None) -> None:
    bench = responder
    headers = {"ce-specversion": "1.0", "ce-id": "r-1", "ce-source": "/forger", "ce-type": "kproof.reply",
               "content-type": "application/json"}
    if reply_id:
        headers["ce-replyid"] = reply_id
    answer = bench.forward(url=address(bench) + "/reply", method="POST", headers=headers, body="{}")
    assert answer["status"] == 400


@pytest.mark.spec("MUST", "alpha", source=API)
@pytest.mark.parametrize(("spec", "field"), [
    ({"brokerRef": {"apiVersion": "v1", "kind": "Service", "name": "default"}}, "spec.brokerRef.kind"),
    ({"brokerRef": {"apiVersion": BROKER[0], "kind": "Broker", "name": "default"}, "timeout": "PT0S"},
     "spec.timeout"),
    ({"brokerRef": {"apiVersion": BROKER[0], "kind": "Broker", "name": "default"}, "timeout": "ten seconds"},
     "spec.timeout"),
    ({"brokerRef": {"apiVersion": BROKER[0], "kind": "Broker", "name": "default"}, "correlationAttribute": "type"},
     "spec.correlationattribute"),
    ({"brokerRef": {"apiVersion": BROKER[0], "kind": "Broker", "name": "default", "namespace": "elsewhere"}},
     "spec.brokerRef.namespace"),
], ids=["not-a-broker", "zero-timeout", "bad-timeout", "core-attribute", "other-namespace"])
def test_a_bad_request_reply_is_refused_naming_the_field(bench: Bench, spec: dict, field: str) -> None:
    body = {"apiVersion": REQUEST_REPLY[0], "kind": REQUEST_REPLY[1],
            "metadata": {"name": unique("bad"), "namespace": bench.namespace}, "spec": spec}
    assert_invalid(refused(lambda: bench.target.create(body)), field)
