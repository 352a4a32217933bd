"""The `autoscaling.knative.dev/*` annotations: keys, aliases, parsing and Knative's range checks.

Mirrors knative.dev/serving/pkg/apis/autoscaling (annotation_validation.go). Paths are the key the
user wrote; callers prefix them with where the annotations live.
"""

from __future__ import annotations

from reference.apis.autoscaling import (  # noqa: F401  (the lint reads the keys through this module)
    ACTIVATION_SCALE,
    AGGREGATION,
    ALL_KEYS,
    CLASS,
    GROUP,
    HPA,
    INITIAL_SCALE,
    KPA,
    MAX_SCALE,
    METRIC,
    MIN_SCALE,
    PANIC_THRESHOLD_PERCENTAGE,
    PANIC_WINDOW_PERCENTAGE,
    RETENTION_PERIOD,
    SCALE_DOWN_DELAY,
    TARGET,
    TARGET_BURST_CAPACITY,
    TARGET_UTILIZATION,
    WINDOW,
    XPA,
    lookup,
)
from reference.apis.durations import format_go_duration as format_duration
from reference.apiserver.admission.fielderror import (
    FieldError,
    combine,
    generic,
    invalid_value,
    out_of_bounds,
)
from reference.apiserver.admission.numbers import config_int, parse_duration, parse_float, parse_int

INT32_MAX = 2147483647


def _float(text: str) -> float | None:
    try:
        return parse_float(text)
    except ValueError:
        return None


def _int32(key: str, text: str) -> tuple[int | None, FieldError | None]:
    try:
        value = parse_int(text)
    except ValueError:
        return None, invalid_value(text, key)
    if value < 0 or value > INT32_MAX:
        return None, out_of_bounds(text, 0, INT32_MAX, key)
    return value, None


def _validate_class(ann: dict[str, str], ack: bool) -> FieldError | None:
    """Knative accepts kpa and hpa in its own domain (any other domain is another autoscaler's); the reference
    also accepts ACK's xpa unless it is strict (`ack` False: admission/ack.py)."""
    found = lookup(ann, CLASS)
    allowed = (KPA, HPA, XPA) if ack else (KPA, HPA)
    if found and found[1].endswith(".knative.dev") and found[1] not in allowed:
        return invalid_value(found[1], found[0])
    return None


def _validate_min_max(ann: dict[str, str], config: dict[str, str]) -> FieldError | None:
    errs: list[FieldError | None] = []
    low, high = 0, 0
    if found := lookup(ann, MIN_SCALE):
        value, err = _int32(found[0], found[1])
        errs.append(err)
        low = value or 0
    max_found = lookup(ann, MAX_SCALE)
    if max_found:
        value, err = _int32(max_found[0], max_found[1])
        errs.append(err)
        high = value or 0
    if high != 0 and high < low:
        errs.append(generic(f"max-scale={high} is less than min-scale={low}", MAX_SCALE[0], MIN_SCALE[0]))
    limit = config_int(config, "max-scale-limit", 0)
    if max_found and limit > 0:
        if high > limit:
            errs.append(out_of_bounds(high, 1, limit, max_found[0]))
        elif high == 0:
            errs.append(generic(f"max-scale=0 (unlimited), must be less than {limit}", max_found[0]))
    if found := lookup(ann, ACTIVATION_SCALE):
        try:
            act = parse_int(found[1])
            if act < 0 or act > INT32_MAX:
                raise ValueError
        except ValueError:
            errs.append(invalid_value(found[1], found[0]))
        else:
            if low > act:
                errs.append(generic(f"min-scale={low} is greater than activation-scale={act}", found[0]))
            elif high != 0 and high < act:
                errs.append(generic(f"max-scale={high} is less than activation-scale={act}", found[0]))
            elif act < 2:
                errs.append(generic(f"activation-scale={act} must be greater than 1", found[0]))
    return combine(*errs)


