"""Sender identity in eventing's control plane (knative/eventing pkg/auth): what config-features says, the
audience an addressable announces, the EventPolicies applied to it, and the OIDC ServiceAccount a sender
(a source, a trigger) sends as."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from reference.apis import conditions
from reference.apis.objects import controlled_by, owner_reference
from reference.apiserver.errors import ApiError
from reference.apiserver.kinds import Kind
from reference.apiserver.registry import Registry
from reference.auth.names import OIDC_LABEL, audience, oidc_service_account
from reference.auth.policy import OIDC_FLAG, Features, applied_status, applying
from reference.auth.provider import TokenProvider
from reference.reconciler.controller import Controller, Key, Watch

log = logging.getLogger("kproof.eventing")

FEATURES = ("knative-eventing", "config-features")
POLICIES = ("eventing.knative.dev", "v1alpha1", "eventpolicies")


def features(registry: Registry) -> Features:
    return Features.parse(registry.read_config(*FEATURES))


def _all_of(registry: Registry, kind: Kind, namespace: str | None = None) -> list[Key]:
    return [(e.obj["metadata"].get("namespace", ""), e.obj["metadata"]["name"])
            for e in registry.store.entries(kind.resource, namespace)]


def identity_watches(registry: Registry, kind: Kind, policies: bool = False) -> list[Watch]:
    """config-features changes re-reconcile every object of `kind`; with `policies`, an EventPolicy's change
    re-reconciles those of its namespace too (their applied policies may change)."""
    config_maps = registry.kinds.require("", "v1", "configmaps")

    def on_config(obj: dict) -> Iterable[Key]:
        meta = obj["metadata"]
        return _all_of(registry, kind) if (meta.get("namespace"), meta["name"]) == FEATURES else []

    watches = [Watch(config_maps, on_config)]
    policy_kind = registry.kinds.by_path(*POLICIES)
    if policies and policy_kind is not None:
        watches.append(Watch(policy_kind, lambda obj: _all_of(registry, kind, obj["metadata"].get("namespace"))))
    return watches


def address(url: str, flags: Features, group: str, kind: str, namespace: str, name: str) -> dict:
    """An addressable's status.address: its URL, and its audience while sender identity is on."""
    found = {"name": "http", "url": url}
    if flags.oidc:
        found["audience"] = audience(group, kind, namespace, name)
    return found


def policies(registry: Registry, flags: Features, group: str, kind: str, obj: dict) -> tuple[list[dict], dict]:
    """(status.policies, EventPoliciesReady) of an addressable."""
    policy_kind = registry.kinds.by_path(*POLICIES)
    meta = obj["metadata"]
    found = [e.obj for e in registry.store.entries(policy_kind.resource, meta.get("namespace"))] if policy_kind else []
    return applied_status(flags, applying(found, group, kind, meta.get("namespace", ""), meta["name"],
                                          meta.get("labels")))


def ensure_identity(controller: Controller, owner: dict, group: str, kind: str, flags: Features
                    ) -> tuple[str | None, dict]:
    """The OIDC ServiceAccount `owner` sends as (made while sender identity is on, removed when it is off) and
    the OIDCIdentityCreated condition (SetupOIDCServiceAccount)."""
    accounts = controller.registry.kinds.require("", "v1", "serviceaccounts")
    meta = owner["metadata"]
    name = oidc_service_account(meta["name"], group, kind)
    current = controller.get(accounts, meta.get("namespace", ""), name)
    if not flags.oidc:
        if current is not None and controlled_by(current, owner):
            controller.registry.delete(accounts, meta.get("namespace", ""), name, {}, controller.opts)
        return None, conditions.condition("OIDCIdentityCreated", True, f"{OIDC_FLAG} feature disabled")
    if current is None:
        controller.registry.create(accounts, meta.get("namespace", ""), {
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": meta.get("namespace", ""), "labels": {OIDC_LABEL: "enabled"},
                         "annotations": {"description": f'Service Account for OIDC Authentication for {kind} '
                                                        f'"{meta["name"]}"'},
                         "ownerReferences": [{**owner_reference(owner), "blockOwnerDeletion": False}]}},
            controller.opts)
    elif not controlled_by(current, owner):
        return name, conditions.condition("OIDCIdentityCreated", False,
                                          "Unable to resolve service account for OIDC authentication",
                                          f"service account {name} not owned by {kind} {meta['name']}")
    return name, conditions.condition("OIDCIdentityCreated", True)


async def sender_authorization(tokens: TokenProvider | None, namespace: str, account: str | None,
                               audience: str | None) -> str | None:
    """A platform sender's Authorization header for its sink's audience, or None (also when no token can be
    had: the sink then answers 401, as it would to Knative's sender)."""
    if tokens is None:
        return None
    try:
        return await tokens.authorization(namespace, account, audience)
    except ApiError as err:
        log.warning("no token for %s/%s: %s", namespace, account, err.message)
        return None
