"""Readiness gates traffic; liveness failures restart the container."""

from __future__ import annotations

import time

import pytest

from conformance.helpers import eventually
from conformance.serving.support import deploy, service
from kproof.target import Target

HEALTH = {"httpGet": {"path": "/health"}, "periodSeconds": 1, "failureThreshold": 1}


@pytest.mark.spec("MUST", "stable", source="Kubernetes probes "
                  "(kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes): a Pod that is not "
                  "ready gets no traffic")
def test_readiness_failure_takes_a_replica_out_of_traffic(target: Target, namespace: str,
                                                          app_image) -> None:
    deploy(target, service("ready", namespace, app_image("autoscale"), readinessProbe=HEALTH,
                           annotations={"autoscaling.knative.dev/min-scale": "2"}))
    turned = target.http("ready", "/control", method="POST", namespace=namespace, json={"ready": False})
    assert turned.status_code == 200
    sick = turned.json()["pod"]
    deadline = time.monotonic() + 60
    clean = 0
    while clean < 30:
        assert time.monotonic() < deadline, f"{sick} still gets traffic after its readiness failed"
        answer = target.http("ready", "/", namespace=namespace)
        assert answer.status_code == 200
        clean = clean + 1 if answer.headers["X-Kproof-Pod"] != sick else 0
        time.sleep(0.05)


@pytest.mark.spec("MUST", "stable", source="Kubernetes probes: \"If the liveness probe fails, the kubelet kills the "
                  "container\" and restarts it")
def test_liveness_failure_restarts_the_container(target: Target, namespace: str, app_image) -> None:
    liveness = {"httpGet": {"path": "/healthz"}, "periodSeconds": 1, "failureThreshold": 1}
    deploy(target, service("alive", namespace, app_image("autoscale"), livenessProbe=liveness))
    assert target.http("alive", "/control", method="POST", namespace=namespace, json={"live": False}).ok
    selector = "serving.knative.dev/service=alive"

    def restarted() -> bool:
        pods = target.list("v1", "Pod", namespace, label_selector=selector)
        return any(s.get("restartCount", 0) >= 1 for p in pods
                   for s in (p.get("status") or {}).get("containerStatuses") or [] if s["name"] != "queue-proxy")

    eventually(restarted, 90, "restarted by its liveness probe")
    eventually(lambda: target.http("alive", "/healthz", namespace=namespace).status_code == 200, 90,
               "live again after the restart")
