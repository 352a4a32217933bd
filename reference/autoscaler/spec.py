"""What one revision's autoscaler works with: its metric, target, windows, rates and bounds, resolved from
the revision's annotations over config-autoscaler (Knative's MakeDecider and ResolveMetricTarget)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from reference.apis import autoscaling as keys
from reference.apis.durations import parse_go_duration
from reference.autoscaler.config import KPA_CLASS, AutoscalerConfig

TARGET_MIN = 0.01
DEFAULT_PROGRESS_DEADLINE = 600.0  # config-deployment's progress-deadline
ACTIVATION_TIMEOUT_BUFFER = 10.0
PROGRESS_DEADLINE = ("serving.knative.dev/progress-deadline",)
CONCURRENCY = "concurrency"
RPS = "rps"


@dataclass(frozen=True)
class DeciderSpec:
    metric: str
    target: float  # per pod, after utilization
    total: float  # per pod, the most it can take
    stable_window: int  # seconds
    panic_window: int  # seconds
    panic_threshold: float  # a ratio (2.0 = 200%)
    max_scale_up_rate: float
    max_scale_down_rate: float
    target_burst_capacity: float
    activator_capacity: float
    scale_down_delay: float
    reachable: bool = True


@dataclass(frozen=True)
class ScaleBounds:
    min: int
    max: int  # 0: no limit
    initial: int
    activation: int  # the least replicas once active (1 unless activation-scale says more)
    retention: float  # scale-to-zero-pod-retention-period, seconds
    stable_window: int
    # Activating longer than this (the progress deadline plus 10 s) gives up: back to zero.
    activation_timeout: float = DEFAULT_PROGRESS_DEADLINE + ACTIVATION_TIMEOUT_BUFFER


def _number(annotations: dict[str, str], names: tuple[str, ...]) -> float | None:
    found = keys.lookup(annotations, names)
    if not found:
        return None
    try:
        return float(found[1])
    except ValueError:
        return None


def _duration(annotations: dict[str, str], names: tuple[str, ...]) -> float | None:
    found = keys.lookup(annotations, names)
    if not found:
        return None
    try:
        return parse_go_duration(found[1])
    except ValueError:
        return None


def autoscaler_class(annotations: dict[str, str], config: AutoscalerConfig) -> str:
    found = keys.lookup(annotations, keys.CLASS)
    return found[1] if found else config.pod_autoscaler_class or KPA_CLASS


def metric_of(annotations: dict[str, str]) -> str:
    found = keys.lookup(annotations, keys.METRIC)
    return found[1] if found and found[1] else CONCURRENCY


def resolve_target(annotations: dict[str, str], container_concurrency: int, config: AutoscalerConfig
                   ) -> tuple[float, float]:
    """(target, total) per pod: the default or containerConcurrency, overridden by the target annotation
    (never above containerConcurrency), times the utilization."""
    metric = metric_of(annotations)
    if metric == RPS:
        total = config.rps_target_default
    else:
        total = float(container_concurrency) or config.container_concurrency_target_default
    wanted = _number(annotations, keys.TARGET)
    if wanted is not None:
        total = min(wanted, container_concurrency) if metric == CONCURRENCY and container_concurrency else wanted
    utilization = config.container_concurrency_target_fraction
    percentage = _number(annotations, keys.TARGET_UTILIZATION)
    if percentage is not None:
        utilization = percentage / 100
    return max(TARGET_MIN, total * utilization), total


def decider_spec(annotations: dict[str, str], container_concurrency: int, config: AutoscalerConfig,
                 reachable: bool = True) -> DeciderSpec:
    target, total = resolve_target(annotations, container_concurrency, config)
    stable = _duration(annotations, keys.WINDOW) or config.stable_window
    panic_percentage = _number(annotations, keys.PANIC_WINDOW_PERCENTAGE) or config.panic_window_percentage
    threshold = _number(annotations, keys.PANIC_THRESHOLD_PERCENTAGE) or config.panic_threshold_percentage
    burst = _number(annotations, keys.TARGET_BURST_CAPACITY)
    delay = _duration(annotations, keys.SCALE_DOWN_DELAY)
    return DeciderSpec(
        metric=metric_of(annotations),
        target=target,
        total=total,
        stable_window=int(stable),
        panic_window=max(1, round(stable * panic_percentage / 100)),
        panic_threshold=threshold / 100,
        max_scale_up_rate=config.max_scale_up_rate,
        max_scale_down_rate=config.max_scale_down_rate,
        target_burst_capacity=burst if burst is not None else config.target_burst_capacity,
        activator_capacity=config.activator_capacity,
        scale_down_delay=delay if delay is not None else config.scale_down_delay,
        reachable=reachable,
    )


def progress_deadline(annotations: dict[str, str], deployment_config: dict[str, str]) -> float:
    """Seconds a revision has to reach its initial scale: the annotation, else config-deployment's."""
    found = _duration(annotations, PROGRESS_DEADLINE)
    if found is not None and found > 0:
        return found
    try:
        return parse_go_duration(deployment_config.get("progress-deadline") or "600s")
    except ValueError:
        return DEFAULT_PROGRESS_DEADLINE


def scale_bounds(annotations: dict[str, str], config: AutoscalerConfig, reachable: bool = True,
                 deadline: float = DEFAULT_PROGRESS_DEADLINE) -> ScaleBounds:
    """min (0 while unreachable), max, initial and activation scale, the retention period and how long
    activating may take (`deadline`: the progress deadline)."""
    low = _number(annotations, keys.MIN_SCALE)
    high = _number(annotations, keys.MAX_SCALE)
    initial = _number(annotations, keys.INITIAL_SCALE)
    activation = _number(annotations, keys.ACTIVATION_SCALE)
    retention = _duration(annotations, keys.RETENTION_PERIOD)
    stable = _duration(annotations, keys.WINDOW) or config.stable_window
    if initial is None or (initial == 0 and not config.allow_zero_initial_scale):
        initial = config.initial_scale
    return ScaleBounds(
        min=int(low if low is not None else config.min_scale) if reachable else 0,
        max=int(high if high is not None else config.max_scale),
        initial=int(initial),
        activation=max(1, int(activation or 1)),
        retention=retention if retention is not None else config.scale_to_zero_pod_retention_period,
        stable_window=math.ceil(stable),
        activation_timeout=deadline + ACTIVATION_TIMEOUT_BUFFER,
    )
