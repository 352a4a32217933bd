"""The broker and channel data planes in process: ingress answers, fan-out to Ready triggers, the TTL,
replies, and channel fan-out; sinks are recorder apps on real sockets."""

import asyncio
import contextlib
import json

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from reference.apiserver.admission.eventing import BROKER_CLASS, KAFKA_BROKER_CLASS
from reference.apps import recorder
from reference.cloudevents.delivery import Dispatcher
from reference.dataplane.eventing.broker import ARRIVAL, TTL, BrokerPlane
from reference.dataplane.eventing.channel import ChannelPlane
from reference.dataplane.eventing.kafka_broker import KafkaBrokerPlane
from reference.dataplane.eventing.kafka_sink import KafkaSinkPlane, SinkTarget

CE = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/unit", "ce-type": "t.created",
      "content-type": "application/json"}
READY = {"conditions": [{"type": "BrokerReady", "status": "True"}, {"type": "SubscriberResolved", "status": "True"}]}


def broker(name: str = "default", delivery: dict | None = None) -> dict:
    return {"metadata": {"namespace": "ns", "name": name,
                         "annotations": {"eventing.knative.dev/broker.class": "MTChannelBasedBroker"}},
            "spec": {"delivery": delivery} if delivery else {}}


def trigger(name: str, subscriber: str, filters: list | None = None, ready: bool = True,
            generation: int = 1) -> dict:
    return {"metadata": {"namespace": "ns", "name": name, "uid": f"uid-{name}", "generation": generation},
            "spec": {"broker": "default", **({"filters": filters} if filters else {})},
            "status": {**(READY if ready else {}), "subscriberUri": subscriber}}


class Bench:
    """A broker plane on an in-process ingress, with recorder sinks."""

    def __init__(self, sinks: int = 1) -> None:
        self.count = sinks

    async def __aenter__(self) -> "Bench":
        self.session = aiohttp.ClientSession()
        self.sinks = [TestServer(recorder.app()) for _ in range(self.count)]
        for sink in self.sinks:
            await sink.start_server()
        self.plane = BrokerPlane(Dispatcher(self.session))
        self.channels = ChannelPlane(Dispatcher(self.session))
        async def channel(request: web.Request) -> web.Response:
            return await self.channels.handle(request, "ns", "chan")

        app = web.Application()
        app.router.add_route("*", "/channel/{tail:.*}", channel)
        app.router.add_route("*", "/{tail:.*}", self.plane.handle)
        self.ingress = TestServer(app)
        await self.ingress.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.plane.close()
        await self.channels.close()
        for server in (*self.sinks, self.ingress):
            await server.close()
        await self.session.close()

    def url(self, i: int, path: str = "/") -> str:
        return str(self.sinks[i].make_url(path))

    async def post(self, path: str, headers: dict | None = None, data: bytes = b"{}", method: str = "POST"):
        async with self.session.request(method, self.ingress.make_url(path), data=data,
                                        headers=CE if headers is None else headers) as response:
            return response.status, dict(response.headers), await response.text()

    async def records(self, i: int, at_least: int = 0, timeout: float = 5.0) -> list[dict]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            async with self.session.get(self.sinks[i].make_url("/events")) as response:
                records = await response.json()
            if len(records) >= at_least or asyncio.get_running_loop().time() > deadline:
                return records
            await asyncio.sleep(0.02)

    async def settle(self) -> None:
        """Waits for the deliveries in flight."""
        for _ in range(500):
            if not self.plane.pending and not self.channels._tasks:
                return
            await asyncio.sleep(0.01)


