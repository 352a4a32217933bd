"""What Sequence and Parallel reconcilers share: making the channels of the channelTemplate's kind, keeping
their Subscriptions as the flow wants them (a Subscription's channel is immutable, so one whose channel
changes is deleted and made again, as Knative does), and deleting what a shrunk flow no longer wants."""

from __future__ import annotations

import copy

from reference.apis import conditions
from reference.apis.objects import controlled_by
from reference.apiserver.admission.duck import default_delivery, default_destination
from reference.apiserver.kinds import Kind
from reference.apiserver.registry import Options
from reference.eventing.policies import event_policies_ready, features
from reference.reconciler.controller import Controller, Watch, own_key, owner_keys

CHANNEL_KINDS = (("messaging.knative.dev", "v1", "inmemorychannels"), ("messaging.knative.dev", "v1", "channels"))


class ChannelNotServed(LookupError):
    """The channelTemplate names a kind this platform does not serve."""


class FlowReconciler(Controller):
    owner_kind = ""  # "Sequence" or "Parallel": whose children re-reconcile it

    def __init__(self, registry, group_version_plural: tuple[str, str, str]) -> None:
        super().__init__(registry)
        self.opts = Options(user=f"system:serviceaccount:knative-eventing:{self.name}")
        self.kind = registry.kinds.require(*group_version_plural)
        self.subscriptions = registry.kinds.require("messaging.knative.dev", "v1", "subscriptions")

    def watches(self) -> list[Watch]:
        kinds = [self.registry.kinds.by_path(*path) for path in CHANNEL_KINDS]
        return [Watch(self.kind, own_key), Watch(self.subscriptions, owner_keys(self.owner_kind)),
                *(Watch(kind, owner_keys(self.owner_kind)) for kind in kinds if kind is not None)]

    def channel_kind(self, flow: dict) -> Kind:
        template = flow["spec"].get("channelTemplate") or {}
        kind = self.registry.kinds.by_kind(template.get("apiVersion", ""), template.get("kind", ""))
        if kind is None:
            raise ChannelNotServed(f'the server could not find the requested resource: {template.get("kind")} '
                                   f'({template.get("apiVersion")}) is not a kind this platform serves')
        return kind

    def ensure_channel(self, kind: Kind, desired: dict) -> dict:
        """The channel of that name, made when missing (Knative leaves an existing one as it is)."""
        meta = desired["metadata"]
        return self.get(kind, meta["namespace"], meta["name"]) or self.registry.create(
            kind, meta["namespace"], desired, self.opts)

    def ensure_subscription(self, desired: dict) -> dict:
        meta = desired["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        wanted = _as_admitted(desired["spec"], namespace)
        current = self.get(self.subscriptions, namespace, name)
        if current is None:
            return self.registry.create(self.subscriptions, namespace, desired, self.opts)
        if (current.get("spec") or {}).get("channel") != wanted["channel"]:
            self.registry.delete(self.subscriptions, namespace, name, {}, self.opts)
            if self.get(self.subscriptions, namespace, name) is not None:
                return current  # it goes once its finalizer is done; the next pass makes the new one
            return self.registry.create(self.subscriptions, namespace, desired, self.opts)
        if current.get("spec") != wanted:
            return self.registry.update(self.subscriptions, namespace, name, {**current, "spec": desired["spec"]},
                                        self.opts)
        return current

    def prune(self, kind: Kind, owner: dict, wanted: set[str]) -> None:
        """Deletes what `owner` controls of `kind` that it no longer wants."""
        namespace = owner["metadata"]["namespace"]
        for entry in list(self.registry.store.entries(kind.resource, namespace)):
            child = entry.obj
            if (not child["metadata"].get("deletionTimestamp") and controlled_by(child, owner)
                    and child["metadata"]["name"] not in wanted):
                self.registry.delete(kind, namespace, child["metadata"]["name"], {}, self.opts)

    def event_policies(self) -> conditions.Condition:
        return event_policies_ready(features(self.registry))


def _as_admitted(spec: dict, namespace: str) -> dict:
    """A Subscription spec as admission stores it (destinations' refs take the namespace), so that comparing
    it with the stored one finds only real changes."""
    spec = copy.deepcopy(spec)
    default_destination(spec.get("subscriber"), namespace)
    default_destination(spec.get("reply"), namespace)
    default_delivery(spec.get("delivery"), namespace)
    return spec
