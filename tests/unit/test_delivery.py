"""Delivery: which statuses are retried, backoff, Retry-After, dead-letter extensions; against the recorder
app served in process."""

import asyncio
import base64
import email.utils
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from reference.apps import recorder
from reference.cloudevents.codec import Event
from reference.cloudevents.delivery import DeliverySpec, Dispatcher, retried, retry_after_seconds

EVENT = Event({"specversion": "1.0", "id": "e-1", "source": "/unit", "type": "t.created", "color": "red"},
              b'{"n": 1}')


@pytest.mark.parametrize(("status", "again"), [
    (None, True), (500, True), (502, True), (503, True), (404, True), (408, True), (409, True), (429, True),
    (400, False), (401, False), (403, False), (405, False), (413, False), (422, False),
])
def test_which_statuses_are_retried(status: int | None, again: bool) -> None:
    assert retried(status) is again


def test_backoff_policies() -> None:
    exponential = DeliverySpec.parse({"retry": 3, "backoffDelay": "PT0.2S"})
    assert [exponential.backoff(n) for n in (1, 2, 3)] == pytest.approx([0.4, 0.8, 1.6])
    linear = DeliverySpec.parse({"retry": 3, "backoffPolicy": "linear", "backoffDelay": "PT0.5S"})
    assert [linear.backoff(n) for n in (1, 2, 3)] == pytest.approx([0.5, 1.0, 1.5])
    assert DeliverySpec.parse({"timeout": "PT2S"}).timeout == 2.0
    assert DeliverySpec.parse(None) == DeliverySpec()
    assert DeliverySpec.parse({"deadLetterSink": {"uri": "http://dls"}}).dead_letter_uri == "http://dls"
    assert DeliverySpec.parse({"deadLetterSink": {"ref": {}}}, "http://resolved").dead_letter_uri == "http://resolved"


def test_retry_after_counts_only_when_enabled_and_within_the_cap() -> None:
    spec = DeliverySpec.parse({"retry": 1, "backoffDelay": "PT0.1S", "backoffPolicy": "linear"})
    assert spec.wait_before(1, 30.0) == pytest.approx(0.1)  # feature off: the header is ignored
    on = DeliverySpec.parse({"retry": 1, "backoffDelay": "PT0.1S", "backoffPolicy": "linear"},
                            honour_retry_after=True)
    assert on.wait_before(1, 30.0) == 30.0  # no retryAfterMax: as long as asked
    capped = DeliverySpec.parse({"retry": 1, "backoffDelay": "PT0.1S", "backoffPolicy": "linear",
                                 "retryAfterMax": "PT2S"}, honour_retry_after=True)
    assert capped.wait_before(1, 30.0) == 2.0
    assert capped.wait_before(1, None) == pytest.approx(0.1)


def test_retry_after_header_forms() -> None:
    now = time.time()
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(email.utils.formatdate(now + 10, usegmt=True), now) == pytest.approx(10, abs=1)
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def deliver_to_recorders(config: dict, delivery: dict, with_dls: bool = True, sink_url: str | None = None):
    """Delivers EVENT to a recorder behaving as `config`; returns (outcome, sink records, dls records, waits)."""
    async def main():
        sink, dls = TestServer(recorder.app()), TestServer(recorder.app())
        await sink.start_server()
        await dls.start_server()
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        try:
            async with aiohttp.ClientSession() as session:
                await session.post(sink.make_url("/config"), json=config)
                dispatcher = Dispatcher(session, sleep=sleep)
                spec = DeliverySpec.parse(delivery, str(dls.make_url("/dead")) if with_dls else None)
                url = sink_url or str(sink.make_url("/subscriber"))
                outcome = await dispatcher.deliver(EVENT, url, spec)
                sink_records = await (await session.get(sink.make_url("/events"))).json()
                dls_records = await (await session.get(dls.make_url("/events"))).json()
        finally:
            await sink.close()
            await dls.close()
        return outcome, sink_records, dls_records, waits

    return asyncio.run(main())


def test_three_failures_then_success_is_delivered() -> None:
    outcome, sink, dls, waits = deliver_to_recorders({"fail_first": 3, "fail_status": 503},
                                                     {"retry": 3, "backoffDelay": "PT0.2S"})
    assert outcome.delivered and outcome.attempts == 4 and not dls
    assert [r["status"] for r in sink] == [503, 503, 503, 200]
    assert waits == pytest.approx([0.4, 0.8, 1.6])
    assert sink[-1]["headers"]["Prefer"] == "reply" and sink[-1]["event"]["color"] == "red"


