"""CloudEvents SQL (CESQL v1) for Trigger filters.

    compiled = compile_expression("type LIKE 'dev.knative.%' AND EXISTS subject")
    value, errors = compiled(event_attributes)
    matches(compiled, event_attributes)  # True only for a boolean true without errors

Evaluation never raises: like sdk-go, it returns a value together with the list of errors met on the
way (missing attributes, failed casts, division by zero, ...). Only a syntax error raises, ParseError
(a ValueError), from `parse` and `compile_expression`. Attributes are the event's context attributes
and extensions by name; `data` cannot be addressed.
"""

from __future__ import annotations

from collections.abc import Mapping

from reference.cloudevents.cesql.compiler import Closure, compile_tree
from reference.cloudevents.cesql.errors import (
    CastError,
    CesqlError,
    FunctionEvaluationError,
    GenericError,
    MathError,
    MissingAttributeError,
    MissingFunctionError,
    ParseError,
)
from reference.cloudevents.cesql.interpreter import evaluate_tree
from reference.cloudevents.cesql.nodes import Node
from reference.cloudevents.cesql.parser import parse

__all__ = [
    "CastError",
    "CesqlError",
    "Compiled",
    "FunctionEvaluationError",
    "GenericError",
    "MathError",
    "MissingAttributeError",
    "MissingFunctionError",
    "Node",
    "ParseError",
    "compile_expression",
    "evaluate",
    "evaluate_tree",
    "matches",
    "parse",
]


class Compiled:
    """An expression compiled once; call it with an event's attributes for (value, errors)."""

    __slots__ = ("run", "text", "tree")

    def __init__(self, text: str, tree: Node) -> None:
        self.text = text
        self.tree = tree
        self.run: Closure = compile_tree(tree)  # returns the errors as a tuple, shared when empty

    def __call__(self, attributes: Mapping[str, object]) -> tuple[object, list[CesqlError]]:
        value, errors = self.run(attributes)
        return value, list(errors)

    def matches(self, attributes: Mapping[str, object]) -> bool:
        value, errors = self.run(attributes)
        return value is True and not errors

    def __repr__(self) -> str:
        return f"Compiled({self.text!r})"


def compile_expression(text: str) -> Compiled:
    return Compiled(text, parse(text))


def evaluate(text: str, attributes: Mapping[str, object]) -> tuple[object, list[CesqlError]]:
    return compile_expression(text)(attributes)


def matches(compiled: Compiled, attributes: Mapping[str, object]) -> bool:
    """Knative's filter rule: the event passes only if the value is boolean true and nothing failed."""
    return compiled.matches(attributes)
