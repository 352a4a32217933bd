"""Sequence (pkg/reconciler/sequence): one channel per step, `<name>-kn-sequence-<i>`; step i's Subscription
(same name) takes channel i's events to the step and its reply to channel i+1, the last step's to
spec.reply. The Sequence's address is channel 0's."""

from __future__ import annotations

from reference.apis import conditions
from reference.apiserver.errors import ApiError
from reference.eventing.flows import resources, status
from reference.eventing.flows.children import ChannelNotServed, FlowReconciler
from reference.reconciler.controller import Key

OWNED_STATUS = ("conditions", "address", "channelStatuses", "subscriptionStatuses")


class SequenceReconciler(FlowReconciler):
    name = "sequence-controller"
    owner_kind = "Sequence"

    def __init__(self, registry) -> None:
        super().__init__(registry, ("flows.knative.dev", "v1", "sequences"))

    async def reconcile(self, key: Key) -> float | None:
        sequence = self.get(self.kind, *key)
        if sequence is None or sequence["metadata"].get("deletionTimestamp"):
            return None
        previous = sequence.get("status") or {}
        out = {k: v for k, v in previous.items() if k not in OWNED_STATUS}
        out["observedGeneration"] = sequence["metadata"]["generation"]
        parts = {t: conditions.condition(t, None) for t in ("ChannelsReady", "SubscriptionsReady", "Addressable")}
        steps = range(len(sequence["spec"].get("steps") or []))
        name = key[1]
        try:
            kind = self.channel_kind(sequence)
            channels = [self.ensure_channel(kind, resources.make_channel(
                sequence, resources.sequence_channel_name(name, i))) for i in steps]
        except (ChannelNotServed, ApiError) as err:
            parts["ChannelsReady"] = conditions.condition("ChannelsReady", None, "ChannelsNotReady",
                                                          f"failed to reconcile channels: {_message(err)}")
        else:
            out["channelStatuses"], address, found = status.sequence_channels(channels)
            if address:
                out["address"] = address
            parts.update({c["type"]: c for c in found})
            try:
                subscriptions = [self.ensure_subscription(resources.make_sequence_subscription(sequence, i))
                                 for i in steps]
            except ApiError as err:
                parts["SubscriptionsReady"] = conditions.condition(
                    "SubscriptionsReady", None, "SubscriptionsNotReady",
                    f"failed to reconcile subscription resource: {_message(err)}")
            else:
                out["subscriptionStatuses"], parts["SubscriptionsReady"] = status.sequence_subscriptions(subscriptions)
                wanted = {resources.sequence_channel_name(name, i) for i in steps}
                self.prune(kind, sequence, wanted)
                self.prune(self.subscriptions, sequence, wanted)
        parts["EventPoliciesReady"] = self.event_policies()
        found_parts = list(parts.values())
        out["conditions"] = conditions.merge([*found_parts, conditions.all_of("Ready", found_parts)],
                                             previous.get("conditions"))
        self.write_status(self.kind, sequence, out)
        return None


def _message(err: Exception) -> str:
    return err.message if isinstance(err, ApiError) else str(err)