# Annotations holding a number within bounds (Knative's validateFloats).
_BOUNDED_FLOATS = ((PANIC_WINDOW_PERCENTAGE, 1, 100), (PANIC_THRESHOLD_PERCENTAGE, 110, 1000),
                   (TARGET_UTILIZATION, 1, 100))


def _validate_floats(ann: dict[str, str]) -> FieldError | None:
    errs: list[FieldError | None] = []
    for keys, low, high in _BOUNDED_FLOATS:
        if found := lookup(ann, keys):
            value = _float(found[1])
            if value is None:
                errs.append(invalid_value(found[1], found[0]))
            elif not low <= value <= high:
                errs.append(out_of_bounds(found[1], low, high, found[0]))
    if found := lookup(ann, TARGET):
        value = _float(found[1])
        if value is None:
            errs.append(invalid_value(found[1], found[0]))
        elif value < 0.01:
            errs.append(generic(f"target {found[1]} should be at least 0.01", found[0]))
    if found := lookup(ann, TARGET_BURST_CAPACITY):
        value = _float(found[1])
        if value is None or (value < 0 and value != -1):
            errs.append(invalid_value(found[1], found[0]))
    return combine(*errs)


def _duration(found: tuple[str, str] | None, low: float, high: float, precise: bool) -> FieldError | None:
    if not found:
        return None
    key, text = found
    try:
        seconds = parse_duration(text)
    except ValueError:
        return invalid_value(text, key)
    if seconds < low or seconds > high:
        return out_of_bounds(format_duration(seconds), format_duration(low), format_duration(high), key)
    if precise and seconds != int(seconds):
        return generic("must be specified with at most second precision", key)
    return None


def _validate_metric(ann: dict[str, str], config: dict[str, str]) -> FieldError | None:
    found = lookup(ann, METRIC)
    if not found:
        return None
    cls = lookup(ann, CLASS)
    klass = cls[1] if cls else config.get("pod-autoscaler-class", KPA)
    metric = found[1]
    if (klass == KPA and metric not in ("concurrency", "rps")) or (klass == HPA and not metric):
        return invalid_value(metric, METRIC[0])
    return None


def _validate_algorithm(ann: dict[str, str]) -> FieldError | None:
    cls = lookup(ann, CLASS)
    found = lookup(ann, AGGREGATION)
    if cls and cls[1] == KPA and found and found[1] and found[1] not in (
            "linear", "weighted-exponential", "weightedExponential"):
        return invalid_value(found[1], found[0])
    return None


def _validate_initial_scale(ann: dict[str, str], config: dict[str, str]) -> FieldError | None:
    found = lookup(ann, INITIAL_SCALE)
    if not found:
        return None
    key, text = found
    try:
        value = parse_int(text)
    except ValueError:
        return invalid_value(text, key)
    if value < 0:
        return invalid_value(text, f"{key} must be greater than 0")
    if value > INT32_MAX:
        return out_of_bounds(text, 0, INT32_MAX, key)
    if value == 0 and config.get("allow-zero-initial-scale", "false").lower() != "true":
        return invalid_value(0, f"{key}=0 not allowed by cluster")
    return None


def validate_annotations(annotations: dict[str, str], autoscaler_config: dict[str, str], ack: bool = True
                         ) -> FieldError | None:
    """Every check Knative's webhook runs on a revision's autoscaling annotations (`ack`: ACK's xpa class is
    accepted too)."""
    ann = annotations or {}
    return combine(
        _validate_class(ann, ack),
        _validate_min_max(ann, autoscaler_config),
        _validate_floats(ann),
        _duration(lookup(ann, WINDOW), 6, 3600, True),
        _duration(lookup(ann, RETENTION_PERIOD), 0, 3600, False),
        _duration(lookup(ann, SCALE_DOWN_DELAY), 0, 3600, True),
        _validate_metric(ann, autoscaler_config),
        _validate_algorithm(ann),
        _validate_initial_scale(ann, autoscaler_config),
    )


def has_autoscaling_annotation(annotations: dict[str, str]) -> list[str]:
    return sorted(k for k in annotations or {} if k.startswith(GROUP))
