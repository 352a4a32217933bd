"""The KPA decision (knative.dev/serving/pkg/autoscaler/scaling/autoscaler.go), pure.

Every tick: desired pods from the stable and panic averages over the target, clamped by the scale-up
and scale-down rates; panic mode when the panic window asks for twice the ready pods (by default),
held for a whole stable window after the last such tick, never scaling down while in it; an optional
scale-down delay; and the excess burst capacity that decides whether the activator stays in the path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reference.autoscaler.buckets import MaxWindow, TimedBuckets
from reference.autoscaler.spec import RPS, DeciderSpec

MIN_ACTIVATORS = 2
TICK_SECONDS = 2.0


@dataclass(frozen=True)
class ScaleResult:
    desired: int
    excess_burst_capacity: int
    activators: int
    valid: bool = True
    panicking: bool = False
    stable_value: float = 0.0
    panic_value: float = 0.0


INVALID = ScaleResult(desired=-1, excess_burst_capacity=0, activators=MIN_ACTIVATORS, valid=False)


class RevisionMetrics:
    """The metric windows of one revision: total concurrency and requests per second, 1 s buckets."""

    def __init__(self, stable_window: int, panic_window: int) -> None:
        self.concurrency = (TimedBuckets(stable_window), TimedBuckets(panic_window))
        self.rps = (TimedBuckets(stable_window), TimedBuckets(panic_window))

    def resize(self, stable_window: int, panic_window: int) -> None:
        for stable, panic in (self.concurrency, self.rps):
            stable.resize(stable_window)
            panic.resize(panic_window)

    def record(self, second: float, concurrency: float, requests: float) -> None:
        for buckets in self.concurrency:
            buckets.record(second, concurrency)
        for buckets in self.rps:
            buckets.record(second, requests)

    def stable_and_panic(self, metric: str, now: float) -> tuple[float, float] | None:
        """The stable and panic averages, or None when no data came for a whole window."""
        stable, panic = self.rps if metric == RPS else self.concurrency
        if stable.is_empty(now):
            return None
        return stable.window_average(now), panic.window_average(now)


class Decider:
    """One revision's autoscaler: holds the panic state between ticks."""

    def __init__(self, spec: DeciderSpec, ready_pods: int, now: float) -> None:
        self.spec = spec
        # A new autoscaler for a revision that already runs several pods starts in panic, so a
        # restart (which loses the metric history) never scales it down at once.
        self.panic_time: float | None = now if ready_pods > 1 else None
        self.max_panic_pods = ready_pods
        self.delay = MaxWindow(spec.scale_down_delay)

    def update(self, spec: DeciderSpec) -> None:
        if spec.scale_down_delay != self.spec.scale_down_delay:
            self.delay = MaxWindow(spec.scale_down_delay)
        self.spec = spec

    def scale(self, now: float, observed: tuple[float, float] | None, ready_pods: int) -> ScaleResult:
        """The decision at `now` from (stable, panic) observations; invalid without data."""
        if observed is None:
            return INVALID
        spec = self.spec
        stable_value, panic_value = observed
        ready = max(1.0, float(ready_pods))
        max_up = math.ceil(spec.max_scale_up_rate * ready)
        max_down = math.floor(ready / spec.max_scale_down_rate) if spec.reachable else 0
        dspc = math.ceil(stable_value / spec.target)
        dppc = math.ceil(panic_value / spec.target)
        desired_stable = int(min(max(dspc, max_down), max_up))
        desired_panic = int(min(max(dppc, max_down), max_up))

        over_threshold = dppc / ready >= spec.panic_threshold
        if over_threshold:
            self.panic_time = now  # enter panic, or extend it
        elif self.panic_time is not None and self.panic_time + spec.stable_window < now:
            self.panic_time = None  # the surge has made its way into the stable window
            self.max_panic_pods = 0

        desired = desired_stable
        if self.panic_time is not None:
            desired = max(desired, desired_panic)
            self.max_panic_pods = max(self.max_panic_pods, desired)  # only increases while panicking
            desired = self.max_panic_pods

        if spec.scale_down_delay > 0:
            self.delay.record(now, desired)
            desired = self.delay.current()

        excess, activators = _burst_capacity(spec, ready_pods, panic_value)
        return ScaleResult(desired, excess, activators, True, self.panic_time is not None, stable_value,
                           panic_value)


def _burst_capacity(spec: DeciderSpec, ready_pods: int, panic_value: float) -> tuple[int, int]:
    """Excess burst capacity (negative: the activator must stay in the path) and activators wanted."""
    if spec.target_burst_capacity == 0:
        return 0, MIN_ACTIVATORS
    if spec.target_burst_capacity > 0:
        capacity = ready_pods * spec.total
        excess = math.floor(capacity - spec.target_burst_capacity - panic_value)
        activators = max(MIN_ACTIVATORS, math.ceil((capacity + spec.target_burst_capacity) / spec.activator_capacity))
        return excess, activators
    activators = max(MIN_ACTIVATORS, math.ceil(ready_pods * spec.total / spec.activator_capacity))
    return -1, activators
