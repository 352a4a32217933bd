"""Admission: invalid manifests are refused with a message naming the field; nothing is stored."""

from __future__ import annotations

import pytest

from conformance.api.manifests import IMAGE, SINK, service
from conformance.helpers import assert_invalid, refused, status_of
from kproof.target import Target


def _trigger(namespace: str, **spec: object) -> dict:
    return {"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
            "metadata": {"name": "bad", "namespace": namespace},
            "spec": {"broker": "default", "subscriber": SINK, **spec}}


def _invalid_services(ns: str) -> list[tuple[str, dict, str]]:
    no_image = service("bad", ns)
    no_image["spec"]["template"]["spec"]["containers"] = [{"name": "c"}]
    no_containers = service("bad", ns)
    no_containers["spec"]["template"]["spec"]["containers"] = []
    split = service("bad", ns)
    split["spec"]["traffic"] = [{"latestRevision": True, "percent": 90}]
    reserved = service("bad", ns)
    reserved["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "K_SERVICE", "value": "x"}]
    port = service("bad", ns)
    port["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 8012}]
    return [
        ("concurrency", service("bad", ns, containerConcurrency=1001), "spec.template.spec.containerConcurrency"),
        ("timeout", service("bad", ns, timeoutSeconds=601), "spec.template.spec.timeoutSeconds"),
        ("min-over-max", service("bad", ns, {"autoscaling.knative.dev/min-scale": "5",
                                             "autoscaling.knative.dev/max-scale": "2"}),
         "autoscaling.knative.dev/max-scale"),
        ("window", service("bad", ns, {"autoscaling.knative.dev/window": "2s"}), "autoscaling.knative.dev/window"),
        ("target", service("bad", ns, {"autoscaling.knative.dev/target": "0"}), "autoscaling.knative.dev/target"),
        ("metric", service("bad", ns, {"autoscaling.knative.dev/metric": "latency"}),
         "autoscaling.knative.dev/metric"),
        ("panic", service("bad", ns, {"autoscaling.knative.dev/panic-threshold-percentage": "50"}),
         "autoscaling.knative.dev/panic-threshold-percentage"),
        ("no-image", no_image, "spec.template.spec.containers[0].image"),
        ("no-containers", no_containers, "spec.template.spec.containers"),
        ("traffic-sum", split, "spec.traffic"),
        ("reserved-env", reserved, "spec.template.spec.containers[0].env[0].name"),
        ("reserved-port", port, "spec.template.spec.containers[0].ports.containerPort"),
    ]


SERVICE_CASES = [c[0] for c in _invalid_services("x")]


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/knative-api-specification-1.0.md, Detailed "
                  "Resources: REQUIRED fields and their bounds (containers Min 1, containerConcurrency, "
                  "timeoutSeconds, traffic percents \"MUST sum to 100\")")
@pytest.mark.parametrize("case", SERVICE_CASES)
def test_invalid_service_is_refused(target: Target, namespace: str, case: str) -> None:
    _, manifest, field = next(c for c in _invalid_services(namespace) if c[0] == case)
    assert_invalid(refused(lambda: target.create(manifest)), field)
    assert target.get("serving.knative.dev/v1", "Service", "bad", namespace) is None


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#trigger: spec.broker and "
                  "spec.subscriber are REQUIRED")
@pytest.mark.parametrize(("case", "spec", "field"), [
    ("no-broker", {"broker": ""}, "spec.broker"),
    ("attribute-name", {"filter": {"attributes": {"Type": "x"}}}, "spec.filter.attributes"),
    ("no-subscriber", {"subscriber": {}}, "spec.subscriber"),
    ("backoff-delay", {"delivery": {"backoffDelay": "1s"}}, "spec.delivery.backoffDelay"),
    ("retry", {"delivery": {"retry": -1}}, "spec.delivery.retry"),
])
def test_invalid_trigger_is_refused(target: Target, namespace: str, case: str, spec: dict, field: str) -> None:
    assert_invalid(refused(lambda: target.create(_trigger(namespace, **spec))), field)


@pytest.mark.spec("SHOULD", "stable", source="knative/eventing Trigger validation: one dialect per filter "
                  "(\"multiple dialects found\")")
