"""Operator semantics on already evaluated operands, shared by the compiled closures and the tree walk.

The error rules, the same on both paths:
- an operand that evaluated with errors makes its operator return the zero value of the operator's
  return type, passing those errors on (so `missing / 0` is 0 with a MissingAttributeError only);
- a cast the operator itself needs and cannot do gives a CastError, and the operator goes on with the
  zero value of the cast's target type (so `NOT 10` is true with a CastError);
- the operator's own failures (division by zero, overflow) give a MathError next to a defined value.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence

from reference.cloudevents.cesql.errors import CesqlError, MathError, MissingAttributeError
from reference.cloudevents.cesql.values import (
    INT_MAX,
    INT_MIN,
    TYPE_OF,
    Type,
    Value,
    cast,
    from_attribute,
    to_boolean,
    to_integer,
)

Errors = tuple[CesqlError, ...]
Result = tuple[Value, Errors]
NO_ERRORS: Errors = ()

LOGIC = frozenset({"AND", "OR", "XOR"})
EQUALITY = frozenset({"=", "!="})
ORDERING: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
COMPARISON = EQUALITY | ORDERING.keys()
# AND stops at a false left operand, OR at a true one.
DECIDING_LEFT = {"AND": False, "OR": True}
LOGIC_FN: dict[str, Callable[[bool, bool], bool]] = {
    "AND": operator.and_, "OR": operator.or_, "XOR": operator.xor,
}


def attribute(attributes: Mapping[str, object], name: str) -> Result:
    """An attribute's value; a missing one is `false` (the spec's choice when the type is unknown)."""
    value = attributes.get(name)
    if type(value) is str:
        return value, NO_ERRORS
    if value is None:
        return False, (MissingAttributeError(f"missing attribute {name!r}"),)
    return from_attribute(value), NO_ERRORS


def errors_of(*maybe: CesqlError | None) -> Errors:
    return tuple(error for error in maybe if error is not None)


def result_type(op: str) -> Type:
    """The return type of a unary or binary operator, whose zero value it returns on operand errors."""
    return Type.BOOLEAN if op in COMPARISON or op in LOGIC or op == "NOT" else Type.INTEGER


def logical_not(value: Value) -> Result:
    flag, error = to_boolean(value)
    return (not flag), errors_of(error)


def negate(value: Value) -> Result:
    number, error = to_integer(value)
    result, overflow = _in_range(-number)
    return result, errors_of(error, overflow)


def arithmetic(op: str, left: Value, right: Value) -> Result:
    x, left_error = to_integer(left)
    y, right_error = to_integer(right)
    value, errors = ARITHMETIC[op](x, y)
    return value, errors_of(left_error, right_error) + errors


def compare(op: str, left: Value, right: Value) -> Result:
    if op in EQUALITY:
        same, errors = equals(left, right)
        return same == (op == "="), errors
    x, left_error = to_integer(left)
    y, right_error = to_integer(right)
    return ORDERING[op](x, y), errors_of(left_error, right_error)


def equals(left: Value, right: Value) -> tuple[bool, Errors]:
    """`=` is defined for each type; the right operand's type picks which, the left one is cast to it."""
    if type(left) is type(right):
        return left == right, NO_ERRORS
    converted, error = cast(left, TYPE_OF[type(right)])
    return converted == right, errors_of(error)


def contains(left: Value, items: Sequence[Value]) -> tuple[bool, Errors]:
    """IN: equality against each item, the items cast to the left operand's type."""
    target = TYPE_OF[type(left)]
    found = False
    errors: list[CesqlError] = []
    for item in items:
        converted, error = cast(item, target)
        if error is not None:
            errors.append(error)
        found = found or converted == left
    return found, tuple(errors)


def _in_range(number: int) -> tuple[int, MathError | None]:
    """32-bit results; an overflow saturates (as ABS(-2147483648) does) and is a MathError."""
    if number > INT_MAX:
        return INT_MAX, MathError(f"integer overflow: {number} > {INT_MAX}")
    if number < INT_MIN:
        return INT_MIN, MathError(f"integer overflow: {number} < {INT_MIN}")
    return number, None


def _checked(number: int) -> Result:
    value, error = _in_range(number)
    return value, errors_of(error)


def _divide(x: int, y: int) -> Result:
    if y == 0:
        return 0, (MathError("division by zero"),)
    quotient = abs(x) // abs(y)  # truncated towards zero, unlike Python's floor division
    return _checked(quotient if (x < 0) == (y < 0) else -quotient)


def _remainder(x: int, y: int) -> Result:
    if y == 0:
        return 0, (MathError("modulo by zero"),)
    remainder = abs(x) % abs(y)  # takes the sign of the dividend
    return (remainder if x >= 0 else -remainder), NO_ERRORS


ARITHMETIC: dict[str, Callable[[int, int], Result]] = {
    "+": lambda x, y: _checked(x + y),
    "-": lambda x, y: _checked(x - y),
    "*": lambda x, y: _checked(x * y),
    "/": _divide,
    "%": _remainder,
}
