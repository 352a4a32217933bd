"""Seed 004's helloworld-go Service and Knative's docs' sample, applied with kubectl unchanged, answer.
(Seed 004's GPU-sharing Service is in conformance/gpu.)"""

from __future__ import annotations

import shutil

import pytest

from conformance.api.test_kubectl import kubectl, seed
from conformance.helpers import eventually
from kproof.target import Target

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")

# Knative's docs (Deploying your first Knative Service), as published.
DOCS_HELLOWORLD = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - image: ghcr.io/knative/helloworld-go:latest
          ports:
            - containerPort: 8080
          env:
            - name: TARGET
              value: "World"
"""


def _ready(target: Target, name: str, namespace: str) -> dict:
    return target.wait_for("serving.knative.dev/v1", "Service", name, namespace, timeout=180)


@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): the "
                  "helloworld-go Service applied with kubectl answers")
def test_seed_helloworld_answers_and_shows_in_kubectl(target: Target, namespace: str) -> None:
    kubectl(target, "apply", "-f", "-", stdin=seed("helloworld-go.yaml", namespace))
    _ready(target, "helloworld-go", namespace)
    assert target.http("helloworld-go", "/", namespace=namespace).text == "Hello Go Sample v1!\n"
    listed = kubectl(target, "get", "ksvc", "helloworld-go", "-n", namespace).stdout.splitlines()
    columns = dict(zip(listed[0].split(), listed[1].split(), strict=False))
    assert columns["READY"] == "True" and columns["URL"].startswith("http://helloworld-go.")
    pods = kubectl(target, "get", "pods", "-n", namespace, "-l", "serving.knative.dev/service=helloworld-go")
    running = [line for line in pods.stdout.splitlines()[1:] if "Running" in line]
    assert len(running) >= 1
    pod = running[0].split()[0]
    eventually(lambda: "helloworld" in kubectl(target, "logs", "-n", namespace, pod).stdout, 30,
               "showing the app's output in kubectl logs")


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, getting started: deploying your first Knative Service "
                  "(helloworld-go)")
def test_docs_helloworld_sample(target: Target, namespace: str) -> None:
    kubectl(target, "apply", "-n", namespace, "-f", "-", stdin=DOCS_HELLOWORLD)
    _ready(target, "hello", namespace)
    assert target.http("hello", "/", namespace=namespace).text == "Hello World!\n"
