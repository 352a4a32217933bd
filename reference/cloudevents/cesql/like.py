"""LIKE patterns: `%` matches any run of characters, `_` exactly one, `\\%` and `\\_` match themselves;
every other character (a lone backslash included) matches only itself, case-sensitively."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum


class Wildcard(Enum):
    ANY_RUN = "%"
    ANY_ONE = "_"


Piece = str | Wildcard


def pieces(pattern: str) -> list[Piece]:
    """The pattern as literal characters and wildcards, escapes resolved."""
    out: list[Piece] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and pattern[i + 1 : i + 2] in ("%", "_"):
            out.append(pattern[i + 1])
            i += 2
            continue
        out.append(Wildcard(char) if char in "%_" else char)
        i += 1
    return out


def like_match(text: str, pattern: str) -> bool:
    """Matches `text` against `pattern` from scratch: the tree walk's way, nothing prepared in advance.

    Greedy scan that remembers the last `%` and retries one character further on a mismatch.
    """
    parts = pieces(pattern)
    t = p = 0
    star, star_t = -1, 0
    while t < len(text):
        if p < len(parts) and (parts[p] is Wildcard.ANY_ONE or parts[p] == text[t]):
            t += 1
            p += 1
        elif p < len(parts) and parts[p] is Wildcard.ANY_RUN:
            star, star_t = p, t
            p += 1
        elif star >= 0:
            star_t += 1
            t, p = star_t, star + 1
        else:
            return False
    return all(part is Wildcard.ANY_RUN for part in parts[p:])


def compile_like(pattern: str) -> Callable[[str], bool]:
    """A matcher prepared once: plain string tests for exact, prefix, suffix and infix patterns (what
    Trigger filters mostly use), a compiled regular expression for the rest."""
    parts = pieces(pattern)
    if Wildcard.ANY_ONE not in parts:
        literals = _split_runs(parts)
        if len(literals) == 1:
            return literals[0].__eq__
        if len(literals) == 2 and not literals[1]:
            return _prefix(literals[0])
        if len(literals) == 2 and not literals[0]:
            return _suffix(literals[1])
        if len(literals) == 3 and not literals[0] and not literals[2]:
            return _infix(literals[1])
    regex = re.compile("".join(_regex(part) for part in parts), re.DOTALL)
    return lambda text: regex.fullmatch(text) is not None


def _split_runs(parts: list[Piece]) -> list[str]:
    """The literal text between `%` wildcards (empty strings where two are adjacent or at the ends)."""
    runs = [""]
    for part in parts:
        if part is Wildcard.ANY_RUN:
            runs.append("")
        else:
            assert part is not Wildcard.ANY_ONE  # only patterns without `_` are split into runs
            runs[-1] += part
    return runs


def _prefix(prefix: str) -> Callable[[str], bool]:
    return lambda text: text.startswith(prefix)


def _suffix(suffix: str) -> Callable[[str], bool]:
    return lambda text: text.endswith(suffix)


def _infix(infix: str) -> Callable[[str], bool]:
    return lambda text: infix in text


def _regex(part: Piece) -> str:
    if part is Wildcard.ANY_RUN:
        return ".*"
    if part is Wildcard.ANY_ONE:
        return "."
    return re.escape(part)
