"""Per-record offset management, as Knative's dispatcher does it: records are handed out as they arrive,
and each partition commits the point below which every record is handled (delivered, dead-lettered or
given up on). A record still in back-off holds its partition's commit point, never the others'.

The commit point is the lowest offset still out, or one past the highest offset seen when none is out
(so gaps in the offsets, as compaction and transactions leave them, do not stall it). Pure and
thread-safe: the consumer's thread hands out and commits, the event loop reports what is done.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

Partition = tuple[str, int]  # (topic, partition)


@dataclass
class _Offsets:
    generation: int
    out: set[int] = field(default_factory=set)
    highest: int = -1
    committed: int = -1  # the last commit point written

    def point(self) -> int | None:
        if self.highest < 0:
            return None
        return min(self.out) if self.out else self.highest + 1


class OffsetTracker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._partitions: dict[Partition, _Offsets] = {}
        self._generation = 0

    def assign(self, partitions: list[Partition]) -> None:
        """A new assignment: what was known of these partitions is forgotten (a fresh start)."""
        with self._lock:
            self._generation += 1
            for partition in partitions:
                self._partitions[partition] = _Offsets(self._generation)

    def revoke(self, partitions: list[Partition]) -> dict[Partition, int]:
        """The partitions leave: their last commit points (to commit before they go), and the records of
        theirs still out no longer count."""
        with self._lock:
            points = {}
            for partition in partitions:
                offsets = self._partitions.pop(partition, None)
                if offsets is None:
                    continue
                point = offsets.point()
                if point is not None and point > offsets.committed:
                    points[partition] = point
            return points

    def start(self, partition: Partition, offset: int) -> int | None:
        """A record goes out; the generation to report it done with (None: not an assigned partition)."""
        with self._lock:
            offsets = self._partitions.get(partition)
            if offsets is None:
                return None
            offsets.out.add(offset)
            offsets.highest = max(offsets.highest, offset)
            return offsets.generation

    def done(self, partition: Partition, offset: int, generation: int) -> None:
        with self._lock:
            offsets = self._partitions.get(partition)
            if offsets is not None and offsets.generation == generation:
                offsets.out.discard(offset)

    def out(self, partition: Partition) -> int:
        with self._lock:
            offsets = self._partitions.get(partition)
            return len(offsets.out) if offsets else 0

    def to_commit(self) -> dict[Partition, int]:
        """The partitions whose commit point moved since it was last committed."""
        with self._lock:
            return {p: point for p, o in self._partitions.items()
                    if (point := o.point()) is not None and point > o.committed}

    def committed(self, points: dict[Partition, int]) -> None:
        with self._lock:
            for partition, point in points.items():
                offsets = self._partitions.get(partition)
                if offsets is not None:
                    offsets.committed = max(offsets.committed, point)
