"""Broker: an address on the broker ingress, Ready once the data plane serves it; Trigger: Ready once its
Broker is Ready, its subscriber (and dead-letter sink) resolve to URIs and the object its
`knative.dev/dependency` annotation names (a source, say) exists and is Ready."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable

from confluent_kafka import KafkaException

from reference.apis import conditions
from reference.apis.eventing import broker_url
from reference.apiserver.admission.eventing import BROKER_CLASS, DEFAULT_BROKER_CLASS, KAFKA_BROKER_CLASS
from reference.dataplane.eventing.kafka_broker import BOOTSTRAP_ANNOTATION, TOPIC_ANNOTATION
from reference.eventing import identity
from reference.eventing.resolver import Unresolvable, dead_letter, destination_watches, resolve, resolve_audience
from reference.kafka.topics import ensure_topic
from reference.reconciler.controller import Controller, Key, Watch, own_key

# eventing's duck DeliveryStatus: inline in Broker's and Trigger's status (json:",inline")
DELIVERY_STATUS = ("deadLetterSinkUri", "deadLetterSinkCACerts", "deadLetterSinkAudience")

# (kind, namespace, name, **what to expect) -> whether the data plane serves it so already
Probe = Callable[..., Awaitable[bool]]
PROBE_RETRY = 0.05
SUPPORTED_CLASSES = (DEFAULT_BROKER_CLASS, KAFKA_BROKER_CLASS)
DEPENDENCY = "knative.dev/dependency"
# Kinds a dependency annotation usually names (sources): a change to one re-reconciles the triggers that
# wait for it; any other kind is looked at on the next resync.
DEPENDENCY_KINDS = (("sources.knative.dev", "v1", "pingsources"), ("sources.knative.dev", "v1", "containersources"),
                    ("sources.knative.dev", "v1beta1", "kafkasources"))
KAFKA_CONFIG = ("knative-eventing", "kafka-broker-config")


async def always_serving(kind: str, namespace: str, name: str, **expect: str) -> bool:
    return True


class BrokerReconciler(Controller):
    name = "broker-controller"

    def __init__(self, registry, probe: Probe = always_serving, classes: tuple[str, ...] = SUPPORTED_CLASSES,
                 kafka_bootstrap: Callable[[], str | None] = lambda: None) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("eventing.knative.dev", "v1", "brokers")
        self.config_maps = registry.kinds.require("", "v1", "configmaps")
        self.probe = probe
        self.classes = classes
        self.kafka_bootstrap = kafka_bootstrap  # the platform's Kafka, for an empty bootstrap.servers

    def watches(self) -> list[Watch]:
        # Sender identity: config-features and the EventPolicies of its namespace change its status.
        return [Watch(self.kind, own_key), *identity.identity_watches(self.registry, self.kind, policies=True)]

    async def _kafka_topic(self, broker: dict, status: dict) -> dict:
        """Makes the Kafka-class broker's topic; the TopicReady condition (status.annotations on success)."""
        ref = (broker.get("spec") or {}).get("config") or {}
        config = self.get(self.config_maps, ref.get("namespace") or KAFKA_CONFIG[0], ref.get("name") or KAFKA_CONFIG[1])
        data = (config or {}).get("data") or {}
        bootstrap = data.get("bootstrap.servers") or self.kafka_bootstrap()
        if not bootstrap:
            return conditions.condition("TopicReady", False, "NoBootstrapServers",
                                        "bootstrap.servers is empty and the platform has no Kafka")
        meta = broker["metadata"]
        topic = f"knative-broker-{meta['namespace']}-{meta['name']}"
        try:
            await asyncio.to_thread(ensure_topic, bootstrap, topic, int(data.get("default.topic.partitions") or 3),
                                    int(data.get("default.topic.replication.factor") or 1))
        except (KafkaException, ValueError) as err:
            return conditions.condition("TopicReady", False, "TopicNotCreated", f"topic {topic}: {err}")
        status["annotations"] = {BOOTSTRAP_ANNOTATION: bootstrap, TOPIC_ANNOTATION: topic}
        return conditions.condition("TopicReady", True)

    async def reconcile(self, key: Key) -> float | None:
        broker = self.get(self.kind, *key)
        if broker is None or broker["metadata"].get("deletionTimestamp"):
            return None
        previous = broker.get("status") or {}
        status = {k: v for k, v in previous.items() if k not in ("conditions", "deliveryStatus", *DELIVERY_STATUS)}
        status["observedGeneration"] = broker["metadata"]["generation"]
        klass = (broker["metadata"].get("annotations") or {}).get(BROKER_CLASS, "")
        if klass not in self.classes:
            parts = [conditions.condition("Ready", False, "BrokerClassNotSupported",
                                          f"the reference platform runs brokers of class "
                                          f"{', '.join(self.classes)}, not {klass!r}")]
            status["conditions"] = conditions.merge(parts, previous.get("conditions"))
            self.write_status(self.kind, broker, status)
            return None
        url = broker_url(*key, kafka=klass == KAFKA_BROKER_CLASS)
        flags = identity.features(self.registry)
        address = identity.address(url, flags, "eventing.knative.dev", "Broker", *key)
        status["address"] = address
        status["addresses"] = [address]
        policies, policies_ready = identity.policies(self.registry, flags, "eventing.knative.dev", "Broker", broker)
        status.pop("policies", None)
        if policies:
            status["policies"] = policies
        again = None
        dls = ((broker.get("spec") or {}).get("delivery") or {}).get("deadLetterSink")
        parts = [conditions.condition("Addressable", True), conditions.condition("FilterReady", True), policies_ready]
        if klass == KAFKA_BROKER_CLASS:
            parts.append(await self._kafka_topic(broker, status))
            if parts[-1]["status"] != "True":
                again = 5.0
        else:
            parts.append(conditions.condition("TriggerChannelReady", True))
        if dls:
            delivery_status, resolved = dead_letter(broker["spec"]["delivery"], key[0], self.registry.store,
                                                    self.registry.kinds)
            if delivery_status:
                status.update(delivery_status)  # DeliveryStatus is inline in BrokerStatus
            parts.append(resolved)
            if resolved["status"] != "True":
                again = 1.0
        if await self.probe("brokers", *key):
            parts.append(conditions.condition("IngressReady", True))
        else:
            parts.append(conditions.condition("IngressReady", None, "Probing",
                                              "Waiting for the broker ingress to serve the broker."))
            again = PROBE_RETRY
        status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)],
                                                previous.get("conditions"))
        self.write_status(self.kind, broker, status)
        return again


