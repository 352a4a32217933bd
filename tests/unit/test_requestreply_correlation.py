"""RequestReply's correlation ids as Knative signs and checks them (`<id>:<base64url(nonce || AES-GCM(id))>:<index>`),
the key store read from the request-reply-keys Secret, the KN_VERIFY_CORRELATION_ID function its Trigger's
filter calls, and how the data plane answers requests and replies."""

from __future__ import annotations

import asyncio
import base64

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from reference.cloudevents import cesql
from reference.cloudevents.cesql.functions import register
from reference.cloudevents.codec import Event, from_http, to_binary
from reference.cloudevents.delivery import Attempt
from reference.dataplane.eventing import correlation
from reference.dataplane.eventing.requestreply import BROKER_ADDRESS, KEYS_SECRET, KeyStore, RequestReplyPlane

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


def test_a_correlation_id_names_the_event_and_proves_who_sealed_it() -> None:
    value = correlation.correlation_id("abc-123", KEY, 0)
    original, sealed, index = value.split(":")
    assert (original, index) == ("abc-123", "0")
    raw = base64.urlsafe_b64decode(sealed)
    assert len(raw) == correlation.NONCE_BYTES + len("abc-123") + 16, "nonce, ciphertext and GCM tag"
    assert correlation.verify(value, KEY)
    assert correlation.correlation_id("abc-123", KEY, 0) != value, "a fresh nonce each time"


def test_a_reply_id_sealed_under_another_key_or_for_another_id_does_not_verify() -> None:
    value = correlation.correlation_id("abc", KEY, 2)
    with pytest.raises(correlation.MalformedReplyId):
        correlation.verify(value, OTHER)
    _, sealed, index = value.split(":")
    with pytest.raises(correlation.MalformedReplyId):
        correlation.verify(f"abd:{sealed[:-2]}AA:{index}", KEY)  # a tampered seal fails GCM's check
    forged_id = f"other:{sealed}:{index}"
    assert correlation.verify(forged_id, KEY) is False, "the seal opens, but to another id"
    assert correlation.verify_any(value, [OTHER, KEY])
    assert not correlation.verify_any(forged_id, [KEY])
    assert correlation.index_of(value) == 2


@pytest.mark.parametrize("value", ["no-colons", "a:b", "a:b:c:d", "a:!!!notbase64:0", "a:AAAA:0"])
def test_a_malformed_reply_id_is_an_error_to_verify_and_not_valid_for_any_key(value: str) -> None:
    with pytest.raises(correlation.MalformedReplyId):
        correlation.verify(value, KEY)
    assert not correlation.verify_any(value, [KEY])


