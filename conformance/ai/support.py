"""The seeds' AI services for the ai/ tests: their fixtures in a test's namespace, and a volume holding
the intent model (filled once per session by a Pod, as a cluster user would fill a claim; the
`models_namespace` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from conformance.helpers import eventually, restoring_config
from kproof.target import Target

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "manifests"
KSVC = ("serving.knative.dev/v1", "Service")
PVC_FEATURE = "kubernetes.podspec-persistent-volume-claim"


def fixture(path: str, namespace: str, **replace: str) -> list[dict]:
    """A seed fixture's documents in `namespace` (with KAFKA_BOOTSTRAP and the like replaced)."""
    text = (FIXTURES / path).read_text()
    for key, value in replace.items():
        text = text.replace(key, value)
    docs = [d for d in yaml.safe_load_all(text) if d]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
    return docs


@contextmanager
def claims_allowed(target: Target) -> Iterator[None]:
    """Knative's flag for Services that mount persistent volume claims, on while one is admitted (its
    Revision included: wait for it inside)."""
    with restoring_config(target, "knative-serving", "config-features"):
        target.patch("v1", "ConfigMap", "config-features", {"data": {PVC_FEATURE: "enabled"}}, "knative-serving")
        yield


def prepare_models(target: Target, namespace: str, image: str) -> None:
    """The `models` claim, filled by seed 001's prepare-models Pod; waits until it succeeded."""
    docs = fixture("seed-001/models.yaml", namespace)
    pod = next(d for d in docs if d["kind"] == "Pod")
    pod["spec"]["containers"][0]["image"] = image
    for doc in docs:
        target.create(doc)

    def done() -> bool:
        phase = (target.get("v1", "Pod", "prepare-models", namespace) or {}).get("status", {}).get("phase")
        assert phase != "Failed", "preparing the model failed"
        return phase == "Succeeded"

    eventually(done, 300, "the intent model prepared on the volume", interval=0.5)


def intent_service(name: str, namespace: str, image: str, *, cc: int, annotations: dict[str, str] | None = None,
                   env: dict[str, str] | None = None, gpu: bool = True, cpu: str | None = None,
                   **spec: object) -> dict:
    """A Service of the intent model server reading the `models` claim, as seed 001's does; `cpu` is its CPU
    limit (the server sizes its threads by it)."""
    container: dict = {"image": image, "volumeMounts": [{"name": "models", "mountPath": "/data/models",
                                                         "readOnly": True}]}
    limits = {**({"nvidia.com/gpu": "1"} if gpu else {}), **({"cpu": cpu} if cpu else {})}
    if limits:
        container["resources"] = {"limits": limits}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    template: dict = {"spec": {"containerConcurrency": cc, "containers": [container], "volumes": [
        {"name": "models", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}}], **spec}}
    if annotations:
        template["metadata"] = {"annotations": annotations}
    return {"apiVersion": KSVC[0], "kind": KSVC[1], "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": template}}
