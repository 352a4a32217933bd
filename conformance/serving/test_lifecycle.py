"""Graceful shutdown: no request fails while replicas go away (scale-in, rollout); deletion leaves
nothing running; what cannot run says why."""

from __future__ import annotations

import time

import pytest
import requests

from conformance.helpers import eventually, restoring_config
from conformance.serving.support import Stream, deploy, service, wait_for_revision
from kproof.embedded import process_alive
from kproof.target import REFERENCE, RESTART, Target


@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): \"The "
                  "container should initiate a graceful shutdown upon receiving a SIGTERM signal to ensure that "
                  "ongoing requests do not terminate abruptly\"")
def test_no_errors_while_replicas_shut_down(target: Target, namespace: str, app_image) -> None:
    image = app_image("autoscale")
    three = {"autoscaling.knative.dev/min-scale": "3", "autoscaling.knative.dev/window": "6s"}
    deploy(target, service("steady", namespace, image, annotations=three, env={"V": "1"}))
    # Revisions left without traffic go to zero after their window and Knative's shortest grace period.
    with restoring_config(target, "knative-serving", "config-autoscaler"), \
            Stream(target, "steady", namespace, path="/?sleep=150", clients=4) as stream:
        target.patch("v1", "ConfigMap", "config-autoscaler", {"data": {"scale-to-zero-grace-period": "6s"}},
                     "knative-serving")
        time.sleep(1)
        # 3 replicas -> 1: a new revision with min-scale 1 takes the traffic; the old three shut down.
        one = {"autoscaling.knative.dev/min-scale": "1", "autoscaling.knative.dev/window": "6s"}
        target.apply(service("steady", namespace, image, annotations=one, env={"V": "2"}))
        wait_for_revision(target, "steady", namespace, "steady-00002")
        time.sleep(1)
        # And a plain rollout to a third revision, while the first one is still winding down.
        target.apply(service("steady", namespace, image, annotations=one, env={"V": "3"}))
        wait_for_revision(target, "steady", namespace, "steady-00003")
        eventually(lambda: not _pods(target, namespace, "steady-00001") and not _pods(target, namespace,
                                                                                      "steady-00002"),
                   180, "with the old revisions shut down")
        time.sleep(1)
    assert set(stream.revisions) == {"steady-00001", "steady-00002", "steady-00003"}, stream.revisions
    assert stream.results.get(200) == stream.total, f"{stream.results}: {stream.failures[:5]}"


def _pods(target: Target, namespace: str, revision: str) -> list[dict]:
    return target.list("v1", "Pod", namespace, label_selector=f"serving.knative.dev/revision={revision}")


@pytest.mark.spec("SHOULD", "stable", source="net-kourier: the gateway is Ready only once Envoy has its first "
                  "configuration (Envoy activates a listener after its initial fetch): a restarted ingress never "
                  "answers for a Route it has not learnt yet")
@pytest.mark.requires(RESTART)
def test_a_restarted_ingress_never_answers_404_for_a_route_it_serves(target: Target, namespace: str,
                                                                  app_image) -> None:
    deploy(target, service("served", namespace, app_image("autoscale"),
                           annotations={"autoscaling.knative.dev/min-scale": "1"}))
    assert target.http("served", namespace=namespace).status_code == 200
    assert target.platform is not None
    target.platform.kill_data_plane()
    answers: list[int] = []

    def answered() -> bool:
        try:  # refused while the new data plane starts: that is what a client of a restarting gateway sees
            answers.append(target.http("served", namespace=namespace, timeout=10).status_code)
        except requests.RequestException:
            return False
        return True

    # Polled tightly: the window this guards (listening, routes not yet listed) lasts well under a second.
    eventually(answered, 120, "an answer from the restarted ingress", interval=0.02)
    for _ in range(20):
        answered()
    assert set(answers) == {200}, f"the restarted ingress answered {answers}"


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/knative-api-specification-1.0.md#ownership: "
                  "\"Deleting an owning resource MUST trigger deletion of all owned resources\"")
def test_deleting_the_service_leaves_nothing_running(target: Target, namespace: str, app_image) -> None:
    deploy(target, service("gone", namespace, app_image("helloworld"),
                           annotations={"autoscaling.knative.dev/min-scale": "2"}))
    pods = target.list("v1", "Pod", namespace, label_selector="serving.knative.dev/service=gone")
    assert len(pods) == 2
    target.delete("serving.knative.dev/v1", "Service", "gone", namespace)
    eventually(lambda: not target.list("v1", "Pod", namespace, label_selector="serving.knative.dev/service=gone"),
               120, "without pods")
    for kind in ("Configuration", "Route", "Revision"):
        assert target.list("serving.knative.dev/v1", kind, namespace) == []
    if target.has(REFERENCE):
        # The reference runs replicas as local processes: none of them may survive.
        pids = [int(s["containerID"].split("://")[1]) for p in pods
                for s in p["status"]["containerStatuses"] if s.get("containerID", "").startswith("process://")]
        assert pids
        eventually(lambda: not any(process_alive(pid) for pid in pids), 30, "with every replica process gone")


@pytest.mark.spec("SHOULD", "stable", source="knative/specs common/error-signalling.md: \"Conditions where the "
                  "status is False MUST provide a failure reason\"; the reason is Knative's (ContainerMissing) or "
                  "Kubernetes' (ErrImagePull, ImagePullBackOff)")
def test_unknown_image_gives_a_revision_that_is_not_ready(target: Target, namespace: str) -> None:
    target.apply(service("missing", namespace, "registry.invalid/kproof/no-such-image:1"))
    ready = _failure(target, "missing-00001", namespace)
    # Knative's own reason where it resolves tags to digests itself (ContainerMissing), else the kubelet's
    assert ready.get("reason") in ("ContainerMissing", "ImagePullBackOff", "ErrImagePull", "InvalidImageName"), ready
    assert ready.get("message")
    # the Service follows its Revision a moment later
    target.wait_until("serving.knative.dev/v1", "Service", "missing", lambda ksvc: ksvc is not None and any(
        c["type"] == "Ready" and c["status"] == "False" for c in (ksvc.get("status") or {}).get("conditions") or []),
        namespace, timeout=60, what="the Service not Ready")


@pytest.mark.spec("SHOULD", "stable", source="knative/specs serving/runtime-contract.md#lifecycle: \"Failures of the "
                  "developer-specified process MUST be logged\"; Knative's reason ExitCode<N> with the output")
def test_a_crashing_container_gives_a_revision_that_is_not_ready(target: Target, namespace: str) -> None:
    manifest = service("crash", namespace, "busybox")
    manifest["spec"]["template"]["spec"]["containers"][0].update(
        {"command": ["sh", "-c"], "args": ["echo boom-before-exit; exit 3"]})
    target.apply(manifest)
    ready = _failure(target, "crash-00001", namespace)
    assert ready["reason"] == "ExitCode3", ready
    assert "boom-before-exit" in ready.get("message", "")


def _failure(target: Target, revision: str, namespace: str) -> dict:
    """The Ready condition of a revision, once it is False."""
    def failed(obj: dict | None) -> bool:
        return obj is not None and any(c.get("type") == "Ready" and c.get("status") == "False"
                                       for c in (obj.get("status") or {}).get("conditions") or [])

    found = target.wait_until("serving.knative.dev/v1", "Revision", revision, failed, namespace, timeout=180,
                              what="failed")
    return next(c for c in found["status"]["conditions"] if c["type"] == "Ready")
