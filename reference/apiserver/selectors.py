"""Label and field selectors, parsed once per request into predicates over objects."""

from __future__ import annotations

import re
from collections.abc import Callable

from reference.apiserver.admission.numbers import parse_int
from reference.apiserver.objectmeta import label_causes, qualified_name_problems

Predicate = Callable[[dict], bool]

_SET_RE = re.compile(r"^\s*([^\s!=<>]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_CMP_RE = re.compile(r"^\s*([^\s!=<>]+)\s*(==|=|!=|>|<)\s*([^\s]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([^\s!=<>(),]+)\s*$")


class SelectorError(ValueError):
    pass


def _split_terms(text: str) -> list[str]:
    """Splits on commas outside parentheses: `a in (x,y),b` -> ["a in (x,y)", "b"]."""
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return [t for t in terms if t.strip()]


# Field labels Kubernetes lets each kind be selected by; every kind has metadata.name and metadata.namespace.
FIELD_LABELS = {
    "pods": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
             "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"),
    "events": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
               "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
               "reportingComponent", "source", "type"),
    "nodes": ("spec.unschedulable",),
    "secrets": ("type",),
    "namespaces": ("status.phase",),
}


def _checked(term: str, key: str, values: list[str]) -> None:
    """Keys and values as Kubernetes' selector parser takes them: a qualified name, valid label values."""
    problems = [f"key: Invalid value: {key!r}: {p}" for p in qualified_name_problems(key)]
    problems += [f"values[{i}][{key}]: Invalid value: {v!r}: {c.message.split(': ', 2)[-1]}"
                 for i, v in enumerate(values) for c in label_causes({"k": v})]
    if problems:
        raise SelectorError(f"unable to parse requirement: {problems[0]} (in {term!r})")


def _label_term(term: str) -> Predicate:
    if m := _SET_RE.match(term):
        key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
        _checked(term, key, sorted(values))
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _CMP_RE.match(term):
        key, op, value = m.groups()
        _checked(term, key, [value])
        if op in ("=", "=="):
            return lambda labels: labels.get(key) == value
        if op == "!=":
            return lambda labels: labels.get(key) != value
        try:
            bound = parse_int(value)  # as Go's ParseInt reads it: no spaces, underscores or other digits
        except ValueError as err:
            raise SelectorError(f"invalid label selector {term!r}: {op} needs an integer") from err

        def compare(labels: dict) -> bool:
            try:
                have = parse_int(labels[key])
            except (KeyError, ValueError):
                return False
            return have > bound if op == ">" else have < bound

        return compare
    if m := _EXISTS_RE.match(term):
        negate, key = m.group(1) == "!", m.group(2)
        _checked(term, key, [])
        return (lambda labels: key not in labels) if negate else (lambda labels: key in labels)
    raise SelectorError(f"unable to parse requirement: {term!r}")


def label_selector(text: str | None) -> Predicate | None:
    """`app=x,tier in (a,b),!canary` -> a predicate over whole objects; None matches everything."""
    if not text or not text.strip():
        return None
    terms = [_label_term(t) for t in _split_terms(text)]

    def matches(obj: dict) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(term(labels) for term in terms)

    return matches


def field_value(obj: dict, path: str) -> str:
    """The string form of a dotted field path, "" when absent (how field selectors compare)."""
    value: object = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_selector(text: str | None, plural: str | None = None) -> Predicate | None:
    """`metadata.name=x,involvedObject.kind!=Pod` -> a predicate; a field the kind (its `plural`) cannot be
    selected by is refused, as Kubernetes refuses it ("field label not supported")."""
    if not text or not text.strip():
        return None
    checks: list[tuple[str, bool, str]] = []
    for term in _split_terms(text):
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise SelectorError(f"invalid selector: {term!r}; can't understand {term!r}")
        if plural is not None and m.group(1) not in ("metadata.name", "metadata.namespace",
                                                     *FIELD_LABELS.get(plural, ())):
            raise SelectorError(f'field label not supported: {m.group(1)}')
        checks.append((m.group(1), m.group(2) != "!=", m.group(3)))

    def matches(obj: dict) -> bool:
        return all((field_value(obj, path) == want) == equal for path, equal, want in checks)

    return matches


def both(*predicates: Predicate | None) -> Predicate | None:
    active = [p for p in predicates if p is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]
    return lambda obj: all(p(obj) for p in active)
