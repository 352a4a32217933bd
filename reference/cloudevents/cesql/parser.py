"""Recursive-descent parser for CESQL v1.

Precedence, tightest first (CESQL v1 section 3.6), equal precedence associating to the left:

    function calls, literals, attributes, EXISTS, ( ... )
    NOT x, -x
    x [NOT] LIKE 'pattern', x [NOT] IN (...)
    * / %
    + -
    = != <> < <= > >=
    AND OR XOR
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from reference.cloudevents.cesql.errors import ParseError
from reference.cloudevents.cesql.lexer import Token, tokenize
from reference.cloudevents.cesql.nodes import Binary, Call, Exists, Identifier, In, Like, Literal, Node, Unary, children
from reference.cloudevents.cesql.values import INT_MAX, INT_MIN

LOGIC = frozenset({"AND", "OR", "XOR"})
COMPARISON = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})
ADDITIVE = frozenset({"+", "-"})
MULTIPLICATIVE = frozenset({"*", "/", "%"})
ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9]+")
FUNCTION_NAME = re.compile(r"[A-Za-z][A-Za-z_]*")
# Both bounds keep recursion well inside Python's default limit of 1000 frames: the parser spends
# about eight frames per level of parentheses, compiling and evaluating about two per tree level.
MAX_NESTING = 50
MAX_DEPTH = 200


def parse(text: str) -> Node:
    """The syntax tree of `text`; ParseError (a ValueError) says where and what was expected."""
    parser = _Parser(tokenize(text))
    tree = parser.expression()
    parser.expect_end()
    _check_depth(tree)
    return tree


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.nesting = 0

    # Token helpers

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        self.index += 1
        return token

    def at(self, kind: str, *texts: str) -> bool:
        token = self.peek()
        return token.kind == kind and (not texts or token.text in texts)

    def expect(self, kind: str, what: str) -> Token:
        if not self.at(kind):
            self.fail(f"expected {what}")
        return self.advance()

    def expect_end(self) -> None:
        if not self.at("end"):
            self.fail("expected an operator or the end of the expression")

    def fail(self, expected: str) -> NoReturn:
        token = self.peek()
        raise ParseError(f"{expected}, found {token.describe()}", token.position)

    # Grammar, loosest binding first

    @contextmanager
    def deeper(self) -> Iterator[None]:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise ParseError(f"expression is nested more than {MAX_NESTING} levels deep", self.peek().position)
        try:
            yield
        finally:
            self.nesting -= 1

    def expression(self) -> Node:
        with self.deeper():
            return self.logic()

    def logic(self) -> Node:
        node = self.comparison()
        while self.at("keyword", *LOGIC):
            op = self.advance().text
            node = Binary(op, node, self.comparison())
        return node

    def comparison(self) -> Node:
        node = self.additive()
        while self.at("op", *COMPARISON):
            op = self.advance().text
            node = Binary("!=" if op == "<>" else op, node, self.additive())
        return node

    def additive(self) -> Node:
        node = self.multiplicative()
        while self.at("op", *ADDITIVE):
            op = self.advance().text
            node = Binary(op, node, self.multiplicative())
        return node

    def multiplicative(self) -> Node:
        node = self.postfix()
        while self.at("op", *MULTIPLICATIVE):
            op = self.advance().text
            node = Binary(op, node, self.postfix())
        return node

    def postfix(self) -> Node:
        node = self.unary()
        while True:
            negated = self.at("keyword", "NOT")
            following = self.peek(1 if negated else 0)
            if following.kind != "keyword" or following.text not in ("LIKE", "IN"):
                if negated:
                    self.advance()
                    self.fail("expected LIKE or IN after NOT")
                return node
            self.index += 2 if negated else 1
            node = self.like(node, negated) if following.text == "LIKE" else self.membership(node, negated)

    def like(self, operand: Node, negated: bool) -> Node:
        pattern = self.expect("string", "a string literal as the LIKE pattern")
        return Like(operand, pattern.text, negated)

    def membership(self, operand: Node, negated: bool) -> Node:
        self.expect("(", "'(' to open the IN set")
        if self.at(")"):
            self.fail("expected at least one element in the IN set")
        return In(operand, self.expression_list(), negated)

    def unary(self) -> Node:
        if self.at("keyword", "NOT"):
            self.advance()
            with self.deeper():
                return Unary("NOT", self.unary())
        if self.at("op", "-", "+"):
            sign = self.advance()
            if self.at("int"):  # a signed integer literal, so that -2147483648 is in range
                return self.integer(sign.text)
            if sign.text == "+":
                self.fail("expected an integer after '+'")
            with self.deeper():
                return Unary("-", self.unary())
        return self.primary()

    def primary(self) -> Node:
        token = self.peek()
        if token.kind == "int":
            return self.integer("")
        if token.kind == "string":
            self.advance()
            return Literal(token.text)
        if token.kind == "keyword" and token.text in ("TRUE", "FALSE"):
            self.advance()
            return Literal(token.text == "TRUE")
        if token.kind == "keyword" and token.text == "EXISTS":
            self.advance()
            return Exists(self.attribute_name(self.expect("name", "an attribute name after EXISTS")))
        if token.kind == "(":
            self.advance()
            node = self.expression()
            self.expect(")", "')' to close the parenthesis")
            return node
        if token.kind == "name":
            self.advance()
            if self.at("("):
                return self.call(token)
            return Identifier(self.attribute_name(token))
        self.fail("expected an expression")

    def integer(self, sign: str) -> Node:
        token = self.advance()
        value = int(sign + token.text)
        if not INT_MIN <= value <= INT_MAX:
            raise ParseError(f"integer {sign}{token.text} is outside the 32-bit range", token.position)
        return Literal(value)

    def call(self, name: Token) -> Node:
        if not FUNCTION_NAME.fullmatch(name.text):
            raise ParseError(f"invalid function name {name.text!r}", name.position)
        self.advance()  # the "("
        if self.at(")"):
            self.advance()
            return Call(name.text.upper(), ())
        return Call(name.text.upper(), self.expression_list())

    def expression_list(self) -> tuple[Node, ...]:
        """One or more comma-separated expressions and the closing parenthesis."""
        items = [self.expression()]
        while self.at(","):
            self.advance()
            items.append(self.expression())
        self.expect(")", "',' or ')'")
        return tuple(items)

    def attribute_name(self, token: Token) -> str:
        if not ATTRIBUTE_NAME.fullmatch(token.text):
            raise ParseError(f"invalid attribute name {token.text!r} (letters and digits only)", token.position)
        return token.text.lower()


def _check_depth(tree: Node) -> None:
    """Long operator chains build deep trees without deep parser recursion; bound them too."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ParseError(f"expression is nested more than {MAX_DEPTH} levels deep", 0)
        stack.extend((child, depth + 1) for child in children(node))
