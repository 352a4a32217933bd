"""kproof's CloudEvents codec against the CloudEvents SDK: events the SDK writes parse the same, and
events kproof writes read back the same through the SDK, in binary and structured mode. (The codec
exists because the SDK's parser fills in missing required attributes, which a broker must refuse.)"""

import json
import sys
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from cloudevents.core.bindings import http as sdk
from cloudevents.core.bindings import kafka as kafka_sdk
from cloudevents.core.v1.event import CloudEvent
from multidict import CIMultiDict

from reference.cloudevents.codec import MalformedEvent, from_http, from_kafka, to_binary, to_kafka, to_structured

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


STRUCTURED_HEADERS = {"content-type": "application/cloudevents+json"}
BINARY = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t", "content-type": "text/plain"}
STRUCTURED_EVENT = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}
BAD_NAMES = ["type:spoofed.type", "a.b", "foo bar", "a\r\nb", "f\u00e9e", "Type", "data-x", ""]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_attribute_names_are_lower_case_letters_and_digits(name: str) -> None:
    with pytest.raises(MalformedEvent, match="invalid attribute name") as structured:
        from_http({"content-type": "application/cloudevents+json"},
                  json.dumps({**STRUCTURED_EVENT, name: "x"}).encode())
    assert repr(name) in str(structured.value), "the message names the attribute"
    if name == "Type":
        return  # header names are case-insensitive: ce-Type is ce-type
    with pytest.raises(MalformedEvent, match="invalid attribute name"):
        from_http({**BINARY, f"ce-{name}": "x"}, b"")
    with pytest.raises(MalformedEvent, match="invalid attribute name"):
        from_kafka([("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"/s"), ("ce_type", b"t"),
                    (f"ce_{name}", b"x")], b"")


def test_long_names_and_digits_pass() -> None:
    name = "averyveryverylongextensionname2"  # over 20 characters is only a SHOULD NOT in the spec
    assert from_http({**BINARY, f"ce-{name}": "x"}, b"").attributes[name] == "x"


def test_a_repeated_attribute_header_is_refused() -> None:
    # A raw `ce-type:spoofed.type: x` header line is a second ce-type header with the value `spoofed.type: x`.
    headers = CIMultiDict(BINARY)
    headers.add("ce-type", "spoofed.type: x")
    with pytest.raises(MalformedEvent, match="'type' is given more than once"):
        from_http(headers, b"")


@pytest.mark.parametrize("value", ["a\r\nb", "a\nb", "nul\x00", "\x85"])
def test_control_characters_in_values_are_refused(value: str) -> None:
    with pytest.raises(MalformedEvent, match="'subject' has a control character"):
        from_http({"content-type": "application/cloudevents+json"},
                  json.dumps({**STRUCTURED_EVENT, "subject": value}).encode())
    with pytest.raises(MalformedEvent, match="'subject' has a control character"):
        from_http({**BINARY, "ce-subject": quote(value)}, b"")  # percent-encoded in a header
    with pytest.raises(MalformedEvent, match="'datacontenttype' has a control character"):
        from_http({"content-type": "application/cloudevents+json"},
                  json.dumps({**STRUCTURED_EVENT, "datacontenttype": f"text/plain{value}"}).encode())


@pytest.fixture(params=[None, 2500], ids=["default-recursion-limit", "celpy-recursion-limit"])
def recursion_limit(request: pytest.FixtureRequest) -> Iterator[None]:
    """The bound is the codec's own, whatever the interpreter's recursion limit (celpy raises it)."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(request.param or before)
    yield
    sys.setrecursionlimit(before)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def structured_with(data: str) -> bytes:
    return (json.dumps(STRUCTURED_EVENT)[:-1] + f',"data":{data}}}').encode()


@pytest.mark.usefixtures("recursion_limit")
def test_data_nested_very_deep() -> None:
    deep = nested(2000)
    with pytest.raises(MalformedEvent, match="nested more than 500 levels"):
        from_http({"content-type": "application/cloudevents+json"}, structured_with(deep))
    event = from_http({**BINARY, "content-type": "application/json"}, deep.encode())  # binary data stays opaque
    with pytest.raises(ValueError, match="nested more than 500 levels"):
        event.json()
    headers, value = to_structured(event)  # too deep to decode: carried as base64, byte-exact
    assert from_http(headers, value).data == deep.encode()


def test_the_depth_bound_counts_only_brackets_outside_strings() -> None:
    # The event's own object is the first level.
    assert from_http(STRUCTURED_HEADERS, structured_with(nested(499))).json() == json.loads(nested(499))
    with pytest.raises(MalformedEvent, match="nested more than 500 levels"):
        from_http(STRUCTURED_HEADERS, structured_with(nested(500)))
    text = json.dumps({"text": "[{" * 600, "list": [[1]] * 600})  # many brackets, but shallow
    assert from_http(STRUCTURED_HEADERS, structured_with(text)).json() == json.loads(text)


def test_null_means_absent_and_context_attributes_must_be_strings() -> None:
    body = {"specversion": "1.0", "id": "e-1", "source": "/s", "type": "t", "subject": None, "region": None}
    event = from_http({"content-type": "application/cloudevents+json"}, json.dumps(body).encode())
    assert "subject" not in event.attributes and "region" not in event.attributes
    for name, value in (("id", 123), ("id", None), ("source", {"a": 1}), ("time", 1)):
        with pytest.raises(MalformedEvent):
            from_http({"content-type": "application/cloudevents+json"},
                      json.dumps({**body, name: value}).encode())


@pytest.mark.parametrize("time", ["2024-01-01", "yesterday", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z",
                                  "2024-01-01T24:00:00Z", "2024-01-01T00:00:00", "2024-01-01T00:00:00+25:00"])
def test_an_invalid_time_is_refused(time: str) -> None:
    body = {"specversion": "1.0", "id": "e-1", "source": "/s", "type": "t", "time": time}
    with pytest.raises(MalformedEvent, match="time"):
        from_http({"content-type": "application/cloudevents+json"}, json.dumps(body).encode())
    with pytest.raises(MalformedEvent, match="time"):
        from_http({"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t", "ce-time": time}, b"")


@pytest.mark.parametrize("time", ["2024-01-01T00:00:00Z", "2024-01-01T10:20:30.123456789+02:00"])
def test_a_valid_time_passes(time: str) -> None:
    headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t", "ce-time": time}
    assert from_http(headers, b"").attributes["time"] == time


@pytest.mark.parametrize("value", ['say "hi" 100% \\ ok', "caf\u00e9 \u2603", "a+b/c?d=e&f#g~[x]{y}|z^`'!*()$,;:@<>"])
def test_header_values_are_encoded_as_the_sdk_encodes_them(value: str) -> None:
    attributes = {"id": "e-1", "source": "/s", "type": "t", "specversion": "1.0", "region": value}
    sdk_headers = sdk.to_binary_event(CloudEvent(dict(attributes))).headers
    ours, _ = to_binary(from_http({"content-type": "application/cloudevents+json"}, json.dumps(attributes).encode()))
    assert ours["ce-region"] == sdk_headers["ce-region"]
    assert from_http(ours, b"").attributes["region"] == value
