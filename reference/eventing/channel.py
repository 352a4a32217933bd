"""Channels and Subscriptions.

A Channel is backed by the channel its template names (InMemoryChannel by default) and shares its address,
subscribers and resolved dead-letter sink (status.deadLetterSinkUri). A Subscription without a delivery
spec of its own takes its channel's (retry, backoff, timeout), and one without a dead-letter sink of its own
the channel's resolved one, as Knative's subscription controller does. An InMemoryChannel answers on
`<name>-kn-channel.<ns>.svc.cluster.local`. A Subscription resolves its subscriber, reply and dead-letter
sink and adds itself to its channel's spec.subscribers (a finalizer takes it out again when it is deleted).
"""

from __future__ import annotations

import copy

from reference.apis import conditions
from reference.apis.eventing import channel_url
from reference.apis.objects import owner_reference
from reference.eventing.broker import PROBE_RETRY, Probe, always_serving
from reference.eventing.resolver import Unresolvable, dead_letter, destination_watches, resolve
from reference.reconciler.controller import Controller, Key, Watch, own_key, owner_keys

SUBSCRIPTION_FINALIZER = "subscriptions.messaging.knative.dev"
MESSAGING = "messaging.knative.dev/v1"


class InMemoryChannelReconciler(Controller):
    name = "imc-controller"

    def __init__(self, registry, probe: Probe = always_serving) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("messaging.knative.dev", "v1", "inmemorychannels")
        self.probe = probe

    def watches(self) -> list[Watch]:
        # Its dead-letter sink may name any addressable.
        return [Watch(self.kind, own_key), *destination_watches(self.registry, self.kind)]

    async def reconcile(self, key: Key) -> float | None:
        channel = self.get(self.kind, *key)
        if channel is None or channel["metadata"].get("deletionTimestamp"):
            return None
        previous = channel.get("status") or {}
        url = channel_url(*key)
        status = {k: v for k, v in previous.items() if k not in ("conditions", "deadLetterSinkUri")}
        subscribers = (channel.get("spec") or {}).get("subscribers") or []
        delivery_status, resolved = dead_letter((channel.get("spec") or {}).get("delivery"), key[0],
                                                self.registry.store, self.registry.kinds)
        status.update(delivery_status or {})
        status.update({"observedGeneration": channel["metadata"]["generation"],
                       "address": {"name": "http", "url": url}, "addresses": [{"name": "http", "url": url}],
                       "subscribers": [{"uid": s.get("uid"), "observedGeneration": s.get("generation"),
                                        "ready": "True"} for s in subscribers]})
        serving = await self.probe("inmemorychannels", *key)
        parts = [conditions.condition("Addressable", True), conditions.condition("ChannelServiceReady", True),
                 conditions.condition("DispatcherReady", True),
                 conditions.condition("ServiceReady", True) if serving else
                 conditions.condition("ServiceReady", None, "Probing", "Waiting for the dispatcher to serve it."),
                 resolved]
        status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)],
                                                previous.get("conditions"))
        self.write_status(self.kind, channel, status)
        return None if serving else PROBE_RETRY


