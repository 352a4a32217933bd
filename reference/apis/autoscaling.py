"""The `autoscaling.knative.dev/*` annotation keys with their older camelCase aliases, and how Knative picks
one (knative.dev/serving pkg/apis/autoscaling/register.go): admission checks them, the KPA reads them, the
lint names them."""

from __future__ import annotations

GROUP = "autoscaling.knative.dev"
KPA = "kpa.autoscaling.knative.dev"
HPA = "hpa.autoscaling.knative.dev"
# ACK's class (seed 000): upstream Knative refuses it; the reference runs it as reference/autoscaler/xpa.py says
XPA = "xpa.autoscaling.knative.dev"


def _key(name: str, *aliases: str) -> tuple[str, ...]:
    return (f"{GROUP}/{name}", *(f"{GROUP}/{a}" for a in aliases))


CLASS = _key("class")
METRIC = _key("metric")
TARGET = _key("target")
TARGET_UTILIZATION = _key("target-utilization-percentage", "targetUtilizationPercentage")
TARGET_BURST_CAPACITY = _key("target-burst-capacity", "targetBurstCapacity")
WINDOW = _key("window")
PANIC_WINDOW_PERCENTAGE = _key("panic-window-percentage", "panicWindowPercentage")
PANIC_THRESHOLD_PERCENTAGE = _key("panic-threshold-percentage", "panicThresholdPercentage")
MIN_SCALE = _key("min-scale", "minScale")
MAX_SCALE = _key("max-scale", "maxScale")
INITIAL_SCALE = _key("initial-scale", "initialScale")
ACTIVATION_SCALE = _key("activation-scale")
SCALE_DOWN_DELAY = _key("scale-down-delay", "scaleDownDelay")
RETENTION_PERIOD = _key("scale-to-zero-pod-retention-period", "scaleToZeroPodRetentionPeriod")
AGGREGATION = _key("metric-aggregation-algorithm", "metricAggregationAlgorithm")
# the xpa class's own keys (ACK)
POD_BUFFER_SIZE = _key("pod-buffer-size")
GC_TIME = _key("gc-time")

ALL_KEYS = (CLASS, METRIC, TARGET, TARGET_UTILIZATION, TARGET_BURST_CAPACITY, WINDOW,
            PANIC_WINDOW_PERCENTAGE, PANIC_THRESHOLD_PERCENTAGE, MIN_SCALE, MAX_SCALE, INITIAL_SCALE,
            ACTIVATION_SCALE, SCALE_DOWN_DELAY, RETENTION_PERIOD, AGGREGATION)


def lookup(annotations: dict[str, str], keys: tuple[str, ...]) -> tuple[str, str] | None:
    """(key found, value) for the first of `keys` present, as Knative's KeyPriority does."""
    for key in keys:
        if key in annotations:
            return key, annotations[key]
    return None
