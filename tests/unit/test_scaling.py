"""From decision to replicas: bounds, initial scale and the road to zero (Knative's kpa scaler tests)."""

import pytest

from reference.autoscaler.config import AutoscalerConfig
from reference.autoscaler.scaling import (
    ACTIVATING,
    ACTIVE,
    INACTIVE,
    SCALE_UNKNOWN,
    ActiveState,
    Step,
    apply_bounds,
    next_state,
    scale,
)
from reference.autoscaler.spec import ScaleBounds, progress_deadline, scale_bounds

CONFIG = AutoscalerConfig()  # grace 30 s
BOUNDS = ScaleBounds(min=0, max=0, initial=1, activation=1, retention=0.0, stable_window=60)


def bounds(**changes: object) -> ScaleBounds:
    return ScaleBounds(**{**BOUNDS.__dict__, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(("low", "high", "value", "bounded"), [
    (0, 0, 7, 7), (2, 0, 1, 2), (0, 3, 7, 3), (1, 3, -1, 1),
])
def test_apply_bounds(low: int, high: int, value: int, bounded: int) -> None:
    assert apply_bounds(low, high, value) == bounded


def test_min_max_and_activation_scale() -> None:
    active = ActiveState(ACTIVE, 0.0, initialized=True)
    assert scale(1, bounds(min=3), active, CONFIG, 10) == Step(3, True)
    assert scale(9, bounds(max=4), active, CONFIG, 10) == Step(4, True)
    assert scale(1, bounds(activation=3), active, CONFIG, 10) == Step(3, True)


def test_initial_scale_until_reached() -> None:
    fresh = ActiveState(ACTIVATING, 0.0, initialized=False)
    assert scale(SCALE_UNKNOWN, bounds(initial=5), fresh, CONFIG, 1) == Step(5, True)
    assert scale(1, bounds(initial=5), fresh, CONFIG, 1) == Step(5, True)
    reached = ActiveState(ACTIVE, 0.0, initialized=True)
    assert scale(1, bounds(initial=5), reached, CONFIG, 1) == Step(1, True)


def test_no_metrics_yet_changes_nothing() -> None:
    assert scale(SCALE_UNKNOWN, BOUNDS, ActiveState(ACTIVE, 0.0, True), CONFIG, 5) == Step(SCALE_UNKNOWN, False)


def test_the_road_to_zero() -> None:
    # Active for less than a stable window: stay at one replica until it has been.
    state = ActiveState(ACTIVE, 100.0, initialized=True)
    step = scale(0, BOUNDS, state, CONFIG, 130.0)
    assert step == Step(1, True, 30.0)
    # Active for a whole window and wanting none: marked Inactive first, replicas untouched.
    step = scale(0, BOUNDS, state, CONFIG, 160.0)
    assert step.want == 0 and not step.apply
    inactive = next_state(state, step.want, 1, BOUNDS, 160.0)
    assert (inactive.status, inactive.reason, inactive.since) == (INACTIVE, "NoTraffic", 160.0)
    # Inactive for less than the grace period: wait; then zero.
    assert scale(0, BOUNDS, inactive, CONFIG, 180.0) == Step(0, False, 10.0)
    assert scale(0, BOUNDS, inactive, CONFIG, 190.0) == Step(0, True)


def test_retention_period_extends_the_wait() -> None:
    inactive = ActiveState(INACTIVE, 0.0, initialized=True)
    assert scale(0, bounds(retention=120.0), inactive, CONFIG, 60.0) == Step(0, False, 60.0)
    assert scale(0, bounds(retention=120.0), inactive, CONFIG, 120.0) == Step(0, True)


def test_scale_to_zero_disabled_keeps_one() -> None:
    config = AutoscalerConfig.from_map({"enable-scale-to-zero": "false"})
    assert scale(0, BOUNDS, ActiveState(INACTIVE, 0.0, True), config, 999.0) == Step(1, True)


def test_activation_waits_then_times_out() -> None:
    activating = ActiveState(ACTIVATING, 0.0, initialized=True)
    assert scale(0, BOUNDS, activating, CONFIG, 10.0) == Step(SCALE_UNKNOWN, False, 600.0)
    assert scale(0, BOUNDS, activating, CONFIG, 610.0) == Step(0, True)
    timed_out = next_state(activating, 0, 0, BOUNDS, 610.0)
    assert (timed_out.status, timed_out.reason) == (INACTIVE, "TimedOut")


def test_the_progress_deadline_bounds_activation() -> None:
    assert progress_deadline({"serving.knative.dev/progress-deadline": "20s"}, {"progress-deadline": "600s"}) == 20
    assert progress_deadline({}, {"progress-deadline": "90s"}) == 90
    assert progress_deadline({}, {}) == 600
    quick = scale_bounds({}, CONFIG, deadline=20)
    activating = ActiveState(ACTIVATING, 0.0)
    assert scale(0, quick, activating, CONFIG, 29.0) == Step(SCALE_UNKNOWN, False, 1.0)
    assert scale(0, quick, activating, CONFIG, 30.0) == Step(0, True)


@pytest.mark.parametrize(("state", "want", "ready", "status", "initialized"), [
    (ActiveState(ACTIVATING, 0.0), SCALE_UNKNOWN, 0, ACTIVATING, False),
    (ActiveState(ACTIVATING, 0.0), SCALE_UNKNOWN, 1, ACTIVE, True),
    (ActiveState(INACTIVE, 0.0, True), 1, 0, ACTIVATING, True),  # a request woke it
    (ActiveState(ACTIVATING, 0.0, True), 2, 1, ACTIVE, True),
    (ActiveState(ACTIVE, 0.0, True), 0, 1, INACTIVE, True),
])
def test_active_condition(state: ActiveState, want: int, ready: int, status: str, initialized: bool) -> None:
    after = next_state(state, want, ready, BOUNDS, 50.0)
    assert (after.status, after.initialized) == (status, initialized)


def test_initial_scale_must_be_reached_to_be_active() -> None:
    fresh = ActiveState(ACTIVATING, 0.0)
    assert next_state(fresh, 5, 3, bounds(initial=5), 1.0).status == ACTIVATING
    assert next_state(fresh, 5, 5, bounds(initial=5), 1.0).status == ACTIVE
