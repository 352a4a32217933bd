"""Focused checks of the CESQL engine beyond the TCK: precedence, casts, LIKE escapes, error collection,
parse error messages, Trigger matching, and agreement between the compiled and tree-walk paths."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from reference.cloudevents.cesql import ParseError, compile_expression, evaluate, evaluate_tree, matches, parse
from reference.cloudevents.cesql.like import compile_like, like_match
from reference.cloudevents.cesql.nodes import Binary, Identifier, Like, Literal, Unary

EVENT = {"specversion": "1.0", "id": "1", "source": "/apis/v1/sources/s", "type": "dev.knative.ping",
         "hop": "5", "ttl": "10", "flag": True, "count": 3}


def both(text: str, attributes: dict | None = None) -> tuple[object, list[str]]:
    """Evaluates on both paths, checks they agree, and returns (value, error kinds)."""
    attributes = EVENT if attributes is None else attributes
    compiled = compile_expression(text)(attributes)
    walked = evaluate_tree(parse(text), attributes)
    kinds = [error.kind for error in compiled[1]]
    assert (type(compiled[0]), compiled[0], kinds) == (type(walked[0]), walked[0], [e.kind for e in walked[1]])
    return compiled[0], kinds


@pytest.mark.parametrize(("text", "tree"), [
    ("a OR b AND c", Binary("AND", Binary("OR", Identifier("a"), Identifier("b")), Identifier("c"))),
    ("1 + 2 * 3", Binary("+", Literal(1), Binary("*", Literal(2), Literal(3)))),
    ("8 - 2 - 1", Binary("-", Binary("-", Literal(8), Literal(2)), Literal(1))),
    ("NOT a = b", Binary("=", Unary("NOT", Identifier("a")), Identifier("b"))),
    ("x + y LIKE 'a%'", Binary("+", Identifier("x"), Like(Identifier("y"), "a%"))),
    ("a <> -2147483648", Binary("!=", Identifier("a"), Literal(-2147483648))),
    ("4 - -1", Binary("-", Literal(4), Literal(-1))),
    ("SOURCE", Identifier("source")),
])
def test_precedence_and_normalisation(text: str, tree: object) -> None:
    assert parse(text) == tree


@pytest.mark.parametrize(("text", "value", "kinds"), [
    ("TRUE OR FALSE AND FALSE", False, []),  # equal precedence, left to right
    ("8 / 2 / 2", 2, []),
    ("-7 / 2", -3, []),  # truncated, not floored
    ("-7 % 2", -1, []),
    ("7 % -2", 1, []),
    ("hop < ttl", True, []),  # ordering casts both sides to Integer
    ("hop = 5", True, []),  # the right operand's type decides
    ("TRUE = 1", True, []),
    ("1 = TRUE", False, ["cast"]),  # Integer to Boolean is not an implicit cast
    ("'abc' + 1", 1, ["cast"]),
    ("'2147483648' + 0", 0, ["cast"]),
    ("' 5' + 0", 0, ["cast"]),
    ("'+5' + 0", 5, []),
    ("2147483647 + 1", 2147483647, ["math"]),
    ("-(-2147483648)", 2147483647, ["math"]),
    ("count IN ('3', 'x')", True, ["cast"]),
    ("flag AND count > 2", True, []),
    ("BOOL(count)", True, []),
    ("LENGTH(count * 100)", 3, []),
])
def test_semantics(text: str, value: object, kinds: list[str]) -> None:
    assert both(text) == (value, kinds)


@pytest.mark.parametrize(("text", "pattern", "expected"), [
    ("a%", r"a\%", True),
    ("ab", r"a\%", False),
    ("a_", r"a\_", True),
    ("ab", r"a\_", False),
    ("a\\b", "a\\b", True),  # a lone backslash matches itself
    ("a\\x", r"a\_", False),
    ("", "%", True),
    ("x", "", False),
    ("line\nbreak", "line_break", True),
    ("dev.knative.ping", "dev.knative.%", True),
    ("a.b.c", "%.b.%", True),
    ("abc", "%b%c%d", False),
])
def test_like_patterns(text: str, pattern: str, expected: bool) -> None:
    assert like_match(text, pattern) is expected
    assert compile_like(pattern)(text) is expected
    quoted = pattern.replace("'", "\\'")
    assert both(f"x LIKE '{quoted}'", {"x": text}) == (expected, [])


def test_prepared_like_matchers_agree_with_the_naive_one() -> None:
    rng = random.Random(7)
    alphabet = "ab%_\\"
    for _ in range(3000):
        pattern = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        text = "".join(rng.choice("ab%_\\") for _ in range(rng.randint(0, 6)))
        assert compile_like(pattern)(text) is like_match(text, pattern), (text, pattern)


def test_string_literal_escapes() -> None:
    assert both(r"""'it\'s' = "it's" """) == (True, [])
    assert both(r'''"say \"hi\"" LIKE '%"hi"' ''') == (True, [])
    assert both(r"'a\b'", {}) == ("a\\b", [])


def test_errors_are_collected_without_stopping() -> None:
    value, errors = evaluate("one = two OR LENGTH(three) > 1 XOR 1 / 0 = 0", {})
    assert value is False
    assert [error.kind for error in errors] == ["missingAttribute", "missingAttribute", "missingAttribute", "math"]
    assert "'one'" in str(errors[0])


def test_short_circuit_skips_the_errors_of_the_right_operand() -> None:
    assert both("FALSE AND missing", {}) == (False, [])
    assert both("TRUE OR 1 / 0 = 1", {}) == (True, [])
    assert both("missing AND 1 / 0 = 1", {}) == (False, ["missingAttribute"])
    assert both("missing OR 1 / 0 = 1", {}) == (False, ["missingAttribute", "math"])


def test_constant_folding_keeps_errors_fresh_for_each_evaluation() -> None:
    compiled = compile_expression("1 / 0")
    first, second = compiled({}), compiled({})
    assert first == (0, first[1]) and [e.kind for e in first[1]] == ["math"]
    assert first[1][0] is not second[1][0]


def test_unknown_function_is_an_evaluation_error() -> None:
    assert both("NOPE(1)") == (False, ["missingFunction"])
    assert both("LENGTH('a', 'b')") == (False, ["missingFunction"])
    assert both("length(type)") == (16, [])


@pytest.mark.parametrize(("text", "column", "detail"), [
    ("ABC(", 5, "expected an expression, found end of expression"),
    ("type LIKE 1", 11, "expected a string literal as the LIKE pattern, found '1'"),
    ("a = = b", 5, "expected an expression, found '='"),
    ("a b", 3, "expected an operator or the end of the expression, found 'b'"),
    ("'open", 1, "string literal opened here is not closed (missing ')"),
    ("x IN ()", 7, "expected at least one element in the IN set, found ')'"),
    ("a NOT b", 7, "expected LIKE or IN after NOT, found 'b'"),
    ("EXISTS 1", 8, "expected an attribute name after EXISTS, found '1'"),
    ("my_ext = 1", 1, "invalid attribute name 'my_ext' (letters and digits only)"),
    ("2147483648", 1, "integer 2147483648 is outside the 32-bit range"),
    ("a ! b", 3, "unexpected character '!'"),
])
def test_parse_errors_say_where_and_what(text: str, column: int, detail: str) -> None:
    with pytest.raises(ParseError) as caught:
        compile_expression(text)
    assert isinstance(caught.value, ValueError)
    assert caught.value.kind == "parse"
    assert str(caught.value) == f"column {column}: {detail}"


def test_depth_is_bounded() -> None:
    assert both(" AND ".join(["TRUE"] * 150), {}) == (True, [])
    with pytest.raises(ParseError, match="nested"):
        parse(" AND ".join(["TRUE"] * 1000))
    with pytest.raises(ParseError, match="nested"):
        parse("(" * 1000 + "1" + ")" * 1000)
    with pytest.raises(ParseError, match="nested"):
        parse("NOT " * 1000 + "TRUE")


def test_attributes_that_are_not_cesql_types_are_strings() -> None:
    attributes = {"time": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "big": 2**40}
    assert both("time LIKE '2024-01-02T03:04:05%'", attributes) == (True, [])
    assert both("big", attributes) == (str(2**40), [])


@pytest.mark.parametrize(("text", "passes"), [
    ("type LIKE 'dev.knative.%' AND EXISTS source", True),
    ("type = 'other'", False),
    ("subject = 'x'", False),  # missing attribute: false with an error
    ("NOT 10", False),  # true, but with a cast error
    ("'true'", False),  # not a Boolean
    ("1", False),
])
def test_matches_follows_trigger_semantics(text: str, passes: bool) -> None:
    assert matches(compile_expression(text), EVENT) is passes

