"""Pure status of Sequences and Parallels, as Knative's flows lifecycle (pkg/apis/flows/v1/*_lifecycle.go)
propagates it from the channels and Subscriptions they own.

A Sequence waits with Unknown (ChannelsNotReady, SubscriptionsNotReady, emptyAddress); a Parallel says
False for the same. A Sequence's channels count once Ready; a Parallel's once addressable. Both take the
address of their first (ingress) channel. Ready needs ChannelsReady, SubscriptionsReady, Addressable and
EventPoliciesReady.
"""

from __future__ import annotations

from typing import Any

from reference.apis import conditions

Obj = dict[str, Any]


def object_ref(obj: Obj) -> Obj:
    """A corev1.ObjectReference to `obj`."""
    meta = obj["metadata"]
    return {"apiVersion": obj.get("apiVersion", ""), "kind": obj.get("kind", ""), "name": meta["name"],
            "namespace": meta.get("namespace", "")}


def ready_of(obj: Obj, what: str) -> conditions.Condition:
    """The object's Ready condition, or Unknown NoReady when it has none yet."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return conditions.condition("Ready", None, "NoReady", f"{what} does not have Ready condition")


def address_of(channel: Obj) -> Obj | None:
    address = (channel.get("status") or {}).get("address") or {}
    return address if address.get("url") else None


# Sequence ---------------------------------------------------------------------------------------------

def sequence_channels(channels: list[Obj]) -> tuple[list[Obj], Obj | None, list[conditions.Condition]]:
    """(channelStatuses, address, [ChannelsReady, Addressable])."""
    statuses = [{"channel": object_ref(c), "ready": ready_of(c, "Channel")} for c in channels]
    ready = bool(channels) and all(s["ready"].get("status") == "True" for s in statuses)
    found = address_of(channels[0]) if channels else None
    address: Obj | None = {k: found[k] for k in ("url", "CACerts", "audience") if k in found} if found else None
    return statuses, address, [
        conditions.condition("ChannelsReady", True) if ready else conditions.condition(
            "ChannelsReady", None, "ChannelsNotReady", "Channels are not ready yet, or there are none"),
        conditions.condition("Addressable", True) if address else conditions.condition(
            "Addressable", None, "emptyAddress", "addressable is nil")]


def sequence_subscriptions(subscriptions: list[Obj]) -> tuple[list[Obj], conditions.Condition]:
    """(subscriptionStatuses, SubscriptionsReady)."""
    statuses = [{"subscription": object_ref(s), "ready": ready_of(s, "Subscription")} for s in subscriptions]
    ready = bool(subscriptions) and all(s["ready"].get("status") == "True" for s in statuses)
    return statuses, conditions.condition("SubscriptionsReady", True) if ready else conditions.condition(
        "SubscriptionsReady", None, "SubscriptionsNotReady", "Subscriptions are not ready yet, or there are none")


# Parallel ---------------------------------------------------------------------------------------------

def _addressable_status(channel: Obj) -> Obj:
    ready = conditions.condition("Ready", True) if address_of(channel) else conditions.condition(
        "Ready", False, "NotAddressable", "Channel is not addressable")
    return {"channel": object_ref(channel), "ready": ready}


def parallel_channels(ingress: Obj, branches: list[Obj]) -> tuple[Obj, list[Obj], Obj | None,
                                                                    list[conditions.Condition]]:
    """(ingressChannelStatus, filterChannelStatus per branch, address, [ChannelsReady, Addressable])."""
    ingress_status = _addressable_status(ingress)
    branch_statuses = [_addressable_status(c) for c in branches]
    ready = all(s["ready"]["status"] == "True" for s in [ingress_status, *branch_statuses])
    address = address_of(ingress)
    return ingress_status, branch_statuses, address, [
        conditions.condition("ChannelsReady", True) if ready else conditions.condition(
            "ChannelsReady", False, "ChannelsNotReady", "Channels are not ready yet, or there are none"),
        conditions.condition("Addressable", True) if address else conditions.condition(
            "Addressable", False, "emptyAddress", "addressable is nil")]


def parallel_subscriptions(filters: list[Obj], subscribers: list[Obj]) -> tuple[list[Obj], list[Obj],
                                                                                  conditions.Condition]:
    """(filterSubscriptionStatus per branch, subscriberSubscriptionStatus per branch, SubscriptionsReady)."""
    filter_statuses = [{"subscription": object_ref(s), "ready": ready_of(s, "Subscription")} for s in filters]
    statuses = [{"subscription": object_ref(s), "ready": ready_of(s, "Subscription")} for s in subscribers]
    ready = bool(subscribers) and all(s["ready"].get("status") == "True" for s in [*filter_statuses, *statuses])
    return filter_statuses, statuses, conditions.condition("SubscriptionsReady", True) if ready else \
        conditions.condition("SubscriptionsReady", False, "SubscriptionsNotReady",
                             "Subscriptions are not ready yet, or there are none")


def branch_statuses(filter_channels: list[Obj], filter_subscriptions: list[Obj], subscriptions: list[Obj]
                    ) -> list[Obj]:
    return [{"filterSubscriptionStatus": f, "filterChannelStatus": c, "subscriberSubscriptionStatus": s}
            for c, f, s in zip(filter_channels, filter_subscriptions, subscriptions, strict=True)]
