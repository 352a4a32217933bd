"""Seed 001: the intent recognition service on a GPU, its KafkaSource on topic ai-info, and seed 001's
producer. Applied from the seed's fixtures with kubectl, on the model prepared on a volume."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

import pytest
import yaml

from conformance.ai.support import KSVC, claims_allowed, fixture, intent_service
from conformance.api.test_kubectl import kubectl
from conformance.autoscaling.support import ready_pods
from conformance.gpu.support import wait_for_gpus_released
from conformance.helpers import eventually, log, unique
from conformance.serving.support import deploy, service
from conformance.sources.kafka_support import KAFKA_SOURCE, ensure_topic, kafka_of, produce
from kproof.target import GPU, Target

pytestmark = [pytest.mark.requires(GPU),
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]
AS_PRINTED = (Path(__file__).resolve().parents[2] / "fixtures" / "manifests" / "seed-001" /
              "test-ai-process-as-written.yaml")
RATE = 50  # seed 001's producer: 50 messages a second for 100 seconds
SECONDS = float(os.environ.get("KPROOF_SEED_001_SECONDS", "10"))  # 100 runs the seed's whole producer


@pytest.mark.spec("SHOULD", "stable", source="seed 001 (ACK Serverless: On-Demand Use of Heterogeneous Resources): "
                  "the intent service answers `/predict?query=music` with PlayMusic")
def test_seed_001_answers_play_music_and_logs_its_model(target: Target, in_models_namespace: str) -> None:
    namespace = in_models_namespace
    with claims_allowed(target):
        kubectl(target, "apply", "-f", "-", stdin=yaml.safe_dump_all(fixture("seed-001/test-ai-process.yaml",
                                                                             namespace)))
        target.wait_for(*KSVC, "test-ai-process", namespace, timeout=240)
    answer = target.http("test-ai-process", "/predict?query=music", namespace=namespace)
    assert answer.status_code == 200 and answer.text == "PlayMusic"
    assert answer.headers["Content-Type"].startswith("text/html")
    kserve = target.http("test-ai-process", "/v1/models/intent:predict", method="POST", namespace=namespace,
                         json={"instances": ["book a table for two tonight", "will it snow in denver"]})
    assert kserve.json()["predictions"] == ["BookRestaurant", "GetWeather"]
    logs = kubectl(target, "logs", "-n", namespace, "-l", "serving.knative.dev/service=test-ai-process").stdout
    assert "model intent" in logs and " on " in logs, logs
    print(f"\n{logs.strip().splitlines()[0]}")


@pytest.mark.spec("SHOULD", "stable", source="seed 001 (ACK Serverless: On-Demand Use of Heterogeneous Resources): "
                  "the Service YAML as printed, its image carrying its model, answers `/predict?query=music` with "
                  "PlayMusic")
def test_seed_001_as_printed_answers_from_the_model_in_its_image(target: Target, namespace: str) -> None:
    wait_for_gpus_released(target)
    applied = kubectl(target, "apply", "-n", namespace, "-f", str(AS_PRINTED))
    assert "k8s.aliyun.com/eci-use-specs" in applied.stderr  # ACK's annotation, reported
    target.wait_for(*KSVC, "test-ai-process", namespace, timeout=240)
    answer = target.http("test-ai-process", "/predict?query=music", namespace=namespace)
    assert (answer.status_code, answer.text) == (200, "PlayMusic")
    logs = kubectl(target, "logs", "-n", namespace, "-l", "serving.knative.dev/service=test-ai-process").stdout
    assert "from the image" in logs, logs


@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): \"The "
                  "HTTP probe should not mark the service as ready until the endpoint is able to process the "
                  "request\"")
def test_without_a_model_the_replica_never_turns_ready(target: Target, namespace: str, app_image) -> None:
    # An empty volume where the model should be: the server waits for it and says why.
    manifest = service("empty", namespace, app_image("intent"))
    manifest["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "models", "mountPath": "/data/models"}]
    manifest["spec"]["template"]["spec"]["volumes"] = [{"name": "models", "emptyDir": {}}]
    target.apply(manifest)

    def logged() -> str:
        pods = target.list("v1", "Pod", namespace, label_selector="serving.knative.dev/service=empty")
        if not pods:
            return ""
        return kubectl(target, "logs", "-n", namespace, pods[0]["metadata"]["name"], check=False).stdout

    text = eventually(lambda: "no intent model in /data/models" in logged() and logged(), 60, "the reason logged")
    assert "not ready" in text
    time.sleep(3)
    assert ready_pods(target, namespace, "empty") == 0
    ksvc = target.get(*KSVC, "empty", namespace)
    assert not any(c["type"] == "Ready" and c["status"] == "True" for c in ksvc["status"].get("conditions") or [])


@pytest.mark.spec("SHOULD", "beta", source="seed 001 (ACK Serverless: On-Demand Use of Heterogeneous Resources): the "
                  "Kafka producer's messages reach the intent service through the KafkaSource, which scales out")
def test_seed_001_producer_scales_it_out_and_every_message_is_classified(
        target: Target, in_models_namespace: str, app_image, capsys: pytest.CaptureFixture) -> None:
    namespace = in_models_namespace
    bootstrap = kafka_of(target)
    ensure_topic(bootstrap, "ai-info", partitions=3)
    deploy(target, service("results", namespace, app_image("recorder")))
    # The seed's Service, sending each outcome to a recorder so that every message can be counted.
    manifest = intent_service("counted", namespace, app_image("intent"), cc=2, env={
        "K_SINK": f"http://results.{namespace}.svc.cluster.local"},
        annotations={"autoscaling.knative.dev/minScale": "1", "autoscaling.knative.dev/maxScale": "100",
                     "autoscaling.knative.dev/window": "6s"})
    with claims_allowed(target):
        deploy(target, manifest, timeout=240)
    (source,) = fixture("seed-001/kafka-source.yaml", namespace, KAFKA_BOOTSTRAP=bootstrap)
    source["spec"]["sink"]["ref"]["name"] = "counted"
    source["spec"]["consumerGroup"] = unique("ai-info-consumer")
    target.apply(source)
    target.wait_for(*KAFKA_SOURCE, "test-ai-source", namespace, timeout=90)

    count = int(RATE * SECONDS)
    marker = uuid.uuid4().hex[:8]
    started = time.monotonic()
    peak = 0
    for second in range(int(SECONDS)):
        produce(bootstrap, "ai-info", ((f"{marker}-{second}-{i}", json.dumps(
            {"id": 12182, "template_name": "template_media/videos/templates/x.zip", "width": 360, "height": 640}
        ).encode(), None) for i in range(RATE)))
        peak = max(peak, ready_pods(target, namespace, "counted"))
        time.sleep(max(0.0, started + second + 1 - time.monotonic()))

    def classified() -> set[str]:
        events = target.http("results", "/events", namespace=namespace).json()
        return {e["data"]["event"] for e in events
                if (e.get("event") or {}).get("type") == "dev.kproof.intent.classified"
                and e["data"]["intent"] == "PlayMusic"}

    def all_in() -> bool:
        nonlocal peak
        peak = max(peak, ready_pods(target, namespace, "counted"))
        return len(classified()) >= count

    eventually(all_in, 180, f"all {count} messages classified", interval=1)
    log(capsys, f"seed 001: {count} messages at {RATE}/s, {len(classified())} classified (PlayMusic), "
          f"up to {peak} ready replicas")
    assert len(classified()) == count
    assert peak >= 2, "the producer's load scaled the intent service out"
