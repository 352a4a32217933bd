"""confluent-kafka configuration shared by every client the reference makes."""

from __future__ import annotations

import logging

# librdkafka writes its own log lines to stderr unless given a logger.
CLIENT_LOG = logging.getLogger("kproof.kafka.client")
# Tansu's group join waits about half of session.timeout.ms: keep it short (the broker's minimum is 6 s
# on Apache Kafka, which also accepts this when group.min.session.timeout.ms allows it).
SESSION_TIMEOUT_MS = 6000
# Where a dead member must be replaced fast (a Kafka-class Broker's triggers, after a data plane crash):
# Tansu drops a member only once its session timed out, and until then a new member of the group waits as
# a follower, in 3 s steps. Measured from a SIGKILL to the partitions being assigned again: ~13 s at 6 s,
# ~4 s at 3 s. A broker whose group.min.session.timeout.ms is higher (Apache Kafka's default is 6 s)
# refuses it, and the consumer then asks for SESSION_TIMEOUT_MS (reference.kafka.consumer).
FAST_SESSION_TIMEOUT_MS = 3000
# Tansu holds a fetch for most of its max wait even when records arrived (measured at seed 001's 50
# messages a second: p50 167 ms from produce to a plain consumer at librdkafka's 500 ms, 54 ms at 100).
# 100 ms bounds that added latency at the cost of ten empty fetches a second from an idle consumer.
FETCH_WAIT_MAX_MS = 100


def config(bootstrap: str, **extra: object) -> dict:
    settings: dict = {"bootstrap.servers": bootstrap, "logger": CLIENT_LOG}
    settings.update({key.replace("_", "."): value for key, value in extra.items()})
    return settings


def consumer_config(bootstrap: str, group: str, initial_offset: str = "latest", **extra: object) -> dict:
    """A consumer that commits only what the caller says was handled (at least once)."""
    return config(bootstrap, **{"group.id": group, "auto.offset.reset": initial_offset,
                                "enable.auto.commit": False, "enable.auto.offset.store": False,
                                "session.timeout.ms": SESSION_TIMEOUT_MS, "heartbeat.interval.ms": 1000,
                                "max.poll.interval.ms": 300_000,
                                "fetch.wait.max.ms": FETCH_WAIT_MAX_MS, **extra})
