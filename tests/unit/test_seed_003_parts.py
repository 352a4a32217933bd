"""Seed 003's parts without a Ceph: RGW's records as the seed's events, the source, the receiver and the
classifiers as HTTP apps, the two digit models, a Route as a subscriber, and the Ceph configuration."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.registry import Registry
from reference.apiserver.store import Store
from reference.apps import rgw_classifier, rgw_receiver, rgw_source
from reference.apps.models import digits
from reference.apps.models.loader import ModelMissing, load
from reference.apps.rgw_events import EVENT_TYPE, from_record, object_of, received
from reference.ceph.cluster import config
from reference.ceph.notifications import endpoint_url
from reference.cloudevents.codec import Event, from_http, to_binary
from reference.eventing.resolver import ADDRESSABLES, Unresolvable, resolve
from tests.unit.test_apps import run

# A record as Ceph 16's radosgw pushed it for `put_object(Bucket="buck", Key="cat-7.jpg")` (trimmed).
RECORD = {"eventVersion": "2.2", "eventSource": "ceph:s3", "eventTime": "2026-12-07T11:14:20.834271Z",
          "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "rgwtest"},
          "s3": {"s3SchemaVersion": "1.0", "configurationId": "sub1",
                 "bucket": {"name": "buck", "ownerIdentity": {"principalId": "rgwtest"}, "arn": "arn:aws:s3:::buck",
                            "id": "bd4a8529-2e98-41b0-9649-2a327fc6af04.4155.1"},
                 "object": {"key": "cat-7.jpg", "size": 100, "eTag": "46234a6de3b2157d3a9510451b33b619",
                            "versionId": "", "sequencer": "0C95166BDBF90132"}},
          "eventId": "1796642060.838990.46234a6de3b2157d3a9510451b33b619", "opaqueData": ""}
LOG_LINE = re.compile(r'\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[2026-12-07T11:14:20Z\] application/json rgwpubsub\. '
                      r'Object: "cat-7\.jpg"  Bucket: "buck"')


def rgw_event(key: str = "cat-7.jpg") -> Event:
    record = {**RECORD, "s3": {**RECORD["s3"], "object": {**RECORD["s3"]["object"], "key": key}}}
    return Event({"specversion": "1.0", "id": "1", "type": EVENT_TYPE, "source": "rgwpubsub",
                  "time": "2026-12-07T11:14:20.9Z", "datacontenttype": "application/json"},
                 json.dumps(from_record(record)).encode())


# The events --------------------------------------------------------------------------------------------

def test_an_s3_record_becomes_the_seeds_rgw_event() -> None:
    event = from_record(RECORD)
    assert event == {"id": "1796642060.838990.46234a6de3b2157d3a9510451b33b619-0C95166BDBF90132",
                     "event": "OBJECT_CREATE", "timestamp": "2026-12-07T11:14:20.834271Z",
                     "info": {"bucket": {"name": "buck", "bucket_id": "bd4a8529-2e98-41b0-9649-2a327fc6af04.4155.1",
                                         "tenant": ""},
                              "key": {"name": "cat-7.jpg", "instance": ""},
                              "attrs": {"mtime": "2026-12-07T11:14:20.834271Z"}}}
    assert from_record({**RECORD, "eventName": "ObjectRemoved:DeleteMarkerCreated"})["event"] == "DELETE_MARKER_CREATE"
    assert from_record({**RECORD, "eventName": "ObjectRemoved:Delete"})["event"] == "OBJECT_DELETE"


def test_the_seeds_line_and_events_that_name_no_object() -> None:
    assert LOG_LINE.fullmatch("2026/12/07 11:14:21 " + received(rgw_event(), "buck", "cat-7.jpg"))
    assert object_of(rgw_event()) == ("buck", "cat-7.jpg")
    for data in (b'{"info": {}}', b"[1]", b'{"info": {"bucket": {"name": "b"}, "key": {"name": ""}}}'):
        with pytest.raises(ValueError):
            object_of(Event({"id": "1"}, data))


# The source --------------------------------------------------------------------------------------------

def test_the_source_takes_the_seeds_flags_in_gos_spellings() -> None:
    args = rgw_source.parse_args(["-subscriptionname", "sub1", "--username=rgwtest", "--sink", "http://sink/"])
    assert (args.subscriptionname, args.username, args.sink, args.interval) == ("sub1", "rgwtest", "http://sink/",
                                                                                  "5")


def _source_and_sink(sink_status: int) -> tuple[web.Application, list[Event], web.Application]:
    got: list[Event] = []

    async def sink(request: web.Request) -> web.Response:
        got.append(from_http(request.headers, await request.read()))
        return web.Response(status=sink_status)

    sink_app = web.Application()
    sink_app.router.add_post("/", sink)
    source = web.Application()
    source.router.add_post("/{tail:.*}", rgw_source.pushed)
    return source, got, sink_app


@pytest.mark.parametrize("sink_status, answer", [(202, 200), (503, 502)])
def test_the_source_posts_each_record_as_a_binary_cloudevent(sink_status: int, answer: int) -> None:
    """RGW's push becomes the seed's event at the sink; RGW hears 200 only once the sink took it."""
    source, got, sink_app = _source_and_sink(sink_status)

    async def scenario(client: TestClient) -> None:
        async with TestServer(sink_app) as sink, aiohttp.ClientSession() as session:
            source[rgw_source.STATE].update(session=session, sink=str(sink.make_url("/")))
            response = await client.post("/", json={"Records": [RECORD]})
            assert response.status == answer
            assert (await client.post("/", data=b"not json")).status == 400

    source[rgw_source.STATE] = {}
    run(source, scenario)
    event = got[0]
    assert (event.type, event.attributes["source"], event.attributes["datacontenttype"]) == (
        EVENT_TYPE, "rgwpubsub", "application/json")
    assert event.json() == from_record(RECORD) and event.id == from_record(RECORD)["id"]
    assert len(got) == (1 if answer == 200 else rgw_source.POST_ATTEMPTS)


def test_the_source_finds_the_address_rgw_reaches_it_at() -> None:
    assert rgw_source.own_address("http://127.0.0.1:7480") == "127.0.0.1"


# The receiver and the classifiers ------------------------------------------------------------------------

def test_the_receiver_logs_each_event_as_the_seeds_does(capsys: pytest.CaptureFixture) -> None:
    async def scenario(client: TestClient) -> None:
        headers, body = to_binary(rgw_event())
        assert (await client.post("/", data=body, headers=headers)).status == 200
        assert (await client.post("/", data=b"{}")).status == 400

    run(rgw_receiver.app(), scenario)
    assert LOG_LINE.search(capsys.readouterr().out)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    digits.train(root / "digits")
    return root


class Bucket:
    """An S3 client's get_object over a dict of objects."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def get_object(self, Bucket: str, Key: str) -> dict:  # boto3's argument names
        if Key not in self.objects:
            raise KeyError(f"NoSuchKey: {Bucket}/{Key}")
        body = self.objects[Key]
        return {"Body": type("Body", (), {"read": lambda self: body})()}


