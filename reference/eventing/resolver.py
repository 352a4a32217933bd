"""Destinations to URIs: a `ref` to anything addressable (a Knative Service or Route, a Broker, a Channel,
a KafkaSink) is its status.address.url, and a `ref` to a Kubernetes Service its cluster-local name (as
Knative's resolver special-cases it), with a relative `uri` appended; an absolute `uri` is itself."""

from __future__ import annotations

from urllib.parse import urljoin

from reference.apis import conditions
from reference.apiserver.kinds import Kind, Kinds
from reference.apiserver.registry import Registry
from reference.apiserver.store import Store
from reference.reconciler.controller import Key, Watch

# Kinds a destination can name: a change to one can change what a destination resolves to.
ADDRESSABLES = (("serving.knative.dev", "v1", "services"), ("serving.knative.dev", "v1", "routes"),
                ("eventing.knative.dev", "v1", "brokers"),
                ("messaging.knative.dev", "v1", "channels"), ("messaging.knative.dev", "v1", "inmemorychannels"),
                ("eventing.knative.dev", "v1alpha1", "kafkasinks"), ("", "v1", "services"),
                ("flows.knative.dev", "v1", "sequences"), ("flows.knative.dev", "v1", "parallels"),
                ("eventing.knative.dev", "v1alpha1", "eventtransforms"),
                ("eventing.knative.dev", "v1alpha1", "requestreplies"))
CLUSTER_DOMAIN = "cluster.local"


def destination_watches(registry: Registry, kind: Kind) -> list[Watch]:
    """A change to any addressable re-reconciles the objects of `kind` in its namespace (their subscribers,
    sinks and dead-letter sinks may resolve differently now)."""
    def in_namespace(obj: dict) -> list[Key]:
        namespace = obj["metadata"].get("namespace", "")
        return [(namespace, e.obj["metadata"]["name"]) for e in registry.store.entries(kind.resource, namespace)]

    kinds = [registry.kinds.by_path(*path) for path in ADDRESSABLES]
    return [Watch(addressable, in_namespace) for addressable in kinds if addressable is not None]


class Unresolvable(LookupError):
    """The destination does not resolve yet (absent, or without an address); the message says why."""


def resolve(destination: dict | None, namespace: str, store: Store, kinds: Kinds) -> str:
    destination = destination or {}
    ref, uri = destination.get("ref"), destination.get("uri")
    if not ref:
        if not uri:
            raise Unresolvable("the destination names neither a ref nor a uri")
        return uri
    kind = kinds.by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
    if kind is None:
        raise Unresolvable(f"{ref.get('kind')} ({ref.get('apiVersion')}) is not a kind this platform serves")
    target = store.get(kind.resource, ref.get("namespace") or namespace, ref.get("name", ""))
    if target is None:
        raise Unresolvable(f'{kind.kind} "{ref.get("name")}" not found')
    address: str | None
    if kind.group == "" and kind.kind == "Service":  # callable though not Addressable
        address = f"http://{target['metadata']['name']}.{target['metadata']['namespace']}.svc.{CLUSTER_DOMAIN}"
    else:
        address = ((target.get("status") or {}).get("address") or {}).get("url")
    if not address:
        raise Unresolvable(f'{kind.kind} "{ref.get("name")}" does not have an address yet')
    if uri:
        return urljoin(address.rstrip("/") + "/", uri.lstrip("/"))
    return address


def dead_letter(delivery: dict | None, namespace: str, store: Store, kinds: Kinds) -> tuple[dict | None, dict]:
    """(the status's DeliveryStatus fields or None, the DeadLetterSinkResolved condition) for a delivery spec."""
    sink = (delivery or {}).get("deadLetterSink")
    if not sink:
        return None, conditions.condition("DeadLetterSinkResolved", True, "DeadLetterSinkNotConfigured",
                                          "No dead letter sink is configured.")
    try:
        return ({"deadLetterSinkUri": resolve(sink, namespace, store, kinds)},
                conditions.condition("DeadLetterSinkResolved", True))
    except Unresolvable as err:
        return None, conditions.condition("DeadLetterSinkResolved", False, "Unresolved", str(err))


def resolve_audience(destination: dict | None, namespace: str, store: Store, kinds: Kinds) -> str | None:
    """The OIDC audience a destination asks senders for: its `audience` for a URI, else the one its ref's
    status.address announces (an addressable announces one while sender identity is on); None otherwise."""
    destination = destination or {}
    ref = destination.get("ref")
    if not ref:
        return destination.get("audience") or None
    kind = kinds.by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
    target = store.get(kind.resource, ref.get("namespace") or namespace, ref.get("name", "")) if kind else None
    return (((target or {}).get("status") or {}).get("address") or {}).get("audience") or None
