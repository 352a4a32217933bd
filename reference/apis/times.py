"""Times as the Kubernetes API writes them: RFC 3339 in UTC, whole seconds (`2026-12-07T09:00:00Z`), and with
microseconds where a field is a MicroTime (a Lease's renewTime, an Event's eventTime)."""

from __future__ import annotations

from datetime import UTC, datetime

SECONDS = "%Y-%m-%dT%H:%M:%SZ"
MICROSECONDS = "%Y-%m-%dT%H:%M:%S.%fZ"


def now() -> str:
    """This moment, to the second."""
    return datetime.now(UTC).strftime(SECONDS)


def now_micro() -> str:
    """This moment, to the microsecond (MicroTime)."""
    return datetime.now(UTC).strftime(MICROSECONDS)


def format(seconds: float) -> str:
    """A Unix time, to the second."""
    return datetime.fromtimestamp(seconds, UTC).strftime(SECONDS)


def parse(timestamp: str | None) -> float | None:
    """The Unix time of an RFC 3339 time (whole seconds or MicroTime), None when it is not one."""
    for layout in (SECONDS, MICROSECONDS):
        try:
            return datetime.strptime(timestamp or "", layout).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return None
