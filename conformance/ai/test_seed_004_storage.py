"""Seed 004's model storage: the AccessKey Secret, the model's claim `oss-data` mounted by a Knative Service
that loads its model from it, and an image cache (knative/caching's Image) that warms the model server's image.
Fluid's Dataset and JindoRuntime need Fluid on a cluster; where it is absent the claim is made directly
(fixtures/manifests/seed-004/oss-data-pvc.yaml) and `kproof lint` names what a cluster needs."""

from __future__ import annotations

import pytest

from conformance.ai.support import KSVC, claims_allowed, fixture
from conformance.helpers import eventually, restoring_config
from kproof.target import VOLUMES, Target

IMAGE = ("caching.internal.knative.dev/v1alpha1", "Image")
WRITE_FEATURE = "kubernetes.podspec-persistent-volume-write"


def ready_condition(obj: dict | None) -> dict:
    return next((c for c in ((obj or {}).get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), {})


@pytest.mark.spec("SHOULD", "beta", source="seed 004 (Best practices for AI model inference with Knative): \"we "
                  "recommend that you use image caches to accelerate the image pulling process\"; knative/caching "
                  "Image")
def test_seed_image_cache_warms_the_model_servers_image(target: Target, namespace: str) -> None:
    (cache,) = fixture("seed-004/image-cache.yaml", namespace)
    target.apply(cache)
    warmed = eventually(lambda: ready_condition(target.get(*IMAGE, "imagecache-ai-model", namespace)).get("status")
                        == "True" and target.get(*IMAGE, "imagecache-ai-model", namespace), 180, "the image warmed")
    assert ready_condition(warmed).get("status") == "True"
    target.apply({**cache, "metadata": {"name": "nowhere", "namespace": namespace},
                  "spec": {"image": "registry.example.com/nobody/nothing:1"}})
    missing = eventually(lambda: ready_condition(target.get(*IMAGE, "nowhere", namespace)).get("status") == "False"
                         and ready_condition(target.get(*IMAGE, "nowhere", namespace)), 60, "an unknown image refused")
    assert missing["reason"] in ("ImageNotFound", "ErrImagePull", "ImagePullBackOff"), missing


@pytest.mark.requires(VOLUMES)
@pytest.mark.spec("SHOULD", "stable", source="seed 004 (Best practices for AI model inference with Knative): \"load "
                  "the AI model data onto external storage media ... and mount it to a Knative pod using Persistent "
                  "Volume Claims\"")
def test_seed_model_on_the_oss_data_claim_serves(target: Target, namespace: str, app_image) -> None:
    for name in ("model-storage-secret.yaml", "oss-data-pvc.yaml"):
        target.apply(fixture(f"seed-004/{name}", namespace))
    (fill,) = fixture("seed-004/oss-data-fill.yaml", namespace)
    fill["spec"]["containers"][0]["image"] = app_image("models")
    target.apply(fill)

    def filled() -> bool:
        phase = ((target.get("v1", "Pod", "fill-oss-data", namespace) or {}).get("status") or {}).get("phase")
        assert phase != "Failed", "filling oss-data failed"
        return phase == "Succeeded"

    eventually(filled, 300, "the model in oss-data", interval=0.5)
    (backend,) = fixture("seed-004/sd-backend.yaml", namespace)
    backend["spec"]["template"]["spec"]["containers"][0]["image"] = app_image("intent")
    with claims_allowed(target), restoring_config(target, "knative-serving", "config-features"):
        target.patch("v1", "ConfigMap", "config-features", {"data": {WRITE_FEATURE: "enabled"}}, "knative-serving")
        target.apply(backend)
        target.wait_for(*KSVC, "sd-backend", namespace, timeout=240)
    answer = target.http("sd-backend", "/predict?query=music", namespace=namespace)
    assert (answer.status_code, answer.text) == (200, "PlayMusic")
