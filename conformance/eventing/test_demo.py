"""The README's walk-through: `kubectl apply` a Broker, three Triggers with different dialects and recorder
Services, send CloudEvents to the broker address (with curl through the ingress on the reference, from
inside the cluster elsewhere), and each event reaches exactly the matching subscribers; a failing
subscriber's events reach the dead-letter sink with the error extensions."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from conformance.api.test_kubectl import kubectl
from conformance.eventing.support import BROKER, TRIGGER, Bench, require_eventing
from conformance.helpers import eventually
from kproof.target import REFERENCE, Target

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "manifests" / "eventing" / "broker-demo.yaml"

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def demo_manifests(namespace: str, recorder_image: str) -> str:
    docs = list(yaml.safe_load_all(DEMO.read_text()))
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
        for container in ((doc.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers", []):
            container["image"] = recorder_image
    return yaml.safe_dump_all(docs)


def curl_event(target: Target, url: str, type_: str, **extensions: str) -> int:
    """`curl` through the reference's ingress (its HTTP proxy for cluster-local names); the status code."""
    headers = {"ce-specversion": "1.0", "ce-id": uuid.uuid4().hex, "ce-source": "/curl", "ce-type": type_,
               **{f"ce-{k}": v for k, v in extensions.items()}}
    command = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", target.ingress or "", url,
               "-H", "content-type: application/json", "-d", '{"from": "curl"}']
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    return int(subprocess.run(command, capture_output=True, text=True, timeout=30, check=True).stdout)


def is_probe(record: dict) -> bool:
    event = record.get("event") or {}
    return str(event.get("type", "")).endswith(".probe") or event.get("region") == "probe"


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, getting started with eventing: a Broker, Triggers and "
                  "Services applied with kubectl, CloudEvents sent with curl, each reaching the matching subscribers")
def test_kubectl_broker_triggers_and_a_curl(target: Target, namespace: str, app_image: Callable[[str], str]
                                            ) -> None:
    require_eventing(target)
    kubectl(target, "apply", "-f", "-", stdin=demo_manifests(namespace, app_image("recorder")))
    for service in ("sink", "dls"):
        target.wait_for("serving.knative.dev/v1", "Service", service, namespace, timeout=180)
    for trigger in ("by-attribute", "by-cesql", "by-prefix"):
        target.wait_for(*TRIGGER, trigger, namespace, timeout=60)
    url = target.wait_for(*BROKER, "default", namespace)["status"]["address"]["url"]
    bench = Bench(target, namespace, sender="sink")  # /send itself is not recorded
    use_curl = target.has(REFERENCE) and shutil.which("curl") is not None

    def send(type_: str, **extensions: str) -> int:
        if use_curl:
            return curl_event(target, url, type_, **extensions)
        body = {"specversion": "1.0", "id": uuid.uuid4().hex, "source": "/kproof", "type": type_,
                "data": {"from": "sink"}, **extensions}
        return bench.send(body, url=url)["status"]

    # A Ready Trigger may reach the broker's data plane a moment later (upstream's filter and channel learn it
    # by watching): probe until each Trigger delivers, then forget the probes
    probes = {"/attributes": ("demo.created", {"region": "probe"}), "/cesql": ("demo.probe", {"region": "eu"}),
              "/prefix": ("other.probe", {})}

    def programmed() -> bool:
        seen = {r["path"] for r in bench.records("sink")}
        for path, (type_, extensions) in probes.items():
            if path not in seen:
                send(type_, **extensions)
        return set(probes) <= seen

    eventually(programmed, 60, "each Trigger delivers a probe event", interval=1.0)
    bench.configure("sink")
    assert send("demo.created", region="eu") == 202
    assert send("demo.created", region="us") == 202
    assert send("other.thing") == 202
    records = [r for r in bench.settled("sink", quiet=1.5) if not is_probe(r)]
    delivered = sorted((r["path"], r["event"]["type"], r["event"].get("region", "")) for r in records
                       if r["path"] in ("/attributes", "/cesql", "/prefix"))
    assert delivered == [("/attributes", "demo.created", "eu"), ("/attributes", "demo.created", "us"),
                         ("/cesql", "demo.created", "eu"), ("/prefix", "other.thing", "")]

    bench.configure("sink", fail_first=100, fail_status=503)
    assert send("other.failing") == 202
    (dead,) = bench.await_records("dls", 1)
    assert dead["event"]["type"] == "other.failing"
    assert dead["event"]["knativeerrorcode"] == "503"
    assert dead["event"]["knativeerrordest"].endswith("/prefix")
    assert base64.b64decode(dead["event"]["knativeerrordata"]) == b"recorded\n"
    attempts = [r for r in bench.records("sink", "/prefix") if not is_probe(r)]
    assert len(attempts) == 2, "retry 1: two attempts before the dead-letter sink"
    listed = kubectl(target, "get", "triggers", "-n", namespace).stdout
    assert all(name in listed for name in ("by-attribute", "by-cesql", "by-prefix"))