def test_one_dialect_per_filter(target: Target, namespace: str) -> None:
    manifest = _trigger(namespace, filters=[{"exact": {"type": "a"}, "prefix": {"source": "b"}}])
    err = refused(lambda: target.create(manifest))
    assert err.status in (400, 422)
    assert "multiple dialects found" in status_of(err)["message"]


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#subscription-lifecycle: \"The "
                  "spec.subscriber destination MUST be set\"; sources' sink is required")
@pytest.mark.parametrize(("kind", "api_version", "spec", "field"), [
    pytest.param("KafkaSource", "sources.knative.dev/v1beta1", {"bootstrapServers": ["127.0.0.1:9092"],
                                                                "sink": SINK}, "spec.topics",
                 marks=pytest.mark.requires("kafka")),
    pytest.param("KafkaSource", "sources.knative.dev/v1beta1", {"topics": ["t"], "sink": SINK},
                 "spec.bootstrapServers", marks=pytest.mark.requires("kafka")),
    ("PingSource", "sources.knative.dev/v1", {"schedule": "not a schedule", "sink": SINK}, "spec.schedule"),
    ("PingSource", "sources.knative.dev/v1", {"schedule": "* * * * *"}, "spec.sink"),
    ("ContainerSource", "sources.knative.dev/v1", {"template": {"spec": {"containers": []}}, "sink": SINK},
     "spec.containers"),
    ("Subscription", "messaging.knative.dev/v1", {"subscriber": SINK}, "spec.channel"),
])
def test_invalid_source_or_subscription_is_refused(target: Target, namespace: str, kind: str, api_version: str,
                                                   spec: dict, field: str) -> None:
    manifest = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "bad", "namespace": namespace},
                "spec": spec}
    assert_invalid(refused(lambda: target.create(manifest)), field)


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#trigger-lifecycle: \"Once "
                  "created, the Trigger's spec.broker MUST NOT permit updates\"")
def test_trigger_broker_is_immutable(target: Target, namespace: str) -> None:
    target.create({**_trigger(namespace), "metadata": {"name": "fixed", "namespace": namespace}})
    err = refused(lambda: target.patch("eventing.knative.dev/v1", "Trigger", "fixed",
                                       {"spec": {"broker": "other"}}, namespace))
    assert err.status in (400, 422)
    assert "Immutable" in status_of(err)["message"]


@pytest.mark.spec("MUST", "stable", source="knative/specs eventing/control-plane.md#broker-lifecycle: \"the "
                  "eventing.knative.dev/broker.class annotation and the spec.config field MUST be immutable\"")
def test_broker_class_is_immutable(target: Target, namespace: str) -> None:
    target.create({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                   "metadata": {"name": "b", "namespace": namespace}})
    err = refused(lambda: target.patch("eventing.knative.dev/v1", "Broker", "b", {"metadata": {"annotations": {
        "eventing.knative.dev/broker.class": "SomethingElse"}}}, namespace))
    assert err.status in (400, 422)


@pytest.mark.spec("MUST", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts), field validation: fieldValidation=Strict "
                  "refuses an unknown field, naming it (GA since 1.27)")
def test_strict_field_validation_names_the_unknown_field(target: Target, namespace: str) -> None:
    manifest = service("strict", namespace)
    manifest["spec"]["template"]["spec"]["containers"][0]["imageTypo"] = IMAGE
    err = refused(lambda: target.create(manifest, field_validation="Strict"))
    assert err.status == 400
    assert 'unknown field "spec.template.spec.containers[0].imageTypo"' in status_of(err)["message"]


@pytest.mark.spec("MUST", "stable", source="Kubernetes API concepts "
                  "(kubernetes.io/docs/reference/using-api/api-concepts), field validation: without Strict, unknown "
                  "fields are dropped (structural schema pruning)")
def test_unknown_fields_are_dropped_without_strict(target: Target, namespace: str) -> None:
    manifest = service("lenient", namespace)
    manifest["spec"]["template"]["spec"]["containers"][0]["imageTypo"] = IMAGE
    created = target.create(manifest, field_validation="Ignore")
    assert "imageTypo" not in created["spec"]["template"]["spec"]["containers"][0]
