"""Knative-style status conditions: sorted by type, lastTransitionTime kept while the status holds."""

from __future__ import annotations

from typing import Any

from reference.apis.times import now

Condition = dict[str, Any]  # {"type", "status", "reason"?, "message"?, "severity"?, "lastTransitionTime"?}
_STATUS = {True: "True", False: "False", None: "Unknown"}


def condition(type_: str, status: str | bool | None, reason: str = "", message: str = "",
              severity: str = "") -> Condition:
    text = status if isinstance(status, str) else _STATUS[status]
    out: Condition = {"type": type_, "status": text}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    if severity:
        out["severity"] = severity
    return out


def merge(conditions: list[Condition], previous: list[Condition] | None) -> list[Condition]:
    """`conditions` sorted by type, each keeping its old lastTransitionTime when its status is unchanged."""
    before = {c.get("type"): c for c in previous or []}
    out = []
    for cond in sorted(conditions, key=lambda c: c["type"]):
        old = before.get(cond["type"])
        kept = old.get("lastTransitionTime") if old is not None and old.get("status") == cond["status"] else None
        out.append({**cond, "lastTransitionTime": kept or now()})
    return out


def get(obj: dict[str, Any] | None, type_: str = "Ready") -> Condition:
    conditions: list[Condition] = ((obj or {}).get("status") or {}).get("conditions") or []
    for cond in conditions:
        if cond.get("type") == type_:
            return cond
    return {"type": type_, "status": "Unknown"}


def is_true(obj: dict[str, Any] | None, type_: str = "Ready") -> bool:
    return get(obj, type_).get("status") == "True"


def all_of(type_: str, parts: list[Condition]) -> Condition:
    """The happy condition `type_` derived from its dependents: False wins, then Unknown, else True."""
    for status in ("False", "Unknown"):
        for part in parts:
            if part["status"] == status:
                return condition(type_, status, part.get("reason", ""), part.get("message", ""))
    return condition(type_, True)
