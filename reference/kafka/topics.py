"""Creating topics (blocking; call from a thread)."""

from __future__ import annotations

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
    try:
        future.result(timeout)
    except KafkaException as err:
        if err.args and isinstance(err.args[0], KafkaError) and err.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return
        raise
