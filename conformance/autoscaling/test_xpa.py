"""Seed 000's event-display Service as the seed writes it, with ACK's xpa autoscaler class: accepted with a
warning that upstream Knative refuses the class, three spare replicas while idle (min-scale is 1), more
under a burst, always pod-buffer-size ready replicas above what the KPA asks for."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conformance.api.test_kubectl import kubectl
from conformance.autoscaling.support import Load, autoscaler_metrics, ready_pods
from conformance.helpers import eventually, log, restoring_config
from kproof.target import REFERENCE, XPA, Target

SEED = Path(__file__).resolve().parents[2] / "fixtures" / "manifests" / "seed-000" / "event-display-xpa.yaml"
BUFFER = 3  # the seed's pod-buffer-size
CLIENTS = 16
# A CloudEvent, as the KafkaSource would deliver one of the seed's livestream interactions
EVENT = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "kproof/xpa", "ce-type": "dev.knative.kafka.event",
         "content-type": "application/json"}

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


@pytest.mark.timing
@pytest.mark.requires(XPA)
@pytest.mark.spec("MAY", "alpha", source="seed 000 (Knative: Serverless Practices in AI Event-Driven Scenarios): "
                  "event-display with autoscaling.knative.dev/class xpa.autoscaling.knative.dev, pod-buffer-size 3 "
                  "and gc-time 30 runs 3 pods idle and 12 after a burst")
def test_seed_000_xpa_service_keeps_a_buffer_of_spare_replicas(target: Target, namespace: str,
                                                               capsys: pytest.CaptureFixture) -> None:
    doc = yaml.safe_load(SEED.read_text())
    doc["metadata"]["namespace"] = namespace
    # The seed's Service relies on Knative's default target (70 concurrent requests a pod); a lower default
    # lets a burst this machine can send ask for more than one replica.
    with restoring_config(target, "knative-serving", "config-autoscaler"):
        target.patch("v1", "ConfigMap", "config-autoscaler", {"data": {"container-concurrency-target-default": "5"}},
                     "knative-serving")
        applied = kubectl(target, "apply", "-f", "-", stdin=yaml.safe_dump(doc))
        assert "xpa.autoscaling.knative.dev is ACK's autoscaler class and upstream Knative refuses it" \
            in applied.stderr, applied.stderr
        assert "networking.knative.dev/ingress.class" in applied.stderr  # read and reported, not dropped
        service = target.wait_for("serving.knative.dev/v1", "Service", "event-display", namespace, timeout=180)
        revision = service["status"]["latestReadyRevisionName"]

        eventually(lambda: ready_pods(target, namespace, "event-display") == BUFFER, 90,
                   f"{BUFFER} ready replicas while idle (no demand, a buffer of {BUFFER}; min-scale 1)")

        samples: list[tuple[int, int, int]] = []  # (desired, requested, ready)

        def spare_kept() -> bool:
            gauges = autoscaler_metrics(target, namespace, revision)
            desired, requested = int(gauges.get("desired_pods", -1)), int(gauges.get("requested_pods", -1))
            ready = ready_pods(target, namespace, "event-display")
            samples.append((desired, requested, ready))
            return desired >= 2 and ready >= desired + BUFFER

        with Load(target, "event-display", namespace, clients=CLIENTS, method="POST", headers=EVENT,
                  body=b'{"id":12182,"width":360,"height":640}') as burst:
            eventually(spare_kept, 120, f"demand of 2 or more replicas with {BUFFER} spare ones ready", interval=0.5)
    assert set(burst.codes) == {202}, burst.codes  # event-display accepts every event
    asked = [(d, r) for d, r, _ in samples if d >= 0]
    # never fewer than the buffer above demand (more while gc-time holds replicas demand no longer needs)
    assert asked and all(r >= min(100, d + BUFFER) for d, r in asked), f"(desired, requested): {asked}"
    desired, requested, ready = samples[-1]
    log(capsys, f"seed 000 xpa: {BUFFER} replicas idle; under {CLIENTS} clients the KPA wanted {desired}, "
                f"the xpa asked for {requested}, {ready} were ready")


@pytest.mark.requires(REFERENCE)
@pytest.mark.spec("MUST", "stable", source="knative/serving pkg/apis/autoscaling/annotation_validation.go: a class "
                  "in the autoscaling.knative.dev domain other than kpa and hpa is refused; the reference's "
                  "config-kproof upstream-strict (kproof up --upstream-strict) does the same")
def test_upstream_strict_refuses_the_xpa_class(target: Target, namespace: str) -> None:
    doc = yaml.safe_load(SEED.read_text())
    doc["metadata"]["namespace"] = namespace
    with restoring_config(target, "knative-serving", "config-kproof"):
        target.patch("v1", "ConfigMap", "config-kproof", {"data": {"upstream-strict": "true"}}, "knative-serving")
        refused = kubectl(target, "apply", "-f", "-", stdin=yaml.safe_dump(doc), check=False)
    assert refused.returncode != 0
    assert "xpa.autoscaling.knative.dev" in refused.stderr and "autoscaling.knative.dev/class" in refused.stderr
    assert target.get("serving.knative.dev/v1", "Service", "event-display", namespace) is None
