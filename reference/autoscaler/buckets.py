"""Time-bucketed metric windows, as Knative's aggregation package keeps them (1-second buckets).

Each second holds one aggregated sample (the data plane reports every revision's total once a second);
recording a second again replaces it, so an early look at the current second is later corrected.

The average covers the part of the window that has data: since the first write when that was less than
a window ago, up to the last write when nothing has come since; gaps shorter than the window count as
zeros; a window with no data at all averages to 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class TimedBuckets:
    window: int  # seconds
    _values: dict[int, float] = field(default_factory=dict)
    first_write: int | None = None
    last_write: int | None = None

    def record(self, now: float, value: float) -> None:
        second = math.floor(now)
        if self.last_write is not None and second + self.window <= self.last_write:
            return  # older than a window: ignored
        if self.last_write is not None and second - self.last_write >= self.window:
            self._values.clear()  # nothing for a whole window: start afresh
            self.first_write = second
        if self.first_write is None or second < self.first_write:
            self.first_write = second
        if self.last_write is None or second > self.last_write:
            self.last_write = second
        self._values[second] = value
        cutoff = self.last_write - self.window
        for old in [s for s in self._values if s <= cutoff]:
            del self._values[old]

    def window_average(self, now: float) -> float:
        second = math.floor(now)
        if self.last_write is None or self.first_write is None or second - self.last_write >= self.window:
            return 0.0
        end = min(second, self.last_write)
        start = max(self.first_write, second - self.window + 1)
        span = end - start + 1
        if span <= 0:
            return 0.0
        total = sum(v for s, v in self._values.items() if start <= s <= end)
        return math.floor(total / span * 1e6) / 1e6

    def is_empty(self, now: float) -> bool:
        return self.last_write is None or math.floor(now) - self.last_write > self.window

    def resize(self, window: int) -> None:
        self.window = window


@dataclass
class MaxWindow:
    """The largest value recorded in the last `window` seconds (Knative's scale-down delay window)."""

    window: float
    _entries: list[tuple[float, int]] = field(default_factory=list)

    def record(self, now: float, value: int) -> None:
        self._entries = [(t, v) for t, v in self._entries if t > now - self.window]
        self._entries.append((now, value))

    def current(self) -> int:
        return max(v for _, v in self._entries) if self._entries else 0
