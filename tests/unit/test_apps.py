"""The apps, in process: what the suite relies on them to do."""

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from reference.apps import autoscale, event_display, heartbeats, recorder
from reference.cloudevents.codec import Event, MalformedEvent, from_http, to_binary, to_structured

CE = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t.created", "ce-ext": "x",
      "content-type": "application/json"}


def run(app: web.Application, scenario: Callable[[TestClient], Awaitable[None]]) -> None:
    async def main() -> None:
        async with TestClient(TestServer(app)) as client:
            await scenario(client)

    asyncio.run(main())


def test_recorder_records_fails_on_request_and_replies() -> None:
    async def scenario(client: TestClient) -> None:
        assert (await client.post("/", data=b'{"a": 1}', headers=CE)).status == 200
        events = await (await client.get("/events")).json()
        assert events[0]["event"]["type"] == "t.created" and events[0]["event"]["ext"] == "x"
        assert events[0]["data"] == {"a": 1}
        await client.post("/config", json={"fail_first": 2, "fail_status": 500})
        codes = [(await client.post("/", data=b"{}", headers=CE)).status for _ in range(3)]
        assert codes == [500, 500, 200]
        await client.post("/config", json={"fail_first": 0, "reply": {"type": "t.replied", "data": {"ok": True}}})
        reply = await client.post("/", data=b"{}", headers=CE)
        assert reply.headers["ce-type"] == "t.replied" and await reply.json() == {"ok": True}
        assert (await client.post("/config", json={"nonsense": 1})).status == 400
        await client.delete("/events")
        assert await (await client.get("/events")).json() == []

    run(recorder.app(), scenario)


def test_recorder_refuses_every_nth_event_a_number_of_times() -> None:
    async def scenario(client: TestClient) -> None:
        await client.post("/config", json={"refuse_every": 2, "refuse_times": 2, "fail_status": 503})

        async def deliver(event_id: str) -> int:
            return (await client.post("/", data=b"{}", headers={**CE, "ce-id": event_id})).status

        assert [await deliver(i) for i in ("a", "b", "b", "c", "b", "d", "d", "d")] == \
            [200, 503, 503, 200, 200, 503, 503, 200]
        assert await deliver("a") == 200, "an event accepted once is never refused again"
        await client.post("/config", json={"refuse_every": 1, "refuse_times": 1, "refuse_prefix": "p0/"})
        assert [await deliver(i) for i in ("p1/x", "p0/y", "p0/y")] == [200, 503, 200]

    run(recorder.app(), scenario)


def test_autoscale_reports_concurrency_and_probes() -> None:
    async def scenario(client: TestClient) -> None:
        first, second = await asyncio.gather(client.get("/?sleep=100"), client.get("/?sleep=100"))
        assert sorted([first.headers["X-Kproof-Concurrency"], second.headers["X-Kproof-Concurrency"]]) == ["1", "2"]
        assert "Slept for" in await first.text()
        prime = await (await client.get("/?prime=100")).text()
        assert "The largest prime less than 100 is 97." in prime
        assert (await client.get("/health")).status == 200
        await client.post("/control", json={"ready": False, "live": False})
        assert (await client.get("/health")).status == 503 and (await client.get("/healthz")).status == 500
        streamed = await (await client.get("/?stream=1200")).text()
        assert streamed.startswith("streaming\n") and streamed.count(".") >= 1

    run(autoscale.app(), scenario)


def test_event_display_prints_like_knative(capsys) -> None:
    async def scenario(client: TestClient) -> None:
        assert (await client.post("/", data=b'{"msg": "hi"}', headers=CE)).status == 202
        assert (await client.post("/", data=b"x")).status == 400

    run(event_display.app(), scenario)
    out = capsys.readouterr().out
    assert "☁️  cloudevents.Event\nContext Attributes,\n  specversion: 1.0\n  type: t.created" in out
    assert "Extensions,\n  ext: x" in out and '"msg": "hi"' in out


def test_heartbeats_sends_what_knatives_sample_sends() -> None:
    async def scenario(client: TestClient) -> None:
        env = {"K_SINK": str(client.make_url("/beats")), "K_CE_OVERRIDES": '{"extensions":{"team":"blue"}}',
               "POD_NAME": "beats-pod", "POD_NAMESPACE": "ns", "ONE_SHOT": "true"}
        await heartbeats.beat(heartbeats.settings(heartbeats.arguments(["--label", '"hi"']), env))
        (record,) = await (await client.get("/events")).json()
        event = record["event"]
        assert record["path"] == "/beats" and event["type"] == "dev.knative.eventing.samples.heartbeat"
        assert event["source"] == "https://knative.dev/eventing-contrib/cmd/heartbeats/#ns/beats-pod"
        assert (event["the"], event["heart"], event["beats"], event["team"]) == ("42", "yes", "true", "blue")
        assert record["data"] == {"id": 1, "label": "hi"}

    run(recorder.app(), scenario)


def test_heartbeats_settings() -> None:
    def config(argv: list[str], **env: str) -> dict:
        return heartbeats.settings(heartbeats.arguments(argv), env)

    assert config(["--sink", "http://flag"], K_SINK="http://env")["sink"] == "http://env"  # Knative: K_SINK wins
    assert config(["-sink=http://flag"], SINK="http://old")["sink"] == "http://flag"
    assert config([], SINK="http://old")["sink"] == "http://old"
    assert config([], SINK="s")["period"] == 5.0 and config([], SINK="s", PERIOD="2")["period"] == 2.0
    assert config(["--period=500ms"], SINK="s", PERIOD="2")["period"] == 0.5
    assert config(["-period", "1m30s"], SINK="s")["period"] == 90.0
    assert config([], SINK="s", HOSTNAME="pod-1")["source"].endswith("#default/pod-1")
    for argv, env in (([], {}), (["--period=soon"], {"SINK": "s"}), (["--period=0"], {"SINK": "s"}),
                      ([], {"SINK": "s", "K_CE_OVERRIDES": "{nope"})):
        with pytest.raises(ValueError):
            config(argv, **env)


def test_codec_is_faithful_and_strict() -> None:
    event = from_http(CE, b'{"a":1}')
    assert event.attributes == {"specversion": "1.0", "id": "1", "source": "/s", "type": "t.created", "ext": "x",
                                "datacontenttype": "application/json"}
    headers, body = to_structured(event)
    again = from_http(headers, body)
    assert again.attributes == event.attributes and again.json() == {"a": 1}
    headers, body = to_binary(Event({"specversion": "1.0", "id": "2", "source": "/a b", "type": "t"}, b"raw"))
    assert headers["ce-source"] == "/a%20b" and body == b"raw"  # the HTTP binding percent-encodes spaces
    for bad_headers, bad_body in [({"ce-id": "1", "ce-source": "/s", "ce-type": "t"}, b""),
                                  ({"content-type": "application/cloudevents+json"}, b"{not json"),
                                  ({"ce-specversion": "2.0", "ce-id": "1", "ce-source": "/", "ce-type": "t"}, b""),
                                  ({"content-type": "text/plain"}, b"hello")]:
        try:
            from_http(bad_headers, bad_body)
        except MalformedEvent:
            continue
        raise AssertionError(f"accepted {bad_headers}")
    structured = from_http({"content-type": "application/cloudevents+json"}, json.dumps(
        {"specversion": "0.3", "id": "9", "source": "/x", "type": "y", "data_base64": "AAE="}).encode())
    assert structured.data == b"\x00\x01" and structured.attributes["specversion"] == "0.3"
