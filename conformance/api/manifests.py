"""Minimal valid objects of every kind the suite exercises, as a user would write them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kproof.target import Target

SERVING = "serving.knative.dev/v1"
IMAGE = "gcr.io/knative-samples/helloworld-go"
SINK = {"uri": "http://sink.example.com/"}


@dataclass(frozen=True)
class KindCase:
    api_version: str
    kind: str
    namespaced: bool
    spec: dict  # everything but apiVersion, kind and metadata
    knative: bool = True  # Knative kinds keep metadata.generation
    label: str = ""  # the test id where the kind's name alone is ambiguous
    requires: str | None = None  # a capability the target must declare to serve the kind (kproof.target)

    @property
    def id(self) -> str:
        return self.label or self.kind

    def manifest(self, name: str, namespace: str | None, labels: dict[str, str] | None = None) -> dict:
        meta: dict = {"name": name, "labels": dict(labels or {})}
        if self.namespaced and namespace:
            meta["namespace"] = namespace
        body = {"apiVersion": self.api_version, "kind": self.kind, "metadata": meta, **self.spec}
        if "involvedObject" in body and self.namespaced and namespace:  # Kubernetes: the Event's own namespace
            body["involvedObject"] = {**body["involvedObject"], "namespace": namespace}
        return body


def skip_unless_served(target: Target, case: KindCase) -> None:
    """Skips, with the reason, a kind the target serves only with a capability it does not declare."""
    if case.requires and not target.has(case.requires):
        pytest.skip(f"{case.kind} needs the {case.requires!r} capability, which the target does not declare")


REVISION_SPEC = {"containers": [{"image": IMAGE}]}

KIND_CASES = (
    KindCase(SERVING, "Service", True, {"spec": {"template": {"spec": REVISION_SPEC}}}),
    KindCase(SERVING, "Configuration", True, {"spec": {"template": {"spec": REVISION_SPEC}}}),
    KindCase(SERVING, "Revision", True, {"spec": REVISION_SPEC}),
    KindCase(SERVING, "Route", True, {"spec": {"traffic": [{"configurationName": "absent", "percent": 100}]}}),
    KindCase("autoscaling.internal.knative.dev/v1alpha1", "PodAutoscaler", True, {"spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "absent"},
        "protocolType": "http1"}}),
    KindCase("eventing.knative.dev/v1", "Broker", True, {"spec": {}}),
    KindCase("eventing.knative.dev/v1", "Trigger", True, {"spec": {"broker": "default", "subscriber": SINK}}),
    KindCase("messaging.knative.dev/v1", "Channel", True, {"spec": {}}),
    KindCase("messaging.knative.dev/v1", "InMemoryChannel", True, {"spec": {}}),
    KindCase("messaging.knative.dev/v1", "Subscription", True, {"spec": {
        "channel": {"apiVersion": "messaging.knative.dev/v1", "kind": "Channel", "name": "absent"},
        "subscriber": SINK}}),
    KindCase("sources.knative.dev/v1", "ContainerSource", True, {"spec": {
        "template": {"spec": {"containers": [{"name": "source", "image": IMAGE}]}}, "sink": SINK}}),
    KindCase("sources.knative.dev/v1", "PingSource", True, {"spec": {
        "schedule": "*/1 * * * *", "data": '{"message": "hello"}', "contentType": "application/json",
        "sink": SINK}}),
    KindCase("sources.knative.dev/v1beta1", "KafkaSource", True, {"spec": {
        "bootstrapServers": ["127.0.0.1:9092"], "topics": ["absent"], "sink": SINK}}, requires="kafka"),
    KindCase("v1", "Namespace", False, {}, knative=False),
    KindCase("v1", "Pod", True, {"spec": {"containers": [{"name": "main", "image": IMAGE}]}}, knative=False),
    KindCase("v1", "ConfigMap", True, {"data": {"key": "value"}}, knative=False),
    KindCase("v1", "Secret", True, {"stringData": {"key": "value"}}, knative=False),
    KindCase("v1", "Event", True, {
        "involvedObject": {"apiVersion": "v1", "kind": "ConfigMap", "name": "absent"},
        "reason": "Testing", "message": "an event", "type": "Normal"}, knative=False),
    KindCase("v1", "PersistentVolumeClaim", True, {"spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}}, knative=False),
    KindCase("v1", "Service", True, {"spec": {"selector": {"app": "absent"}, "ports": [{"port": 80}]}},
             knative=False, label="v1.Service"),
)


def service(name: str, namespace: str, annotations: dict[str, str] | None = None, **spec: object) -> dict:
    template: dict = {"spec": {"containers": [{"image": IMAGE}], **spec}}
    if annotations:
        template["metadata"] = {"annotations": annotations}
    return {"apiVersion": SERVING, "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": template}}
