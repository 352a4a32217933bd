"""What the ContainerSource and PingSource controllers share: the sink watches that re-resolve a source
when its sink appears or moves, and how an adapter in the platform's process reaches a sink."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from reference.apiserver.kinds import Kind
from reference.apiserver.registry import Registry
from reference.controller import Key, Watch
from reference.eventing.addresses import CLUSTER_DOMAIN
from reference.eventing.delivery import Route

# Kinds a sink can name whose address changes what the source sends to.
ADDRESSABLES = (("serving.knative.dev", "v1", "services"), ("eventing.knative.dev", "v1", "brokers"),
                ("messaging.knative.dev", "v1", "channels"), ("messaging.knative.dev", "v1", "inmemorychannels"))
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def sink_watches(registry: Registry, source_kind: Kind) -> list[Watch]:
    """A change to any addressable re-reconciles the sources of `source_kind` in its namespace."""
    def sources_in(obj: dict) -> list[Key]:
        namespace = obj["metadata"].get("namespace", "")
        return [(namespace, e.obj["metadata"]["name"]) for e in registry.store.entries(source_kind.resource,
                                                                                        namespace)]

    kinds = [registry.kinds.by_path(*path) for path in ADDRESSABLES]
    return [Watch(kind, sources_in) for kind in kinds if kind is not None]


def cluster_local(host: str) -> bool:
    return host.endswith("." + CLUSTER_DOMAIN) or host.endswith(".svc")


def ingress_route(ingress_url: str, routed: Callable[[str], bool] = cluster_local) -> Route:
    """A Route that sends plain-HTTP URLs whose host `routed` accepts through the ingress (which routes by
    Host), as a pod's HTTP_PROXY does; anything else (https, loopback, outside names) goes direct."""
    ingress = ingress_url.rstrip("/")

    def route(url: str) -> tuple[str, str | None]:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "http" or host in LOOPBACK or not routed(host):
            return url, None
        query = f"?{parts.query}" if parts.query else ""
        return f"{ingress}{parts.path or '/'}{query}", host

    return route
