"""ACK's `xpa.autoscaling.knative.dev` class, as seed 000 writes it: the KPA's decisions plus a buffer of
spare replicas, pure.

No public document describes the class; the interpretation comes from the seed's annotations and from what
the seed shows. `autoscaling.knative.dev/pod-buffer-size: "3"` keeps that many ready replicas above what
the KPA asks for (demand); `autoscaling.knative.dev/gc-time: "30"` is how many seconds a replica that is
no longer needed (demand fell) stays before it is released. The seed's own output agrees: with min-scale
1 and no events, three event-display Pods run (no demand + a buffer of 3); after a burst, twelve.

Replicas = max over the last gc-time seconds of (demand + buffer), then Knative's bounds (min-scale,
max-scale) as for the KPA. Without metrics yet, demand counts as zero, so the buffer stands from the
start; a buffer above zero means the revision never scales to zero. A buffer of 0 is the KPA, unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reference.apis import autoscaling as keys
from reference.autoscaler.buckets import MaxWindow

DEFAULT_GC_TIME = 30.0  # seconds; the value the seed writes, used when the annotation is missing


@dataclass(frozen=True)
class BufferSpec:
    size: int  # spare ready replicas above demand
    gc_time: float  # seconds an unneeded replica stays


def _whole(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value >= 0 and math.isfinite(value) else None


def buffer_spec(annotations: dict[str, str]) -> BufferSpec:
    """The buffer of a revision's annotations (a missing or unreadable size is 0: the KPA alone)."""
    size = _whole(annotations.get(keys.POD_BUFFER_SIZE[0]))
    gc_time = _whole(annotations.get(keys.GC_TIME[0]))
    return BufferSpec(size or 0, float(gc_time) if gc_time is not None else DEFAULT_GC_TIME)


class Buffer:
    """One revision's buffer: remembers the wants of the last gc-time seconds."""

    def __init__(self, spec: BufferSpec) -> None:
        self.spec = spec
        self._held = MaxWindow(spec.gc_time)

    def update(self, spec: BufferSpec) -> None:
        if spec.gc_time != self.spec.gc_time:
            self._held = MaxWindow(spec.gc_time)
        self.spec = spec

    def want(self, now: float, demand: int) -> int:
        """Replicas to ask for at `now`, given the KPA's `demand` (negative: no decision yet, i.e. none).
        Without a buffer this is the KPA, unchanged."""
        if self.spec.size <= 0:
            return demand
        wanted = max(0, demand) + self.spec.size
        if self.spec.gc_time <= 0:
            return wanted
        self._held.record(now, wanted)
        return self._held.current()
