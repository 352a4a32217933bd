"""The syntax tree `parse` produces. Nodes are immutable; names are already normalised
(attributes lower case, functions upper case, operators as keywords in upper case)."""

from __future__ import annotations

from dataclasses import dataclass

from reference.cloudevents.cesql.values import Value


@dataclass(frozen=True, slots=True)
class Literal:
    value: Value


@dataclass(frozen=True, slots=True)
class Identifier:
    name: str


@dataclass(frozen=True, slots=True)
class Exists:
    name: str


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "NOT" or "-"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # arithmetic ("+"), comparison ("<>" is stored as "!="), or logic ("AND", "OR", "XOR")
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Like:
    operand: Node
    pattern: str
    negated: bool = False


@dataclass(frozen=True, slots=True)
class In:
    operand: Node
    items: tuple[Node, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Node, ...]


Node = Literal | Identifier | Exists | Unary | Binary | Like | In | Call


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of a node, in evaluation order."""
    match node:
        case Unary(operand=operand) | Like(operand=operand):
            return (operand,)
        case Binary(left=left, right=right):
            return (left, right)
        case In(operand=operand, items=items):
            return (operand, *items)
        case Call(args=args):
            return args
    return ()
