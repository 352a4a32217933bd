"""Field errors the way Knative's webhooks report them (knative.dev/pkg/apis.FieldError).

Errors carry a message and the paths they apply to; `via` prefixes paths as validation walks out of
nested fields; `str()` merges errors with the same message and prints `message: path, path`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


def _is_index(part: str) -> bool:
    return part.startswith("[") and part.endswith("]")


def _split_key(path: str) -> list[str]:
    """Keeps `[a.b/c]` keys whole when flattening (they may hold dots)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(path):
        if ch == "[":
            if depth == 0 and i > start:
                parts.append(path[start:i])
                start = i
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                parts.append(path[start:i + 1])
                start = i + 1
    if start < len(path):
        parts.append(path[start:])
    return parts


def _join(prefix: Iterable[str], path: str) -> str:
    out: list[str] = []
    for part in [*prefix, *_split_key(path)]:
        if _is_index(part):
            if out:
                out[-1] += part
            else:
                out.append(part)
        elif part:
            out.extend(p for p in part.split(".") if p)
    return ".".join(out)


@dataclass
class FieldError:
    message: str = ""
    paths: list[str] = field(default_factory=list)
    details: str = ""
    children: list[FieldError] = field(default_factory=list)

    def flat(self) -> list[FieldError]:
        own = [FieldError(self.message, list(self.paths), self.details)] if self.message else []
        return own + [e for child in self.children for e in child.flat()]

    def also(self, *others: FieldError | None) -> FieldError:
        errors = self.flat() + [e for other in others if other for e in other.flat()]
        return FieldError(children=errors)

    def via(self, *prefix: str) -> FieldError:
        return FieldError(children=[
            FieldError(e.message, [_join(prefix, p) for p in e.paths], e.details) for e in self.flat()
        ])

    def via_index(self, index: int) -> FieldError:
        return self.via(f"[{index}]")

    def via_key(self, key: str) -> FieldError:
        return self.via(f"[{key}]")

    def via_field_index(self, name: str, index: int) -> FieldError:
        return self.via_index(index).via(name)

    def via_field_key(self, name: str, key: str) -> FieldError:
        return self.via_key(key).via(name)

    def merged(self) -> list[FieldError]:
        groups: dict[tuple[str, str], FieldError] = {}
        for e in self.flat():
            group = groups.setdefault((e.message, e.details), FieldError(e.message, [], e.details))
            group.paths.extend(p for p in e.paths if p not in group.paths)
        out = list(groups.values())
        for e in out:
            e.paths.sort()
        out.sort(key=lambda e: e.message)
        return out

    def __bool__(self) -> bool:
        return bool(self.flat())

    def __str__(self) -> str:
        lines = []
        for e in self.merged():
            text = f"{e.message}: {', '.join(e.paths)}"
            lines.append(f"{text}\n{e.details}" if e.details else text)
        return "\n".join(lines)


def within(error: FieldError | None, *prefix: str) -> FieldError | None:
    """`error` with its paths under `prefix`, or None when there is no error."""
    return error.via(*prefix) if error else None


def combine(*errors: FieldError | None) -> FieldError | None:
    """All of `errors` as one, or None when there are none."""
    merged = FieldError().also(*errors)
    return merged if merged else None


def missing_field(*paths: str) -> FieldError:
    return FieldError("missing field(s)", list(paths))


def disallowed_fields(*paths: str) -> FieldError:
    return FieldError("must not set the field(s)", list(paths))


def invalid_value(value: object, path: str, details: str = "") -> FieldError:
    return FieldError(f"invalid value: {_show(value)}", [path], details)


def out_of_bounds(value: object, lower: object, upper: object, path: str) -> FieldError:
    return FieldError(f"expected {_show(lower)} <= {_show(value)} <= {_show(upper)}", [path])


def missing_one_of(*paths: str) -> FieldError:
    return FieldError("expected exactly one, got neither", list(paths))


def multiple_one_of(*paths: str) -> FieldError:
    return FieldError("expected exactly one, got both", list(paths))


def immutable_field(*paths: str, details: str = "") -> FieldError:
    return FieldError("Immutable field changed", list(paths), details)


def generic(message: str, *paths: str) -> FieldError:
    return FieldError(message, list(paths))


def _show(value: object) -> str:
    """Go's %v for the values validation reports."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
