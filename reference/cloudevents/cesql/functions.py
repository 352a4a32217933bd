"""The built-in functions of CESQL v1 and how a call is dispatched (by name and arity).

A body receives arguments already cast to its parameter types and returns its value with the errors it
raised; on an error it still returns a value of its return type (CESQL functions are total).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reference.cloudevents.cesql.errors import CesqlError, FunctionEvaluationError, MathError
from reference.cloudevents.cesql.values import INT_MAX, INT_MIN, PYTHON_TYPE, Type, Value, cast, to_integer, to_string

Errors = tuple[CesqlError, ...]
Body = Callable[..., tuple[Value, Errors]]
NO_ERRORS: Errors = ()
# Characters with Unicode's White_Space property (str.strip() would also drop some control characters).
UNICODE_WHITESPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
    "\u2028\u2029\u202f\u205f\u3000"


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    params: tuple[Type | None, ...]  # None accepts any type as it is
    returns: Type
    body: Body
    variadic: bool = False  # the last parameter repeats zero or more times

    def accepts(self, arity: int) -> bool:
        return arity >= len(self.params) - 1 if self.variadic else arity == len(self.params)

    def param(self, index: int) -> Type | None:
        return self.params[min(index, len(self.params) - 1)]

    def invoke(self, args: Sequence[Value]) -> tuple[Value, Errors]:
        """Casts the arguments (a failed cast passes the zero value on, with a CastError) and runs the body."""
        cast_errors: list[CesqlError] = []
        ready: list[Value] = []
        for index, arg in enumerate(args):
            target = self.param(index)
            if target is not None and type(arg) is not PYTHON_TYPE[target]:
                arg, error = cast(arg, target)
                if error is not None:
                    cast_errors.append(error)
            ready.append(arg)
        value, errors = self.body(*ready)
        return value, (*cast_errors, *errors) if cast_errors else errors


def resolve(name: str, arity: int) -> Function | None:
    """The built-in `name` (upper case) taking `arity` arguments, or None."""
    return next((fn for fn in BUILTINS.get(name, ()) if fn.accepts(arity)), None)


# Casting functions: explicit, so unlike implicit casts BOOL() also turns integers into booleans.

def _int(value: Value) -> tuple[Value, Errors]:
    number, error = to_integer(value)
    return number, (error,) if error else NO_ERRORS


def _bool(value: Value) -> tuple[Value, Errors]:
    if type(value) is int:
        return value != 0, NO_ERRORS
    flag, error = cast(value, Type.BOOLEAN)
    return flag, (error,) if error else NO_ERRORS


def _string(value: Value) -> tuple[Value, Errors]:
    return to_string(value)[0], NO_ERRORS


# String functions

def _length(text: str) -> tuple[Value, Errors]:
    return len(text), NO_ERRORS


def _concat(*parts: str) -> tuple[Value, Errors]:
    return "".join(parts), NO_ERRORS


def _concat_ws(separator: str, *parts: str) -> tuple[Value, Errors]:
    return separator.join(parts), NO_ERRORS


def _lower(text: str) -> tuple[Value, Errors]:
    return text.lower(), NO_ERRORS


def _upper(text: str) -> tuple[Value, Errors]:
    return text.upper(), NO_ERRORS


def _trim(text: str) -> tuple[Value, Errors]:
    return text.strip(UNICODE_WHITESPACE), NO_ERRORS


def _left(text: str, count: int) -> tuple[Value, Errors]:
    if count < 0:
        return text, (FunctionEvaluationError(f"LEFT: negative length {count}"),)
    return text[:count], NO_ERRORS


def _right(text: str, count: int) -> tuple[Value, Errors]:
    if count < 0:
        return text, (FunctionEvaluationError(f"RIGHT: negative length {count}"),)
    return (text[len(text) - count :] if count < len(text) else text), NO_ERRORS


def _substring(text: str, position: int, length: int | None = None) -> tuple[Value, Errors]:
    """Positions count from 1; negative ones count back from the end; 0 gives the empty string."""
    if not -len(text) <= position <= len(text):
        return "", (FunctionEvaluationError(f"SUBSTRING: position {position} outside a string of {len(text)}"),)
    if length is not None and length < 0:
        return "", (FunctionEvaluationError(f"SUBSTRING: negative length {length}"),)
    if position == 0:
        return "", NO_ERRORS
    start = position - 1 if position > 0 else len(text) + position
    return (text[start:] if length is None else text[start : start + length]), NO_ERRORS


# Integer functions

def _abs(number: int) -> tuple[Value, Errors]:
    if number == INT_MIN:
        return INT_MAX, (MathError("ABS(-2147483648) overflows a 32-bit integer"),)
    return abs(number), NO_ERRORS


def _table(*functions: Function) -> dict[str, tuple[Function, ...]]:
    table: dict[str, tuple[Function, ...]] = {}
    for fn in functions:
        table[fn.name] = (*table.get(fn.name, ()), fn)
    return table


_S, _I = Type.STRING, Type.INTEGER
BUILTINS = _table(
    Function("INT", (None,), Type.INTEGER, _int),
    Function("BOOL", (None,), Type.BOOLEAN, _bool),
    Function("STRING", (None,), Type.STRING, _string),
    Function("LENGTH", (_S,), Type.INTEGER, _length),
    Function("CONCAT", (_S,), Type.STRING, _concat, variadic=True),
    Function("CONCAT_WS", (_S, _S), Type.STRING, _concat_ws, variadic=True),
    Function("LOWER", (_S,), Type.STRING, _lower),
    Function("UPPER", (_S,), Type.STRING, _upper),
    Function("TRIM", (_S,), Type.STRING, _trim),
    Function("LEFT", (_S, _I), Type.STRING, _left),
    Function("RIGHT", (_S, _I), Type.STRING, _right),
    Function("SUBSTRING", (_S, _I), Type.STRING, _substring),
    Function("SUBSTRING", (_S, _I, _I), Type.STRING, _substring),
    Function("ABS", (_I,), Type.INTEGER, _abs),
)


def register(function: Function) -> None:
    """Adds a function to the built-ins (sdk-go's runtime.AddFunction), as a component that needs one does
    before it compiles expressions: Knative's RequestReply adds KN_VERIFY_CORRELATION_ID. A function of the
    same name and arity is replaced."""
    kept = tuple(fn for fn in BUILTINS.get(function.name, ()) if fn.params != function.params
                 or fn.variadic != function.variadic)
    BUILTINS[function.name] = (*kept, function)