def test_ingress_answers_like_knative() -> None:
    async def main() -> None:
        async with Bench() as bench:
            bench.plane.set_broker("ADDED", broker(), None)
            assert (await bench.post("/ns/default"))[0] == 202
            assert (await bench.post("/ns/other"))[0] == 404
            assert (await bench.post("/ns/default/extra"))[0] == 404
            status, headers, _ = await bench.post("/ns/default", method="GET")
            assert status == 405 and headers["Allow"] == "POST, OPTIONS"
            status, headers, _ = await bench.post("/ns/default", method="OPTIONS")
            assert status == 200 and headers["WebHook-Allowed-Origin"] == "*"
            missing_id = {k: v for k, v in CE.items() if k != "ce-id"}
            status, _, text = await bench.post("/ns/default", headers=missing_id)
            assert status == 400 and "id" in text
            assert (await bench.post("/ns/default", headers={"content-type": "application/json"}))[0] == 400
            assert (await bench.post("/ns/default", headers={**CE, "ce-specversion": "2.0"}))[0] == 400
            assert (await bench.post("/ns/default", data=b"x" * (4 * 1024 * 1024 + 1)))[0] == 413
            assert (await bench.post("/ns/default", headers={**CE, f"ce-{TTL}": "0"}))[0] == 400
            assert (await bench.post("/ns/default", headers={**CE, f"ce-{TTL}": "1"}))[0] == 400  # 0 once in
            assert (await bench.post("/ns/default", headers={**CE, f"ce-{TTL}": "many"}))[0] == 202  # defaulted
            structured = b'{"specversion":"0.3","id":"2","source":"/s","type":"t","data":{"a":1}}'
            assert (await bench.post("/ns/default", headers={"content-type": "application/cloudevents+json"},
                                     data=structured))[0] == 202
            bench.plane.set_broker("DELETED", broker(), None)
            assert (await bench.post("/ns/default"))[0] == 404

    asyncio.run(main())


def test_fan_out_to_ready_matching_triggers() -> None:
    async def main() -> None:
        async with Bench(sinks=3) as bench:
            bench.plane.set_broker("ADDED", broker(), None)
            bench.plane.set_trigger("ADDED", trigger("all", bench.url(0, "/all")), None)
            bench.plane.set_trigger("ADDED", trigger("match", bench.url(1), [{"exact": {"type": "t.created"}}]), None)
            bench.plane.set_trigger("ADDED", trigger("other", bench.url(2), [{"exact": {"type": "t.other"}}]), None)
            bench.plane.set_trigger("ADDED", trigger("unready", bench.url(2), ready=False), None)
            assert (await bench.post("/ns/default"))[0] == 202
            await bench.settle()
            (got,) = await bench.records(0, 1)
            assert got["path"] == "/all" and got["event"]["type"] == "t.created"
            assert TTL not in got["event"] and ARRIVAL in got["event"]  # the TTL stays inside the broker
            assert len(await bench.records(1, 1)) == 1
            assert await bench.records(2, timeout=0) == []
            bench.plane.set_trigger("DELETED", trigger("all", bench.url(0, "/all")), None)
            await bench.post("/ns/default")
            await bench.settle()
            assert len(await bench.records(0, timeout=0)) == 1 and len(await bench.records(1, 2)) == 2

    asyncio.run(main())


def test_filters_compile_once_per_generation() -> None:
    plane = BrokerPlane(Dispatcher(None))  # type: ignore[arg-type]
    first = trigger("t", "http://x", [{"cesql": "type = 'a'"}])
    plane.set_trigger("ADDED", first, None)
    compiled = plane.triggers[("ns", "default")]["uid-t"].predicate
    plane.set_trigger("MODIFIED", {**first, "status": {}}, first)
    assert plane.triggers[("ns", "default")]["uid-t"].predicate is compiled
    plane.set_trigger("MODIFIED", trigger("t", "http://x", [{"cesql": "type = 'b'"}], generation=2), first)
    assert plane.triggers[("ns", "default")]["uid-t"].predicate is not compiled


def test_a_reply_loop_ends_when_the_ttl_is_spent() -> None:
    async def main() -> None:
        async with Bench() as bench:
            async with bench.session.post(bench.sinks[0].make_url("/config"),
                                          json={"reply": {"type": "t.created"}}):
                pass
            bench.plane.set_broker("ADDED", broker(), None)
            bench.plane.set_trigger("ADDED", trigger("loop", bench.url(0)), None)
            assert (await bench.post("/ns/default", headers={**CE, f"ce-{TTL}": "3"}))[0] == 202
            with contextlib.suppress(TimeoutError):
                await bench.records(0, 10, timeout=1.0)
            await bench.settle()
            assert len(await bench.records(0, timeout=0)) == 2  # in at 3: 2, then 1; the reply at 0 is refused

    asyncio.run(main())