class ChannelReconciler(Controller):
    name = "channel-controller"

    def __init__(self, registry) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("messaging.knative.dev", "v1", "channels")

    def watches(self) -> list[Watch]:
        backing = self.registry.kinds.require("messaging.knative.dev", "v1", "inmemorychannels")
        return [Watch(self.kind, own_key), Watch(backing, owner_keys("Channel"))]

    async def reconcile(self, key: Key) -> float | None:
        channel = self.get(self.kind, *key)
        if channel is None or channel["metadata"].get("deletionTimestamp"):
            return None
        spec = channel.get("spec") or {}
        template = spec.get("channelTemplate") or {}
        previous = channel.get("status") or {}
        status = {k: v for k, v in previous.items() if k not in ("conditions", "deadLetterSinkUri")}
        status["observedGeneration"] = channel["metadata"]["generation"]
        kind = self.registry.kinds.by_kind(template.get("apiVersion", ""), template.get("kind", ""))
        if kind is None or kind.kind != "InMemoryChannel":
            parts = [conditions.condition("BackingChannelReady", False, "ChannelTemplateNotSupported",
                                          f"the reference platform backs channels with InMemoryChannel, "
                                          f"not {template.get('kind')!r}")]
        else:
            desired_spec = {**copy.deepcopy(template.get("spec") or {}),
                            "subscribers": copy.deepcopy(spec.get("subscribers") or [])}
            if spec.get("delivery"):
                desired_spec["delivery"] = copy.deepcopy(spec["delivery"])
            backing = self.get(kind, *key)
            if backing is None:
                backing = self.registry.create(kind, key[0], {
                    "apiVersion": MESSAGING, "kind": "InMemoryChannel",
                    "metadata": {"name": key[1], "namespace": key[0], "ownerReferences": [owner_reference(channel)]},
                    "spec": desired_spec}, self.opts)
            elif backing.get("spec") != desired_spec:
                backing = self.registry.update(kind, key[0], key[1], {**backing, "spec": desired_spec}, self.opts)
            backing_status = backing.get("status") or {}
            if backing_status.get("address"):
                status["address"] = backing_status["address"]
                status["addresses"] = backing_status.get("addresses", [backing_status["address"]])
            status["channel"] = {"apiVersion": MESSAGING, "kind": "InMemoryChannel", "name": key[1],
                                 "namespace": key[0]}
            status["subscribers"] = backing_status.get("subscribers", [])
            if backing_status.get("deadLetterSinkUri"):
                status["deadLetterSinkUri"] = backing_status["deadLetterSinkUri"]
            ready = conditions.get(backing)
            parts = [conditions.condition("BackingChannelReady", ready["status"], ready.get("reason", ""),
                                          ready.get("message", "")),
                     conditions.condition("Addressable", bool(status.get("address")) or None),
                     _dead_letter_of(backing, bool((spec.get("delivery") or {}).get("deadLetterSink")))]
        status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)],
                                                previous.get("conditions"))
        self.write_status(self.kind, channel, status)
        return None


def _dead_letter_of(backing: dict, configured: bool) -> dict:
    """The backing channel's DeadLetterSinkResolved condition, for the Channel."""
    found = next((c for c in (backing.get("status") or {}).get("conditions") or []
                  if c.get("type") == "DeadLetterSinkResolved"), None)
    if found is None:
        return conditions.condition("DeadLetterSinkResolved", None if configured else True,
                                    "" if configured else "DeadLetterSinkNotConfigured",
                                    "" if configured else "No dead letter sink is configured.")
    return conditions.condition("DeadLetterSinkResolved", found.get("status"), found.get("reason", ""),
                                found.get("message", ""))


def channel_delivery(channel: dict) -> tuple[dict | None, str | None]:
    """The delivery a subscription without its own takes from its channel (the dead-letter sink as the
    channel resolved it), and a problem when the channel has a dead-letter sink it has not resolved yet."""
    delivery = (channel.get("spec") or {}).get("delivery")
    if not delivery:
        return None, None
    taken = {k: v for k, v in delivery.items() if k != "deadLetterSink"}
    if delivery.get("deadLetterSink"):
        uri = (channel.get("status") or {}).get("deadLetterSinkUri")
        if not uri:
            return None, f'channel "{channel["metadata"]["name"]}" has not resolved its deadLetterSink yet'
        taken["deadLetterSink"] = {"uri": uri}
    return taken, None


