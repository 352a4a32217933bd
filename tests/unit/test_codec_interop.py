"""kproof's CloudEvents codec against the CloudEvents SDK: events the SDK writes parse the same, and
events kproof writes read back the same through the SDK, in binary and structured mode. (The codec
exists because the SDK's parser fills in missing required attributes, which a broker must refuse.)"""

import pytest
from cloudevents.core.bindings import http as sdk
from cloudevents.core.v1.event import CloudEvent

from reference.eventing.codec import MalformedEvent, from_http, to_binary, to_structured

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
