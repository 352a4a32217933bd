"""The naive evaluator: walks the syntax tree on every call, resolving functions and matching LIKE
patterns from scratch each time. Same semantics as the compiled closures; kept as the baseline the
benchmark compares them with."""

from __future__ import annotations

from collections.abc import Mapping

from reference.cloudevents.cesql.errors import CesqlError, MissingFunctionError
from reference.cloudevents.cesql.functions import resolve
from reference.cloudevents.cesql.like import like_match
from reference.cloudevents.cesql.nodes import Binary, Call, Exists, Identifier, In, Like, Literal, Node, Unary
from reference.cloudevents.cesql.operators import (
    COMPARISON,
    DECIDING_LEFT,
    LOGIC,
    LOGIC_FN,
    NO_ERRORS,
    Result,
    arithmetic,
    attribute,
    compare,
    contains,
    errors_of,
    logical_not,
    negate,
    result_type,
)
from reference.cloudevents.cesql.values import ZERO, Value, to_boolean, to_string


def evaluate_tree(node: Node, attributes: Mapping[str, object]) -> tuple[object, list[CesqlError]]:
    value, errors = _evaluate(node, attributes)
    return value, list(errors)


def _evaluate(node: Node, attributes: Mapping[str, object]) -> Result:
    match node:
        case Literal(value=value):
            return value, NO_ERRORS
        case Identifier(name=name):
            return attribute(attributes, name)
        case Exists(name=name):
            return attributes.get(name) is not None, NO_ERRORS
        case Unary():
            return _unary(node, attributes)
        case Binary(op=op) if op in LOGIC:
            return _logic(node, attributes)
        case Binary():
            return _binary(node, attributes)
        case Like():
            return _like(node, attributes)
        case In():
            return _in(node, attributes)
        case Call():
            return _call(node, attributes)
    raise TypeError(f"not a CESQL node: {node!r}")


def _unary(node: Unary, attributes: Mapping[str, object]) -> Result:
    value, errors = _evaluate(node.operand, attributes)
    if errors:
        return ZERO[result_type(node.op)], errors
    return logical_not(value) if node.op == "NOT" else negate(value)


def _binary(node: Binary, attributes: Mapping[str, object]) -> Result:
    left, left_errors = _evaluate(node.left, attributes)
    right, right_errors = _evaluate(node.right, attributes)
    if left_errors or right_errors:
        return ZERO[result_type(node.op)], left_errors + right_errors
    return compare(node.op, left, right) if node.op in COMPARISON else arithmetic(node.op, left, right)


def _logic(node: Binary, attributes: Mapping[str, object]) -> Result:
    left, errors = _evaluate(node.left, attributes)
    if errors:  # an erroneous left operand counts as false: AND stops, OR and XOR go on
        if node.op == "AND":
            return False, errors
        return False, errors + _evaluate(node.right, attributes)[1]
    left_flag, left_error = to_boolean(left)
    if DECIDING_LEFT.get(node.op) is left_flag:
        return left_flag, errors_of(left_error)
    right, errors = _evaluate(node.right, attributes)
    if errors:
        return False, errors_of(left_error) + errors
    right_flag, right_error = to_boolean(right)
    return LOGIC_FN[node.op](left_flag, right_flag), errors_of(left_error, right_error)


def _like(node: Like, attributes: Mapping[str, object]) -> Result:
    value, errors = _evaluate(node.operand, attributes)
    if errors:
        return False, errors
    return like_match(to_string(value)[0], node.pattern) != node.negated, NO_ERRORS


def _in(node: In, attributes: Mapping[str, object]) -> Result:
    value, errors = _evaluate(node.operand, attributes)
    items: list[Value] = []
    for item_node in node.items:
        item, item_errors = _evaluate(item_node, attributes)
        items.append(item)
        errors += item_errors
    if errors:
        return False, errors
    found, cast_errors = contains(value, items)
    return found != node.negated, cast_errors


def _call(node: Call, attributes: Mapping[str, object]) -> Result:
    function = resolve(node.name, len(node.args))
    if function is None:
        return False, (MissingFunctionError(f"no function {node.name} taking {len(node.args)} argument(s)"),)
    args: list[Value] = []
    errors = NO_ERRORS
    for arg_node in node.args:
        arg, arg_errors = _evaluate(arg_node, attributes)
        args.append(arg)
        errors += arg_errors
    if errors:
        return ZERO[function.returns], errors
    return function.invoke(args)
