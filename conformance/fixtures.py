"""Fixtures of the suite that more than one folder uses (conformance/ai and load/): a pytest plugin, loaded by
`kproof run` (`-p conformance.fixtures`) and by the project's root conftest.py, so that one definition serves
both folders, from the source tree or an installed kproof."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from kproof.target import Target


@pytest.fixture(scope="session")
def models_namespace(target: Target, app_image) -> Iterator[str]:
    """A namespace whose `models` claim holds the intent model, filled by seed 001's prepare-models Pod.
    Services mounting it need Knative's claim flag while they are admitted (conformance.ai.support)."""
    from conformance.ai.support import prepare_models

    name = f"kproof-models-{uuid.uuid4().hex[:8]}"
    target.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        prepare_models(target, name, app_image("models"))
        yield name
    finally:
        target.release_namespace(name)


@pytest.fixture
def in_models_namespace(request: pytest.FixtureRequest, target: Target) -> Iterator[str]:
    """The models namespace for one test: it starts once earlier tests have let go of their GPUs, and the
    Services and KafkaSources it made there are deleted after it."""
    from conformance.gpu.support import wait_for_gpus_released

    # A test the target lacks a capability for skips before the session's models are prepared (pytest sets
    # session fixtures up before function ones, the capability check included).
    request.getfixturevalue("_required_capabilities")
    models_namespace: str = request.getfixturevalue("models_namespace")

    kinds = [("serving.knative.dev/v1", "Service"), ("sources.knative.dev/v1beta1", "KafkaSource")]
    before = {kind: {o["metadata"]["name"] for o in target.list(*kind, models_namespace)} for kind in kinds}
    wait_for_gpus_released(target)
    yield models_namespace
    for kind in kinds:
        for obj in target.list(*kind, models_namespace):
            if obj["metadata"]["name"] not in before[kind]:
                target.delete(*kind, obj["metadata"]["name"], models_namespace, wait=False)
