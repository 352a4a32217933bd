"""Root conftest: one embedded Kafka for the tests that talk to Kafka directly, and the intent model
prepared once: in a directory for the unit tests, on a claim of the target for the AI and load tests. The
kproof pytest plugin (target options and fixtures) comes from its pytest11 entry point (pyproject.toml)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reference.kafka.embedded import EmbeddedKafka


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bootstrap address of an embedded Kafka (Tansu) that lives for the test session."""
    broker = EmbeddedKafka(tmp_path_factory.mktemp("kafka"))
    try:
        yield broker.ensure()
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory (MODEL_DIR) with the intent model, prepared once for the test session."""
    from reference.apps.models.loader import prepare

    directory = tmp_path_factory.mktemp("models")
    prepare(directory)
    return directory


@pytest.fixture(scope="session")
def models_namespace(target, app_image) -> Iterator[str]:
    """A namespace whose `models` claim holds the intent model, filled by seed 001's prepare-models Pod.
    Services mounting it need Knative's claim flag while they are admitted (conformance.ai.support)."""
    import uuid

    from conformance.ai.support import prepare_models

    name = f"kproof-models-{uuid.uuid4().hex[:8]}"
    target.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        prepare_models(target, name, app_image("models"))
        yield name
    finally:
        target.delete("v1", "Namespace", name, wait=False)


@pytest.fixture
def in_models_namespace(target, models_namespace) -> Iterator[str]:
    """The models namespace for one test: it starts once earlier tests have let go of their GPUs, and the
    Services and KafkaSources it made there are deleted after it."""
    from conformance.gpu.support import wait_for_gpus_released

    kinds = [("serving.knative.dev/v1", "Service"), ("sources.knative.dev/v1beta1", "KafkaSource")]
    before = {kind: {o["metadata"]["name"] for o in target.list(*kind, models_namespace)} for kind in kinds}
    wait_for_gpus_released(target)
    yield models_namespace
    for kind in kinds:
        for obj in target.list(*kind, models_namespace):
            if obj["metadata"]["name"] not in before[kind]:
                target.delete(*kind, obj["metadata"]["name"], models_namespace, wait=False)
