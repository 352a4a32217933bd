"""The CloudEvents SQL TCK (cloudevents/spec cesql/cesql_tck), every case on both evaluators: the
compiled closures and the naive tree walk.

A case passes when the value is the expected one (type included: 1 is not true) and the errors are
exactly of the expected kind, or there are none. Parse errors are raised by `parse`/`compile_expression`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from reference.cloudevents.cesql import CesqlError, ParseError, compile_expression, evaluate_tree, parse

TCK_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "cesql-tck"
MIN_FILES = 18
# What the TCK leaves open ("any valid event"): the required attributes only.
DEFAULT_EVENT = {"specversion": "1.0", "id": "1", "source": "/source", "type": "type"}
RAW_KEYS = ("name", "expression")  # kept as written: `expression: TRUE` must stay the text TRUE


class _Loader(yaml.SafeLoader):
    """SafeLoader without timestamp resolution: TCK times are strings, as CESQL sees them."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Case:
    suite: str
    name: str
    expression: str
    result: object = None
    error: str | None = None
    event: dict = field(default_factory=dict)

    @property
    def has_result(self) -> bool:
        return self.result is not None


def _load_file(path: Path) -> list[Case]:
    loader = _Loader(path.read_text())
    try:
        root = loader.get_single_node()
        tests = next(value for key, value in root.value if key.value == "tests")
        return [_case(path.stem, loader, test) for test in tests.value]
    finally:
        loader.dispose()


def _case(suite: str, loader: _Loader, node: yaml.MappingNode) -> Case:
    raw = {key.value: value.value for key, value in node.value if key.value in RAW_KEYS}
    typed = {key.value: loader.construct_object(value, deep=True) for key, value in node.value
             if key.value not in RAW_KEYS}
    if "event" in typed:
        event = {k: v for k, v in typed["event"].items() if k not in ("data", "data_base64")}
    else:
        event = {**DEFAULT_EVENT, **typed.get("eventOverrides", {})}
    return Case(suite, raw["name"], raw["expression"], typed.get("result"), typed.get("error"), event)


def _load() -> tuple[list[Case], str | None]:
    if not TCK_DIR.is_dir():
        return [], f"CESQL TCK not found at {TCK_DIR}"
    files = sorted(TCK_DIR.glob("*.yaml"))
    cases = [case for path in files for case in _load_file(path)]
    if len(files) < MIN_FILES:
        return cases, f"CESQL TCK at {TCK_DIR} has {len(files)} files, expected at least {MIN_FILES}"
    return cases, None


CASES, PROBLEM = _load()
PARAMS = [pytest.param(case, id=f"{case.suite}/{case.name}") for case in CASES]
if PROBLEM:  # a failing case, not an empty (skipped) parametrization
    PARAMS.append(pytest.param(None, id="tck-missing"))


def _check(case: Case, value: object, errors: list[CesqlError]) -> None:
    if case.has_result:
        assert (type(value), value) == (type(case.result), case.result)
    if case.error:
        assert errors, f"expected a {case.error} error, got none"
        assert {error.kind for error in errors} == {case.error}, errors
    else:
        assert errors == []


@pytest.mark.parametrize("case", PARAMS)
def test_tck(case: Case | None) -> None:
    if case is None:
        pytest.fail(PROBLEM)
    if case.error == "parse":
        with pytest.raises(ParseError):
            compile_expression(case.expression)
        with pytest.raises(ParseError):
            parse(case.expression)
        return
    _check(case, *compile_expression(case.expression)(case.event))
    _check(case, *evaluate_tree(parse(case.expression), case.event))
