"""Trigger filters compiled once into predicates over an event's attributes.

Knative's rules: a non-empty `spec.filters` wins and `spec.filter` is ignored. `filter.attributes`: every
key must be present; "" means present and non-empty, anything else an exact, case-sensitive match.
Dialects: exact / prefix / suffix (a missing attribute fails); all (every one; empty passes); any (one
of them; empty passes); not; cesql (empty passes; an error or false fails). `cel` is kproof's extension
(seed 000 names CEL filters): a CEL expression over the attributes and, for JSON events, `data`.
"""

from __future__ import annotations

from collections.abc import Callable

from reference.cloudevents.codec import Event

Predicate = Callable[[Event], bool]


def _always(_: Event) -> bool:
    return True


def attributes_filter(attributes: dict[str, str]) -> Predicate:
    if not attributes:
        return _always
    wanted = list(attributes.items())

    def matches(event: Event) -> bool:
        have = event.attributes
        for key, value in wanted:
            actual = have.get(key)
            if actual is None or (value == "" and actual == "") or (value != "" and actual != value):
                return False
        return True

    return matches


def _string_test(mapping: dict[str, str], test: Callable[[str, str], bool]) -> Predicate:
    items = list(mapping.items())

    def matches(event: Event) -> bool:
        return all(key in event.attributes and test(event.attributes[key], value) for key, value in items)

    return matches


def _cesql(expression: str) -> Predicate:
    if not expression.strip():
        return _always
    from reference.cloudevents import cesql

    compiled = cesql.compile_expression(expression)
    return lambda event: compiled.matches(event.attributes)


def _cel(expression: str) -> Predicate:
    if not expression.strip():
        return _always
    import celpy

    environment = celpy.Environment()
    program = environment.program(environment.compile(expression))

    def matches(event: Event) -> bool:
        variables: dict = dict(event.attributes)
        try:
            variables["data"] = event.json()
        except ValueError:
            variables["data"] = event.data.decode(errors="replace") if event.data else None
        try:
            return bool(program.evaluate({name: celpy.json_to_cel(value) for name, value in variables.items()}))
        except Exception:  # an evaluation error fails the filter, as in CESQL
            return False

    return matches


def validate_cel(expression: str) -> None:
    """Raises ValueError with the parser's message for a malformed CEL expression."""
    import celpy

    try:
        celpy.Environment().compile(expression)
    except Exception as err:
        raise ValueError(str(err)) from err


def compile_dialect(expression: dict) -> Predicate:
    """One entry of `spec.filters` (recursively)."""
    if "exact" in expression:
        return _string_test(expression["exact"], lambda have, want: have == want)
    if "prefix" in expression:
        return _string_test(expression["prefix"], lambda have, want: have.startswith(want))
    if "suffix" in expression:
        return _string_test(expression["suffix"], lambda have, want: have.endswith(want))
    if "all" in expression:
        parts = [compile_dialect(e) for e in expression["all"]]
        return lambda event: all(p(event) for p in parts)
    if "any" in expression:
        parts = [compile_dialect(e) for e in expression["any"]]
        if not parts:
            return _always
        return lambda event: any(p(event) for p in parts)
    if "not" in expression:
        inner = compile_dialect(expression["not"])
        return lambda event: not inner(event)
    if "cesql" in expression:
        return _cesql(expression["cesql"])
    if "cel" in expression:
        return _cel(expression["cel"])
    return _always


def compile_trigger(spec: dict) -> Predicate:
    """The predicate of a Trigger's spec: `filters` when non-empty, else `filter.attributes`."""
    filters = spec.get("filters") or []
    if filters:
        parts = [compile_dialect(f) for f in filters]
        return lambda event: all(p(event) for p in parts)
    return attributes_filter(((spec.get("filter") or {}).get("attributes")) or {})
