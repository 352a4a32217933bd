"""From the decision to the replicas, pure: bounds, initial scale, and when a revision may go to zero
(knative.dev/serving/pkg/reconciler/autoscaling/kpa: scaler.go and computeActiveCondition).

A PodAutoscaler is Active (serving), Activating (waiting for its first replicas) or Inactive (no
traffic). It goes to zero only when scale to zero is enabled, it has been Active for a whole stable
window while wanting none, and then Inactive for max(grace period, pod retention period).
"""

from __future__ import annotations

from dataclasses import dataclass

from reference.autoscaler.config import AutoscalerConfig
from reference.autoscaler.kpa import Decider, RevisionMetrics, ScaleResult
from reference.autoscaler.spec import ScaleBounds
from reference.autoscaler.xpa import Buffer

SCALE_UNKNOWN = -1
ACTIVE, INACTIVE, ACTIVATING = "True", "False", "Unknown"


@dataclass(frozen=True)
class ActiveState:
    status: str  # ACTIVE, INACTIVE or ACTIVATING
    since: float  # when it last changed
    initialized: bool = False  # the initial scale has been reached once
    reason: str = "Queued"


@dataclass(frozen=True)
class Step:
    want: int  # the desired scale (SCALE_UNKNOWN: no opinion yet)
    apply: bool  # whether to set the replicas to `want` now
    requeue_after: float | None = None


def apply_bounds(low: int, high: int, value: int) -> int:
    if value < low:
        return low
    if high and value > high:
        return high
    return value


def scale(desired: int, bounds: ScaleBounds, state: ActiveState, config: AutoscalerConfig, now: float) -> Step:
    """What to do with the decider's `desired` (SCALE_UNKNOWN when it has no data yet)."""
    if desired < 0 and state.status != ACTIVATING:
        return Step(desired, False)  # metrics are not being collected yet
    low = bounds.min
    if bounds.initial > 1 and not state.initialized:
        low = max(bounds.initial, low)
    desired = apply_bounds(low, bounds.max, desired)
    if desired > 0 and bounds.activation > 1:
        desired = max(desired, bounds.activation)
    return _scale_to_zero(desired, bounds, state, config, now)


def _scale_to_zero(desired: int, bounds: ScaleBounds, state: ActiveState, config: AutoscalerConfig,
                   now: float) -> Step:
    if desired != 0:
        return Step(desired, True)
    if not config.enable_scale_to_zero:
        return Step(1, True)
    if state.status == ACTIVATING:
        # Stuck activating past the progress deadline: presume it cannot succeed and go to zero.
        if now - state.since >= bounds.activation_timeout:
            return Step(0, True)
        return Step(SCALE_UNKNOWN, False, bounds.activation_timeout - (now - state.since))
    if state.status == ACTIVE:
        active_for = now - state.since
        if active_for >= bounds.stable_window:
            return Step(0, False, 1.0)  # not yet: this marks it Inactive first
        return Step(1, True, bounds.stable_window - active_for)
    wait = max(config.scale_to_zero_grace_period, bounds.retention)
    inactive_for = now - state.since
    if inactive_for >= wait:
        return Step(0, True)
    return Step(0, False, wait - inactive_for)


def active_threshold(bounds: ScaleBounds, state: ActiveState) -> int:
    """Ready replicas needed to count as Active: the initial scale until first reached, then min (at least 1)."""
    if not state.initialized:
        return max(bounds.min, bounds.initial)
    return max(bounds.min, 1)


def next_state(state: ActiveState, want: int, ready: int, bounds: ScaleBounds, now: float) -> ActiveState:
    """The Active condition after this reconcile (computeActiveCondition)."""
    threshold = active_threshold(bounds, state)
    initialized = state.initialized or ready >= threshold

    def become(status: str, reason: str) -> ActiveState:
        since = state.since if status == state.status else now
        return ActiveState(status, since, initialized, reason)

    if want == 0 or threshold == 0:
        if state.status == ACTIVATING and threshold > 0:
            return become(INACTIVE, "TimedOut")
        return become(INACTIVE, "NoTraffic")
    if ready < threshold:
        if want > 0 or state.status != INACTIVE:
            return become(ACTIVATING, "Queued")
        return become(INACTIVE, "NoTraffic")
    if want > 0 or state.status != INACTIVE:
        return become(ACTIVE, "")
    return ActiveState(state.status, state.since, initialized, state.reason)


@dataclass(frozen=True)
class Tick:
    """One KPA decision and what follows from it."""

    decision: ScaleResult  # the Decider's
    step: Step  # the replicas to set, within the bounds
    state: ActiveState  # the PodAutoscaler's activity after it
    requested: int = SCALE_UNKNOWN  # what went to the scaler: the decision, plus the xpa buffer if any


def tick(decider: Decider, metrics: RevisionMetrics, bounds: ScaleBounds, state: ActiveState,
         config: AutoscalerConfig, now: float, ready: int, buffer: Buffer | None = None) -> Tick:
    """A tick of Knative's autoscaler (every TICK_SECONDS): the decider reads the windows, the scaler bounds
    its answer and decides on zero, and the activity follows. With a `buffer` (the xpa class) the spare
    replicas are added to the decision before the bounds. The platform's PodAutoscaler controller and
    `kproof simulate` both run exactly this."""
    decision = decider.scale(now, metrics.stable_and_panic(decider.spec.metric, now), ready)
    requested = decision.desired if decision.valid else SCALE_UNKNOWN
    if buffer is not None:
        requested = buffer.want(now, requested)
    step = scale(requested, bounds, state, config, now)
    return Tick(decision, step, next_state(state, step.want, ready, bounds, now), requested)
