"""Creating topics (blocking; call from a thread)."""

from __future__ import annotations

from concurrent.futures import Future

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from reference.kafka.client import config


def ensure_topic(bootstrap: str, topic: str, partitions: int, replication: int = 1, timeout: float = 10.0) -> None:
    """Creates `topic` unless it exists; raises KafkaException with the broker's reason otherwise."""
    admin = AdminClient(config(bootstrap))
    if topic in admin.list_topics(timeout=timeout).topics:
        return
    future = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=replication)],
                                 operation_timeout=timeout)[topic]
    _settle(future, timeout, KafkaError.TOPIC_ALREADY_EXISTS)


def topic_exists(bootstrap: str, topic: str, timeout: float = 10.0) -> bool:
    """Whether `topic` exists with at least one partition (KafkaException when Kafka does not answer). All
    topics are listed: asking for one by name makes brokers that auto-create topics create it."""
    metadata = AdminClient(config(bootstrap)).list_topics(timeout=timeout).topics.get(topic)
    return metadata is not None and metadata.error is None and bool(metadata.partitions)


def delete_topic(bootstrap: str, topic: str, timeout: float = 10.0) -> None:
    """Deletes `topic`; one that is already gone is fine."""
    future = AdminClient(config(bootstrap)).delete_topics([topic], operation_timeout=timeout)[topic]
    _settle(future, timeout, KafkaError.UNKNOWN_TOPIC_OR_PART)


def _settle(future: Future, timeout: float, fine: int) -> None:
    """Waits for an admin operation; the error code `fine` means it is already as asked."""
    try:
        future.result(timeout)
    except KafkaException as err:
        if err.args and isinstance(err.args[0], KafkaError) and err.args[0].code() == fine:
            return
        raise
