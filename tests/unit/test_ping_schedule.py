"""PingSource: the schedule (cron fields, descriptors, time zones, DST), the event it sends, and the
controller in process on a fake clock against a recorder app."""

import asyncio
import base64
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from reference.apis import conditions
from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.registry import Registry
from reference.apiserver.store import Store
from reference.apps import recorder
from reference.sources.ping import EVENT_TYPE, PingSourceReconciler, next_fire, parse_schedule, ping_event


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(("schedule", "timezone", "after", "fires"), [
    ("* * * * *", None, "2024-01-01T00:00:30Z", "2024-01-01T00:01:00Z"),
    ("* * * * *", None, "2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"),  # strictly after
    ("*/15 * * * *", None, "2024-01-01T00:07:00Z", "2024-01-01T00:15:00Z"),
    ("5,35 */6 * * *", None, "2024-01-01T06:40:00Z", "2024-01-01T12:05:00Z"),
    ("0 0 1 * MON", None, "2024-01-02T00:00:00Z", "2024-01-08T00:00:00Z"),  # day of month OR day of week
    ("0 0 13 * ?", None, "2024-01-02T00:00:00Z", "2024-01-13T00:00:00Z"),
    ("0 12 * JAN,FEB SUN", None, "2024-01-29T00:00:00Z", "2024-02-04T12:00:00Z"),
    # time zones: spec.timezone, and a CRON_TZ= or TZ= prefix
    ("0 9 * * *", "America/New_York", "2024-01-15T00:00:00Z", "2024-01-15T14:00:00Z"),
    ("0 9 * * *", "America/New_York", "2024-07-15T00:00:00Z", "2024-07-15T13:00:00Z"),
    ("CRON_TZ=Asia/Tokyo 0 9 * * *", None, "2024-01-15T00:00:00Z", "2024-01-16T00:00:00Z"),
    ("TZ=Europe/Paris 30 8 * * 1-5", None, "2024-01-13T00:00:00Z", "2024-01-15T07:30:00Z"),
    ("0 0 * * *", "Asia/Kolkata", "2024-01-01T00:00:00Z", "2024-01-01T18:30:00Z"),
    # descriptors
    ("@hourly", None, "2024-01-01T10:20:00Z", "2024-01-01T11:00:00Z"),
    ("@daily", "Europe/Berlin", "2024-01-01T12:00:00Z", "2024-01-01T23:00:00Z"),
    ("@midnight", None, "2024-01-01T12:00:00Z", "2024-01-02T00:00:00Z"),
    ("@weekly", None, "2024-01-03T00:00:00Z", "2024-01-07T00:00:00Z"),
    ("@monthly", None, "2024-01-15T00:00:00Z", "2024-02-01T00:00:00Z"),
    ("@yearly", None, "2024-01-15T00:00:00Z", "2025-01-01T00:00:00Z"),
    ("CRON_TZ=Australia/Sydney @annually", None, "2024-06-01T00:00:00Z", "2024-12-31T13:00:00Z"),
    # daylight saving time: a skipped wall-clock time does not fire that day, a repeated one fires twice
    ("30 2 * * *", "America/New_York", "2024-03-10T06:00:00Z", "2024-03-11T06:30:00Z"),
    ("*/30 * * * *", "America/New_York", "2024-03-10T06:45:00Z", "2024-03-10T07:00:00Z"),
    ("30 1 * * *", "America/New_York", "2024-11-03T05:00:00Z", "2024-11-03T05:30:00Z"),
    ("30 1 * * *", "America/New_York", "2024-11-03T05:45:00Z", "2024-11-03T06:30:00Z"),
])
def test_next_fire(schedule: str, timezone: str | None, after: str, fires: str) -> None:
    assert next_fire(schedule, timezone, utc(after)) == utc(fires)


def test_next_fire_answers_in_utc_whatever_the_zone_of_after() -> None:
    fired = next_fire("0 9 * * *", "Europe/Paris", datetime(2024, 1, 15, 3, 0, tzinfo=ZoneInfo("Asia/Tokyo")))
    assert fired.tzinfo is UTC and fired == utc("2024-01-15T08:00:00Z")


