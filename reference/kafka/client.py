"""confluent-kafka configuration shared by every client the reference makes."""

from __future__ import annotations

import logging

# librdkafka writes its own log lines to stderr unless given a logger.
CLIENT_LOG = logging.getLogger("kproof.kafka.client")
# Tansu's group join waits about half of session.timeout.ms: keep it short (the broker's minimum is 6 s
# on Apache Kafka, which also accepts this when group.min.session.timeout.ms allows it).
SESSION_TIMEOUT_MS = 6000


def config(bootstrap: str, **extra: object) -> dict:
    settings: dict = {"bootstrap.servers": bootstrap, "logger": CLIENT_LOG}
    settings.update({key.replace("_", "."): value for key, value in extra.items()})
    return settings


def consumer_config(bootstrap: str, group: str, initial_offset: str = "latest", **extra: object) -> dict:
    """A consumer that commits only what the caller says was handled (at least once)."""
    return config(bootstrap, **{"group.id": group, "auto.offset.reset": initial_offset,
                                "enable.auto.commit": False, "enable.auto.offset.store": False,
                                "session.timeout.ms": SESSION_TIMEOUT_MS, "heartbeat.interval.ms": 1000,
                                "max.poll.interval.ms": 300_000, **extra})