def test_channel_fans_out_and_sends_replies_on() -> None:
    async def main() -> None:
        async with Bench(sinks=4) as bench:
            async with bench.session.post(bench.sinks[2].make_url("/config"), json={"reply": {"type": "t.reply"}}):
                pass
            subscribers = [{"uid": "a", "subscriberUri": bench.url(0)}, {"uid": "b", "subscriberUri": bench.url(1)},
                           {"uid": "c", "subscriberUri": bench.url(2), "replyUri": bench.url(3, "/replies")}]
            bench.channels.set_channel("ADDED", {"metadata": {"namespace": "ns", "name": "chan"},
                                                 "spec": {"subscribers": subscribers}}, None)
            assert (await bench.post("/channel/"))[0] == 202
            assert (await bench.post("/channel/", headers={"content-type": "text/plain"}))[0] == 400
            for i in range(3):
                assert [r["event"]["type"] for r in await bench.records(i, 1)] == ["t.created"]
            (reply,) = await bench.records(3, 1)
            assert reply["event"]["type"] == "t.reply" and reply["path"] == "/replies"

    asyncio.run(main())


def test_the_trigger_probe_wants_this_generation_and_subscriber() -> None:
    plane = BrokerPlane(Dispatcher(None))  # type: ignore[arg-type]
    plane.set_trigger("ADDED", trigger("t", "http://a", generation=2), None)
    assert plane.serves_trigger("ns", "t", "uid-t", 2, "http://a")
    assert not plane.serves_trigger("ns", "t", "uid-t", 1, "http://a")
    assert not plane.serves_trigger("ns", "t", "uid-t", 2, "http://b")
    plane.set_trigger("MODIFIED", trigger("t", "http://a", ready=False, generation=2), None)
    assert not plane.serves_trigger("ns", "t", "uid-t", 2, "http://a")
    plane.set_trigger("DELETED", trigger("t", "http://a", generation=2), None)
    assert not plane.serves_trigger("ns", "t", "uid-t", 2, "http://a")


STRUCTURED = {"content-type": "application/cloudevents+json"}
BAD_STRUCTURED = {"type:spoofed.type": "x", "foo bar": "x", "a\r\nb": "x", "f\u00e9e": "x", "subject": "a\r\nb"}
BAD_HEADER_LINES = [b"ce-type:spoofed.type: x", b"ce-a.b: x", b"ce-subject: a%0D%0Ab"]


def structured(**attributes: object) -> bytes:
    return json.dumps({"specversion": "1.0", "id": "bad", "source": "/s", "type": "t.created", **attributes}).encode()


async def raw_post(url: URL, header_line: bytes) -> tuple[int, bytes]:
    """A binary-mode POST with one header line as written (aiohttp's client would refuse to send some)."""
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = b"".join(f"{k}: {v}\r\n".encode() for k, v in CE.items() if k != "ce-id")
    writer.write(b"POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\nce-id: bad\r\n"
                 b"%s%s\r\n\r\n{}" % (url.path.encode(), head, header_line))
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest


def test_bad_attribute_names_and_values_are_refused_and_never_delivered() -> None:
    async def main() -> None:
        async with Bench(sinks=2) as bench:
            bench.plane.set_broker("ADDED", broker(), None)
            bench.plane.set_trigger("ADDED", trigger("all", bench.url(0)), None)
            subscribers = [{"uid": "a", "subscriberUri": bench.url(1)}]
            bench.channels.set_channel("ADDED", {"metadata": {"namespace": "ns", "name": "chan"},
                                                 "spec": {"subscribers": subscribers}}, None)
            for path in ("/ns/default", "/channel/"):
                for name, value in BAD_STRUCTURED.items():
                    status, _, text = await bench.post(path, STRUCTURED, structured(**{name: value}))
                    assert status == 400 and repr(name) in text, (path, name, text)
                for line in BAD_HEADER_LINES:
                    status, text = await raw_post(bench.ingress.make_url(path), line)
                    assert status == 400 and b"malformed event" in text, (path, line, text)
                deep = structured(data=None).replace(b'"data": null', b'"data": ' + b"[" * 2000 + b"]" * 2000)
                status, _, text = await bench.post(path, STRUCTURED, deep)
                assert status == 400 and "nested more than 500 levels deep" in text
                assert (await bench.post(path, {**CE, "ce-id": "good"}))[0] == 202
            await bench.settle()
            for sink in (0, 1):
                assert [r["event"]["id"] for r in await bench.records(sink, 1)] == ["good"]

    asyncio.run(main())


