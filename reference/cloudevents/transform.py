"""JSONata transformations of CloudEvents, as Knative's transform-jsonata image does them (knative-extensions/
eventing-integrations): the input is the event in its structured JSON form (or, for a request that carries
no CloudEvent, the body as JSON, else as text); the output is whatever the expression yields, sent as JSON
with a content type guessed from it.

Expressions are parsed once (admission parses them too, so a broken one is refused with 422), and each
evaluation is time-boxed: it runs on the data plane's event loop, which a runaway expression must not hold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jsonata

from reference.cloudevents.codec import STRUCTURED, Event, MalformedEvent, from_http

JSON = "application/json"
TIME_LIMIT_MS = 5_000
DEPTH_LIMIT = 300


class TransformError(ValueError):
    """The expression failed on this input, or yielded nothing that can be sent; the message says why."""


@dataclass(frozen=True)
class Expression:
    text: str
    compiled: Any  # jsonata.Jsonata

    def evaluate(self, document: object) -> object:
        """The expression's value for `document` (None when JSONata yields nothing)."""
        frame = self.compiled.create_frame()
        frame.set_runtime_bounds(TIME_LIMIT_MS, DEPTH_LIMIT)
        try:
            return self.compiled.evaluate(document, frame)
        except jsonata.JException as err:
            raise TransformError(str(err)) from err
        except RecursionError as err:
            raise TransformError("the expression recursed too deeply") from err
        except (ValueError, TypeError, ArithmeticError, LookupError, AttributeError) as err:
            # the library lets some of JSONata's runtime errors out as Python's own ($number("x"))
            raise TransformError(f"{type(err).__name__}: {err}") from err


def compile_expression(text: str) -> Expression:
    """The parsed expression; ValueError (with JSONata's message) when it does not parse."""
    try:
        return Expression(text, jsonata.Jsonata(text))
    except jsonata.JException as err:
        raise ValueError(str(err)) from err
    except RecursionError as err:
        raise ValueError("the expression nests too deeply") from err


def input_document(headers: dict[str, str], body: bytes) -> object:
    """What an expression sees: the CloudEvent the request carries in structured form, else the body as JSON,
    else the body as text."""
    try:
        return structured(from_http(headers, body))
    except MalformedEvent:
        pass
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")


def structured(event: Event) -> dict[str, Any]:
    return event.to_dict()


def content_type(value: object) -> str:
    """transform-jsonata's guess: a `contenttype` member, else structured CloudEvents when `specversion` is
    there, else JSON. (A value that is neither object nor array fails there: `in` needs an object.)"""
    if isinstance(value, list):
        return JSON
    if not isinstance(value, dict):
        raise TransformError(f"the expression yielded {json.dumps(value)}, not a JSON object")
    if value.get("contenttype"):
        return str(value["contenttype"])
    return STRUCTURED if "specversion" in value else JSON


def render(value: object) -> tuple[str, bytes]:
    """(content type, body) of a transformation's result."""
    kind = content_type(value)
    return kind, json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