@pytest.mark.parametrize(("schedule", "timezone", "problem"), [
    ("@every 1m", None, "unsupported descriptor @every"),
    ("@fortnightly", None, "unrecognized descriptor"),
    ("* * * *", None, "expected exactly 5 fields"),
    ("0 * * * * *", None, "expected exactly 5 fields"),
    ("61 * * * *", None, "invalid schedule"),
    ("CRON_TZ=Mars/Olympus * * * * *", None, "provided bad location Mars/Olympus"),
    ("* * * * *", "Nowhere/City", "provided bad location Nowhere/City"),
    ("CRON_TZ=UTC * * * * *", "Europe/Paris", "spec.timezone"),
])
def test_schedules_knative_refuses(schedule: str, timezone: str | None, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_schedule(schedule, timezone)


def test_a_schedule_that_never_fires() -> None:
    with pytest.raises(ValueError, match="never fires"):
        next_fire("0 0 30 2 *", None, utc("2024-01-01T00:00:00Z"))


def source(spec: dict, name: str = "ping", namespace: str = "default") -> dict:
    return {"apiVersion": "sources.knative.dev/v1", "kind": "PingSource",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def test_the_event_a_tick_sends() -> None:
    event = ping_event(source({"data": '{"msg": "hi"}', "contentType": "application/json",
                               "ceOverrides": {"extensions": {"team": "blue"}}}), utc("2024-01-01T00:01:00Z"))
    assert event.attributes["type"] == EVENT_TYPE == "dev.knative.sources.ping"
    assert event.attributes["source"] == "/apis/v1/namespaces/default/pingsources/ping"
    assert event.attributes["specversion"] == "1.0" and uuid.UUID(event.attributes["id"])
    assert event.attributes["time"] == "2024-01-01T00:01:00Z"
    assert event.attributes["datacontenttype"] == "application/json" and event.attributes["team"] == "blue"
    assert event.json() == {"msg": "hi"}
    assert ping_event(source({}), utc("2024-01-01T00:01:00Z")).id != ping_event(source({}), utc(
        "2024-01-01T00:01:00Z")).id


def test_the_event_carries_decoded_base64_and_no_content_type_without_data() -> None:
    binary = bytes(range(8))
    event = ping_event(source({"dataBase64": base64.b64encode(binary).decode(),
                               "contentType": "application/octet-stream"}), utc("2024-01-01T00:00:00Z"))
    assert event.data == binary and event.attributes["datacontenttype"] == "application/octet-stream"
    bare = ping_event(source({"contentType": "text/plain"}), utc("2024-01-01T00:00:00Z"))
    assert bare.data is None and "datacontenttype" not in bare.attributes


def test_overrides_cannot_replace_the_required_attributes() -> None:
    event = ping_event(source({"ceOverrides": {"extensions": {"type": "spoofed"}}}), utc("2024-01-01T00:00:00Z"))
    assert event.type == EVENT_TYPE


# The controller in process ------------------------------------------------------------------------------

class FakeTime:
    """Wall-clock time that each sleep moves on (with a real yield, so the sends can run)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0.005)


def _registry() -> Registry:
    registry = Registry(Store())
    bootstrap(registry)
    return registry


def test_the_controller_sends_on_each_tick_and_stops_on_delete() -> None:
    async def scenario() -> None:
        registry = _registry()
        kind = registry.kinds.by_path("sources.knative.dev", "v1", "pingsources")
        clock = FakeTime(utc("2024-01-01T00:00:30Z"))
        controller = PingSourceReconciler(registry, clock=clock, sleep=clock.sleep, jitter=lambda: 0.0)
        async with TestClient(TestServer(recorder.app())) as sink:
            url = str(sink.make_url("/pings"))
            registry.create(kind, "default", source({"schedule": "* * * * *", "data": '{"msg": "hi"}',
                                                "contentType": "application/json",
                                                "ceOverrides": {"extensions": {"team": "blue"}},
                                                "sink": {"uri": url}}))
            await controller.reconcile(("default", "ping"))
            status = registry.get(kind, "default", "ping")["status"]
            assert status["sinkUri"] == url and conditions.is_true({"status": status})
            assert status["ceAttributes"] == [{"type": EVENT_TYPE,
                                               "source": "/apis/v1/namespaces/default/pingsources/ping"}]
            records: list = []
            for _ in range(400):
                records = await (await sink.get("/events")).json()
                if len(records) >= 3:
                    break
                await asyncio.sleep(0.01)
            registry.delete(kind, "default", "ping", {}, controller.opts)
            await controller.reconcile(("default", "ping"))
            assert controller.schedules == {}
            times = sorted(r["event"]["time"] for r in records)[:3]
            assert times == ["2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z", "2024-01-01T00:03:00Z"]
            first = records[0]
            assert first["path"] == "/pings" and first["event"]["type"] == EVENT_TYPE
            assert first["event"]["team"] == "blue" and first["data"] == {"msg": "hi"}
            await controller.close()

    asyncio.run(scenario())


def test_a_sink_that_does_not_resolve_is_not_ready_and_schedules_nothing() -> None:
    async def scenario() -> None:
        registry = _registry()
        kind = registry.kinds.by_path("sources.knative.dev", "v1", "pingsources")
        controller = PingSourceReconciler(registry)
        registry.create(kind, "default", source({"schedule": "* * * * *", "sink": {"ref": {
            "apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "absent"}}}))
        assert await controller.reconcile(("default", "ping")) is not None  # tried again later
        status = registry.get(kind, "default", "ping")["status"]
        ready, provided = conditions.get({"status": status}), conditions.get({"status": status}, "SinkProvided")
        assert ready["status"] == "False" and provided["reason"] == "NotFound" and "absent" in provided["message"]
        assert "sinkUri" not in status and controller.schedules == {}
        await controller.close()

    asyncio.run(scenario())


def test_a_new_generation_restarts_the_schedule() -> None:
    async def scenario() -> None:
        registry = _registry()
        kind = registry.kinds.by_path("sources.knative.dev", "v1", "pingsources")
        controller = PingSourceReconciler(registry)
        registry.create(kind, "default", source({"schedule": "0 * * * *", "sink": {"uri": "http://127.0.0.1:9/"}}))
        await controller.reconcile(("default", "ping"))
        first = controller.schedules[("default", "ping")].task
        await controller.reconcile(("default", "ping"))
        assert controller.schedules[("default", "ping")].task is first  # nothing changed: the same schedule
        current = registry.get(kind, "default", "ping")
        registry.update(kind, "default", "ping", {**current, "spec": {**current["spec"], "schedule": "30 * * * *"}})
        await controller.reconcile(("default", "ping"))
        assert controller.schedules[("default", "ping")].task is not first
        await asyncio.sleep(0)
        assert first.cancelled()
        await controller.close()

    asyncio.run(scenario())
