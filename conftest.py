"""Root conftest: one embedded Kafka for the tests that talk to Kafka directly, and the intent model
prepared once in a directory for the unit tests. The kproof pytest plugin (target options and fixtures) comes
from its pytest11 entry point (pyproject.toml); the suite's shared fixtures (the intent model on a claim of the
target, for the AI and load tests) from conformance.fixtures, which `kproof run` loads with -p."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reference.kafka.embedded import EmbeddedKafka

pytest_plugins = ["conformance.fixtures"]


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
