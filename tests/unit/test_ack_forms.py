"""ACK's forms (seeds 000, 001 and 004) accepted with an admission warning, and refused when the reference is
upstream-strict; the networking annotations the reference has no use for are reported, not dropped."""

from pathlib import Path

import pytest
import yaml

from reference.apiserver.bootstrap import bootstrap, set_config
from reference.apiserver.errors import ApiError
from reference.apiserver.registry import Options, Registry
from reference.apiserver.store import Store

SEEDS = Path(__file__).resolve().parents[2] / "fixtures" / "manifests"


@pytest.fixture
def registry() -> Registry:
    registry = Registry(Store())
    bootstrap(registry)
    return registry


def _create(registry: Registry, doc: dict) -> list[str]:
    group, _, version = doc["apiVersion"].rpartition("/")
    kind = next(k for k in registry.kinds.all if k.group == group and k.version == version and k.kind == doc["kind"])
    opts = Options()
    registry.create(kind, doc["metadata"].get("namespace", "default"), doc, opts)
    return opts.warnings


def _seed(name: str) -> dict:
    return yaml.safe_load((SEEDS / name).read_text())


def test_the_xpa_service_is_accepted_with_warnings(registry: Registry) -> None:
    warnings = _create(registry, _seed("seed-000/event-display-xpa.yaml"))
    text = "\n".join(warnings)
    assert "xpa.autoscaling.knative.dev is ACK's autoscaler class and upstream Knative refuses it" in text
    assert "networking.knative.dev/ingress.class]: 'kourier.ingress.networking.knative.dev' read" in text
    assert "networking.knative.dev/flow-controller.class]: 'strict' read" in text


def test_upstream_strict_refuses_the_xpa_class(registry: Registry) -> None:
    set_config(registry, "knative-serving", "config-kproof", "upstream-strict", "true")
    with pytest.raises(ApiError) as refused:
        _create(registry, _seed("seed-000/event-display-xpa.yaml"))
    assert refused.value.code == 422
    assert ("invalid value: xpa.autoscaling.knative.dev: "
            "spec.template.metadata.annotations.autoscaling.knative.dev/class") in refused.value.message


def test_v1alpha1_kafka_source_and_aliyun_annotations_warn(registry: Registry) -> None:
    doc = _seed("seed-000/kafka-source-v1alpha1.yaml")
    doc["spec"]["bootstrapServers"] = "127.0.0.1:9092"
    text = "\n".join(_create(registry, doc))
    assert "sources.knative.dev/v1alpha1 KafkaSource is served by ACK and the reference but no longer" in text
    for key in ("domain", "retry-count", "retry-interval", "req-timeout"):
        assert f"[k8s.aliyun.com/{key}]" in text


def test_reserved_instances_and_resource_policy_warn(registry: Registry) -> None:
    service = {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
               "metadata": {"name": "reserved", "namespace": "default"},
               "spec": {"template": {"metadata": {"annotations": {"knative.aliyun.com/reserve-instance": "enable"}},
                                     "spec": {"containers": [{"image": "gcr.io/knative-samples/helloworld-go"}]}}}}
    assert any("knative.aliyun.com/reserve-instance" in w and "upstream Knative ignores" in w
               for w in _create(registry, service))
    policy = _create(registry, _seed("seed-004/resource-policy.yaml"))
    assert policy == ["scheduling.alibabacloud.com/v1alpha1 ResourcePolicy is ACK's; upstream Knative clusters do "
                      "not serve it"]


def test_upstream_forms_have_no_warning(registry: Registry) -> None:
    assert _create(registry, _seed("seed-004/helloworld-go.yaml")) == []


def test_a_kafka_source_s_sasl_and_tls_are_reported(registry: Registry) -> None:
    """Seed 001's producer authenticates (Net.SASL.*, Net.TLS.*); a KafkaSource says so in spec.net, which the
    reference's consumers cannot use: a warning, not silence."""
    source = {"apiVersion": "sources.knative.dev/v1beta1", "kind": "KafkaSource",
              "metadata": {"name": "secure", "namespace": "default"},
              "spec": {"bootstrapServers": ["b:9093"], "topics": ["ai-info"], "sink": {"uri": "http://x"},
                       "net": {"sasl": {"enable": True}, "tls": {"enable": True}}}}
    text = "\n".join(_create(registry, source))
    assert "spec.net.sasl.enable: the reference's KafkaSource consumers connect without SASL or TLS" in text
    assert "spec.net.tls.enable" in text


def test_a_trigger_s_cel_filters_are_reported_wherever_they_nest(registry: Registry) -> None:
    """`cel` is kproof's dialect: upstream Knative's broker skips a filter it cannot parse, so a Trigger that
    relies on one passes more there; the reference accepts it and says so."""
    trigger = {"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
               "metadata": {"name": "scored", "namespace": "default"},
               "spec": {"broker": "default", "subscriber": {"uri": "http://sink.default.svc"},
                        "filters": [{"exact": {"type": "kproof.score"}},
                                    {"any": [{"cel": "data.score > 0.5"}, {"not": {"cel": "data.score < 0"}}]}]}}
    warnings = _create(registry, trigger)
    assert [w.split(":")[0] for w in warnings] == ["spec.filters[1].any[0].cel", "spec.filters[1].any[1].not.cel"]
    assert all("upstream Knative's broker skips a filter it cannot parse" in w for w in warnings)
    plain = {**trigger, "metadata": {"name": "plain", "namespace": "default"},
             "spec": {**trigger["spec"], "filters": [{"exact": {"type": "kproof.score"}}]}}
    assert _create(registry, plain) == []
