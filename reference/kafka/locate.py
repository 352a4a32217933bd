"""Finding a Kafka, in order: the bootstrap address the user gives (`--kafka-bootstrap`, else
$KPROOF_KAFKA_BOOTSTRAP), a Testcontainers Kafka when a Docker daemon answers, else the embedded Tansu
broker. Every caller then talks to it through confluent-kafka."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from reference.kafka.client import config
from reference.kafka.embedded import EmbeddedKafka

log = logging.getLogger("kproof.kafka")
BOOTSTRAP_ENV = "KPROOF_KAFKA_BOOTSTRAP"


@dataclass(frozen=True)
class KafkaEndpoint:
    bootstrap: str
    kind: str  # "external", "testcontainers" or "embedded"


def reachable(bootstrap: str, timeout: float = 5.0) -> str | None:
    """None when the brokers at `bootstrap` answer a metadata request, else why not."""
    try:
        AdminClient(config(bootstrap, **{"socket.timeout.ms": int(timeout * 1000)})).list_topics(timeout=timeout)
    except Exception as err:  # confluent-kafka raises KafkaException; anything else means the same here
        return f"the Kafka brokers at {bootstrap} do not answer: {err}"
    return None


def _testcontainers_kafka() -> str | None:
    """A Kafka container when Docker answers; None without Docker (or without testcontainers)."""
    try:
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:
        return None
    try:
        container = KafkaContainer()
        container.start()
    except Exception as err:  # docker.errors.DockerException without a daemon
        log.info("no Testcontainers Kafka: %s", err)
        return None
    return container.get_bootstrap_server()


def locate(state_dir: Path, bootstrap: str | None = None) -> KafkaEndpoint:
    bootstrap = bootstrap or os.environ.get(BOOTSTRAP_ENV)
    if bootstrap:
        return KafkaEndpoint(bootstrap, "external")
    container = _testcontainers_kafka()
    if container:
        return KafkaEndpoint(container, "testcontainers")
    return KafkaEndpoint(EmbeddedKafka(state_dir).ensure(), "embedded")
