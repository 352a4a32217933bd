"""Parallel (pkg/reconciler/parallel): an ingress channel `<name>-kn-parallel` and one channel per branch,
`<name>-kn-parallel-<i>`. Branch i's filter Subscription (`<name>-kn-parallel-filter-<i>`) takes the ingress
channel's events to the branch's filter, whose reply goes into the branch channel (without a filter, the
branch channel is the subscriber); its subscriber Subscription (`<name>-kn-parallel-<i>`) takes the branch
channel's events to the branch's subscriber and its reply to the branch's reply, else spec.reply. The
Parallel's address is the ingress channel's."""

from __future__ import annotations

from reference.apis import conditions
from reference.apiserver.errors import ApiError
from reference.eventing.flows import resources, status
from reference.eventing.flows.children import ChannelNotServed, FlowReconciler
from reference.reconciler.controller import Key

OWNED_STATUS = ("conditions", "address", "ingressChannelStatus", "branchStatuses")


class ParallelReconciler(FlowReconciler):
    name = "parallel-controller"
    owner_kind = "Parallel"

    def __init__(self, registry) -> None:
        super().__init__(registry, ("flows.knative.dev", "v1", "parallels"))

    async def reconcile(self, key: Key) -> float | None:
        parallel = self.get(self.kind, *key)
        if parallel is None or parallel["metadata"].get("deletionTimestamp"):
            return None
        previous = parallel.get("status") or {}
        out = {k: v for k, v in previous.items() if k not in OWNED_STATUS}
        out["observedGeneration"] = parallel["metadata"]["generation"]
        parts = {t: conditions.condition(t, None) for t in ("ChannelsReady", "SubscriptionsReady", "Addressable")}
        branches = range(len(parallel["spec"].get("branches") or []))
        name = key[1]
        try:
            kind = self.channel_kind(parallel)
            ingress = self.ensure_channel(kind, resources.make_channel(parallel, resources.parallel_channel_name(name)))
            channels = [self.ensure_channel(kind, resources.make_channel(
                parallel, resources.parallel_branch_channel_name(name, i))) for i in branches]
        except (ChannelNotServed, ApiError) as err:
            parts["ChannelsReady"] = conditions.condition("ChannelsReady", False, "ChannelsNotReady",
                                                          f"failed to reconcile channels: {_message(err)}")
        else:
            out["ingressChannelStatus"], channel_statuses, address, found = status.parallel_channels(ingress, channels)
            if address:
                out["address"] = address
            parts.update({c["type"]: c for c in found})
            try:
                filters = [self.ensure_subscription(resources.make_parallel_filter_subscription(parallel, i))
                           for i in branches]
                subscribers = [self.ensure_subscription(resources.make_parallel_subscription(parallel, i))
                               for i in branches]
            except ApiError as err:
                parts["SubscriptionsReady"] = conditions.condition(
                    "SubscriptionsReady", False, "SubscriptionsNotReady",
                    f"failed to reconcile Subscription Objects: {_message(err)}")
                out["branchStatuses"] = previous.get("branchStatuses") or []
            else:
                filter_statuses, subscriber_statuses, parts["SubscriptionsReady"] = status.parallel_subscriptions(
                    filters, subscribers)
                out["branchStatuses"] = status.branch_statuses(channel_statuses, filter_statuses, subscriber_statuses)
                self.prune(kind, parallel, {resources.parallel_channel_name(name)}
                           | {resources.parallel_branch_channel_name(name, i) for i in branches})
                self.prune(self.subscriptions, parallel,
                           {resources.parallel_filter_subscription_name(name, i) for i in branches}
                           | {resources.parallel_subscription_name(name, i) for i in branches})
        parts["EventPoliciesReady"] = self.event_policies()
        found_parts = list(parts.values())
        out["conditions"] = conditions.merge([*found_parts, conditions.all_of("Ready", found_parts)],
                                             previous.get("conditions"))
        self.write_status(self.kind, parallel, out)
        return None


def _message(err: Exception) -> str:
    return err.message if isinstance(err, ApiError) else str(err)