def test_kafka_ingresses_refuse_bad_names_before_writing() -> None:
    async def main() -> None:
        sinks = KafkaSinkPlane()
        sinks.sinks[("ns", "sink")] = SinkTarget("127.0.0.1:1", "topic", structured=False)
        brokers = KafkaBrokerPlane(Dispatcher(None))  # type: ignore[arg-type]
        brokers.set_broker("ADDED", {**broker(), "metadata": {
            "namespace": "ns", "name": "default", "annotations": {BROKER_CLASS: KAFKA_BROKER_CLASS}}}, None)
        app = web.Application()
        app.router.add_route("*", "/ns/sink", sinks.handle)
        app.router.add_route("*", "/ns/default", brokers.handle)
        async with TestServer(app) as server, aiohttp.ClientSession() as session:
            for path in ("/ns/sink", "/ns/default"):
                async with session.post(server.make_url(path), headers=STRUCTURED,
                                        data=structured(**{"type:spoofed.type": "x"})) as response:
                    assert response.status == 400 and "'type:spoofed.type'" in await response.text()
                status, _ = await raw_post(server.make_url(path), BAD_HEADER_LINES[0])
                assert status == 400
        assert not sinks.producers and not brokers.producers, "nothing was written"
        await brokers.close()

    asyncio.run(main())


def test_deliveries_carry_kn_namespace_and_honour_delivery_format() -> None:
    async def main() -> None:
        async with Bench(sinks=3) as bench:
            bench.plane.set_broker("ADDED", broker(), None)
            json_trigger = trigger("json", bench.url(0))
            json_trigger["spec"]["delivery"] = {"format": "json"}
            binary_trigger = trigger("binary", bench.url(1))
            binary_trigger["spec"]["delivery"] = {"format": "binary"}
            bench.plane.set_trigger("ADDED", json_trigger, None)
            bench.plane.set_trigger("ADDED", binary_trigger, None)
            subscribers = [{"uid": "a", "subscriberUri": bench.url(2), "delivery": {"format": "json"}}]
            bench.channels.set_channel("ADDED", {"metadata": {"namespace": "ns", "name": "chan"},
                                                 "spec": {"subscribers": subscribers}}, None)
            assert (await bench.post("/ns/default"))[0] == 202
            assert (await bench.post("/channel/"))[0] == 202
            await bench.settle()
            (structured,), (binary,), (channelled,) = [await bench.records(i, 1) for i in range(3)]
            assert structured["headers"]["Content-Type"] == "application/cloudevents+json"
            assert "ce-id" not in {k.lower() for k in structured["headers"]}
            assert binary["headers"]["ce-id"] == "1" and binary["headers"]["Content-Type"] == "application/json"
            assert channelled["headers"]["Content-Type"] == "application/cloudevents+json"
            for record in (structured, binary, channelled):
                assert record["headers"]["Kn-Namespace"] == "ns" and record["event"]["id"] == "1"

    asyncio.run(main())


def test_a_channel_delivery_spec_applies_to_subscribers_without_one() -> None:
    async def main() -> None:
        async with Bench(sinks=2) as bench:
            async with bench.session.post(bench.sinks[0].make_url("/config"), json={"status": 500}):
                pass
            channel = {"metadata": {"namespace": "ns", "name": "chan"},
                       "spec": {"subscribers": [{"uid": "a", "subscriberUri": bench.url(0)}],
                                "delivery": {"retry": 1, "backoffDelay": "PT0.01S",
                                             "deadLetterSink": {"ref": {"kind": "Service", "name": "dls"}}}},
                       "status": {"deadLetterSinkUri": bench.url(1, "/dead")}}
            bench.channels.set_channel("ADDED", channel, None)
            assert (await bench.post("/channel/"))[0] == 202
            (dead,) = await bench.records(1, 1)
            await bench.settle()
            assert len(await bench.records(0, timeout=0)) == 2, "the channel's retry: 1"
            assert dead["path"] == "/dead" and dead["event"]["knativeerrorcode"] == "500"
            assert dead["headers"]["Kn-Namespace"] == "ns"

    asyncio.run(main())
