"""A Benthos stream config, read and checked before anything runs.

`${NAME}` and `${NAME:default}` take values from the environment, as Benthos interpolates them. Every
component and field is checked against what kproof runs; anything else is refused with its path and
line, e.g. `input.kafka (line 2): kproof pipeline does not run this input`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kproof.pipeline.bloblang import BloblangError, Mapping, parse
from reference.apis.durations import parse_go_duration

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
SQL_DRIVERS = ("postgres", "pgx")


class ConfigError(ValueError):
    """The config cannot run; the message names the field and its line."""


@dataclass(frozen=True)
class CsvInput:
    paths: tuple[str, ...]
    parse_header_row: bool = True
    delimiter: str = ","
    batch_count: int = 1
    lazy_quotes: bool = False


@dataclass(frozen=True)
class SqlSelectInput:
    dsn: str
    table: str
    columns: tuple[str, ...]
    where: str = ""


@dataclass(frozen=True)
class HttpProcessor:
    url: str
    verb: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    retries: int = 3
    retry_period: float = 1.0
    max_retry_backoff: float = 300.0
    backoff_on: tuple[int, ...] = (429,)
    drop_on: tuple[int, ...] = ()


@dataclass(frozen=True)
class BloblangProcessor:
    mapping: Mapping


@dataclass(frozen=True)
class SqlInsertOutput:
    dsn: str
    table: str
    columns: tuple[str, ...]
    args_mapping: Mapping
    max_in_flight: int = 64
    batch_count: int = 1
    batch_period: float = 0.0  # seconds; 0: no period


@dataclass(frozen=True)
class StreamConfig:
    input: CsvInput | SqlSelectInput
    processors: tuple[BloblangProcessor | HttpProcessor, ...]
    output: SqlInsertOutput
    threads: int = 1
    shutdown_timeout: float = 20.0
    metrics: bool = False  # metrics.prometheus
    http_address: str = "127.0.0.1:4195"
    source: Path | None = None


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Benthos's `${NAME}` / `${NAME:default}`; an unset variable without a default is an error."""
    values = os.environ if env is None else env
    out = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        def value(match: re.Match, number: int = number) -> str:
            name, default = match.group(1), match.group(2)
            if name in values:
                return values[name]
            if default is not None:
                return default
            raise ConfigError(f"line {number}: environment variable {name} is not set (or give a default: "
                              f"${{{name}:value}})")
        out.append(_ENV.sub(value, line))
    return "".join(out)


class _Reader:
    """The parsed document with the line of every mapping key, for messages that point at the config."""

    def __init__(self, text: str) -> None:
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as err:
            raise ConfigError(f"not YAML: {err}") from err
        self.lines: dict[tuple, int] = {}
        if node is not None:
            self._walk(node, ())
        self.doc = yaml.safe_load(text) or {}
        if not isinstance(self.doc, dict):
            raise ConfigError("the config is not a mapping of sections (input, pipeline, output, ...)")

    def _walk(self, node: yaml.Node, path: tuple) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self.lines[(*path, key.value)] = key.start_mark.line + 1
                self._walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))

    def error(self, path: tuple, message: str) -> ConfigError:
        shown = ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")
        return ConfigError(f"{shown} (line {self.lines.get(path, self.lines.get(path[:-1], 0))}): {message}")


