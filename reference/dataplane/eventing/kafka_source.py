"""The KafkaSource data plane: consumers of the source's group turn records into CloudEvents and deliver
them to the sink; each partition commits only what was delivered to the sink or the dead-letter sink
(reference.kafka.consumer: per-record offsets, so a record in back-off holds up nothing else).

`ordered` delivers a partition's records one at a time in offset order (partitions in parallel);
`unordered` delivers records as they arrive, at most consumer.MAX_IN_FLIGHT at once. The record mapping is
Knative's: a record that already is a CloudEvent (binary `ce_*` headers or a structured
`application/cloudevents+json` value) passes through; any other gets id `partition:<p>/offset:<o>`,
source `/apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>`, type `dev.knative.kafka.event`,
subject `partition:<p>#<o>` and its key in `key`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message
from prometheus_client import CollectorRegistry, Counter, Gauge

from reference.cloudevents.codec import STRUCTURED, Event, MalformedEvent, from_kafka
from reference.cloudevents.delivery import DeliverySpec, Dispatcher, Outcome
from reference.kafka.client import consumer_config
from reference.kafka.consumer import GroupWorker

log = logging.getLogger("kproof.sources")

KAFKA_EVENT_TYPE = "dev.knative.kafka.event"
# Alibaba's KafkaSource annotations (seeds 000 and 001), mapped onto the delivery spec.
RETRY_COUNT = "k8s.aliyun.com/retry-count"
RETRY_INTERVAL = "k8s.aliyun.com/retry-interval"
REQUEST_TIMEOUT = "k8s.aliyun.com/req-timeout"
DOMAIN = "k8s.aliyun.com/domain"


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else value.decode(errors="replace")


def record_to_event(message: Message, namespace: str, source: str) -> Event:
    headers = message.headers() or []
    assert isinstance(headers, list)  # a consumed record's headers are (name, value) pairs, never a dict
    lowered = {name.lower(): _text(value) for name, value in headers}
    value = message.value() or b""
    if "ce_specversion" in lowered or lowered.get("content-type", "").startswith(STRUCTURED):
        try:
            return from_kafka(headers, value)
        except MalformedEvent as err:
            log.info("record %s/%d@%d looks like a CloudEvent but is not (%s): wrapping it",
                     message.topic(), message.partition(), message.offset(), err)
    partition, offset = message.partition(), message.offset()
    attributes = {"specversion": "1.0", "id": f"partition:{partition}/offset:{offset}",
                  "source": f"/apis/v1/namespaces/{namespace}/kafkasources/{source}#{message.topic()}",
                  "type": KAFKA_EVENT_TYPE, "subject": f"partition:{partition}#{offset}"}
    kind, stamp = message.timestamp()
    if kind != TIMESTAMP_NOT_AVAILABLE:
        attributes["time"] = datetime.fromtimestamp(stamp / 1000, UTC).isoformat().replace("+00:00", "Z")
    if message.key() is not None:
        attributes["key"] = _text(message.key())
    if "content-type" in lowered:
        attributes["datacontenttype"] = lowered["content-type"]
    return Event(attributes, value or None)


def delivery_for(source: dict) -> DeliverySpec:
    """spec.delivery, with Alibaba's retry annotations filling what it leaves unset."""
    spec = source.get("spec") or {}
    delivery = dict(spec.get("delivery") or {})
    annotations = source["metadata"].get("annotations") or {}
    try:
        if RETRY_COUNT in annotations and "retry" not in delivery:
            delivery["retry"] = int(annotations[RETRY_COUNT])
        if RETRY_INTERVAL in annotations and "backoffDelay" not in delivery:
            delivery["backoffDelay"] = f"PT{float(annotations[RETRY_INTERVAL]):g}S"
            delivery.setdefault("backoffPolicy", "linear")
        if REQUEST_TIMEOUT in annotations and "timeout" not in delivery:
            delivery["timeout"] = f"PT{float(annotations[REQUEST_TIMEOUT]):g}S"
    except ValueError:
        log.warning("ignoring a malformed k8s.aliyun.com annotation on %s", source["metadata"]["name"])
    dls = ((source.get("status") or {}).get("deliveryStatus") or {}).get("deadLetterSinkUri")
    return DeliverySpec.parse(delivery, dls)


def sink_url(source: dict) -> str | None:
    """status.sinkUri; with Alibaba's domain annotation the request goes to that host instead."""
    uri = (source.get("status") or {}).get("sinkUri")
    domain = (source["metadata"].get("annotations") or {}).get(DOMAIN)
    if uri and domain:
        path = uri.split("://", 1)[-1].partition("/")[2]
        return f"http://{domain}/{path}"
    return uri


@dataclass
class SourceStats:
    delivered: Counter
    lag: Gauge


