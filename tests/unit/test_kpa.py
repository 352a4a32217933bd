"""The KPA, table by table, modelled on Knative's pkg/autoscaler/scaling tests."""

import pytest

from reference.autoscaler.buckets import MaxWindow, TimedBuckets
from reference.autoscaler.config import AutoscalerConfig
from reference.autoscaler.kpa import Decider, RevisionMetrics
from reference.autoscaler.spec import DeciderSpec, decider_spec, resolve_target, scale_bounds

K = "autoscaling.knative.dev/"
DEFAULTS = AutoscalerConfig()


def spec(**changes: object) -> DeciderSpec:
    base = dict(metric="concurrency", target=1.0, total=1.0, stable_window=60, panic_window=6, panic_threshold=2.0,
                max_scale_up_rate=1000.0, max_scale_down_rate=2.0, target_burst_capacity=211.0,
                activator_capacity=100.0, scale_down_delay=0.0, reachable=True)
    return DeciderSpec(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(("annotations", "cc", "target", "total"), [
    ({}, 0, 70.0, 100.0),
    ({}, 10, 7.0, 10.0),
    ({K + "target": "50"}, 10, 7.0, 10.0),  # the target annotation never goes above containerConcurrency
    ({K + "target": "5"}, 10, 3.5, 5.0),
    ({K + "target": "1", K + "target-utilization-percentage": "100"}, 1, 1.0, 1.0),
    ({K + "metric": "rps"}, 0, 140.0, 200.0),
    ({K + "metric": "rps", K + "target": "200"}, 0, 140.0, 200.0),
    ({K + "target-utilization-percentage": "90"}, 10, 9.0, 10.0),
    ({K + "target": "0.001", K + "target-utilization-percentage": "1"}, 0, 0.01, 0.001),
])
def test_target_resolution(annotations: dict, cc: int, target: float, total: float) -> None:
    got_target, got_total = resolve_target(annotations, cc, DEFAULTS)
    assert (round(got_target, 6), got_total) == (target, total)


def test_windows_and_rates_from_annotations_and_config() -> None:
    config = AutoscalerConfig.from_map({"max-scale-up-rate": "500.0", "max-scale-down-rate": "4.0",
                                        "stable-window": "30s"})
    resolved = decider_spec({K + "window": "6s", K + "panic-window-percentage": "50",
                             K + "panic-threshold-percentage": "150"}, 0, config)
    assert (resolved.stable_window, resolved.panic_window, resolved.panic_threshold) == (6, 3, 1.5)
    assert (resolved.max_scale_up_rate, resolved.max_scale_down_rate) == (500.0, 4.0)
    assert decider_spec({}, 0, DEFAULTS).panic_window == 6  # 10% of 60 s
    assert decider_spec({}, 0, config).panic_window == 3


@pytest.mark.parametrize(("kwargs", "observed", "ready", "desired"), [
    ({}, (10.0, 9.0), 5, 10),  # stable: ceil(10 / 1); panic asks 9 / 5 < 200%
    ({"target": 0.7}, (5.0, 5.0), 5, 8),  # ceil(5 / 0.7)
    ({"max_scale_up_rate": 2.0}, (10.0, 3.0), 2, 4),  # no more than 2x the ready pods
    ({}, (1.0, 1.0), 10, 5),  # no fewer than ready / max-scale-down-rate
    ({"max_scale_down_rate": 4.0}, (1.0, 1.0), 10, 2),
    ({"reachable": False}, (1.0, 1.0), 10, 1),  # unreachable revisions may drop at once
    ({}, (0.0, 0.0), 1, 0),
    ({}, (0.0, 0.0), 0, 0),  # zero ready pods count as one
])
def test_stable_decisions(kwargs: dict, observed: tuple, ready: int, desired: int) -> None:
    decider = Decider(spec(**kwargs), ready_pods=1, now=0)
    result = decider.scale(100.0, observed, ready)
    assert result.valid and result.desired == desired and not result.panicking


def test_no_data_is_no_decision() -> None:
    result = Decider(spec(), 1, 0).scale(1.0, None, 1)
    assert not result.valid and result.desired == -1


def test_panic_enters_holds_the_maximum_and_leaves_after_a_stable_window() -> None:
    decider = Decider(spec(stable_window=6), ready_pods=1, now=0)
    first = decider.scale(10.0, (1.0, 4.0), 1)  # panic asks 4 pods for 1 ready: over 200%
    assert first.panicking and first.desired == 4
    lower = decider.scale(12.0, (1.0, 1.0), 4)  # still panicking: never scales down
    assert lower.panicking and lower.desired == 4
    higher = decider.scale(14.0, (1.0, 9.0), 4)  # over threshold again: up and the panic is extended
    assert higher.panicking and higher.desired == 9
    calm = decider.scale(20.0, (1.0, 1.0), 9)  # 6 s after the last over-threshold tick: not yet past
    assert calm.panicking and calm.desired == 9
    after = decider.scale(20.5, (1.0, 1.0), 9)
    assert not after.panicking and after.desired == 4  # stable says 1; the scale-down rate allows floor(9 / 2)


def test_panic_threshold_is_a_ratio_to_ready_pods() -> None:
    decider = Decider(spec(), ready_pods=3, now=0)
    decider.panic_time = None  # a fresh decider with 3 pods starts panicking; reset for this table
    decider.max_panic_pods = 0
    assert not decider.scale(1.0, (5.0, 5.0), 3).panicking  # 5 / 3 < 2
    assert decider.scale(2.0, (6.0, 6.0), 3).panicking  # 6 / 3 >= 2


def test_a_new_decider_over_several_pods_starts_in_panic() -> None:
    decider = Decider(spec(), ready_pods=5, now=0)
    result = decider.scale(1.0, (0.0, 0.0), 5)
    assert result.panicking and result.desired == 5  # no scale-down on restart
    assert not Decider(spec(), ready_pods=1, now=0).scale(1.0, (0.0, 0.0), 1).panicking


def test_scale_down_delay_keeps_the_highest_recent_decision() -> None:
    decider = Decider(spec(scale_down_delay=10.0, max_scale_down_rate=100.0), ready_pods=1, now=0)
    assert decider.scale(0.0, (8.0, 8.0), 8).desired == 8
    assert decider.scale(4.0, (2.0, 2.0), 8).desired == 8
    assert decider.scale(9.0, (2.0, 2.0), 8).desired == 8
    assert decider.scale(11.0, (2.0, 2.0), 8).desired == 2


@pytest.mark.parametrize(("burst", "ready", "panic", "excess"), [
    (211.0, 3, 50.0, 39),  # floor(3 * 100 - 211 - 50)
    (211.0, 1, 0.0, -111),  # negative: the activator stays in the path
    (0.0, 1, 0.0, 0),
    (-1.0, 5, 0.0, -1),  # -1: always in the path
])
def test_excess_burst_capacity(burst: float, ready: int, panic: float, excess: int) -> None:
    decider = Decider(spec(total=100.0, target=70.0, target_burst_capacity=burst), ready_pods=1, now=0)
    assert decider.scale(1.0, (panic, panic), ready).excess_burst_capacity == excess


def test_buckets_average_over_the_part_of_the_window_with_data() -> None:
    buckets = TimedBuckets(window=60)
    for second in range(100, 106):
        buckets.record(second, 6.0)
    assert buckets.window_average(105) == 6.0  # 6 seconds of data, not 60
    assert buckets.window_average(110) == 6.0  # nothing since: average over what there was
    buckets.record(111, 0.0)  # a gap counts as zeros
    assert buckets.window_average(111) == pytest.approx(36 / 12)
    assert buckets.window_average(111 + 60) == 0.0  # nothing for a whole window
    buckets.record(105, 60.0)  # a second recorded again is replaced
    assert buckets.window_average(111) == pytest.approx(90 / 12)


def test_metrics_without_data_for_a_window_are_absent() -> None:
    metrics = RevisionMetrics(stable_window=6, panic_window=1)
    assert metrics.stable_and_panic("concurrency", 10) is None
    metrics.record(10, 4.0, 8)
    metrics.record(11, 2.0, 4)
    assert metrics.stable_and_panic("concurrency", 11) == (3.0, 2.0)
    assert metrics.stable_and_panic("rps", 11) == (6.0, 4.0)
    assert metrics.stable_and_panic("concurrency", 18) is None


def test_max_window() -> None:
    window = MaxWindow(10)
    window.record(0, 5)
    window.record(5, 1)
    assert window.current() == 5
    window.record(11, 2)
    assert window.current() == 2


def test_config_map_parsing() -> None:
    config = AutoscalerConfig.from_map({"container-concurrency-target-percentage": "80", "stable-window": "2m",
                                        "enable-scale-to-zero": "false", "max-scale-down-rate": "1.0",
                                        "scale-to-zero-grace-period": "10s"})
    assert config.container_concurrency_target_fraction == 0.8 and config.stable_window == 120
    assert config.enable_scale_to_zero is False and config.scale_to_zero_grace_period == 10
    assert config.max_scale_down_rate == 2.0 and config.problems == ("max-scale-down-rate: '1.0' is out of range",)
    assert AutoscalerConfig.from_map({"container-concurrency-target-percentage": "0.5"}) \
        .container_concurrency_target_fraction == 0.5


def test_scale_bounds() -> None:
    bounds = scale_bounds({K + "min-scale": "2", K + "max-scale": "5", K + "initial-scale": "3",
                           K + "activation-scale": "3", K + "scale-to-zero-pod-retention-period": "1m"}, DEFAULTS)
    assert (bounds.min, bounds.max, bounds.initial, bounds.activation, bounds.retention) == (2, 5, 3, 3, 60.0)
    assert scale_bounds({K + "min-scale": "2"}, DEFAULTS, reachable=False).min == 0
    assert scale_bounds({K + "initial-scale": "0"}, DEFAULTS).initial == 1
    zero_ok = AutoscalerConfig.from_map({"allow-zero-initial-scale": "true"})
    assert scale_bounds({K + "initial-scale": "0"}, zero_ok).initial == 0
