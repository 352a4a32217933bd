"""The JSONPath subset that CRD printer columns use.

`.status.url`, `.metadata.labels['serving\\.knative\\.dev/configuration']`, `.spec.topics[0]`,
`.spec.topics[*]` and `.status.conditions[?(@.type=="Ready")].status`.
"""

from __future__ import annotations

import re
from functools import lru_cache

_TOKEN = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-]+)"""
    r"""|\[\s*'(?P<quoted>(?:[^'\\]|\\.)*)'\s*\]"""
    r"""|\[\s*(?P<index>\d+|\*)\s*\]"""
    r"""|\[\?\(@\.(?P<key>[A-Za-z0-9_\-]+)\s*==\s*["'](?P<value>[^"']*)["']\)\]"""
)


@lru_cache(maxsize=256)
def compile_path(path: str) -> tuple[tuple[str, str, str], ...]:
    steps: list[tuple[str, str, str]] = []
    pos = 0
    text = path.strip().removeprefix("{").removesuffix("}")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"unsupported JSONPath {path!r} at {text[pos:]!r}")
        if m.group("field") is not None:
            steps.append(("field", m.group("field"), ""))
        elif m.group("quoted") is not None:
            steps.append(("field", m.group("quoted").replace("\\.", "."), ""))
        elif m.group("index") is not None:
            steps.append(("index", m.group("index"), ""))
        else:
            steps.append(("filter", m.group("key"), m.group("value")))
        pos = m.end()
    return tuple(steps)


def find(obj: object, path: str) -> list[object]:
    """Every value `path` selects in `obj` (empty when nothing matches)."""
    current = [obj]
    for kind, a, b in compile_path(path):
        following: list[object] = []
        for value in current:
            if kind == "field" and isinstance(value, dict) and a in value:
                following.append(value[a])
            elif kind == "index" and isinstance(value, list):
                if a == "*":
                    following.extend(value)
                elif int(a) < len(value):
                    following.append(value[int(a)])
            elif kind == "filter" and isinstance(value, list):
                following.extend(v for v in value if isinstance(v, dict) and str(v.get(a)) == b)
        current = following
    return current
