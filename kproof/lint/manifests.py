"""Manifests on disk: which files a path names, their YAML documents, and where each field sits.

Documents are read with ruamel.yaml's round-trip loader, which keeps the line and column of every key
and list item, then turned into plain dicts and lists for the rules. Positions are kept beside them,
keyed by field path (a tuple of keys and list indexes), so that a finding can name its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

SUFFIXES = (".yaml", ".yml")

FieldPath = tuple[str | int, ...]


@dataclass
class Document:
    file: Path
    index: int  # its place in the file, from 0
    data: object  # plain dicts, lists and scalars
    line: int  # where it starts (1-based)
    positions: dict[FieldPath, tuple[int, int]] = field(default_factory=dict)  # (line, column), 1-based

    def position(self, path: FieldPath) -> tuple[int, int]:
        """Where `path` is written, or the nearest field above it that is."""
        for end in range(len(path), 0, -1):
            found = self.positions.get(path[:end])
            if found:
                return found
        return self.line, 1

    @property
    def label(self) -> str:
        """`Kind/name`, as kubectl names an object."""
        if not isinstance(self.data, dict):
            return ""
        meta = self.data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        return f"{self.data.get('kind') or '?'}/{name or '?'}"


@dataclass(frozen=True)
class SyntaxProblem:
    """A file, or the rest of one, that is not YAML."""

    file: Path
    line: int
    column: int
    message: str


def manifest_files(path: Path) -> list[Path]:
    """`path` itself, or the *.yaml and *.yml files under it (hidden folders skipped), in order."""
    if not path.is_dir():
        return [path]
    found = []
    for candidate in sorted(path.rglob("*")):
        hidden = any(part.startswith(".") for part in candidate.relative_to(path).parts)
        if not hidden and candidate.suffix in SUFFIXES and candidate.is_file():
            found.append(candidate)
    return found


def _loader() -> YAML:
    return YAML(typ="rt")


def load(file: Path) -> tuple[list[Document], list[SyntaxProblem]]:
    """The documents of `file`, and what stopped the YAML parser (documents before it are kept)."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return [], [SyntaxProblem(file, 1, 1, f"cannot be read: {err}")]
    documents: list[Document] = []
    try:
        for index, data in enumerate(_loader().load_all(text)):
            if data is None:  # an empty document, as kubectl skips it
                continue
            documents.append(_document(file, index, data))
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        message = " ".join(part for part in (err.context, err.problem) if part) or str(err)
        return documents, [SyntaxProblem(file, mark.line + 1 if mark else 1, mark.column + 1 if mark else 1,
                                         message)]
    except YAMLError as err:
        return documents, [SyntaxProblem(file, 1, 1, str(err))]
    return documents, []


def _document(file: Path, index: int, data: object) -> Document:
    positions: dict[FieldPath, tuple[int, int]] = {}
    plain = _plain(data, (), positions)
    lc = getattr(data, "lc", None)
    line = lc.line + 1 if lc is not None and lc.line is not None else 1
    return Document(file, index, plain, line, positions)


def _plain(node: object, path: FieldPath, positions: dict[FieldPath, tuple[int, int]]) -> object:
    """`node` as JSON-like data (what the API server would decode), recording positions on the way."""
    if isinstance(node, CommentedMap):
        out = {}
        for key, value in node.items():
            name = key if isinstance(key, str) else str(key)
            try:
                line, column = node.lc.key(key)
                positions[(*path, name)] = (line + 1, column + 1)
            except (KeyError, TypeError):  # a key merged in from an anchor has no place of its own
                pass
            out[name] = _plain(value, (*path, name), positions)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            try:
                line, column = node.lc.item(i)
                positions[(*path, i)] = (line + 1, column + 1)
            except (KeyError, TypeError):
                pass
            items.append(_plain(value, (*path, i), positions))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return str(node)  # timestamps and the like: the API server sees text


def format_path(path: FieldPath) -> str:
    """`spec.template.spec.containers[0].image`; map keys are joined as Knative's field errors join them."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


_INDEX = re.compile(r"\[(\d+)\]")


def parse_path(data: object, text: str) -> FieldPath:
    """A dotted path as Knative prints it, matched against `data` so that keys holding dots
    (`autoscaling.knative.dev/max-scale`) come back whole; unmatched rest is kept as it reads."""
    parts = [p for p in re.split(r"\.(?![^\[]*\])", text) if p]
    path: list[str | int] = []
    node = data
    i = 0
    while i < len(parts):
        matched = False
        if isinstance(node, dict):
            for j in range(len(parts), i, -1):  # the longest key that exists
                candidate = ".".join(parts[i:j])
                key, indexes = _split_indexes(candidate)
                if key in node:
                    path.append(key)
                    node = node[key]
                    for index in indexes:
                        path.append(index)
                        node = node[index] if isinstance(node, list) and index < len(node) else None
                    i = j
                    matched = True
                    break
        if not matched:
            key, indexes = _split_indexes(parts[i])
            path.extend([key, *indexes])
            node = None
            i += 1
    return tuple(path)


def _split_indexes(part: str) -> tuple[str, list[int]]:
    indexes = [int(m) for m in _INDEX.findall(part)]
    return _INDEX.sub("", part), indexes
