"""kproof's CloudEvents codec against the CloudEvents SDK: events the SDK writes parse the same, and
events kproof writes read back the same through the SDK, in binary and structured mode. (The codec
exists because the SDK's parser fills in missing required attributes, which a broker must refuse.)"""

import json

import pytest
from cloudevents.core.bindings import http as sdk
from cloudevents.core.bindings import kafka as kafka_sdk
from cloudevents.core.v1.event import CloudEvent

from reference.eventing.codec import MalformedEvent, from_http, from_kafka, to_binary, to_kafka, to_structured

ATTRIBUTES = {"id": "e-1", "source": "/kproof/unit", "type": "ai.request", "specversion": "1.0",
              "datacontenttype": "application/json", "subject": "model/bert", "region": "eu west"}
DATA = {"text": "héllo", "score": 0.5}


@pytest.mark.parametrize("encode", [sdk.to_binary_event, sdk.to_structured_event])
def test_kproof_reads_what_the_sdk_writes(encode) -> None:
    message = encode(CloudEvent(dict(ATTRIBUTES), dict(DATA)))
    event = from_http(message.headers, message.body)
    assert {k: v for k, v in event.attributes.items() if k != "time"} == ATTRIBUTES
    assert event.json() == DATA


@pytest.mark.parametrize("encode", [to_binary, to_structured])
def test_the_sdk_reads_what_kproof_writes(encode) -> None:
    original = sdk.to_binary_event(CloudEvent(dict(ATTRIBUTES), dict(DATA)))
    headers, body = encode(from_http(original.headers, original.body))
    back = sdk.from_http_event(sdk.HTTPMessage(headers, body))
    attributes = back.get_attributes()
    assert {k: attributes[k] for k in ATTRIBUTES} == ATTRIBUTES
    assert back.get_data() == DATA


def test_kproof_refuses_what_the_sdk_would_fill_in() -> None:
    headers = {"ce-source": "/s", "ce-type": "t", "ce-specversion": "1.0", "content-type": "application/json"}
    assert sdk.from_http_event(sdk.HTTPMessage(headers, b"{}")).get_id(), "the SDK invents an id"
    with pytest.raises(MalformedEvent, match="id"):
        from_http(headers, b"{}")


KAFKA_ATTRIBUTES = {**ATTRIBUTES, "region": "eu west %20 é"}  # Kafka headers carry text as it is


@pytest.mark.parametrize("encode", [kafka_sdk.to_binary_event, kafka_sdk.to_structured_event])
def test_kproof_reads_kafka_records_the_sdk_writes(encode) -> None:
    message = encode(CloudEvent(dict(KAFKA_ATTRIBUTES), dict(DATA)))
    event = from_kafka(list(message.headers.items()), message.value)
    assert {k: v for k, v in event.attributes.items() if k != "time"} == KAFKA_ATTRIBUTES
    assert event.json() == DATA


@pytest.mark.parametrize("structured", [False, True])
def test_the_sdk_reads_kafka_records_kproof_writes(structured: bool) -> None:
    event = from_http({f"ce-{k}": v for k, v in ATTRIBUTES.items() if k != "datacontenttype"}
                      | {"content-type": "application/json"}, json.dumps(DATA).encode())
    event.attributes["region"] = KAFKA_ATTRIBUTES["region"]
    headers, value = to_kafka(event, structured=structured)
    read = kafka_sdk.from_kafka_event(kafka_sdk.KafkaMessage(headers=dict(headers), key=None, value=value))
    assert {k: v for k, v in read.get_attributes().items() if k != "time"} == KAFKA_ATTRIBUTES
    assert read.get_data() == DATA
    assert from_kafka(headers, value).attributes == event.attributes, "and kproof reads back what it wrote"


def test_a_record_without_a_cloudevent_is_refused() -> None:
    with pytest.raises(MalformedEvent):
        from_kafka([("content-type", b"application/json")], b"{}")
    with pytest.raises(MalformedEvent):
        from_kafka([("ce_specversion", b"1.0"), ("ce_id", b"x")], b"{}")
