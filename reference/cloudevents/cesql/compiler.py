"""Turns a syntax tree into nested closures once, so evaluating an event is a single call.

Work that does not depend on the event is done here: functions are resolved, LIKE patterns prepared,
IN sets of literals cast in advance for each type the operand may have, and sub-expressions made only
of literals folded into constants. The closures take fast paths when operands already have the type an
operator needs and otherwise defer to `operators`, whose semantics the tree walk shares.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from reference.cloudevents.cesql.errors import MissingFunctionError
from reference.cloudevents.cesql.functions import Function, resolve
from reference.cloudevents.cesql.like import compile_like
from reference.cloudevents.cesql.nodes import Binary, Call, Exists, Identifier, In, Like, Literal, Node, Unary
from reference.cloudevents.cesql.operators import (
    ARITHMETIC,
    DECIDING_LEFT,
    EQUALITY,
    LOGIC,
    LOGIC_FN,
    NO_ERRORS,
    ORDERING,
    Errors,
    Result,
    arithmetic,
    attribute,
    compare,
    contains,
    errors_of,
    logical_not,
    negate,
)
from reference.cloudevents.cesql.values import PYTHON_TYPE, ZERO, Type, Value, cast, to_boolean, to_string

Attributes = Mapping[str, object]
Closure = Callable[[Attributes], Result]
Builder = Callable[..., Closure]
_NO_ATTRIBUTES: Attributes = {}


@dataclass(frozen=True, slots=True)
class Code:
    run: Closure
    constant: bool = False  # the same result for every event


def compile_tree(node: Node) -> Closure:
    return _compile(node).run


def _compile(node: Node) -> Code:
    match node:
        case Literal(value=value):
            return _constant((value, NO_ERRORS))
        case Identifier(name=name):
            return Code(_identifier(name))
        case Exists(name=name):
            return Code(lambda attributes: (attributes.get(name) is not None, NO_ERRORS))
        case Unary(op=op, operand=operand):
            return _fold([_compile(operand)], _not if op == "NOT" else _negate)
        case Binary(op=op, left=left, right=right):
            return _fold([_compile(left), _compile(right)], _binary_builder(op))
        case Like(operand=operand, pattern=pattern, negated=negated):
            return _fold([_compile(operand)], _like(pattern, negated))
        case In(operand=operand, items=items, negated=negated):
            return _in(_compile(operand), [_compile(item) for item in items], negated)
        case Call(name=name, args=args):
            return _call(name, [_compile(arg) for arg in args])
    raise TypeError(f"not a CESQL node: {node!r}")


def _constant(result: Result) -> Code:
    return Code(lambda _: result, constant=True)


def _fold(operands: Sequence[Code], build: Builder) -> Code:
    """The closure `build` makes from the operands' closures; computed right away when every operand
    is constant and the result has no errors (errors are left to each evaluation, fresh each time)."""
    run = build(*(operand.run for operand in operands))
    if all(operand.constant for operand in operands):
        result = run(_NO_ATTRIBUTES)
        if not result[1]:
            return _constant(result)
    return Code(run)


def _binary_builder(op: str) -> Builder:
    if op in LOGIC:
        return _logic(op)
    if op in EQUALITY:
        return _equality(op)
    if op in ORDERING:
        return _ordering(op)
    return _arithmetic(op)


def _identifier(name: str) -> Closure:
    def run(attributes: Attributes) -> Result:
        value = attributes.get(name)
        if type(value) is str:  # the usual case, answered without another call
            return value, NO_ERRORS
        return attribute(attributes, name)

    return run


def _not(operand: Closure) -> Closure:
    def run(attributes: Attributes) -> Result:
        value, errors = operand(attributes)
        if errors:
            return False, errors
        if type(value) is bool:
            return not value, NO_ERRORS
        return logical_not(value)

    return run


def _negate(operand: Closure) -> Closure:
    def run(attributes: Attributes) -> Result:
        value, errors = operand(attributes)
        return (0, errors) if errors else negate(value)

    return run


def _flag(value: Value) -> tuple[bool, Errors]:
    if type(value) is bool:
        return value, NO_ERRORS
    flag, error = to_boolean(value)
    return flag, errors_of(error)


def _logic(op: str) -> Builder:
    deciding = DECIDING_LEFT.get(op)  # AND stops at false, OR at true, XOR never
    combine = LOGIC_FN[op]

    def build(left: Closure, right: Closure) -> Closure:
        def run(attributes: Attributes) -> Result:
            value, errors = left(attributes)
            if errors:  # an erroneous left operand counts as false: AND stops, OR and XOR go on
                return (False, errors) if deciding is False else (False, errors + right(attributes)[1])
            left_flag, cast_errors = _flag(value)
            if left_flag is deciding:
                return left_flag, cast_errors
            value, errors = right(attributes)
            if errors:
                return False, cast_errors + errors
            right_flag, right_cast_errors = _flag(value)
            return combine(left_flag, right_flag), cast_errors + right_cast_errors

        return run

    return build


def _equality(op: str) -> Builder:
    expect_equal = op == "="

    def build(left: Closure, right: Closure) -> Closure:
        def run(attributes: Attributes) -> Result:
            x, left_errors = left(attributes)
            y, right_errors = right(attributes)
            if left_errors or right_errors:
                return False, left_errors + right_errors
            if type(x) is type(y):
                return (x == y) is expect_equal, NO_ERRORS
            return compare(op, x, y)

        return run

    return build


def _ordering(op: str) -> Builder:
    test = ORDERING[op]

    def build(left: Closure, right: Closure) -> Closure:
        def run(attributes: Attributes) -> Result:
            x, left_errors = left(attributes)
            y, right_errors = right(attributes)
            if left_errors or right_errors:
                return False, left_errors + right_errors
            if type(x) is int and type(y) is int:
                return test(x, y), NO_ERRORS
            return compare(op, x, y)

        return run

    return build


def _arithmetic(op: str) -> Builder:
    apply = ARITHMETIC[op]

    def build(left: Closure, right: Closure) -> Closure:
        def run(attributes: Attributes) -> Result:
            x, left_errors = left(attributes)
            y, right_errors = right(attributes)
            if left_errors or right_errors:
                return 0, left_errors + right_errors
            if type(x) is int and type(y) is int:
                return apply(x, y)
            return arithmetic(op, x, y)

        return run

    return build


def _like(pattern: str, negated: bool) -> Builder:
    matcher = compile_like(pattern)

    def build(operand: Closure) -> Closure:
        def run(attributes: Attributes) -> Result:
            value, errors = operand(attributes)
            if errors:
                return False, errors
            if type(value) is not str:
                value = to_string(value)[0]
            return matcher(value) is not negated, NO_ERRORS

        return run

    return build


def _in(operand: Code, items: list[Code], negated: bool) -> Code:
    if all(item.constant for item in items):
        return _fold([operand], _in_constants([item.run(_NO_ATTRIBUTES)[0] for item in items], negated))
    runs = [item.run for item in items]

    def run(attributes: Attributes) -> Result:
        value, errors = operand.run(attributes)
        values: list[Value] = []
        for item in runs:
            item_value, item_errors = item(attributes)
            values.append(item_value)
            errors += item_errors
        if errors:
            return False, errors
        found, cast_errors = contains(value, values)
        return found is not negated, cast_errors

    return Code(run)


def _in_constants(items: list[Value], negated: bool) -> Builder:
    """A set of literals, cast once to each type the operand may have: membership is then a hash
    lookup. Where casting an item fails, evaluation casts again (to report fresh errors)."""
    sets: dict[type, frozenset[Value]] = {}
    for kind in Type:
        members = [cast(item, kind) for item in items]
        if all(error is None for _, error in members):
            sets[PYTHON_TYPE[kind]] = frozenset(value for value, _ in members)

    def build(operand: Closure) -> Closure:
        def run(attributes: Attributes) -> Result:
            value, errors = operand(attributes)
            if errors:
                return False, errors
            members = sets.get(type(value))
            if members is None:
                found, cast_errors = contains(value, items)
                return found is not negated, cast_errors
            return (value in members) is not negated, NO_ERRORS

        return run

    return build


def _call(name: str, args: list[Code]) -> Code:
    function = resolve(name, len(args))
    if function is None:
        message = f"no function {name} taking {len(args)} argument(s)"
        return Code(lambda _: (False, (MissingFunctionError(message),)))
    return _fold(args, _invocation(function, len(args)))


def _invocation(function: Function, arity: int) -> Builder:
    zero = ZERO[function.returns]
    body = function.body
    # The Python type each argument must already have to skip casting (None: any type will do).
    kinds = tuple(None if target is None else PYTHON_TYPE[target] for target in map(function.param, range(arity)))

    def build(*args: Closure) -> Closure:
        def run(attributes: Attributes) -> Result:
            values: list[Value] = []
            errors: Errors = NO_ERRORS
            for arg in args:
                value, arg_errors = arg(attributes)
                values.append(value)
                if arg_errors:
                    errors += arg_errors
            if errors:
                return zero, errors
            for value, kind in zip(values, kinds, strict=True):
                if kind is not None and type(value) is not kind:
                    return function.invoke(values)  # casts needed: the general path
            return body(*values)

        return run

    return build
