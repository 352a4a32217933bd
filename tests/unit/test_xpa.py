"""ACK's xpa class: the KPA's decision plus pod-buffer-size spare replicas, unneeded ones kept gc-time seconds."""

import pytest

from reference.autoscaler.config import AutoscalerConfig
from reference.autoscaler.kpa import Decider, RevisionMetrics
from reference.autoscaler.scaling import ACTIVE, SCALE_UNKNOWN, ActiveState, tick
from reference.autoscaler.spec import decider_spec, scale_bounds
from reference.autoscaler.xpa import DEFAULT_GC_TIME, Buffer, BufferSpec, buffer_spec

# seed 000's event-display, as written
SEED_000 = {
    "autoscaling.knative.dev/class": "xpa.autoscaling.knative.dev",
    "autoscaling.knative.dev/maxScale": "100",
    "autoscaling.knative.dev/minScale": "1",
    "autoscaling.knative.dev/pod-buffer-size": "3",
    "autoscaling.knative.dev/gc-time": "30",
}


@pytest.mark.parametrize(("annotations", "spec"), [
    (SEED_000, BufferSpec(3, 30.0)),
    ({}, BufferSpec(0, DEFAULT_GC_TIME)),
    ({"autoscaling.knative.dev/pod-buffer-size": "two"}, BufferSpec(0, DEFAULT_GC_TIME)),
    ({"autoscaling.knative.dev/pod-buffer-size": "-1", "autoscaling.knative.dev/gc-time": "0"}, BufferSpec(0, 0.0)),
])
def test_buffer_spec_reads_the_annotations(annotations: dict[str, str], spec: BufferSpec) -> None:
    assert buffer_spec(annotations) == spec


def test_spare_replicas_above_demand() -> None:
    buffer = Buffer(BufferSpec(3, 30.0))
    assert buffer.want(0.0, SCALE_UNKNOWN) == 3  # no metrics yet: no demand, the buffer stands
    assert buffer.want(2.0, 0) == 3
    assert buffer.want(4.0, 9) == 12  # the seed's burst: nine in demand, twelve pods


def test_unneeded_replicas_go_after_gc_time() -> None:
    buffer = Buffer(BufferSpec(3, 30.0))
    assert buffer.want(0.0, 9) == 12
    assert buffer.want(20.0, 1) == 12, "demand fell 20 s ago: the replicas stay"
    assert buffer.want(29.0, 1) == 12
    assert buffer.want(31.0, 1) == 4, "after gc-time: demand plus the buffer"


def test_no_gc_time_releases_at_once_and_no_buffer_is_the_kpa() -> None:
    assert Buffer(BufferSpec(2, 0.0)).want(0.0, 5) == 7
    eager = Buffer(BufferSpec(2, 0.0))
    eager.want(0.0, 5)
    assert eager.want(1.0, 1) == 3
    plain = Buffer(BufferSpec(0, 30.0))
    assert plain.want(0.0, SCALE_UNKNOWN) == SCALE_UNKNOWN and plain.want(1.0, 4) == 4


def test_a_shorter_gc_time_takes_effect() -> None:
    buffer = Buffer(BufferSpec(1, 60.0))
    buffer.want(0.0, 5)
    buffer.update(BufferSpec(1, 5.0))
    assert buffer.want(10.0, 0) == 1


def test_a_tick_adds_the_buffer_before_the_bounds() -> None:
    """Seed 000's Service: idle it runs three replicas (min-scale is 1); a burst of 30 concurrent requests at
    the default target (70 per pod) asks for one replica, four with the buffer; max-scale still caps."""
    config = AutoscalerConfig()
    spec = decider_spec(SEED_000, 0, config)
    bounds = scale_bounds(SEED_000, config)
    state = ActiveState(ACTIVE, 0.0, initialized=True)
    decider, metrics, buffer = Decider(spec, 1, 0.0), RevisionMetrics(spec.stable_window, spec.panic_window), \
        Buffer(buffer_spec(SEED_000))

    idle = tick(decider, metrics, bounds, state, config, 1.0, 1, buffer)
    assert not idle.decision.valid and idle.requested == 3 and idle.step.want == 3

    for second in range(2, 8):
        metrics.record(second, 30.0, 30)
    busy = tick(decider, metrics, bounds, state, config, 8.0, 3, buffer)
    assert busy.decision.desired == 1 and busy.requested == 4 and busy.step.want == 4

    capped = scale_bounds({**SEED_000, "autoscaling.knative.dev/maxScale": "2"}, config)
    assert tick(decider, metrics, capped, state, config, 9.0, 3, buffer).step.want == 2
