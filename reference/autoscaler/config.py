"""config-autoscaler, parsed: Knative's keys, defaults and allowed ranges."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from reference.apis.durations import parse_go_duration

KPA_CLASS = "kpa.autoscaling.knative.dev"
HPA_CLASS = "hpa.autoscaling.knative.dev"
XPA_CLASS = "xpa.autoscaling.knative.dev"  # ACK's: the KPA plus spare replicas (xpa.py)


@dataclass(frozen=True)
class AutoscalerConfig:
    enable_scale_to_zero: bool = True
    container_concurrency_target_fraction: float = 0.7
    container_concurrency_target_default: float = 100.0
    rps_target_default: float = 200.0
    target_burst_capacity: float = 211.0
    activator_capacity: float = 100.0
    stable_window: float = 60.0
    panic_window_percentage: float = 10.0
    panic_threshold_percentage: float = 200.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    scale_to_zero_grace_period: float = 30.0
    scale_to_zero_pod_retention_period: float = 0.0
    scale_down_delay: float = 0.0
    initial_scale: int = 1
    allow_zero_initial_scale: bool = False
    min_scale: int = 0
    max_scale: int = 0
    max_scale_limit: int = 0
    pod_autoscaler_class: str = KPA_CLASS
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_map(cls, data: dict[str, str]) -> AutoscalerConfig:
        """The config map's values; a value that does not parse or is out of range keeps its default and
        is named in `problems` (Knative refuses such a config map and keeps the last good one)."""
        values: dict[str, Any] = {}  # field name -> its parsed value
        problems: list[str] = []

        def take(key: str, name: str, parse, check=lambda v: True) -> None:
            if key not in data or data[key] == "":
                return
            try:
                value = parse(data[key])
            except ValueError:
                problems.append(f"{key}: cannot parse {data[key]!r}")
                return
            if not check(value):
                problems.append(f"{key}: {data[key]!r} is out of range")
                return
            values[name] = value

        boolean = lambda text: {"true": True, "false": False}[text.strip().lower()]  # noqa: E731

        def boolean_or_error(text: str) -> bool:
            try:
                return boolean(text)
            except KeyError as err:
                raise ValueError(text) from err

        take("enable-scale-to-zero", "enable_scale_to_zero", boolean_or_error)
        take("allow-zero-initial-scale", "allow_zero_initial_scale", boolean_or_error)
        take("container-concurrency-target-percentage", "container_concurrency_target_fraction",
             lambda t: float(t) / 100 if float(t) > 1 else float(t), lambda v: 0 < v <= 1)
        take("container-concurrency-target-default", "container_concurrency_target_default", float,
             lambda v: v >= 0.01)
        take("requests-per-second-target-default", "rps_target_default", float, lambda v: v >= 0.01)
        take("target-burst-capacity", "target_burst_capacity", float, lambda v: v >= 0 or v == -1)
        take("activator-capacity", "activator_capacity", float, lambda v: v >= 1)
        take("stable-window", "stable_window", parse_go_duration, lambda v: 6 <= v <= 3600 and v == int(v))
        take("panic-window-percentage", "panic_window_percentage", float, lambda v: 1 <= v <= 100)
        take("panic-threshold-percentage", "panic_threshold_percentage", float, lambda v: 110 <= v <= 1000)
        take("max-scale-up-rate", "max_scale_up_rate", float, lambda v: v > 1)
        take("max-scale-down-rate", "max_scale_down_rate", float, lambda v: v > 1)
        take("scale-to-zero-grace-period", "scale_to_zero_grace_period", parse_go_duration, lambda v: v >= 6)
        take("scale-to-zero-pod-retention-period", "scale_to_zero_pod_retention_period", parse_go_duration,
             lambda v: v >= 0)
        take("scale-down-delay", "scale_down_delay", parse_go_duration, lambda v: 0 <= v <= 3600 and v == int(v))
        take("initial-scale", "initial_scale", int, lambda v: v >= 0)
        take("min-scale", "min_scale", int, lambda v: v >= 0)
        take("max-scale", "max_scale", int, lambda v: v >= 0)
        take("max-scale-limit", "max_scale_limit", int, lambda v: v >= 0)
        take("pod-autoscaler-class", "pod_autoscaler_class", str)
        config = cls(**values, problems=tuple(problems))
        if config.initial_scale == 0 and not config.allow_zero_initial_scale:
            config = cls(**{**_as_dict(config), "initial_scale": 1,
                            "problems": (*config.problems, "initial-scale: 0 needs allow-zero-initial-scale")})
        return config


def _as_dict(config: AutoscalerConfig) -> dict:
    return {f.name: getattr(config, f.name) for f in fields(config)}
