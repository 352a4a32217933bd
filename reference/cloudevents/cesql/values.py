"""CESQL's three types and the casts between them.

Casts return the converted value and, when the cast is not defined for that value, a CastError next to
the target type's zero value, so the caller can go on evaluating.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from enum import Enum

from reference.cloudevents.cesql.errors import CastError

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
DECIMAL = re.compile(r"[+-]?[0-9]+")

Value = bool | int | str


class Type(Enum):
    BOOLEAN = "Boolean"
    INTEGER = "Integer"
    STRING = "String"


ZERO: dict[Type, Value] = {Type.BOOLEAN: False, Type.INTEGER: 0, Type.STRING: ""}
PYTHON_TYPE: dict[Type, type] = {Type.BOOLEAN: bool, Type.INTEGER: int, Type.STRING: str}
TYPE_OF: dict[type, Type] = {python: cesql for cesql, python in PYTHON_TYPE.items()}


def to_string(value: Value) -> tuple[str, CastError | None]:
    if type(value) is bool:
        return ("true" if value else "false"), None
    return str(value), None


def to_integer(value: Value) -> tuple[int, CastError | None]:
    if type(value) is int:
        return value, None
    if type(value) is bool:
        return int(value), None
    if isinstance(value, str) and DECIMAL.fullmatch(value):
        number = int(value)
        if INT_MIN <= number <= INT_MAX:
            return number, None
        return 0, CastError(f"cannot cast {value!r} to Integer: out of the 32-bit range")
    return 0, CastError(f"cannot cast {value!r} to Integer")


def to_boolean(value: Value) -> tuple[bool, CastError | None]:
    """The implicit cast to Boolean. Integers do not cast implicitly (the TCK's `NOT 10` is a cast
    error); only the explicit BOOL() function turns them into booleans."""
    if type(value) is bool:
        return value, None
    if type(value) is str:
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered == "true", None
        return False, CastError(f"cannot cast {value!r} to Boolean")
    return False, CastError(f"cannot cast the Integer {value} to Boolean implicitly (use BOOL())")


CASTS: dict[Type, Callable[[Value], tuple[Value, CastError | None]]] = {
    Type.BOOLEAN: to_boolean,
    Type.INTEGER: to_integer,
    Type.STRING: to_string,
}


def cast(value: Value, target: Type) -> tuple[Value, CastError | None]:
    return CASTS[target](value)


def from_attribute(value: object) -> Value:
    """An attribute as CESQL sees it: booleans, 32-bit integers and strings as they are, anything else
    (timestamps, URIs, larger integers) as a String."""
    if type(value) is str or type(value) is bool:
        return value
    if type(value) is int and INT_MIN <= value <= INT_MAX:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
