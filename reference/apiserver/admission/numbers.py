"""Numbers and durations read the way Knative's Go code reads them (strconv, time.ParseDuration).

Python's int() and float() also take underscores ("1_0"), surrounding spaces, non-ASCII digits,
`nan` and `inf`; Knative's webhook refuses those, so admission parses user text through here.
"""

from __future__ import annotations

import math
import re

from reference.apis.durations import parse_go_duration, parse_iso8601_duration

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_GO_DURATION = re.compile(r"[+-]?(?:0|(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:ns|us|µs|ms|s|m|h))+)")
# ISO-8601 durations: only the ASCII letters and digits of the notation (the full grammar is checked later).
_ISO_DURATION = re.compile(r"[+-]?P[0-9.,YMWDTHS]+")
# Go's time.Duration is an int64 of nanoseconds.
MAX_DURATION_SECONDS = (2**63 - 1) / 1e9


def parse_int(text: object) -> int:
    """A base-10 integer with an optional sign (strconv.ParseInt); ValueError otherwise."""
    if not isinstance(text, str) or not _INT.fullmatch(text):
        raise ValueError(f"invalid syntax: {text!r}")
    return int(text)


def parse_float(text: object) -> float:
    """A finite decimal number (strconv.ParseFloat without nan, inf, hex or underscores)."""
    if not isinstance(text, str) or not _FLOAT.fullmatch(text):
        raise ValueError(f"invalid syntax: {text!r}")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"value out of range: {text!r}")
    return value


def parse_duration(text: object) -> float:
    """Seconds in a Go duration (`6s`, `1m30s`); ValueError for anything time.ParseDuration refuses."""
    if not isinstance(text, str) or not _GO_DURATION.fullmatch(text):
        raise ValueError(f"invalid duration {text!r}")
    seconds = parse_go_duration(text)
    if not abs(seconds) <= MAX_DURATION_SECONDS:
        raise ValueError(f"invalid duration {text!r}")
    return seconds


def parse_iso_duration(text: object) -> float:
    """Seconds in an ISO-8601 duration (`PT1S`), ASCII digits only; ValueError otherwise."""
    if not isinstance(text, str) or not _ISO_DURATION.fullmatch(text):
        raise ValueError(f"invalid ISO-8601 duration {text!r}")
    seconds = parse_iso8601_duration(text)
    if not math.isfinite(seconds):
        raise ValueError(f"invalid ISO-8601 duration {text!r}")
    return seconds


def config_int(config: dict[str, str], key: str, default: int) -> int:
    """An integer setting from a config map; a malformed one counts as unset rather than failing
    every admission that reads it."""
    try:
        return parse_int((config.get(key) or "").strip() or str(default))
    except ValueError:
        return default
