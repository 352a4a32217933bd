"""Several served versions of one kind, stored in one: what a CRD's conversion webhook does, in process.

A served version other than the stored one carries a Conversion. Requests in that version are checked
against its own schema, converted up to the stored version for admission and storage, and every object
that goes back (a get, a list, a watch event, a write's answer) is converted down again. Conversions
are pure functions of whole objects; they change apiVersion and what differs between the versions, and
keep everything else, so a round trip loses nothing the older version can express.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import overload

Convert = Callable[[dict], dict]


@dataclass(frozen=True)
class Conversion:
    storage_version: str  # the version objects are stored in
    up: Convert  # this version's object -> the stored version's (apiVersion included)
    down: Convert  # the stored version's object -> this version's


def view_text(conversion: Conversion | None, text: str) -> str:
    """A stored object's JSON text as a served version shows it."""
    if conversion is None:
        return text
    return json.dumps(conversion.down(json.loads(text)), separators=(",", ":"))


# KafkaSource: sources.knative.dev/v1alpha1 (ACK still serves it; seeds 000 and 001 write it) wrote
# bootstrapServers and topics as comma-separated strings, v1beta1 writes lists. Everything else is
# the same fields.

KAFKA_SOURCE_LISTS = ("bootstrapServers", "topics")


@overload
def split_list(value: str) -> list[str]: ...
@overload
def split_list(value: object) -> object: ...
def split_list(value: object) -> object:
    """v1alpha1's comma-separated string as v1beta1's list (anything else as it is)."""
    if not isinstance(value, str):
        return value
    return [part.strip() for part in value.split(",") if part.strip()]


def _join(value: object) -> object:
    return ",".join(str(v) for v in value) if isinstance(value, list) else value


def _with_spec(obj: dict, api_version: str, change: Callable[[object], object]) -> dict:
    out = {**obj, "apiVersion": api_version}
    spec = obj.get("spec")
    if isinstance(spec, dict):
        out["spec"] = {k: change(v) if k in KAFKA_SOURCE_LISTS else v for k, v in spec.items()}
    return out


KAFKA_SOURCE_V1ALPHA1 = Conversion(
    storage_version="v1beta1",
    up=lambda obj: _with_spec(obj, "sources.knative.dev/v1beta1", split_list),
    down=lambda obj: _with_spec(obj, "sources.knative.dev/v1alpha1", _join),
)
