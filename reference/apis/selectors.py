"""metav1.LabelSelector over an object's labels: matchLabels and matchExpressions (In, NotIn, Exists,
DoesNotExist), all of them ANDed; an empty selector matches everything, a missing one nothing."""

from __future__ import annotations

from typing import Any

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def _expression(requirement: dict[str, Any], labels: dict[str, str]) -> bool:
    key, operator = requirement.get("key", ""), requirement.get("operator", "")
    values = requirement.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False


def matches(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    if selector is None:
        return False
    labels = labels or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    return all(_expression(r, labels) for r in selector.get("matchExpressions") or [])


def problems(selector: dict[str, Any] | None) -> list[str]:
    """What makes a selector invalid (LabelSelectorAsSelector's errors), by field path."""
    out = []
    for i, requirement in enumerate((selector or {}).get("matchExpressions") or []):
        operator = requirement.get("operator")
        if operator not in OPERATORS:
            out.append(f"matchExpressions[{i}].operator")
        elif (operator in ("In", "NotIn")) != bool(requirement.get("values")):
            out.append(f"matchExpressions[{i}].values")
    return out


def as_string(selector: dict[str, Any] | None) -> str:
    """The selector in the labelSelector query syntax (metav1.FormatLabelSelector without the sorting quirks)."""
    parts = [f"{k}={v}" for k, v in sorted(((selector or {}).get("matchLabels") or {}).items())]
    for requirement in (selector or {}).get("matchExpressions") or []:
        key, operator, values = requirement.get("key", ""), requirement.get("operator"), requirement.get("values")
        if operator == "In":
            parts.append(f"{key} in ({','.join(values or [])})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({','.join(values or [])})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)
