"""Destinations to URIs: a `ref` to anything addressable (a Knative Service, a Broker, a Channel) is
its status.address.url, with a relative `uri` appended; an absolute `uri` is itself."""

from __future__ import annotations

from urllib.parse import urljoin

from reference.apiserver.kinds import Kinds
from reference.apiserver.store import Store


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
    address = ((target.get("status") or {}).get("address") or {}).get("url")
    if not address:
        raise Unresolvable(f'{kind.kind} "{ref.get("name")}" does not have an address yet')
    if uri:
        return urljoin(address.rstrip("/") + "/", uri.lstrip("/"))
    return address
