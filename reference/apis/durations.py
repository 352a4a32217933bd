"""Durations in the two notations Knative uses: Go's (`6s`, `1m30s`) and ISO-8601 (`PT0.2S`)."""

from __future__ import annotations

import re

_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}

_ISO = re.compile(
    r"^P(?!$)(?:(?P<years>\d+(?:[.,]\d+)?)Y)?(?:(?P<months>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$"
)
_ISO_UNITS = {"years": 365 * 86400.0, "months": 30 * 86400.0, "weeks": 7 * 86400.0, "days": 86400.0,
              "hours": 3600.0, "minutes": 60.0, "seconds": 1.0}


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration such as `6s`, `1m30s`, `1.5h`, `0`; ValueError if malformed."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total, pos = 0.0, 0
    while pos < len(s):
        m = _GO_PART.match(s, pos)
        if not m:
            raise ValueError(f"invalid duration {text!r}")
        total += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def format_go_duration(seconds: float) -> str:
    """Go's Duration.String(): 6s, 1h0m0s, 1.5s, 500ms, 0s."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 1:
        return f"{sign}{seconds * 1000:g}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    secs_text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{sign}{int(hours)}h{int(minutes)}m{secs_text}"
    if minutes:
        return f"{sign}{int(minutes)}m{secs_text}"
    return f"{sign}{secs_text}"


def parse_iso8601_duration(text: str) -> float:
    """Seconds in an ISO-8601 duration such as `PT0.2S`, `PT1M`, `P1D`; ValueError if malformed."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    m = _ISO.match(s.lstrip("+-"))
    if not m:
        raise ValueError(f"invalid ISO-8601 duration {text!r}")
    return sign * sum(float(v.replace(",", ".")) * _ISO_UNITS[k] for k, v in m.groupdict().items() if v)
