"""The KafkaSink receiver (Knative's kafka-sink-ingress): an event POSTed to /<namespace>/<name> is written
to the sink's topic, in binary or structured content mode, and answered 202 only once Kafka acknowledged
it; the record's key is the event's `partitionkey` extension, when it has one. 404 for a sink it does not
serve (unknown, or its topic not ready), 400 for a malformed event, 503 when Kafka refuses the write."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from confluent_kafka import KafkaException
from prometheus_client import CollectorRegistry, Counter

from reference.cloudevents.codec import to_kafka
from reference.cloudevents.receiver import receive
from reference.kafka.producer import AsyncProducer

log = logging.getLogger("kproof.eventing")


@dataclass(frozen=True)
class SinkTarget:
    bootstrap: str
    topic: str
    structured: bool


def target_of(sink: dict) -> SinkTarget | None:
    """Where the sink writes, once its controller found or made the topic (else None: not served)."""
    spec, status = sink.get("spec") or {}, sink.get("status") or {}
    topic_ready = any(c.get("type") == "TopicReady" and c.get("status") == "True"
                      for c in status.get("conditions") or [])
    if not topic_ready or not spec.get("topic") or not spec.get("bootstrapServers"):
        return None
    return SinkTarget(",".join(spec["bootstrapServers"]), spec["topic"], spec.get("contentMode") == "structured")


class KafkaSinkPlane:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.sinks: dict[tuple[str, str], SinkTarget] = {}
        self.producers: dict[str, AsyncProducer] = {}
        self.received = Counter("kproof_kafka_sink_events", "Events posted to KafkaSinks, by answer",
                                ["namespace", "sink", "status"], registry=registry)

    def set_sink(self, kind: str, sink: dict, old: dict | None) -> None:
        meta = sink["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        target = None if kind == "DELETED" else target_of(sink)
        if target is None:
            self.sinks.pop(key, None)
        else:
            self.sinks[key] = target

    def serves(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.sinks

    async def handle(self, request: web.Request) -> web.Response:
        parts = request.path.strip("/").split("/")
        target = self.sinks.get((parts[0], parts[1])) if len(parts) == 2 else None
        if target is None:
            return web.Response(status=404, text=f"no KafkaSink at {request.path}\n")
        event = await receive(request)
        if isinstance(event, web.Response):
            self.received.labels(parts[0], parts[1], str(event.status)).inc()
            return event
        producer = self.producers.get(target.bootstrap)
        if producer is None:
            producer = self.producers[target.bootstrap] = AsyncProducer(target.bootstrap)
        headers, value = to_kafka(event, structured=target.structured)
        try:
            await producer.produce(target.topic, value, key=event.attributes.get("partitionkey"), headers=headers)
        except KafkaException as err:
            log.warning("KafkaSink %s/%s could not write an event: %s", parts[0], parts[1], err)
            self.received.labels(parts[0], parts[1], "503").inc()
            return web.Response(status=503, text=f"the sink could not write the event to Kafka: {err}\n")
        self.received.labels(parts[0], parts[1], "202").inc()
        return web.Response(status=202)

    async def close(self) -> None:
        for producer in self.producers.values():
            await producer.close()