@pytest.mark.parametrize("kind, line", [("mlp", r"classes: \[(\d)\]"), ("linear", r"label: (\d), Score: 0\.\d{6}")])
def test_a_classifier_downloads_the_object_and_logs_its_class(kind: str, line: str, model_dir: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    _, label, pixels = digits.held_out()[0]
    bucket = Bucket({"cat-7.jpg": digits.render(pixels, "JPEG"), "notes.txt": b"not a picture"})

    async def scenario(client: TestClient) -> None:
        for key, status in (("cat-7.jpg", 200), ("missing.jpg", 502), ("notes.txt", 502)):
            headers, body = to_binary(rgw_event(key))
            assert (await client.post("/", data=body, headers=headers)).status == status, key
        assert (await client.post("/", data=b"{}")).status == 400

    run(rgw_classifier.app(load(f"digits-{kind}", model_dir), kind, bucket), scenario)
    out = capsys.readouterr().out
    assert LOG_LINE.search(out)
    assert [int(found) for found in re.findall(line, out)] == [label], out
    assert "failed to download buck missing.jpg" in out and "failed to classify buck notes.txt" in out


# The models ----------------------------------------------------------------------------------------------

def test_a_rendered_digit_reads_back_as_the_data_sets_pixels() -> None:
    _, _, pixels = digits.held_out()[3]
    for image_format in ("PNG", "JPEG"):
        picture = digits.render(pixels, image_format)
        tolerance = 1 / 255 if image_format == "PNG" else 0.1
        assert np.abs(digits.features(picture) - pixels.reshape(-1) / 16).max() <= tolerance


def test_both_models_are_real_and_different(model_dir: Path) -> None:
    held = digits.held_out()
    pictures = [digits.render(pixels) for _, _, pixels in held]
    answers = {}
    for kind in digits.KINDS:
        loaded = load(f"digits-{kind}", model_dir)
        answers[kind] = [digit for digit, _ in loaded.model.predict(pictures)]
        accuracy = np.mean([digit == label for digit, (_, label, _) in zip(answers[kind], held, strict=True)])
        assert accuracy >= 0.95, (kind, accuracy)
        assert json.loads((model_dir / "digits" / f"{kind}.json").read_text())["accuracy"] == round(accuracy, 4)
    assert answers["mlp"] != answers["linear"], "two different models disagree somewhere"


def test_a_missing_or_unknown_digits_model_says_how_to_prepare_one(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing, match=r"no digits-mlp model in .*prepare DIR digits"):
        load("digits-mlp", tmp_path)
    with pytest.raises(ModelMissing, match="no model called 'digits-svm'"):
        load("digits-svm", tmp_path)


# A Route as a subscriber, and the Ceph ---------------------------------------------------------------------

def test_a_ref_to_a_route_resolves_to_its_address_and_watches_it() -> None:
    """Knative's Route is Addressable: a Subscription to one resolves once the Route has an address, and a
    change to the Route reaches the subscriptions (seed 003's split subscribes a Route)."""
    registry = Registry(Store())
    bootstrap(registry)
    routes = registry.kinds.by_path("serving.knative.dev", "v1", "routes")
    ref = {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Route", "name": "rgwpubsub-route"}}
    with pytest.raises(Unresolvable, match='Route "rgwpubsub-route" not found'):
        resolve(ref, "default", registry.store, registry.kinds)
    registry.create(routes, "default", {"metadata": {"name": "rgwpubsub-route"}, "spec": {"traffic": [
        {"configurationName": "resnet-configuration", "percent": 100}]}})
    with pytest.raises(Unresolvable, match="does not have an address yet"):
        resolve(ref, "default", registry.store, registry.kinds)
    route = registry.store.get(routes.resource, "default", "rgwpubsub-route")
    url = "http://rgwpubsub-route.default.svc.cluster.local"
    registry.update(routes, "default", "rgwpubsub-route", {**route, "status": {"address": {"url": url}}},
                    subresource="status")
    assert resolve(ref, "default", registry.store, registry.kinds) == url
    assert ("serving.knative.dev", "v1", "routes") in ADDRESSABLES


def test_the_ceph_configuration_is_a_small_single_host_cluster(tmp_path: Path) -> None:
    text = config(tmp_path, "f-s-i-d", 6789, ["127.0.0.1:7480", "10.88.1.1:7480"])
    for line in ("mon host = v2:127.0.0.1:6789", "osd objectstore = memstore", "osd pool default size = 1",
                 "osd crush chooseleaf type = 0",
                 "rgw frontends = beast endpoint=127.0.0.1:7480 endpoint=10.88.1.1:7480"):
        assert line in text.splitlines(), line


def test_s3_hostname_is_read_as_the_seeds_go_clients_read_it() -> None:
    assert endpoint_url("http://10.88.1.1:7480") == "http://10.88.1.1:7480"
    assert endpoint_url("rgw.example.com") == "https://rgw.example.com"
