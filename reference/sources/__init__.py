"""Event sources: adapters that turn the outside world into CloudEvents."""

from __future__ import annotations

from reference.apiserver.registry import Registry
from reference.cloudevents.delivery import Route, direct, ingress_route
from reference.reconciler.controller import Controller
from reference.sources.container import ContainerSourceReconciler
from reference.sources.ping import PingSourceReconciler

__all__ = ["ingress_route", "sources_controllers"]


def sources_controllers(registry: Registry, route: Route = direct) -> list[Controller]:
    """The ContainerSource and PingSource controllers; `route` tells the PingSource adapter how to reach a sink
    URL from the platform's process (ingress_route(<ingress URL>) sends cluster-local ones through the ingress)."""
    return [ContainerSourceReconciler(registry), PingSourceReconciler(registry, route)]