def test_four_failures_go_to_the_dead_letter_sink_with_the_error_extensions() -> None:
    outcome, sink, dls, _ = deliver_to_recorders({"fail_first": 4, "fail_status": 503}, {"retry": 3})
    assert not outcome.delivered and outcome.dead_lettered and len(sink) == 4
    (dead,) = dls
    attributes = dead["event"]
    assert attributes["id"] == "e-1" and attributes["color"] == "red" and dead["data"] == {"n": 1}
    assert attributes["knativeerrordest"].endswith("/subscriber")
    assert attributes["knativeerrorcode"] == "503"
    assert base64.b64decode(attributes["knativeerrordata"]) == b"recorded\n"


def test_400_is_final() -> None:
    outcome, sink, dls, waits = deliver_to_recorders({"fail_first": 10, "fail_status": 400}, {"retry": 5})
    assert outcome.attempts == 1 and len(sink) == 1 and waits == []
    assert dls[0]["event"]["knativeerrorcode"] == "400"


def test_a_transport_error_is_retried_and_dead_lettered_as_500() -> None:
    outcome, _, dls, waits = deliver_to_recorders({}, {"retry": 2, "backoffDelay": "PT0.01S"},
                                                  sink_url="http://127.0.0.1:9/nobody-listens")
    assert outcome.attempts == 3 and len(waits) == 2 and outcome.status is None
    assert dls[0]["event"]["knativeerrorcode"] == "500" and "knativeerrordata" not in dls[0]["event"]


def test_a_reply_comes_back_only_from_a_2xx_carrying_an_event() -> None:
    outcome, *_ = deliver_to_recorders({"reply": {"type": "t.replied", "data": {"ok": 1}}}, {})
    assert outcome.reply is not None and outcome.reply.type == "t.replied"
    plain, *_ = deliver_to_recorders({}, {})
    assert plain.delivered and plain.reply is None
    accepted, *_ = deliver_to_recorders({"status": 202, "reply": {"type": "t.replied"}}, {})
    assert accepted.delivered and accepted.reply is None  # 202 never carries a reply


def test_per_attempt_timeout() -> None:
    outcome, sink, dls, _ = deliver_to_recorders({"delay_ms": 2000}, {"retry": 1, "timeout": "PT0.2S"})
    assert outcome.attempts == 2 and outcome.status is None and len(sink) == 2
    assert dls[0]["event"]["knativeerrorcode"] == "500"


def test_an_in_process_shortcut_answers_like_http() -> None:
    calls: list[str] = []

    async def local(url: str, headers: dict[str, str], body: bytes):
        calls.append(url)
        if len(calls) == 1:
            return 503, {"Retry-After": "3"}, b"busy"
        return 200, {"ce-specversion": "1.0", "ce-id": "r", "ce-source": "/s", "ce-type": "t.reply"}, b""

    async def main():
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        dispatcher = Dispatcher(None, sleep=sleep, local=local)  # type: ignore[arg-type]
        spec = DeliverySpec.parse({"retry": 1, "backoffDelay": "PT0.1S"}, honour_retry_after=True)
        return await dispatcher.deliver(EVENT, "http://svc.ns.svc.cluster.local/x", spec), waits

    outcome, waits = asyncio.run(main())
    assert outcome.delivered and outcome.attempts == 2 and waits == [3.0]
    assert outcome.reply is not None and outcome.reply.type == "t.reply"


def test_requests_to_one_destination_are_bounded_and_their_timeout_starts_with_their_turn() -> None:
    async def main() -> tuple[int, list[bool]]:
        open_now = highest = 0

        async def local(url: str, headers: dict[str, str], body: bytes):
            nonlocal open_now, highest
            open_now += 1
            highest = max(highest, open_now)
            await asyncio.sleep(0.05)
            open_now -= 1
            return 202, {}, b""

        dispatcher = Dispatcher(None, local=local, connections=2)  # type: ignore[arg-type]
        spec = DeliverySpec.parse({"timeout": "PT0.08S"})
        outcomes = await asyncio.gather(*(dispatcher.deliver(EVENT, f"http://sink.ns.svc.cluster.local/{n}", spec)
                                          for n in range(8)))
        return highest, [o.delivered for o in outcomes]

    highest, delivered = asyncio.run(main())
    assert highest == 2, "at most `connections` requests at a time to one destination"
    assert all(delivered), "waiting for a free connection does not count against the attempt's timeout"
