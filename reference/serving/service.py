"""Service -> a Configuration and a Route of the same name; status gathered from both."""

from __future__ import annotations

from reference.apiserver.registry import Registry
from reference.reconciler.controller import Controller, Key, Watch, own_key, owner_keys
from reference.serving.resources.children import make_configuration, make_route
from reference.serving.status.service import not_owned, service_status


class ServiceReconciler(Controller):
    name = "service-controller"

    def __init__(self, registry: Registry) -> None:
        super().__init__(registry)
        kinds = registry.kinds
        self.kind = kinds.require("serving.knative.dev", "v1", "services")
        self.configurations = kinds.require("serving.knative.dev", "v1", "configurations")
        self.routes = kinds.require("serving.knative.dev", "v1", "routes")

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), Watch(self.configurations, owner_keys("Service")),
                Watch(self.routes, owner_keys("Service"))]

    async def reconcile(self, key: Key) -> float | None:
        service = self.get(self.kind, *key)
        if service is None or service["metadata"].get("deletionTimestamp"):
            return None
        config, config_owned = self.ensure_child(self.configurations, make_configuration(service), service)
        route, route_owned = self.ensure_child(self.routes, make_route(service), service)
        name = service["metadata"]["name"]
        self.write_status(self.kind, service, service_status(
            service, config, None if config_owned else not_owned("Configuration", name),
            route, None if route_owned else not_owned("Route", name)))
        return None
