"""KafkaSink: finds its topic (or, given numPartitions and replicationFactor, makes it), is addressable on
the kafka-sink-ingress, and is Ready once the data plane serves it. A topic the controller made goes when
the sink goes (a finalizer); a topic it found stays. Conditions as Knative's kafka-controller names them."""

from __future__ import annotations

import asyncio
import logging

from confluent_kafka import KafkaException

from reference.apis import conditions
from reference.apis.eventing import kafka_sink_url
from reference.eventing.broker import PROBE_RETRY, Probe, always_serving
from reference.kafka.topics import delete_topic, ensure_topic, topic_exists
from reference.reconciler.controller import Controller, Key

log = logging.getLogger("kproof.eventing")

FINALIZER = "kafkasinks.eventing.knative.dev"
TOPIC_OWNER = "eventing.knative.dev/topic.owner"
CONTROLLER_OWNER, EXTERNAL_OWNER = "kafkasink-controller", "external"
TOPIC_NOT_PRESENT = "Topic is not present or invalid"
TOPIC_RETRY = 5.0


class KafkaSinkReconciler(Controller):
    name = "kafkasink-controller"

    def __init__(self, registry, probe: Probe = always_serving) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("eventing.knative.dev", "v1alpha1", "kafkasinks")
        self.probe = probe

    async def reconcile(self, key: Key) -> float | None:
        sink = self.get(self.kind, *key)
        if sink is None:
            return None
        meta = sink["metadata"]
        if meta.get("deletionTimestamp"):
            await self._finalize(sink)
            return None
        sink = self.add_finalizer(self.kind, sink, FINALIZER)
        spec = sink.get("spec") or {}
        previous = sink.get("status") or {}
        status = {k: v for k, v in previous.items() if k not in ("conditions", "address", "addresses")}
        status["observedGeneration"] = sink["metadata"]["generation"]
        topic_ready, owner = await self._topic(spec)
        status["annotations"] = {**(previous.get("annotations") or {}), TOPIC_OWNER: owner}
        parts = [conditions.condition("DataPlaneAvailable", True), topic_ready]
        again = None if topic_ready["status"] == "True" else TOPIC_RETRY
        # The data plane learns of the sink from this status (its TopicReady); it is probed after.
        if topic_ready["status"] == "True" and conditions.get(sink, "TopicReady")["status"] == "True" \
                and await self.probe("kafkasinks", *key):
            url = kafka_sink_url(*key)
            status["address"] = {"name": "http", "url": url}
            status["addresses"] = [{"name": "http", "url": url}]
            parts += [conditions.condition("ProbeSucceeded", True), conditions.condition("Addressable", True)]
        else:
            parts.append(conditions.condition("ProbeSucceeded", None, "Probing",
                                              "Waiting for the kafka-sink-ingress to serve the sink."))
            again = again or PROBE_RETRY
        status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)],
                                                previous.get("conditions"))
        self.write_status(self.kind, sink, status)
        return again

    async def _topic(self, spec: dict) -> tuple[dict, str]:
        """(the TopicReady condition, the topic's owner): made with numPartitions and replicationFactor,
        else it must exist."""
        bootstrap, topic = ",".join(spec.get("bootstrapServers") or []), spec.get("topic", "")
        owner = CONTROLLER_OWNER if spec.get("numPartitions") and spec.get("replicationFactor") else EXTERNAL_OWNER
        try:
            if owner == CONTROLLER_OWNER:
                await asyncio.to_thread(ensure_topic, bootstrap, topic, int(spec["numPartitions"]),
                                        int(spec["replicationFactor"]))
            elif not await asyncio.to_thread(topic_exists, bootstrap, topic):
                return conditions.condition("TopicReady", False, TOPIC_NOT_PRESENT,
                                            f"Check topics [{topic}] configuration"), owner
        except KafkaException as err:
            reason = f"Failed to create topic: {topic}" if owner == CONTROLLER_OWNER else TOPIC_NOT_PRESENT
            return conditions.condition("TopicReady", False, reason, str(err)), owner
        return conditions.condition("TopicReady", True, f"Topic {topic} (owner {owner})"), owner

    async def _finalize(self, sink: dict) -> None:
        meta, spec = sink["metadata"], sink.get("spec") or {}
        if ((sink.get("status") or {}).get("annotations") or {}).get(TOPIC_OWNER) == CONTROLLER_OWNER:
            try:
                await asyncio.to_thread(delete_topic, ",".join(spec.get("bootstrapServers") or []), spec["topic"])
            except KafkaException as err:  # as Knative does: the sink goes, the topic may stay
                log.warning("KafkaSink %s/%s: could not delete topic %s: %s", meta.get("namespace"), meta["name"],
                            spec.get("topic"), err)
        self.remove_finalizer(self.kind, sink, FINALIZER)
