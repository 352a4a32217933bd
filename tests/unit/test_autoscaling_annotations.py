import pytest

from reference.apiserver.admission.autoscaling import validate_annotations
from reference.apiserver.bootstrap import CONFIG_MAPS

AUTOSCALER = CONFIG_MAPS[("knative-serving", "config-autoscaler")]
K = "autoscaling.knative.dev/"


@pytest.mark.parametrize(("annotations", "message"), [
    ({K + "min-scale": "5", K + "max-scale": "2"},
     f"max-scale=2 is less than min-scale=5: {K}max-scale, {K}min-scale"),
    ({K + "minScale": "-1"}, f"expected 0 <= -1 <= 2147483647: {K}minScale"),
    ({K + "max-scale": "x"}, f"invalid value: x: {K}max-scale"),
    ({K + "window": "2s"}, f"expected 6s <= 2s <= 1h0m0s: {K}window"),
    ({K + "window": "6500ms"}, f"must be specified with at most second precision: {K}window"),
    ({K + "window": "soon"}, f"invalid value: soon: {K}window"),
    ({K + "target": "0.001"}, f"target 0.001 should be at least 0.01: {K}target"),
    ({K + "target-utilization-percentage": "101"}, f"expected 1 <= 101 <= 100: {K}target-utilization-percentage"),
    ({K + "panic-window-percentage": "0.5"}, f"expected 1 <= 0.5 <= 100: {K}panic-window-percentage"),
    ({K + "panic-threshold-percentage": "100"}, f"expected 110 <= 100 <= 1000: {K}panic-threshold-percentage"),
    ({K + "target-burst-capacity": "-2"}, f"invalid value: -2: {K}target-burst-capacity"),
    ({K + "metric": "latency"}, f"invalid value: latency: {K}metric"),
    ({K + "class": "other.knative.dev"}, f"invalid value: other.knative.dev: {K}class"),
    ({K + "initial-scale": "0"}, f"invalid value: 0: {K}initial-scale=0 not allowed by cluster"),
    ({K + "scale-down-delay": "2h"}, f"expected 0s <= 2h0m0s <= 1h0m0s: {K}scale-down-delay"),
    ({K + "activation-scale": "1"}, f"activation-scale=1 must be greater than 1: {K}activation-scale"),
    ({K + "min-scale": "3", K + "activation-scale": "2"},
     f"min-scale=3 is greater than activation-scale=2: {K}activation-scale"),
])
def test_invalid_annotations(annotations: dict, message: str) -> None:
    assert str(validate_annotations(annotations, AUTOSCALER)) == message


@pytest.mark.parametrize("annotations", [
    {},
    {K + "min-scale": "1", K + "max-scale": "3", K + "window": "50s", K + "target": "1",
     K + "target-utilization-percentage": "90", K + "panic-window-percentage": "10.0",
     K + "panic-threshold-percentage": "200.0", K + "metric": "concurrency", K + "initial-scale": "5"},
    {K + "metric": "rps", K + "target": "200", K + "window": "6s", K + "max-scale": "10"},
    {K + "class": "hpa.autoscaling.knative.dev", K + "metric": "cpu"},
    {K + "target-burst-capacity": "-1", K + "scale-to-zero-pod-retention-period": "1m5s"},
])
def test_valid_annotations(annotations: dict) -> None:
    assert validate_annotations(annotations, AUTOSCALER) is None


def test_zero_initial_scale_when_the_cluster_allows_it() -> None:
    config = {**AUTOSCALER, "allow-zero-initial-scale": "true"}
    assert validate_annotations({K + "initial-scale": "0"}, config) is None


def test_max_scale_limit() -> None:
    config = {**AUTOSCALER, "max-scale-limit": "10"}
    assert str(validate_annotations({K + "max-scale": "20"}, config)) == f"expected 1 <= 20 <= 10: {K}max-scale"


def test_acks_xpa_class_unless_strict() -> None:
    """ACK's xpa class (seed 000) is accepted as ACK accepts it; strict, it is refused as upstream Knative does."""
    xpa = {K + "class": "xpa.autoscaling.knative.dev", K + "pod-buffer-size": "3", K + "gc-time": "30"}
    assert validate_annotations(xpa, AUTOSCALER) is None
    refused = str(validate_annotations(xpa, AUTOSCALER, ack=False))
    assert refused == f"invalid value: xpa.autoscaling.knative.dev: {K}class"
