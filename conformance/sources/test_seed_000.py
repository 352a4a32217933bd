"""Seed 000: a KafkaSource on topic demo feeding event-display, applied with kubectl; a produced message
shows in `kubectl logs`, and a burst scales event-display out."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from conformance.api.test_kubectl import kubectl
from conformance.helpers import eventually, unique
from conformance.sources.kafka_support import KAFKA_SOURCE, ensure_topic, kafka_of, produce
from kproof.target import Target, pod_is_ready

SEED_000 = Path(__file__).resolve().parents[2] / "fixtures" / "manifests" / "seed-000" / "kafka-event-display.yaml"
BURST = 3000

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def seed_manifests(namespace: str, bootstrap: str, image: str) -> str:
    docs = list(yaml.safe_load_all(SEED_000.read_text().replace("KAFKA_BOOTSTRAP", bootstrap)))
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
        if doc["kind"] == "Service":
            doc["spec"]["template"]["spec"]["containers"][0]["image"] = image
        else:
            doc["spec"]["consumerGroup"] = unique("demo-consumer")  # a fresh group for each run
    return yaml.safe_dump_all(docs)


def ready_pods(target: Target, namespace: str) -> list[dict]:
    pods = target.list("v1", "Pod", namespace, label_selector="serving.knative.dev/service=event-display")
    return [p for p in pods if pod_is_ready(p)]


@pytest.mark.spec("SHOULD", "beta", source="seed 000 (Knative: Serverless Practices in AI Event-Driven Scenarios): a "
                  "KafkaSource on topic demo feeds event-display; a burst scales it out")
def test_seed_000_kafka_to_event_display(target: Target, namespace: str, app_image: Callable[[str], str]) -> None:
    bootstrap = kafka_of(target)
    ensure_topic(bootstrap, "demo", partitions=3)
    kubectl(target, "apply", "-f", "-", stdin=seed_manifests(namespace, bootstrap, app_image("event-display")))
    target.wait_for("serving.knative.dev/v1", "Service", "event-display", namespace, timeout=180)
    target.wait_for(*KAFKA_SOURCE, "kafka-source", namespace, timeout=90)

    marker = uuid.uuid4().hex
    produce(bootstrap, "demo", [(None, json.dumps({"marker": marker}).encode(), None)])

    def logged() -> bool:
        return any(marker in kubectl(target, "logs", "-n", namespace, pod["metadata"]["name"], check=False).stdout
                   for pod in ready_pods(target, namespace))

    eventually(logged, 60, "the produced message in event-display's kubectl logs", interval=0.5)

    produce(bootstrap, "demo", ((str(i), json.dumps({"visitor": i}).encode(), None) for i in range(BURST)))
    peak = {"ready": 0}

    def scaled_out() -> bool:
        peak["ready"] = max(peak["ready"], len(ready_pods(target, namespace)))
        return peak["ready"] >= 2

    eventually(scaled_out, 90, "event-display scaled out to 2 or more ready replicas", interval=0.5)
    print(f"\nseed 000: event-display reached {peak['ready']} ready replicas under a burst of {BURST}")
