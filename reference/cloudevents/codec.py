"""CloudEvents over HTTP and in Kafka records (binary and structured mode, spec versions 1.0 and 0.3),
kept byte-faithful.

Parsing never invents attributes (the `cloudevents` 2.x parser fills in id, specversion and time): a
broker must pass events on exactly as they came, and a malformed event must be refused, not repaired.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate
from urllib.parse import quote, unquote

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
REQUIRED = ("id", "source", "specversion", "type")
SPEC_VERSIONS = ("1.0", "0.3")
# The spec: names "MUST consist of lower-case letters ('a' to 'z') or digits ('0' to '9')" (at most 20 is
# only a SHOULD, so longer ones pass). Anything else (a dot, a colon, a space, CR/LF) would reach an HTTP
# subscriber as a different or a broken header: `type:x` becomes a second ce-type.
NAME = re.compile(r"[a-z0-9]+")
# The spec's String type excludes the control characters, among them CR and LF, which no header can carry.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# JSON nested deeper is refused (a structured event) or left undecoded (data): the json module recurses per
# level, so without a bound of its own how deep it goes would depend on the interpreter's recursion limit,
# which libraries change (celpy raises it to 2500). Go's encoding/json stops at 10,000; 500 keeps clear of
# Python's default limit of 1,000 frames.
MAX_DEPTH = 500
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# The HTTP binding (3.1.3.2): space, double quote, percent and anything outside printable ASCII are
# percent-encoded (UTF-8); every other printable character goes as it is, as sdk-go and the Python SDK write.
HEADER_SAFE = "".join(c for c in map(chr, range(0x21, 0x7F)) if c not in '"%')
# Context attributes of the String, URI, URI-reference and Timestamp types: sdk-go refuses any other JSON type.
STRING_ATTRIBUTES = ("id", "source", "specversion", "type", "datacontenttype", "dataschema", "schemaurl",
                     "subject", "time", "datacontentencoding")
# RFC 3339, as Go's time.Parse(time.RFC3339Nano) takes it.
TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_STEPS = tuple(1 if chr(c) in "[{" else -1 if chr(c) in "]}" else 0 for c in range(256))


class MalformedEvent(ValueError):
    """The request does not carry a valid CloudEvent; the message says why."""


class TooDeep(ValueError):
    """JSON nested more than MAX_DEPTH levels deep."""


def loads(text: bytes) -> object:
    """json.loads, but TooDeep (a ValueError) for JSON nested more than MAX_DEPTH levels deep."""
    # Counting brackets is cheap; only a body with enough of them needs its depth measured.
    if text.count(b"[") + text.count(b"{") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        raise TooDeep(f"nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(text)
    except RecursionError as err:  # called with the stack already deep
        raise TooDeep("nested too deeply to decode") from err


def _depth(text: bytes) -> int:
    """How deep arrays and objects nest outside string literals, without recursing."""
    return max(accumulate(map(_STEPS.__getitem__, _STRING.sub(b"", text))), default=0)


@dataclass
class Event:
    attributes: dict[str, str] = field(default_factory=dict)
    data: bytes | None = None

    @property
    def id(self) -> str:
        return self.attributes.get("id", "")

    @property
    def type(self) -> str:
        return self.attributes.get("type", "")

    def json(self) -> object:
        """The data decoded as JSON (None when absent); ValueError when it is not JSON or nested too deep."""
        return loads(self.data) if self.data else None

    def to_dict(self) -> dict:
        """The event in structured JSON form (data as JSON when it is JSON, else text or base64)."""
        out: dict = dict(self.attributes)
        if self.data is not None:
            try:
                out["data"] = loads(self.data)
            except TooDeep:  # JSON, but too deep to decode: base64 still carries it byte-exact
                out["data_base64"] = base64.b64encode(self.data).decode()
            except ValueError:
                try:
                    out["data"] = self.data.decode()
                except UnicodeDecodeError:
                    out["data_base64"] = base64.b64encode(self.data).decode()
        return out


def _validate(attributes: dict[str, str]) -> None:
    for name, value in attributes.items():
        if not NAME.fullmatch(name):
            raise MalformedEvent(f"invalid attribute name {name!r}: only lower-case letters a-z and digits 0-9")
        if CONTROL.search(value):
            raise MalformedEvent(f"attribute {name!r} has a control character (such as CR or LF) in its value")
    missing = [name for name in REQUIRED if not attributes.get(name)]
    if missing:
        raise MalformedEvent(f"missing required attribute(s): {', '.join(missing)}")
    if attributes["specversion"] not in SPEC_VERSIONS:
        raise MalformedEvent(f"unsupported specversion {attributes['specversion']!r}")
    if "time" in attributes and not valid_time(attributes["time"]):
        raise MalformedEvent(f"time {attributes['time']!r} is not an RFC 3339 timestamp")


def valid_time(text: str) -> bool:
    """Whether `text` is an RFC 3339 timestamp with fields in range."""
    match = TIMESTAMP.fullmatch(text)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        datetime(year, month, day, hour, minute, second)  # out of range (Go takes no leap second either)
    except ValueError:
        return False
    offset = match.group(8)
    return offset == "Z" or (int(offset[1:3]) < 24 and int(offset[4:6]) < 60)


def from_http(headers: Mapping[str, str], body: bytes) -> Event:
    """The event in an HTTP request; MalformedEvent if there is none or it lacks required attributes."""
    items = headers.items()
    lowered = {k.lower(): v for k, v in items}
    content_type = lowered.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    if media == BATCH:
        raise MalformedEvent("batched CloudEvents are not supported")
    if media == STRUCTURED:
        return _structured(body)
    attributes = _ce_headers(items)
    if not attributes:
        raise MalformedEvent("no CloudEvent in the request (no ce- headers, not structured)")
    if content_type:
        attributes["datacontenttype"] = content_type
    _validate(attributes)
    return Event(attributes, body if body else None)


def _ce_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The attributes in ce- headers; a repeated one is refused (which copy would a filter see?)."""
    attributes: dict[str, str] = {}
    for key, value in items:
        if not key.lower().startswith("ce-"):
            continue
        name = key[3:].lower()
        if name in attributes:
            raise MalformedEvent(f"attribute {name!r} is given more than once")
        attributes[name] = unquote(value)
    return attributes


