"""A small structural-schema language: declare kinds once, then prune, type-check and publish OpenAPI.

It covers what a structural CRD schema does in Kubernetes: known fields, types, maps, arrays, and
subtrees that keep unknown fields (`x-kubernetes-preserve-unknown-fields`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Schema:
    type: str  # object | array | string | integer | number | boolean | int-or-string | any
    properties: Mapping[str, Schema] | None = None
    items: Schema | None = None
    values: Schema | None = None  # a map's value schema
    enum: tuple[str, ...] = ()
    description: str = ""
    open: bool = False  # keeps unknown fields (preserve-unknown-fields)


STR = Schema("string")
INT = Schema("integer")
NUM = Schema("number")
BOOL = Schema("boolean")
INT_OR_STR = Schema("int-or-string")
ANY = Schema("any")


def obj(description: str = "", /, **properties: Schema) -> Schema:
    return Schema("object", properties=properties, description=description)


def open_obj(description: str = "", /, **properties: Schema) -> Schema:
    """An object whose unknown fields are kept (e.g. status written by controllers)."""
    return Schema("object", properties=properties, description=description, open=True)


def arr(items: Schema) -> Schema:
    return Schema("array", items=items)


def mapof(values: Schema) -> Schema:
    return Schema("object", values=values)


def enum(*values: str) -> Schema:
    return Schema("string", enum=values)


def merge(base: Schema, **properties: Schema) -> Schema:
    """`base` with more (or replaced) properties."""
    return Schema(base.type, {**(base.properties or {}), **properties}, base.items, base.values,
                  base.enum, base.description, base.open)


@dataclass
class Findings:
    unknown: list[str] = field(default_factory=list)  # paths of fields not in the schema
    wrong_type: list[tuple[str, object, str]] = field(default_factory=list)  # (path, value, type)


def _type_ok(schema: Schema, value: object) -> bool:
    match schema.type:
        case "string":
            return isinstance(value, str)
        case "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        case "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "boolean":
            return isinstance(value, bool)
        case "int-or-string":
            return isinstance(value, str | int) and not isinstance(value, bool)
        case "object":
            return isinstance(value, dict)
        case "array":
            return isinstance(value, list)
    return True


_ZERO: dict[str, object] = {"string": "", "integer": 0, "number": 0, "boolean": False}


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def walk(schema: Schema, value: object, path: str, findings: Findings, prune: bool) -> None:
    """Records unknown fields and type errors under `path`; with `prune`, drops unknown fields and
    nulls in place, as the Kubernetes API server does for custom resources."""
    if schema.type == "any":
        return
    if not _type_ok(schema, value):
        findings.wrong_type.append((path, value, schema.type))
        return
    if schema.enum and value not in schema.enum:
        findings.wrong_type.append((path, value, "enum"))
        return
    if isinstance(value, list) and schema.items is not None:
        for i, item in enumerate(value):
            if item is None and schema.items.type in _ZERO:
                # a null element is the type's zero value, as Go decodes `[null]` into []string ([""])
                if prune:
                    value[i] = _ZERO[schema.items.type]
                continue
            walk(schema.items, item, f"{path}[{i}]", findings, prune)
        return
    if not isinstance(value, dict):
        return
    for name in list(value):
        child_path = _join(path, name)
        child = value[name]
        if schema.values is not None:
            sub = schema.values
        elif schema.properties is not None and name in schema.properties:
            sub = schema.properties[name]
        elif schema.open or (schema.properties is None and schema.values is None):
            continue
        else:
            findings.unknown.append(child_path)
            if prune:
                del value[name]
            continue
        if child is None:
            if prune:
                del value[name]
            continue
        walk(sub, child, child_path, findings, prune)


def describe_value(value: object) -> str:
    return json.dumps(value) if not isinstance(value, dict | list) else type(value).__name__


_OPENAPI_TYPES = {"string", "integer", "number", "boolean", "object", "array"}


def to_openapi(schema: Schema) -> dict:
    """The schema as OpenAPI v3 (what kubectl reads from /openapi/v3)."""
    out: dict = {}
    if schema.description:
        out["description"] = schema.description
    if schema.type == "int-or-string":
        out["x-kubernetes-int-or-string"] = True
        return out
    if schema.type == "any":
        out["x-kubernetes-preserve-unknown-fields"] = True
        return out
    if schema.type in _OPENAPI_TYPES:
        out["type"] = schema.type
    if schema.enum:
        out["enum"] = list(schema.enum)
    if schema.properties is not None:
        out["properties"] = {name: to_openapi(sub) for name, sub in schema.properties.items()}
    if schema.values is not None:
        out["additionalProperties"] = to_openapi(schema.values)
    if schema.items is not None:
        out["items"] = to_openapi(schema.items)
    if schema.open:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out