class SubscriptionReconciler(Controller):
    name = "subscription-controller"

    def __init__(self, registry, probe: Probe = always_serving) -> None:
        super().__init__(registry)
        self.probe = probe
        kinds = registry.kinds
        self.kind = kinds.require("messaging.knative.dev", "v1", "subscriptions")

    def watches(self) -> list[Watch]:
        # Its channel and any addressable its subscriber, reply or dead-letter sink names.
        return [Watch(self.kind, own_key), *destination_watches(self.registry, self.kind)]

    def _channel(self, subscription: dict):
        ref = (subscription.get("spec") or {}).get("channel") or {}
        kind = self.registry.kinds.by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if kind is None:
            return None, None
        return kind, self.get(kind, subscription["metadata"]["namespace"], ref.get("name", ""))

    def _set_entry(self, subscription: dict, entry: dict | None) -> None:
        """Puts (or with None removes) this subscription's entry in its channel's spec.subscribers."""
        kind, channel = self._channel(subscription)
        if channel is None:
            return
        uid = subscription["metadata"]["uid"]
        subscribers = [s for s in (channel.get("spec") or {}).get("subscribers") or [] if s.get("uid") != uid]
        if entry is not None:
            subscribers.append(entry)
            subscribers.sort(key=lambda s: s.get("uid", ""))
        if subscribers != (channel.get("spec") or {}).get("subscribers") or []:
            updated = {**channel, "spec": {**(channel.get("spec") or {}), "subscribers": subscribers}}
            self.registry.update(kind, channel["metadata"]["namespace"], channel["metadata"]["name"], updated,
                                 self.opts)

    async def reconcile(self, key: Key) -> float | None:
        subscription = self.get(self.kind, *key)
        if subscription is None:
            return None
        meta = subscription["metadata"]
        if meta.get("deletionTimestamp"):
            self._set_entry(subscription, None)
            self.remove_finalizer(self.kind, subscription, SUBSCRIPTION_FINALIZER)
            return None
        subscription = self.add_finalizer(self.kind, subscription, SUBSCRIPTION_FINALIZER)
        spec = subscription.get("spec") or {}
        previous = subscription.get("status") or {}
        status = {k: v for k, v in previous.items() if k != "conditions"}
        status["observedGeneration"] = subscription["metadata"]["generation"]
        _, channel = self._channel(subscription)
        parts = [conditions.condition("ChannelReady", conditions.get(channel)["status"] if channel else False,
                                      "" if channel else "ChannelNotFound",
                                      "" if channel else f'channel "{spec["channel"].get("name")}" not found')]
        physical: dict = {}
        problems = []
        for field, uri_field in (("subscriber", "subscriberUri"), ("reply", "replyUri")):
            if spec.get(field):
                try:
                    physical[uri_field] = resolve(spec[field], key[0], self.registry.store, self.registry.kinds)
                except Unresolvable as err:
                    problems.append(f"{field}: {err}")
        dls = (spec.get("delivery") or {}).get("deadLetterSink")
        if dls:
            try:
                physical["deadLetterSinkUri"] = resolve(dls, key[0], self.registry.store, self.registry.kinds)
            except Unresolvable as err:
                problems.append(f"deadLetterSink: {err}")
        # Without a dead-letter sink of its own it takes the channel's (whatever else its delivery says).
        inherited, problem = channel_delivery(channel) if channel is not None and not dls else (None, None)
        if problem:
            problems.append(f"deadLetterSink: {problem}")
        if inherited and inherited.get("deadLetterSink"):
            physical["deadLetterSinkUri"] = inherited["deadLetterSink"]["uri"]
        if spec.get("delivery"):
            inherited = None
        status["physicalSubscription"] = physical
        parts.append(conditions.condition("ReferencesResolved", False, "ReferencesNotResolved", "; ".join(problems))
                     if problems else conditions.condition("ReferencesResolved", True))
        again = None
        if channel is not None and not problems:
            delivery = inherited or {k: v for k, v in (spec.get("delivery") or {}).items() if k != "deadLetterSink"}
            if "deadLetterSinkUri" in physical:
                delivery["deadLetterSink"] = {"uri": physical["deadLetterSinkUri"]}
            entry = {"uid": subscription["metadata"]["uid"], "generation": subscription["metadata"]["generation"],
                     **{k: v for k, v in physical.items() if k != "deadLetterSinkUri"}}
            if delivery:
                entry["delivery"] = delivery
            self._set_entry(subscription, entry)
            # Added once the channel's dispatcher delivers to it (a channel and its backing IMC share a name).
            added = "subscriberUri" not in physical or await self.probe(
                "inmemorychannels", key[0], channel["metadata"]["name"], subscriber=entry["uid"])
            parts.append(conditions.condition("AddedToChannel", True) if added else conditions.condition(
                "AddedToChannel", None, "Probing", "Waiting for the channel's dispatcher to deliver to it."))
            again = None if added else PROBE_RETRY
        else:
            parts.append(conditions.condition("AddedToChannel", None, "NotAddedToChannel",
                                              "Waiting for the channel and references."))
        status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)],
                                                previous.get("conditions"))
        self.write_status(self.kind, subscription, status)
        return again
