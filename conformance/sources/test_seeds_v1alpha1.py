"""Seeds 000 and 001 write their KafkaSources as sources.knative.dev/v1alpha1 with comma-separated
strings, the sink as a gateway address plus Alibaba's k8s.aliyun.com/domain, in the default namespace.
Applied with kubectl exactly as written (only the brokers changed), they deliver; kubectl reads the
source in either version. Runs where v1alpha1 is served (the reference, ACK)."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from conformance.api.test_kubectl import kubectl
from conformance.helpers import eventually
from conformance.serving.support import deploy, service
from conformance.sources.kafka_support import ensure_topic, kafka_of, produce
from kproof.target import REFERENCE, Target, pod_is_ready

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "manifests"
V1ALPHA1 = ("sources.knative.dev/v1alpha1", "KafkaSource")
NAMESPACE = "default"  # where the seeds' domain annotations send events

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


@pytest.fixture
def v1alpha1(target: Target) -> Iterator[list[tuple[str, str, str]]]:
    """Skips where v1alpha1 is not served; deletes what the test made in the default namespace."""
    try:
        target.resource(*V1ALPHA1)
    except ResourceNotFoundError:
        pytest.skip("the target does not serve sources.knative.dev/v1alpha1 KafkaSource (upstream Knative)")
    made: list[tuple[str, str, str]] = []
    yield made
    for api_version, kind, name in made:
        target.delete(api_version, kind, name, NAMESPACE, wait=False)


def as_written(target: Target, path: str, bootstrap: str, gateway: str) -> str:
    """The seed's YAML with its brokers replaced; off the reference, its gateway address too."""
    text = (FIXTURES / path).read_text().replace("KAFKA_BOOTSTRAP", bootstrap)
    if not target.has(REFERENCE) and target.ingress:
        text = text.replace(gateway, target.ingress)
    return text


@pytest.mark.spec("MAY", "alpha", source="seed 000 (Knative: Serverless Practices in AI Event-Driven Scenarios): its "
                  "KafkaSource as written (sources.knative.dev/v1alpha1, comma-separated strings, Alibaba's "
                  "k8s.aliyun.com/domain)")
def test_seed_000_kafka_source_as_written_delivers_to_event_display(
        target: Target, v1alpha1: list, app_image: Callable[[str], str]) -> None:
    bootstrap = kafka_of(target)
    ensure_topic(bootstrap, "demo", partitions=3)
    v1alpha1 += [("serving.knative.dev/v1", "Service", "event-display"), (*V1ALPHA1, "kafka-source")]
    deploy(target, service("event-display", NAMESPACE, app_image("event-display")), timeout=180)
    source = as_written(target, "seed-000/kafka-source-v1alpha1.yaml", bootstrap, "http://101.200.177.84")
    applied = kubectl(target, "apply", "-n", NAMESPACE, "-f", "-", stdin=source)
    assert "kafkasource.sources.knative.dev/kafka-source created" in applied.stdout
    target.wait_for(*V1ALPHA1, "kafka-source", NAMESPACE, timeout=90)

    alpha = kubectl(target, "get", "kafkasources.v1alpha1.sources.knative.dev", "kafka-source", "-n", NAMESPACE,
                    "-o", "jsonpath={.spec.topics} {.spec.bootstrapServers}").stdout
    assert alpha == f"demo {bootstrap}", "read as v1alpha1: the strings as written"
    beta = kubectl(target, "get", "kafkasource", "kafka-source", "-n", NAMESPACE, "-o", "json").stdout
    assert json.loads(beta)["spec"]["topics"] == ["demo"], "read as the preferred version: lists"

    marker = uuid.uuid4().hex
    produce(bootstrap, "demo", [(None, json.dumps({"marker": marker}).encode(), None)])

    def logged() -> bool:
        pods = target.list("v1", "Pod", NAMESPACE, label_selector="serving.knative.dev/service=event-display")
        return any(marker in kubectl(target, "logs", "-n", NAMESPACE, pod["metadata"]["name"], check=False).stdout
                   for pod in pods if pod_is_ready(pod))

    eventually(logged, 60, "the produced message in event-display's kubectl logs", interval=0.5)


@pytest.mark.spec("MAY", "alpha", source="seed 001 (ACK Serverless: On-Demand Use of Heterogeneous Resources): its "
                  "KafkaSource as written (sources.knative.dev/v1alpha1)")
def test_seed_001_kafka_source_as_written_delivers_to_predict(target: Target, v1alpha1: list,
                                                              app_image: Callable[[str], str]) -> None:
    """test-ai-process is a recorder here (the model itself is seed 001's test in conformance/ai): what
    this checks is where the seed's source sends each message."""
    bootstrap = kafka_of(target)
    ensure_topic(bootstrap, "ai-info", partitions=3)
    v1alpha1 += [("serving.knative.dev/v1", "Service", "test-ai-process"), (*V1ALPHA1, "test-ai-source")]
    deploy(target, service("test-ai-process", NAMESPACE, app_image("recorder")), timeout=180)
    source = as_written(target, "seed-001/kafka-source-v1alpha1.yaml", bootstrap, "http://120.26.143.xx")
    assert yaml.safe_load(source)["apiVersion"] == V1ALPHA1[0]
    kubectl(target, "apply", "-f", "-", stdin=source)
    target.wait_for(*V1ALPHA1, "test-ai-source", NAMESPACE, timeout=90)

    marker = uuid.uuid4().hex
    produce(bootstrap, "ai-info", [(marker, json.dumps({"id": 12182, "marker": marker}).encode(), None)])

    def delivered() -> list[dict]:
        records = target.http("test-ai-process", "/events", namespace=NAMESPACE).json()
        return [r for r in records if (r.get("data") or {}).get("marker") == marker]

    (record,) = eventually(delivered, 60, "the produced message at test-ai-process")
    assert record["path"] == "/predict?query=music" and record["event"]["type"] == "dev.knative.kafka.event"
