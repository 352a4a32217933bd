"""Root conftest: the kproof pytest plugin (target options and fixtures) for every test folder, and one
embedded Kafka for the tests that talk to Kafka directly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reference.kafka.embedded import EmbeddedKafka

pytest_plugins = ["kproof.pytest_target"]


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bootstrap address of an embedded Kafka (Tansu) that lives for the test session."""
    broker = EmbeddedKafka(tmp_path_factory.mktemp("kafka"))
    try:
        yield broker.ensure()
    finally:
        broker.stop()