def _mapping_of(reader: _Reader, path: tuple, value: object, allowed: set[str]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise reader.error(path, "expected a mapping of fields")
    unknown = sorted(set(value) - allowed - {"label"})
    if unknown:
        raise reader.error((*path, unknown[0]), f"kproof pipeline does not support the field `{unknown[0]}` here "
                                                f"(it supports: {', '.join(sorted(allowed))})")
    return value


def _component(reader: _Reader, path: tuple, value: object, kinds: tuple[str, ...], what: str) -> tuple[str, Any]:
    """(kind, fields) of a component section such as `input: {csv: {...}}`."""
    if not isinstance(value, dict):
        raise reader.error(path, f"expected one {what}")
    kinds_here = [k for k in value if k not in ("label", "processors")]
    if len(kinds_here) != 1:
        raise reader.error(path, f"expected exactly one {what}, found {', '.join(kinds_here) or 'none'}")
    kind = kinds_here[0]
    if kind not in kinds:
        raise reader.error((*path, kind), f"kproof pipeline does not run the {what} `{kind}` "
                                          f"(it runs: {', '.join(kinds)})")
    if value.get("processors"):
        raise reader.error((*path, "processors"), f"{what}-level processors are not supported; use pipeline.processors")
    return kind, value[kind]


def _duration(reader: _Reader, path: tuple, value: object, default: float) -> float:
    if value in (None, ""):
        return default
    try:
        return parse_go_duration(str(value))
    except ValueError:
        raise reader.error(path, f"{value!r} is not a duration such as 500ms or 5s") from None


def _dsn(reader: _Reader, path: tuple, fields: dict) -> str:
    if fields.get("driver") not in SQL_DRIVERS:
        raise reader.error((*path, "driver"), f"the driver {fields.get('driver')!r} is not supported "
                                              f"(only postgres)")
    if not fields.get("dsn"):
        raise reader.error((*path, "dsn"), "a dsn is required")
    return str(fields["dsn"])


def _mapping(reader: _Reader, path: tuple, text: object) -> Mapping:
    try:
        return parse(str(text or ""), reader.lines.get(path, 1) + (1 if "\n" in str(text or "") else 0))
    except BloblangError as err:
        raise reader.error(path, str(err)) from None


def _input(reader: _Reader, section: object) -> CsvInput | SqlSelectInput:
    kind, fields = _component(reader, ("input",), section, ("csv", "sql_select"), "input")
    path = ("input", kind)
    if kind == "csv":
        fields = _mapping_of(reader, path, fields, {"paths", "parse_header_row", "delimiter", "batch_count",
                                                    "lazy_quotes"})
        paths = fields.get("paths") or []
        if not paths or not isinstance(paths, list):
            raise reader.error((*path, "paths"), "at least one path is required")
        delimiter = str(fields.get("delimiter", ","))
        if len(delimiter) != 1:
            raise reader.error((*path, "delimiter"), "one character")
        return CsvInput(tuple(str(p) for p in paths), bool(fields.get("parse_header_row", True)), delimiter,
                        int(fields.get("batch_count", 1) or 1), bool(fields.get("lazy_quotes", False)))
    fields = _mapping_of(reader, path, fields, {"driver", "dsn", "table", "columns", "where", "init_statement"})
    if fields.get("init_statement"):
        raise reader.error((*path, "init_statement"), "init_statement is not supported")
    if not fields.get("table") or not fields.get("columns"):
        raise reader.error(path, "table and columns are required")
    return SqlSelectInput(_dsn(reader, path, fields), str(fields["table"]), tuple(str(c) for c in fields["columns"]),
                          str(fields.get("where") or ""))


def _processors(reader: _Reader, section: Iterable[object] | None) -> tuple[BloblangProcessor | HttpProcessor, ...]:
    out: list[BloblangProcessor | HttpProcessor] = []
    for i, item in enumerate(section or []):
        path = ("pipeline", "processors", i)
        kind, fields = _component(reader, path, item, ("bloblang", "http"), "processor")
        if kind == "bloblang":
            out.append(BloblangProcessor(_mapping(reader, (*path, "bloblang"), fields)))
            continue
        here = (*path, "http")
        fields = _mapping_of(reader, here, fields, {"url", "verb", "headers", "timeout", "retries", "retry_period",
                                                    "max_retry_backoff", "backoff_on", "drop_on"})
        if not fields.get("url"):
            raise reader.error((*here, "url"), "a url is required")
        out.append(HttpProcessor(
            str(fields["url"]), str(fields.get("verb", "POST")).upper(),
            {str(k): str(v) for k, v in (fields.get("headers") or {}).items()},
            _duration(reader, (*here, "timeout"), fields.get("timeout"), 5.0), int(fields.get("retries", 3)),
            _duration(reader, (*here, "retry_period"), fields.get("retry_period"), 1.0),
            _duration(reader, (*here, "max_retry_backoff"), fields.get("max_retry_backoff"), 300.0),
            tuple(int(c) for c in fields.get("backoff_on", [429])), tuple(int(c) for c in fields.get("drop_on", []))))
    return tuple(out)


def _output(reader: _Reader, section: object) -> SqlInsertOutput:
    kind, fields = _component(reader, ("output",), section, ("sql_insert",), "output")
    path = ("output", kind)
    fields = _mapping_of(reader, path, fields, {"driver", "dsn", "table", "columns", "args_mapping",
                                                "max_in_flight", "batching", "init_statement"})
    if not fields.get("table") or not fields.get("columns") or not fields.get("args_mapping"):
        raise reader.error(path, "table, columns and args_mapping are required")
    batching = _mapping_of(reader, (*path, "batching"), fields.get("batching"),
                           {"count", "byte_size", "period", "check", "processors"})
    for unsupported in ("byte_size", "check", "processors"):
        if batching.get(unsupported):
            raise reader.error((*path, "batching", unsupported), f"batching.{unsupported} is not supported")
    return SqlInsertOutput(_dsn(reader, path, fields), str(fields["table"]), tuple(str(c) for c in fields["columns"]),
                           _mapping(reader, (*path, "args_mapping"), fields["args_mapping"]),
                           int(fields.get("max_in_flight", 64)), int(batching.get("count", 0) or 1),
                           _duration(reader, (*path, "batching", "period"), batching.get("period"), 0.0))


def read_config(text: str, source: Path | None = None, env: dict[str, str] | None = None) -> StreamConfig:
    reader = _Reader(interpolate(text, env))
    doc = reader.doc
    known = {"input", "pipeline", "output", "metrics", "http", "shutdown_timeout", "logger"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise reader.error((unknown[0],), f"kproof pipeline does not support the section `{unknown[0]}`")
    for section in ("input", "output"):
        if section not in doc:
            raise ConfigError(f"{section}: the config needs one")
    pipeline = _mapping_of(reader, ("pipeline",), doc.get("pipeline"), {"threads", "processors"})
    threads = int(pipeline.get("threads", 1) or 1)
    if threads == -1:
        threads = os.cpu_count() or 1
    if threads < 1:
        raise reader.error(("pipeline", "threads"), "threads must be at least 1 (or -1: one per CPU)")
    metrics = _mapping_of(reader, ("metrics",), doc.get("metrics"), {"prometheus", "mapping"})
    if metrics.get("mapping"):
        raise reader.error(("metrics", "mapping"), "metrics.mapping is not supported")
    http = _mapping_of(reader, ("http",), doc.get("http"), {"address", "enabled", "root_path", "debug_endpoints"})
    return StreamConfig(_input(reader, doc["input"]), _processors(reader, pipeline.get("processors")),
                        _output(reader, doc["output"]), threads,
                        _duration(reader, ("shutdown_timeout",), doc.get("shutdown_timeout"), 20.0),
                        "prometheus" in metrics, str(http.get("address") or "127.0.0.1:4195"), source)


def load(path: Path, env: dict[str, str] | None = None) -> StreamConfig:
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: {err}") from err
    return read_config(text, path, env)
