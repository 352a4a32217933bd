"""Event sources: adapters that turn the outside world into CloudEvents."""

from __future__ import annotations

from reference.apiserver.registry import Registry
from reference.auth.provider import TokenProvider
from reference.cloudevents.delivery import Route, direct, ingress_route
from reference.reconciler.controller import Controller
from reference.sources.apiserver import ApiServerSourceReconciler
from reference.sources.container import ContainerSourceReconciler
from reference.sources.ping import PingSourceReconciler
from reference.sources.sinkbinding import SinkBindingReconciler

__all__ = ["ingress_route", "sources_controllers"]


def sources_controllers(registry: Registry, route: Route = direct, api_url: str = "https://kubernetes.default.svc",
                        tokens: TokenProvider | None = None) -> list[Controller]:
    """The ContainerSource, PingSource, ApiServerSource and SinkBinding controllers; `route` tells the adapters
    in the platform's process how to reach a sink URL (ingress_route(<ingress URL>) sends cluster-local ones
    through the ingress), `api_url` is the API server's address (the ApiServerSource's event source) and `tokens`
    gives senders their tokens while sender identity is on."""
    return [ContainerSourceReconciler(registry), PingSourceReconciler(registry, route, tokens=tokens),
            ApiServerSourceReconciler(registry, route, api_url, tokens), SinkBindingReconciler(registry, tokens)]
