"""Server-side printing: `meta.k8s.io/v1` Table responses, which `kubectl get` asks for."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from reference.apis import times
from reference.apiserver import jsonpath
from reference.apiserver.kinds import Column, Kind


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _age(timestamp: object, now: datetime) -> str:
    if not isinstance(timestamp, str):
        return "<unknown>"
    then = times.parse(timestamp)
    if then is None:
        return "<invalid>"
    return human_duration(now.timestamp() - then)


def _go_value(value: object) -> object:
    """How a JSONPath cell prints: scalars as they are, lists and maps like Go's %v."""
    if isinstance(value, list):
        return "[" + " ".join(str(_go_value(v)) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_value(v)}" for k, v in sorted(value.items())) + "]"
    return value


def _cell(column: Column, obj: dict, now: datetime) -> object:
    if callable(column.path):
        value = column.path(obj)
    else:
        found = jsonpath.find(obj, column.path)
        value = found[0] if found else None
    if column.type == "date":
        return _age(value, now) if value is not None else "<unknown>"
    if value is None:
        return None
    if column.type == "integer" and isinstance(value, int | float):
        return value
    return _go_value(value)


def column_definitions(kind: Kind) -> list[dict]:
    defs = [{"name": "Name", "type": "string", "format": "name", "priority": 0,
             "description": "Name must be unique within a namespace."}]
    for column in kind.columns:
        defs.append({"name": column.name, "type": "string" if column.type == "date" else column.type,
                     "format": column.format, "priority": column.priority,
                     "description": column.description or column.name})
    return defs


def _row_object(obj: dict, include: str) -> dict | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {})}


def table(kind: Kind, objects: list[dict], resource_version: str = "", include: str = "Metadata",
          with_columns: bool = True) -> dict:
    now = datetime.now(UTC)
    rows = []
    for obj in objects:
        row: dict = {"cells": [obj["metadata"]["name"], *(_cell(c, obj, now) for c in kind.columns)]}
        partial = _row_object(obj, include)
        if partial is not None:
            row["object"] = partial
        rows.append(row)
    out: dict = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                 "metadata": {"resourceVersion": resource_version}, "rows": rows}
    if with_columns:
        out["columnDefinitions"] = column_definitions(kind)
    return out


def table_from_texts(kind: Kind, texts: list[str], resource_version: str, include: str) -> dict:
    return table(kind, [json.loads(t) for t in texts], resource_version, include)
