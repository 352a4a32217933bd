"""The Kafka-class Broker (`eventing.knative.dev/broker.class: Kafka`): the ingress answers 202 only once
the event is in the broker's topic, and each Trigger is a consumer group on that topic that commits a
record after its delivery (or dead-lettering), per record (reference.kafka.consumer). Accepted events
therefore survive a restart of the platform, and a restarted trigger resumes where it left off. A
Trigger's `kafka.eventing.knative.dev/delivery.order` is `unordered` (the default) or `ordered` (a
partition's events one at a time, in order).

Events are stored in binary mode: `ce_*` headers and the data as the value, as Knative's Kafka broker
does. The broker's controller writes the topic and bootstrap servers into status.annotations.
"""

from __future__ import annotations

import asyncio
import logging

from confluent_kafka import KafkaException, Message
from prometheus_client import CollectorRegistry

from reference.apiserver.admission.eventing import KAFKA_BROKER_CLASS
from reference.cloudevents.codec import Event, to_kafka
from reference.cloudevents.delivery import Dispatcher
from reference.dataplane.eventing.broker import BrokerPlane, TriggerRoute
from reference.dataplane.eventing.kafka_source import record_to_event
from reference.kafka.client import FAST_SESSION_TIMEOUT_MS, consumer_config
from reference.kafka.consumer import GroupWorker
from reference.kafka.producer import AsyncProducer

log = logging.getLogger("kproof.eventing")

BOOTSTRAP_ANNOTATION = "bootstrap.servers"
TOPIC_ANNOTATION = "default.topic"
DELIVERY_ORDER = "kafka.eventing.knative.dev/delivery.order"


def ordered(trigger: dict) -> bool:
    return (trigger["metadata"].get("annotations") or {}).get(DELIVERY_ORDER, "unordered") == "ordered"


def topic_of(broker: dict) -> tuple[str, str] | None:
    """(bootstrap servers, topic) from the broker's status, once its controller has made the topic."""
    annotations = (broker.get("status") or {}).get("annotations") or {}
    if annotations.get(BOOTSTRAP_ANNOTATION) and annotations.get(TOPIC_ANNOTATION):
        return annotations[BOOTSTRAP_ANNOTATION], annotations[TOPIC_ANNOTATION]
    return None


def trigger_group(namespace: str, name: str) -> str:
    return f"knative-trigger-{namespace}-{name}"


class KafkaBrokerPlane(BrokerPlane):
    classes = (KAFKA_BROKER_CLASS,)
    metric_prefix = "kproof_kafka_broker"

    def __init__(self, dispatcher: Dispatcher, registry: CollectorRegistry | None = None) -> None:
        super().__init__(dispatcher, registry)
        self.producers: dict[str, AsyncProducer] = {}
        self.workers: dict[str, tuple[tuple, GroupWorker]] = {}  # trigger uid -> (what it runs, worker)
        self._changes: asyncio.Queue[None] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    # Informer handlers: after the shared bookkeeping, bring the consumers in line (off the loop's path).

    def set_broker(self, kind: str, broker: dict, old: dict | None) -> None:
        super().set_broker(kind, broker, old)
        self._changed()

    def set_trigger(self, kind: str, trigger: dict, old: dict | None) -> None:
        super().set_trigger(kind, trigger, old)
        self._changed()

    def _changed(self) -> None:
        self._changes.put_nowait(None)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._reconcile_workers())

    def _wanted(self) -> dict[str, tuple[tuple, TriggerRoute, str, str]]:
        wanted = {}
        for (namespace, broker_name), routes in self.triggers.items():
            broker = self.brokers.get((namespace, broker_name))
            where = topic_of(broker) if broker else None
            if where is None:
                continue
            for route in routes.values():
                if route.ready and route.subscriber:
                    wanted[route.uid] = ((where, route.generation, route.subscriber, ordered(route.trigger)),
                                         route, *where)
        return wanted

    async def _reconcile_workers(self) -> None:
        while True:
            await self._changes.get()
            while not self._changes.empty():
                self._changes.get_nowait()
            wanted = self._wanted()
            for uid in list(self.workers):
                fingerprint, worker = self.workers[uid]
                if uid not in wanted or wanted[uid][0] != fingerprint:
                    del self.workers[uid]
                    await asyncio.to_thread(worker.stop)
            for uid, (fingerprint, route, bootstrap, topic) in wanted.items():
                if uid not in self.workers:
                    namespace = route.trigger["metadata"].get("namespace", "")
                    # A short session: after a crash of the data plane, the group drops the dead consumer soon.
                    settings = consumer_config(bootstrap, trigger_group(namespace, route.name), "latest",
                                               **{"session.timeout.ms": FAST_SESSION_TIMEOUT_MS})
                    worker = GroupWorker(settings, [topic], self._handler(namespace, route.broker, uid),
                                         asyncio.get_running_loop(), f"trigger {namespace}/{route.name}",
                                         ordered=ordered(route.trigger))
                    self.workers[uid] = (fingerprint, worker)
                    worker.start()

    def _handler(self, namespace: str, broker: str, uid: str):
        async def handle(message: Message) -> None:
            route = self.triggers.get((namespace, broker), {}).get(uid)
            if route is None:
                return
            event = record_to_event(message, namespace, broker)
            if route.predicate(event):
                await self.deliver(namespace, broker, route, event)
        return handle

    # The ingress keeps an accepted event in the topic before answering.

    async def keep(self, namespace: str, name: str, event: Event) -> tuple[int, str]:
        where = topic_of(self.brokers[(namespace, name)])
        if where is None:
            return 503, "the broker's topic is not ready yet; retry later\n"
        bootstrap, topic = where
        producer = self.producers.get(bootstrap)
        if producer is None:
            producer = self.producers[bootstrap] = AsyncProducer(bootstrap)
        headers, body = to_kafka(event)
        try:
            await producer.produce(topic, body, key=event.attributes.get("partitionkey"), headers=headers)
        except KafkaException as err:
            log.warning("broker %s/%s could not store an event: %s", namespace, name, err)
            return 503, f"the broker could not store the event: {err}\n"
        return 202, ""

    def serves_trigger(self, namespace: str, name: str, uid: str, generation: int, subscriber: str) -> bool:
        running = self.workers.get(uid)
        return (super().serves_trigger(namespace, name, uid, generation, subscriber) and running is not None
                and running[1].problem is None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await asyncio.gather(*(asyncio.to_thread(worker.stop) for _, worker in self.workers.values()))
        await super().close()
        for producer in self.producers.values():
            await producer.close()
