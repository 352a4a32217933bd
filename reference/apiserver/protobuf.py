"""Kubernetes' protobuf request bodies decoded into the JSON values the rest of the API server reads.

client-go's typed clients send built-in kinds (ConfigMap, Secret, Namespace, Pod, ...) as protobuf: the
magic `k8s\\x00`, then a runtime.Unknown {typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2} whose raw is the
object's message. protobuf.json (written by kproof/cluster/go/upstream-tests/protoschema from the Go types
of k8s.io/api) says, per message, each field's number, JSON name and type, and whether the Go field is a
pointer: encoding/json omits a non-pointer's zero value under omitempty and keeps a pointer's, so the JSON
built here is what the same object sent as JSON would have been.
"""

from __future__ import annotations

import base64
import json
import struct
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
SCHEMA = Path(__file__).with_name("protobuf.json")
ZERO_TIME = -62135596800  # Go's zero time.Time in Unix seconds
INT_TYPES = {"int32": 32, "int64": 64, "uint32": 0, "uint64": 0, "bool": 0}


class ProtobufError(ValueError):
    """A body that is not a Kubernetes protobuf message of a kind this server knows."""


@cache
def _schema() -> dict:
    return json.loads(SCHEMA.read_text())


def read_varint(data: bytes, position: int) -> tuple[int, int]:
    """The varint at `position`: its value and the position after it."""
    shift = result = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ProtobufError("truncated or overlong varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def wire_fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a message: varints as ints, fixed64/32 as ints of their bits,
    length-delimited fields as bytes."""
    out: list[tuple[int, int, int | bytes]] = []
    position, end = 0, len(data)
    while position < end:
        key, position = read_varint(data, position)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, position = read_varint(data, position)
        elif wire == 1:
            value = int.from_bytes(data[position:position + 8], "little")
            position += 8
        elif wire == 2:
            length, position = read_varint(data, position)
            if position + length > end:
                raise ProtobufError("a field runs past the end of its message")
            value = data[position:position + length]
            position += length
        elif wire == 5:
            value = int.from_bytes(data[position:position + 4], "little")
            position += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        if position > end:
            raise ProtobufError("truncated message")
        out.append((number, wire, value))
    return out


def _signed(value: int, bits: int) -> int:
    value &= (1 << 64) - 1
    if bits and value >= 1 << 63:
        value -= 1 << 64
    if bits == 32:  # an int32 is sign-extended to 64 bits on the wire
        value = ((value + (1 << 31)) % (1 << 32)) - (1 << 31)
    return value


def _time(data: bytes, micro: bool) -> str | None:
    parts = {n: v for n, _, v in wire_fields(data) if isinstance(v, int)}
    seconds, nanos = _signed(parts.get(1, 0), 64), _signed(parts.get(2, 0), 32)
    if seconds <= ZERO_TIME or (not data):
        return None
    moment = datetime.fromtimestamp(seconds, UTC)
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(data: bytes) -> str:
    """metav1.Duration's JSON: Go's time.Duration.String()."""
    nanos = next((_signed(v, 64) for n, _, v in wire_fields(data) if n == 1 and isinstance(v, int)), 0)
    if nanos == 0:
        return "0s"
    sign, nanos = ("-", -nanos) if nanos < 0 else ("", nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return f"{sign}{_trim(nanos / size)}{unit}"
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = _trim(rest / 1_000_000_000)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "") + f"{seconds}s"
    return sign + text


def _trim(number: float) -> str:
    return f"{number:.9f}".rstrip("0").rstrip(".")


def _special(kind: str, data: bytes) -> object:
    if kind in ("time", "microtime"):
        return _time(data, kind == "microtime")
    if kind == "duration":
        return _duration(data)
    parts = {n: v for n, _, v in wire_fields(data)}
    if kind == "quantity":
        value = parts.get(1, b"")
        return value.decode() if isinstance(value, bytes) else ""
    if kind == "intorstring":
        if parts.get(1, 0) == 1:
            text = parts.get(3, b"")
            return text.decode() if isinstance(text, bytes) else ""
        number = parts.get(2, 0)
        return _signed(number, 32) if isinstance(number, int) else 0
    if kind in ("raw", "fieldsv1"):
        raw = parts.get(1, b"")
        if not isinstance(raw, bytes) or not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as err:
            raise ProtobufError(f"an embedded object is not JSON: {err}") from err
    raise ProtobufError(f"unknown special type {kind}")


def _scalar(kind: str, wire: int, value: int | bytes) -> object:
    if kind in ("string", "bytes"):
        if not isinstance(value, bytes):
            raise ProtobufError(f"a {kind} field has wire type {wire}")
        return value.decode() if kind == "string" else base64.b64encode(value).decode()
    if not isinstance(value, int):
        raise ProtobufError(f"a {kind} field has wire type {wire}")
    if kind == "bool":
        return bool(value)
    if kind == "double":
        return struct.unpack("<d", value.to_bytes(8, "little"))[0]
    if kind == "float":
        return struct.unpack("<f", value.to_bytes(4, "little"))[0]
    return _signed(value, INT_TYPES.get(kind, 64))


def _value(kind: str, wire: int, value: int | bytes) -> object:
    if kind in INT_TYPES or kind in ("string", "bytes", "double", "float"):
        return _scalar(kind, wire, value)
    if not isinstance(value, bytes):
        raise ProtobufError(f"a {kind} field has wire type {wire}")
    if kind.startswith("list:"):
        return [_scalar(kind[5:], w, v) for n, w, v in wire_fields(value) if n == 1]
    if kind in _schema()["types"]:
        return _message(kind, value)
    return _special(kind, value)


def _repeated(kind: str, wire: int, value: int | bytes) -> list:
    """A repeated field's values in one record: a packed run of numbers, or one value."""
    if wire == 2 and isinstance(value, bytes) and (kind in INT_TYPES or kind in ("double", "float")):
        if kind in ("double", "float"):
            size, code = (8, "<d") if kind == "double" else (4, "<f")
            return [struct.unpack(code, value[i:i + size])[0] for i in range(0, len(value), size)]
        return [_scalar(kind, 0, number) for number in _varints(value)]
    return [_value(kind, wire, value)]


def _varints(data: bytes) -> list[int]:
    out, position = [], 0
    while position < len(data):
        number, position = read_varint(data, position)
        out.append(number)
    return out


def _empty(value: object) -> bool:
    """encoding/json's omitempty: false, 0, "", and empty lists and maps (never a struct)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float, str, list)):
        return not value
    return False  # a struct is never omitted; a map is only there with entries


def _message(type_name: str, data: bytes) -> dict:
    fields = _schema()["types"][type_name]
    collected: dict[str, object] = {}
    for number, wire, value in wire_fields(data):
        spec = fields.get(str(number))
        if spec is None:
            continue  # a field newer than the schema: encoding/json would drop it too
        name = str(number)
        if "k" in spec:  # a map: repeated entries {key = 1, value = 2}
            if not isinstance(value, bytes):
                raise ProtobufError(f"a map entry has wire type {wire}")
            entry = {n: (w, v) for n, w, v in wire_fields(value)}
            key = _scalar(spec["k"], *entry[1]) if 1 in entry else ("" if spec["k"] == "string" else 0)
            mapping = collected.setdefault(name, {})
            assert isinstance(mapping, dict)
            mapping[str(key)] = _value(spec["t"], *entry[2]) if 2 in entry else _zero(spec["t"])
        elif spec.get("r"):
            items = collected.setdefault(name, [])
            assert isinstance(items, list)
            items.extend(_repeated(spec["t"], wire, value))
        else:
            collected[name] = _value(spec["t"], wire, value)
    out: dict = {}
    for name, decoded in collected.items():
        spec = fields[name]
        if spec.get("i") and isinstance(decoded, dict):
            out.update(decoded)
        elif decoded is not None and not (spec.get("o") and not spec.get("p") and _empty(decoded)):
            out[spec["j"]] = decoded
    return out


def _zero(kind: str) -> object:
    """A map value the encoder left out: the type's zero value."""
    if kind == "string":
        return ""
    if kind == "bytes":
        return ""
    if kind == "bool":
        return False
    if kind in INT_TYPES or kind in ("double", "float"):
        return 0
    return {} if kind in _schema()["types"] else None


def decode(raw: bytes) -> dict:
    """The object in a Kubernetes protobuf body as the JSON value of the same object (ProtobufError)."""
    if not raw.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf message (no k8s\\0 prefix)")
    envelope = {n: v for n, _, v in wire_fields(raw[len(MAGIC):])}
    meta = envelope.get(1, b"")
    body = envelope.get(2, b"")
    if not isinstance(meta, bytes) or not isinstance(body, bytes):
        raise ProtobufError("a malformed runtime.Unknown envelope")
    type_meta = {n: v.decode() for n, _, v in wire_fields(meta) if isinstance(v, bytes)}
    api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
    type_name = _schema()["kinds"].get(f"{api_version}/{kind}")
    if type_name is None:
        raise ProtobufError(f"no protobuf encoding known for {api_version} {kind}")
    return {"apiVersion": api_version, "kind": kind, **_message(type_name, body)}