def _structured(body: bytes) -> Event:
    try:
        doc = loads(body)
    except TooDeep as err:
        raise MalformedEvent(f"structured event is {err}") from err
    except ValueError as err:
        raise MalformedEvent(f"structured event is not JSON: {err}") from err
    if not isinstance(doc, dict):
        raise MalformedEvent("structured event must be a JSON object")
    attributes = _attributes(doc)
    data: bytes | None = None
    if "data_base64" in doc:
        try:
            data = base64.b64decode(doc["data_base64"], validate=True)
        except (ValueError, TypeError) as err:
            raise MalformedEvent(f"data_base64 is not base64: {err}") from err
    elif "data" in doc:
        value = doc["data"]
        data = value.encode() if isinstance(value, str) and not _is_json(attributes) else \
            json.dumps(value, separators=(",", ":")).encode()
    _validate(attributes)
    return Event(attributes, data)


def _attributes(doc: dict) -> dict[str, str]:
    """The attributes of a structured event: null means absent; a context attribute must be a string."""
    attributes: dict[str, str] = {}
    for name, value in doc.items():
        if name in ("data", "data_base64") or value is None:
            continue
        if name in STRING_ATTRIBUTES and not isinstance(value, str):
            raise MalformedEvent(f"attribute {name!r} must be a string, not {json.dumps(value)}")
        attributes[name] = _text(value)
    return attributes


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _is_json(attributes: Mapping[str, str]) -> bool:
    content_type = attributes.get("datacontenttype", "application/json").split(";")[0].strip()
    return content_type == "application/json" or content_type.endswith("+json") or content_type.startswith(
        "text/json")


def to_binary(event: Event) -> tuple[dict[str, str], bytes]:
    headers = {f"ce-{k}": quote(v, safe=HEADER_SAFE) for k, v in event.attributes.items() if k != "datacontenttype"}
    if "datacontenttype" in event.attributes:
        headers["content-type"] = event.attributes["datacontenttype"]
    return headers, event.data or b""


def to_structured(event: Event) -> tuple[dict[str, str], bytes]:
    return {"content-type": STRUCTURED}, json.dumps(event.to_dict(), separators=(",", ":")).encode()


# The Kafka protocol binding: binary mode keeps each attribute in a `ce_` header as UTF-8 text, as it is
# (no percent-encoding, unlike HTTP), and datacontenttype in `content-type`; structured mode keeps the
# JSON form in the value with content-type application/cloudevents+json.

KafkaHeaders = list[tuple[str, bytes | str | None]]  # as the Kafka client takes and gives them


def to_kafka(event: Event, structured: bool = False) -> tuple[KafkaHeaders, bytes]:
    """A record's headers and value for `event`."""
    if structured:
        headers, value = to_structured(event)
        return [("content-type", headers["content-type"].encode())], value
    record_headers: KafkaHeaders = [(f"ce_{k}", v.encode()) for k, v in event.attributes.items()
                                    if k != "datacontenttype"]
    if "datacontenttype" in event.attributes:
        record_headers.append(("content-type", event.attributes["datacontenttype"].encode()))
    return record_headers, event.data or b""


def from_kafka(headers: Iterable[tuple[str, bytes | str | None]], value: bytes | None) -> Event:
    """The event in a record; MalformedEvent if it carries none (no ce_ headers, not structured)."""
    texts = {name.lower(): v.decode(errors="replace") if isinstance(v, bytes) else (v or "") for name, v in headers}
    content_type = texts.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == STRUCTURED:
        return from_http({"content-type": content_type}, value or b"")
    attributes = {name[3:]: text for name, text in texts.items() if name.startswith("ce_")}
    if not attributes:
        raise MalformedEvent("no CloudEvent in the record (no ce_ headers, not structured)")
    if content_type:
        attributes["datacontenttype"] = content_type
    _validate(attributes)
    return Event(attributes, value or None)