def test_go_sealed_ids_verify() -> None:
    """A value sealed the way Go's gcm.Seal(nonce, nonce, id, nil) lays it out (nonce first)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    nonce = b"\x01" * 12
    sealed = nonce + AESGCM(KEY).encrypt(nonce, b"event-9", None)
    assert correlation.verify(f"event-9:{base64.urlsafe_b64encode(sealed).decode()}:0", KEY)


def _secret(**keys: bytes) -> dict[str, str]:
    return {name: base64.b64encode(value).decode() for name, value in keys.items()}


def test_the_key_store_reads_the_secrets_entries_per_request_reply() -> None:
    store = KeyStore()
    store.load({"ns.rr.key-0": base64.b64encode(KEY).decode(), "ns.other.key-0": base64.b64encode(OTHER).decode(),
                "malformed": "eA==", "ns.bad.key-0": "not base64!"})
    assert store.latest(("ns", "rr")) == KEY and store.all(("ns", "rr")) == [KEY]
    assert store.latest(("ns", "bad")) is None
    store.load({"ns.rr.key-0": base64.b64encode(KEY).decode(), "ns.rr.key-1": base64.b64encode(OTHER).decode()})
    assert store.latest(("ns", "rr")) == KEY, "the key in use stays while it is there"
    assert sorted(store.all(("ns", "rr"))) == sorted([KEY, OTHER])
    store.load({})
    assert store.latest(("ns", "rr")) is None


def test_the_trigger_filter_passes_only_valid_replies_for_its_replica() -> None:
    plane = RequestReplyPlane(dispatcher=None)  # type: ignore[arg-type]
    plane.keys.load({"ns.rr.key-0": base64.b64encode(KEY).decode()})
    register(plane.verify_function())
    valid = correlation.correlation_id("e-1", KEY, 0)
    expression = f'KN_VERIFY_CORRELATION_ID(replyid, "rr", "ns", "{KEYS_SECRET}", 0, 1)'
    compiled = cesql.compile_expression(expression)
    assert compiled.matches({"replyid": valid})
    assert not compiled.matches({"replyid": correlation.correlation_id("e-1", OTHER, 0)}), "another key"
    assert not compiled.matches({}), "no reply id: a missing attribute fails the filter"
    assert not cesql.compile_expression(expression.replace('"rr"', '"other"')).matches({"replyid": valid})
    assert not cesql.compile_expression(expression.replace(", 0, 1)", ", 1, 2)")).matches({"replyid": valid}), \
        "index 0 belongs to replica 0 of 2"


# The data plane ---------------------------------------------------------------------------------------

class Broker:
    """Takes the events the plane sends; when asked, answers each with a reply posted back to the plane."""

    def __init__(self, status: int = 202) -> None:
        self.status, self.sent = status, []

    async def post(self, url: str, event: Event, timeout: float | None, **_: object) -> Attempt:
        self.sent.append((url, event))
        return Attempt(self.status)


def request_reply(timeout: str = "PT2S") -> dict:
    return {"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "RequestReply",
            "metadata": {"name": "rr", "namespace": "ns"},
            "spec": {"brokerRef": {"name": "default"}, "timeout": timeout, "correlationAttribute": "correlationid",
                     "replyAttribute": "replyid"},
            "status": {"annotations": {BROKER_ADDRESS: "http://broker-ingress/ns/default"}}}


async def _serve(plane: RequestReplyPlane):
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", plane.handle)
    return TestServer(app)


def exchange(plane: RequestReplyPlane, answer_after: float | None) -> tuple[int, dict, bytes, list]:
    """Sends one request; if `answer_after` is a number, a reply to it arrives that many seconds later."""
    request = Event({"specversion": "1.0", "id": "req-1", "source": "/client", "type": "ask"}, b"{}")

    async def go() -> tuple[int, dict, bytes, list]:
        async with await _serve(plane) as server, aiohttp.ClientSession() as session:
            async def reply_later() -> int:
                assert answer_after is not None
                await asyncio.sleep(answer_after)
                (_, sent), = plane.dispatcher.sent  # type: ignore[attr-defined]
                reply = Event({"specversion": "1.0", "id": "rep-1", "source": "/svc", "type": "answer",
                               "replyid": sent.attributes["correlationid"]}, b'{"answer": 42}')
                headers, body = to_binary(reply)
                async with session.post(server.make_url("/ns/rr/reply"), data=body, headers=headers) as r:
                    return r.status

            replying = asyncio.create_task(reply_later()) if answer_after is not None else None
            headers, body = to_binary(request)
            async with session.post(server.make_url("/ns/rr"), data=body, headers=headers) as response:
                out = (response.status, dict(response.headers), await response.read())
            statuses = [await replying] if replying else []
            return (*out, statuses)

    return asyncio.run(go())


def plane_with(obj: dict, broker: Broker | None = None) -> RequestReplyPlane:
    plane = RequestReplyPlane(broker or Broker())  # type: ignore[arg-type]
    plane.set_request_reply("ADDED", obj, None)
    plane.keys.load({"ns.rr.key-0": base64.b64encode(KEY).decode()})
    return plane


def test_the_reply_comes_back_as_the_response() -> None:
    plane = plane_with(request_reply())
    status, headers, body, reply_statuses = exchange(plane, answer_after=0.2)
    assert reply_statuses == [202]
    assert status == 200
    answer = from_http(headers, body)
    assert (answer.id, answer.type, answer.data) == ("rep-1", "answer", b'{"answer": 42}')
    (url, sent), = plane.dispatcher.sent  # type: ignore[attr-defined]
    assert url == "http://broker-ingress/ns/default"
    assert correlation.verify(sent.attributes["correlationid"], KEY)
    assert plane.pending[("ns", "rr")] == {}, "nothing is left waiting"


def test_no_reply_within_the_timeout_answers_an_empty_200() -> None:
    status, headers, body, _ = exchange(plane_with(request_reply("PT0.3S")), answer_after=None)
    assert (status, body) == (200, b"")
    assert not any(k.lower().startswith("ce-") for k in headers)


def test_a_broker_that_refuses_the_request_is_a_500_and_unknown_names_a_404() -> None:
    status, *_ = exchange(plane_with(request_reply(), Broker(status=503)), answer_after=None)
    assert status == 500
    plane = plane_with(request_reply())
    plane.set_request_reply("DELETED", request_reply(), None)
    assert exchange(plane, answer_after=None)[0] == 404
