"""The part of Benthos's Bloblang that seed 002's configs use, parsed once and evaluated per message.

Supported, one statement a line (`#` comments, blank lines):
    root = <expr>                 the whole new message
    root.a.b = <expr>             one field of it (objects made on the way)
    meta <name> = <expr>          message metadata, read back as @<name>
<expr> is `this`, `this.a.b`, `@name`, a string ("..."), a number, true, false, null, or an array
`[<expr>, ...]`. As in Bloblang, a mapping builds a new message (fields not assigned are gone) and a
missing field reads as null. Anything else is refused with its line and column.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"""
    (?P<space>[ \t]+) | (?P<comment>\#[^\n]*) | (?P<string>"(?:[^"\\]|\\.)*") |
    (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?) | (?P<name>[A-Za-z_][A-Za-z0-9_]*) |
    (?P<op>[=\[\],.@(){}:]) | (?P<other>.)""", re.VERBOSE)
_LITERALS = {"true": True, "false": False, "null": None}


class BloblangError(ValueError):
    """A mapping kproof cannot run; the message names the line, the column and the form."""


@dataclass
class Message:
    """A message between components: its content (JSON-like) and metadata."""

    content: Any
    meta: dict[str, Any]


@dataclass(frozen=True)
class _Path:
    source: str  # "this" or "meta"
    parts: tuple[str, ...]


@dataclass(frozen=True)
class _Statement:
    target: str  # "root" or "meta"
    parts: tuple[str, ...]
    value: Any  # an expression tree: _Path, list, or a literal wrapped in _Literal


@dataclass(frozen=True)
class _Literal:
    value: Any


class _Line:
    """The tokens of one statement (which may span lines inside brackets), with their positions."""

    def __init__(self, tokens: list[tuple[str, str, int, int]], number: int) -> None:
        self.number = number
        self.tokens = tokens  # (kind, text, line, column)
        self.position = 0

    def fail(self, message: str) -> BloblangError:
        if self.position < len(self.tokens):
            _, _, line, column = self.tokens[self.position]
            return BloblangError(f"bloblang line {line}, column {column}: {message}")
        return BloblangError(f"bloblang line {self.number}: {message}")

    def peek(self) -> tuple[str, str] | None:
        if self.position < len(self.tokens):
            kind, text, _, _ = self.tokens[self.position]
            return kind, text
        return None

    def take(self, text: str | None = None, kind: str | None = None) -> str:
        found = self.peek()
        if found is None or (text is not None and found[1] != text) or (kind is not None and found[0] != kind):
            wanted = f"`{text}`" if text else kind
            raise self.fail(f"expected {wanted}, found {('`' + found[1] + '`') if found else 'the end'}")
        self.position += 1
        return found[1]

    def done(self) -> bool:
        return self.position >= len(self.tokens)


def _statements(source: str, first_line: int) -> list[_Line]:
    """Tokens grouped into statements: a line break ends one unless a bracket is still open."""
    out: list[_Line] = []
    current: list[tuple[str, str, int, int]] = []
    depth = 0
    for offset, text in enumerate(source.splitlines()):
        number = first_line + offset
        for match in _TOKEN.finditer(text):
            kind = match.lastgroup or "other"
            if kind in ("space", "comment"):
                continue
            depth += {"[": 1, "]": -1}.get(match.group(), 0) if kind == "op" else 0
            current.append((kind, match.group(), number, match.start() + 1))
        if current and depth <= 0:
            out.append(_Line(current, current[0][2]))
            current, depth = [], 0
    if current:
        out.append(_Line(current, current[0][2]))
    return out


def _path_parts(line: _Line) -> tuple[str, ...]:
    parts = []
    while line.peek() == ("op", "."):
        line.take(".")
        parts.append(line.take(kind="name"))
    return tuple(parts)


def _expression(line: _Line) -> Any:
    found = line.peek()
    if found is None:
        raise line.fail("expected a value")
    kind, text = found
    if text == "this":
        line.take()
        parts = _path_parts(line)
        if line.peek() == ("op", "("):
            raise line.fail("methods and functions are not supported (only paths, literals and arrays)")
        return _Path("this", parts)
    if text == "@":
        line.take()
        return _Path("meta", (line.take(kind="name"),))
    if text == "[":
        line.take()
        items = []
        while line.peek() != ("op", "]"):
            items.append(_expression(line))
            if line.peek() == ("op", ","):
                line.take(",")
            elif line.peek() != ("op", "]"):
                raise line.fail("expected `,` or `]` in an array")
        line.take("]")
        return items
    if kind == "string":
        line.take()
        return _Literal(json.loads(text))
    if kind == "number":
        line.take()
        return _Literal(json.loads(text))
    if kind == "name" and text in _LITERALS:
        line.take()
        return _Literal(_LITERALS[text])
    if kind == "name":
        raise line.fail(f"`{text}` is not supported (only this, @meta, literals and arrays)")
    raise line.fail(f"`{text}` is not supported here")


def _statement(line: _Line) -> _Statement:
    found = line.peek()
    if found is None or found[1] not in ("root", "meta"):
        raise line.fail(f"`{found[1] if found else ''}`: only assignments to root, root.<path> and meta <name> "
                        f"are supported")
    head = line.take(kind="name")
    if head == "meta":
        name = line.take(kind="name")
        line.take("=")
        return _Statement("meta", (name,), _expression(line))
    parts = _path_parts(line)
    line.take("=")
    return _Statement("root", parts, _expression(line))


@dataclass(frozen=True)
class Mapping:
    statements: tuple[_Statement, ...]
    source: str

    def apply(self, message: Message) -> Message:
        """The new message the mapping makes from `message` (its metadata carried along)."""
        root: Any = None
        meta = dict(message.meta)
        for statement in self.statements:
            value = _evaluate(statement.value, message.content, meta)
            if statement.target == "meta":
                meta[statement.parts[0]] = value
            elif not statement.parts:
                root = value
            else:
                if not isinstance(root, dict):
                    root = {}
                node = root
                for part in statement.parts[:-1]:
                    if not isinstance(node.get(part), dict):
                        node[part] = {}
                    node = node[part]
                node[statement.parts[-1]] = value
        return Message(root, meta)


def _evaluate(node: Any, this: Any, meta: dict[str, Any]) -> Any:
    if isinstance(node, _Literal):
        return node.value
    if isinstance(node, list):
        return [_evaluate(item, this, meta) for item in node]
    if node.source == "meta":
        return meta.get(node.parts[0])
    value = this
    for part in node.parts:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def parse(source: str, first_line: int = 1) -> Mapping:
    """A Mapping; BloblangError names the line (counted from `first_line`) of what is not supported."""
    statements = []
    for line in _statements(source, first_line):
        statements.append(_statement(line))
        if not line.done():
            raise line.fail("one statement a line")
    if not statements:
        raise BloblangError(f"bloblang line {first_line}: the mapping is empty")
    return Mapping(tuple(statements), source)
