"""Request bodies decoded into JSON values, with the limits that keep bad input a 4xx.

- JSON: NaN and Infinity are refused, as Go's encoding/json refuses them.
- YAML: values come out as JSON would carry them (timestamps stay strings, mapping keys become
  strings); anchors and aliases work, but an expansion that adds more than MAX_ALIASED_VALUES values is
  refused (go-yaml's "excessive aliasing"), and so is an alias that contains itself.
- Both: nesting deeper than MAX_DEPTH levels is refused before anything copies or stores the value
  (deeper documents would exhaust the interpreter's recursion limit further on).
"""

from __future__ import annotations

import json
import math

import yaml

MAX_BODY_BYTES = 3 * 1024 * 1024  # Kubernetes' limit on a request body
MAX_DEPTH = 100
MAX_ALIASED_VALUES = 100_000

_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class DecodeError(ValueError):
    """The body is not an acceptable JSON or YAML document; the message says why."""


class _JsonValuesLoader(yaml.SafeLoader):
    """SafeLoader whose documents are JSON values: no timestamps, string keys, at most MAX_DEPTH levels
    (counted while composing: PyYAML's scanner slows quadratically with depth, and its composer recurses)."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise DecodeError(f"the document nests deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        return {_key_text(k): v for k, v in super().construct_mapping(node, deep).items()}


# Unquoted dates stay the text they are, as Kubernetes' YAML-to-JSON conversion keeps them.
_JsonValuesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _key_text(key: object) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return key if isinstance(key, str) else str(key)


def _refuse_constant(name: str) -> float:
    raise DecodeError(f"invalid number {name}")


def decode_json(raw: bytes | str) -> object:
    """A JSON document within the limits; DecodeError otherwise."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError as err:
        raise DecodeError(f"the document nests deeper than {MAX_DEPTH} levels") from err
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise DecodeError(str(err)) from err
    check_shape(value)
    return value


def decode_yaml(raw: bytes | str) -> object:
    """A YAML document within the limits, as JSON values; DecodeError otherwise."""
    try:
        value = yaml.load(raw, Loader=_JsonValuesLoader)  # a SafeLoader: no arbitrary objects
    except RecursionError as err:
        raise DecodeError(f"the document nests deeper than {MAX_DEPTH} levels") from err
    except DecodeError:
        raise
    except (yaml.YAMLError, ValueError) as err:
        raise DecodeError(str(err)) from err
    check_shape(value, aliases=True)
    return value


_SCALARS = (int, bool, type(None))


def _check_text(text: str) -> None:
    """Text must encode as UTF-8: a JSON escape may leave half a surrogate pair, which nothing downstream
    (files, environment variables, responses) can write."""
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError as err:
            raise DecodeError(f"invalid Unicode in string {text!r}: {err.reason}") from err


def _check_scalar(value: object) -> None:
    if type(value) is str:
        _check_text(value)
        return
    if type(value) in _SCALARS:
        return
    if type(value) is not float:
        raise DecodeError(f"unsupported value of type {type(value).__name__}")
    if not math.isfinite(value):
        raise DecodeError(f"unsupported value: {value}")


def check_shape(value: object, aliases: bool = False, json_values: bool = True) -> None:
    """Refuses values that nest deeper than MAX_DEPTH, refer to themselves, (with `json_values`) hold
    anything but JSON values, or (with `aliases`) expand to far more values than they were written with.
    Shared subtrees are measured once, so an alias bomb costs no more to check than it took to parse."""
    if not isinstance(value, dict | list):
        if json_values:
            _check_scalar(value)
        return
    measured: dict[int, tuple[int, int]] = {}  # id -> (height, values once expanded)
    open_ids: set[int] = set()
    written = 0
    stack: list[tuple[dict | list, bool]] = [(value, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        children = list(node.values()) if isinstance(node, dict) else node
        if children_done:
            measured[key] = _measure(children, measured)
            open_ids.discard(key)
            continue
        if key in measured:
            continue
        if key in open_ids:
            raise DecodeError("the document refers to itself (a recursive alias)")
        if json_values and isinstance(node, dict):
            _check_keys(node)
        written += 1 + len(children)
        open_ids.add(key)
        stack.append((node, True))
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, False))
            elif json_values:
                _check_scalar(child)
    if aliases and measured[id(value)][1] - written > MAX_ALIASED_VALUES:
        raise DecodeError("yaml: document contains excessive aliasing")


def _check_keys(node: dict) -> None:
    for key in node:
        if type(key) is not str:
            raise DecodeError("object keys must be strings")
        _check_text(key)


def _measure(children: list, measured: dict[int, tuple[int, int]]) -> tuple[int, int]:
    height, expanded = 1, 1
    for child in children:
        if isinstance(child, dict | list):
            child_height, child_values = measured[id(child)]
            height = max(height, child_height + 1)
            expanded += child_values
        else:
            expanded += 1
    if height > MAX_DEPTH:
        raise DecodeError(f"the document nests deeper than {MAX_DEPTH} levels")
    return height, expanded
