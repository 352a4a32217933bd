"""Knative-style status conditions: sorted by type, lastTransitionTime kept while the status holds."""

from __future__ import annotations

from reference.apis.times import now


def condition(type_: str, status: str | bool | None, reason: str = "", message: str = "",
              severity: str = "") -> dict:
    text = {True: "True", False: "False", None: "Unknown"}.get(status, status)  # type: ignore[arg-type]
    out = {"type": type_, "status": text}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    if severity:
        out["severity"] = severity
    return out


def merge(conditions: list[dict], previous: list[dict] | None) -> list[dict]:
    """`conditions` sorted by type, each keeping its old lastTransitionTime when its status is unchanged."""
    before = {c.get("type"): c for c in previous or []}
    out = []
    for cond in sorted(conditions, key=lambda c: c["type"]):
        old = before.get(cond["type"])
        same = old is not None and old.get("status") == cond["status"] and old.get("lastTransitionTime")
        out.append({**cond, "lastTransitionTime": old["lastTransitionTime"] if same else now()})
    return out


def get(obj: dict | None, type_: str = "Ready") -> dict:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return {"type": type_, "status": "Unknown"}


def is_true(obj: dict | None, type_: str = "Ready") -> bool:
    return get(obj, type_).get("status") == "True"


def all_of(type_: str, parts: list[dict]) -> dict:
    """The happy condition `type_` derived from its dependents: False wins, then Unknown, else True."""
    for status in ("False", "Unknown"):
        for part in parts:
            if part["status"] == status:
                return condition(type_, status, part.get("reason", ""), part.get("message", ""))
    return condition(type_, True)
