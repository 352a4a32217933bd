"""The error kinds of CESQL. Evaluation collects them next to a value instead of raising them."""

from __future__ import annotations

from typing import ClassVar


class CesqlError(Exception):
    """Base of every CESQL error; `kind` names it the way the TCK does."""

    kind: ClassVar[str] = "generic"


class ParseError(CesqlError, ValueError):
    """The expression is not valid CESQL. Raised (not collected) by `parse` and `compile_expression`."""

    kind = "parse"

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"column {position + 1}: {message}")
        self.position = position
        self.detail = message


class MathError(CesqlError):
    kind = "math"


class CastError(CesqlError):
    kind = "cast"


class MissingAttributeError(CesqlError):
    kind = "missingAttribute"


class MissingFunctionError(CesqlError):
    kind = "missingFunction"


class FunctionEvaluationError(CesqlError):
    kind = "functionEvaluation"


class GenericError(CesqlError):
    kind = "generic"