class KafkaSourceAdapter:
    """The consumers of one KafkaSource generation."""

    def __init__(self, source: dict, dispatcher: Dispatcher, stats: SourceStats) -> None:
        meta, spec = source["metadata"], source.get("spec") or {}
        self.namespace, self.name = meta.get("namespace", ""), meta["name"]
        self.uid, self.generation = meta["uid"], int(meta.get("generation") or 0)
        self.dispatcher = dispatcher
        self.stats = stats
        self.sink = sink_url(source)
        self.delivery = delivery_for(source)
        self.ordered = spec.get("ordering", "ordered") != "unordered"
        self.overrides = ((spec.get("ceOverrides") or {}).get("extensions")) or {}
        self.fingerprint = (self.generation, self.sink, self.delivery)
        settings = consumer_config(",".join(spec.get("bootstrapServers") or []), spec.get("consumerGroup", ""),
                                   spec.get("initialOffset", "latest"))
        loop = asyncio.get_running_loop()
        self.workers = [GroupWorker(settings, list(spec.get("topics") or []), self.deliver, loop,
                                    f"{self.namespace}/{self.name}#{i}", ordered=self.ordered, on_lag=self._lag)
                        for i in range(int(spec.get("consumers") or 1))]

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    async def stop(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(worker.stop) for worker in self.workers))

    @property
    def consuming(self) -> bool:
        return any(worker.problem is None for worker in self.workers)

    @property
    def problem(self) -> str | None:
        problems = [w.problem for w in self.workers if w.problem]
        return None if len(problems) < len(self.workers) else problems[0]

    def lag(self) -> dict[tuple[str, int], int]:
        merged: dict[tuple[str, int], int] = {}
        for worker in self.workers:
            merged.update(worker.lag)
        return merged

    def _lag(self, lag: dict[tuple[str, int], int]) -> None:
        """From a consumer's thread (prometheus' gauges are thread-safe)."""
        for (topic, partition), behind in lag.items():
            self.stats.lag.labels(self.namespace, self.name, topic, str(partition)).set(behind)

    async def deliver(self, message: Message) -> Outcome | None:
        if not self.sink:
            return None
        event = record_to_event(message, self.namespace, self.name)
        if self.overrides:
            event = replace(event, attributes={**event.attributes, **self.overrides})
        outcome = await self.dispatcher.deliver(event, self.sink, self.delivery, prefer_reply=False,
                                                namespace=self.namespace)
        result = "delivered" if outcome.delivered else "dead_lettered" if outcome.dead_lettered else "dropped"
        if result == "dropped":
            log.warning("%s/%s: gave up on %s after %d attempt(s) (status %s); no dead-letter sink took it",
                        self.namespace, self.name, event.id, outcome.attempts, outcome.status)
        self.stats.delivered.labels(self.namespace, self.name, result).inc()
        return outcome


class KafkaSourcePlane:
    """Runs an adapter per KafkaSource that has a sink, replacing it when what it runs on changes."""

    def __init__(self, dispatcher: Dispatcher, registry: CollectorRegistry | None = None) -> None:
        self.dispatcher = dispatcher
        self.adapters: dict[str, KafkaSourceAdapter] = {}
        self.stats = SourceStats(
            Counter("kproof_kafka_source_events", "Records a KafkaSource handled, by result",
                    ["namespace", "source", "result"], registry=registry),
            Gauge("kproof_kafka_consumer_lag", "Records not yet committed, per partition",
                  ["namespace", "source", "topic", "partition"], registry=registry))
        self._changes: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def set_source(self, kind: str, source: dict, old: dict | None) -> None:
        self._changes.put_nowait((kind, source))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._apply_changes())

    async def _apply_changes(self) -> None:
        # One at a time, off the informer's path: stopping consumers blocks on their threads.
        while True:
            kind, source = await self._changes.get()
            uid = source["metadata"]["uid"]
            running = self.adapters.get(uid)
            deleting = kind == "DELETED" or bool(source["metadata"].get("deletionTimestamp"))
            wanted = None if deleting or not sink_url(source) else source
            if running is not None and wanted is not None:
                candidate = (int(source["metadata"].get("generation") or 0), sink_url(source), delivery_for(source))
                if candidate == running.fingerprint:
                    continue
            if running is not None:
                del self.adapters[uid]
                await running.stop()
            if wanted is not None:
                adapter = KafkaSourceAdapter(wanted, self.dispatcher, self.stats)
                self.adapters[uid] = adapter
                adapter.start()

    def serves(self, namespace: str, name: str, generation: int) -> tuple[bool, str | None]:
        """(consuming this generation, why not): the KafkaSource controller's probe."""
        for adapter in self.adapters.values():
            if (adapter.namespace, adapter.name) == (namespace, name):
                if adapter.generation != generation:
                    return False, "the data plane runs an older generation"
                return adapter.consuming, adapter.problem
        return False, "the data plane has not started its consumers yet"

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await asyncio.gather(*(adapter.stop() for adapter in self.adapters.values()))