def dependency_ref(trigger: dict) -> object:
    """The decoded `knative.dev/dependency` annotation (None when absent; the raw text when not JSON)."""
    text = (trigger["metadata"].get("annotations") or {}).get(DEPENDENCY)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class TriggerReconciler(Controller):
    name = "trigger-controller"

    def __init__(self, registry, probe: Probe = always_serving) -> None:
        super().__init__(registry)
        kinds = registry.kinds
        self.probe = probe
        self.kind = kinds.require("eventing.knative.dev", "v1", "triggers")
        self.brokers = kinds.require("eventing.knative.dev", "v1", "brokers")

    def watches(self) -> list[Watch]:
        # Its broker, any addressable it may point at and its dependency change a trigger's status.
        kinds = [self.registry.kinds.by_path(*path) for path in DEPENDENCY_KINDS]
        return [Watch(self.kind, own_key), *destination_watches(self.registry, self.kind),
                *(Watch(kind, self._waiting_on) for kind in kinds if kind is not None),
                *identity.identity_watches(self.registry, self.kind)]

    def _waiting_on(self, obj: dict) -> Iterable[Key]:
        """The triggers in the object's namespace whose dependency annotation names it."""
        namespace, name = obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
        for entry in self.registry.store.entries(self.kind.resource, namespace):
            ref = dependency_ref(entry.obj)
            if isinstance(ref, dict) and ref.get("name") == name and ref.get("kind") == obj.get("kind"):
                yield namespace, entry.obj["metadata"]["name"]

    def _dependency(self, trigger: dict) -> dict:
        """The DependencyReady condition, as Knative's trigger reconciler propagates it."""
        ref = dependency_ref(trigger)
        if ref is None:
            return conditions.condition("DependencyReady", True)
        if not isinstance(ref, dict) or not all(isinstance(ref.get(k), str) for k in ("kind", "name", "apiVersion")):
            return conditions.condition("DependencyReady", False, "ReferenceError",
                                        f"Unable to unmarshal objectReference from dependency annotation of "
                                        f"trigger: {trigger['metadata']['annotations'][DEPENDENCY]}")
        kind = self.registry.kinds.by_kind(ref["apiVersion"], ref["kind"])
        found = self.get(kind, trigger["metadata"].get("namespace", ""), ref["name"]) if kind else None
        if found is None:
            return conditions.condition("DependencyReady", False, "DependencyDoesNotExist",
                                        f'Dependency does not exist: {ref["kind"]} "{ref["name"]}" not found')
        observed = (found.get("status") or {}).get("observedGeneration")
        if found["metadata"].get("generation") != observed:
            return conditions.condition("DependencyReady", None, "GenerationNotEqual",
                                        f"The dependency's metadata.generation, {found['metadata'].get('generation')}"
                                        f", is not equal to its status.observedGeneration, {observed}.")
        ready = next((c for c in (found.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"),
                     None)
        if ready is None:
            return conditions.condition("DependencyReady", None, "DependencyNotConfigured",
                                        "Dependency has not yet been reconciled.")
        if ready.get("status") == "True":
            return conditions.condition("DependencyReady", True)
        return conditions.condition("DependencyReady", ready.get("status") if ready.get("status") == "False"
                                    else None, ready.get("reason", ""), ready.get("message", ""))

    async def reconcile(self, key: Key) -> float | None:
        trigger = self.get(self.kind, *key)
        if trigger is None or trigger["metadata"].get("deletionTimestamp"):
            return None
        spec = trigger.get("spec") or {}
        previous = trigger.get("status") or {}
        status = {k: v for k, v in previous.items() if k not in ("conditions", "subscriberUri", "subscriberAudience",
                                                                  "auth", "deliveryStatus", *DELIVERY_STATUS)}
        status["observedGeneration"] = trigger["metadata"]["generation"]
        broker = self.get(self.brokers, key[0], spec.get("broker", ""))
        # Sender identity: the trigger's deliveries present its OIDC ServiceAccount's token.
        account, oidc = identity.ensure_identity(self, trigger, "eventing.knative.dev", "Trigger",
                                                 identity.features(self.registry))
        if account:
            status["auth"] = {"serviceAccountName": account}
        audience = resolve_audience(spec.get("subscriber"), key[0], self.registry.store, self.registry.kinds)
        if audience:
            status["subscriberAudience"] = audience
        parts = [oidc]
        if broker is None:
            parts.append(conditions.condition("BrokerReady", False, "BrokerDoesNotExist",
                                              f'Broker "{spec.get("broker")}" does not exist'))
        else:
            ready = conditions.get(broker)
            parts.append(conditions.condition("BrokerReady", ready["status"], ready.get("reason", ""),
                                              ready.get("message", "")))
        try:
            status["subscriberUri"] = resolve(spec.get("subscriber"), key[0], self.registry.store,
                                              self.registry.kinds)
            parts.append(conditions.condition("SubscriberResolved", True))
        except Unresolvable as err:
            parts.append(conditions.condition("SubscriberResolved", False, "Unable to get the Subscriber's URI",
                                              str(err)))
        delivery = spec.get("delivery") or ((broker or {}).get("spec") or {}).get("delivery") or {}
        delivery_status, resolved = dead_letter(delivery, key[0], self.registry.store, self.registry.kinds)
        if delivery_status:
            dls_audience = resolve_audience(delivery.get("deadLetterSink"), key[0], self.registry.store,
                                            self.registry.kinds)
            status.update({**delivery_status, **({"deadLetterSinkAudience": dls_audience} if dls_audience else {})})
        parts.append(resolved)
        parts.append(self._dependency(trigger))
        again = None
        if all(p["status"] == "True" for p in parts):
            # Ready only once the data plane delivers to this generation's subscriber.
            if await self.probe("triggers", *key, uid=trigger["metadata"]["uid"],
                                generation=str(trigger["metadata"]["generation"]), subscriber=status["subscriberUri"]):
                parts.append(conditions.condition("SubscriptionReady", True))
            else:
                parts.append(conditions.condition("SubscriptionReady", None, "Probing",
                                                  "Waiting for the broker's data plane to deliver to the trigger."))
                again = PROBE_RETRY
        else:
            parts.append(conditions.condition("SubscriptionReady", None, "NotReady",
                                              "Waiting for the broker and the subscriber."))
        status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)],
                                                previous.get("conditions"))
        self.write_status(self.kind, trigger, status)
        return again
