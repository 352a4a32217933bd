"""kubectl against the target with seed 004's YAML, unchanged, and kubectl's default validation."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conformance.helpers import restoring_config
from kproof.target import Target

SEED_004 = Path(__file__).resolve().parents[2] / "fixtures" / "manifests" / "seed-004"

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def kubectl(target: Target, *args: str, stdin: str | None = None, check: bool = True
            ) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUBECONFIG": str(target.kubeconfig)}
    result = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, env=env,
                            timeout=120)
    if check:
        assert result.returncode == 0, f"kubectl {' '.join(args)} failed:\n{result.stderr}"
    return result


def seed(name: str, namespace: str) -> str:
    """A seed manifest moved into the test's namespace (everything else unchanged)."""
    docs = list(yaml.safe_load_all((SEED_004 / name).read_text()))
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
    return yaml.safe_dump_all(docs)


@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): the "
                  "Services are applied and inspected with kubectl, unchanged")
def test_apply_get_describe_delete_a_seed_service(target: Target, namespace: str) -> None:
    applied = kubectl(target, "apply", "-f", "-", stdin=seed("helloworld-go.yaml", namespace))
    assert "service.serving.knative.dev/helloworld-go created" in applied.stdout

    listed = kubectl(target, "get", "ksvc", "-n", namespace)
    header = listed.stdout.splitlines()[0].split()
    assert header[:6] == ["NAME", "URL", "LATESTCREATED", "LATESTREADY", "READY", "REASON"]
    assert "helloworld-go" in listed.stdout

    live = yaml.safe_load(kubectl(target, "get", "ksvc", "helloworld-go", "-n", namespace, "-o", "yaml").stdout)
    spec = live["spec"]["template"]["spec"]
    assert spec["containerConcurrency"] == 0
    assert spec["timeoutSeconds"] == 300
    assert live["spec"]["traffic"][0]["percent"] == 100
    assert live["spec"]["traffic"][0]["latestRevision"] is True
    assert live["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/initial-scale"] == "5"

    again = kubectl(target, "apply", "-f", "-", stdin=seed("helloworld-go.yaml", namespace))
    assert "unchanged" in again.stdout or "configured" in again.stdout

    described = kubectl(target, "describe", "ksvc", "helloworld-go", "-n", namespace)
    assert "helloworld-go" in described.stdout and "Spec:" in described.stdout

    kubectl(target, "patch", "ksvc", "helloworld-go", "-n", namespace, "--type", "merge",
            "-p", '{"metadata":{"labels":{"patched":"yes"}}}')
    labels = kubectl(target, "get", "ksvc", "helloworld-go", "-n", namespace,
                     "-o", "jsonpath={.metadata.labels.patched}")
    assert labels.stdout == "yes"

    deleted = kubectl(target, "delete", "ksvc", "helloworld-go", "-n", namespace)
    assert 'service.serving.knative.dev "helloworld-go" deleted' in deleted.stdout
    assert target.get("serving.knative.dev/v1", "Service", "helloworld-go", namespace) is None


@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): every "
                  "Service it shows is applied with `kubectl apply -f`")
@pytest.mark.parametrize("manifest", ["helloworld-go-timeout.yaml", "helloworld-autoscaling.yaml",
                                      "runtime-probes.yaml", "helloworld-go-gpu-sharing.yaml"])
def test_every_seed_service_is_accepted(target: Target, namespace: str, manifest: str) -> None:
    kubectl(target, "apply", "-f", "-", stdin=seed(manifest, namespace))
    name = yaml.safe_load((SEED_004 / manifest).read_text())["metadata"]["name"]
    assert target.get("serving.knative.dev/v1", "Service", name, namespace) is not None


@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): "
                  "config-autoscaler and config-observability are changed with kubectl")
@pytest.mark.parametrize("manifest", ["config-autoscaler.yaml", "config-observability.yaml"])
def test_seed_config_maps_apply_unchanged(target: Target, manifest: str) -> None:
    doc = yaml.safe_load((SEED_004 / manifest).read_text())
    name, namespace = doc["metadata"]["name"], doc["metadata"]["namespace"]
    with restoring_config(target, namespace, name):
        kubectl(target, "apply", "-f", str(SEED_004 / manifest))
        live = target.get("v1", "ConfigMap", name, namespace)
        assert {k: live["data"].get(k) for k in doc["data"]} == doc["data"]


@pytest.mark.spec("SHOULD", "stable", source="knative/serving pkg/apis/autoscaling: \"min-scale=%d is greater than "
                  "max-scale=%d\" is refused at admission")
def test_min_scale_over_max_scale_is_refused(target: Target, namespace: str) -> None:
    result = kubectl(target, "apply", "-f", "-", stdin=seed("invalid-min-over-max.yaml", namespace), check=False)
    assert result.returncode != 0
    assert "autoscaling.knative.dev/max-scale" in result.stderr
    assert "min-scale" in result.stderr


@pytest.mark.spec("SHOULD", "stable", source="Knative docs use `kubectl wait --for=condition=Ready`; it reads "
                  "conditions through watch")
def test_wait_for_a_condition_and_for_deletion(target: Target, namespace: str) -> None:
    env = {**os.environ, "KUBECONFIG": str(target.kubeconfig)}
    waiting = subprocess.Popen(["kubectl", "wait", "--for=condition=KproofProbe", f"namespace/{namespace}",
                                "--timeout=60s"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        time.sleep(1)
        assert waiting.poll() is None, "kubectl wait returned before the condition was set"
        condition = {"type": "KproofProbe", "status": "True", "reason": "Testing"}
        response = target.raw("PATCH", f"/api/v1/namespaces/{namespace}/status",
                              json={"status": {"conditions": [condition]}},
                              headers={"Content-Type": "application/merge-patch+json"})
        assert response.status_code == 200, response.text
        out, err = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, err
    assert "condition met" in out

    # A finalizer holds the deletion until the test lets go of it; `kubectl wait --for=delete` sees it go.
    kubectl(target, "create", "-n", namespace, "-f", "-", stdin=yaml.safe_dump({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "waited", "finalizers": ["kproof.dev/hold"]}}))
    kubectl(target, "delete", "-n", namespace, "configmap/waited", "--wait=false")
    held = target.get("v1", "ConfigMap", "waited", namespace)
    assert held is not None and held["metadata"].get("deletionTimestamp")
    gone = subprocess.Popen(["kubectl", "wait", "-n", namespace, "--for=delete", "configmap/waited",
                             "--timeout=60s"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        assert gone.poll() is None, "kubectl wait returned while the finalizer still held the object"
        target.patch("v1", "ConfigMap", "waited", {"metadata": {"finalizers": None}}, namespace)
        _, err = gone.communicate(timeout=60)
    finally:
        gone.kill()
    assert gone.returncode == 0, err
    assert target.get("v1", "ConfigMap", "waited", namespace) is None
