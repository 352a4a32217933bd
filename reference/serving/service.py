"""Service -> a Configuration and a Route of the same name; status gathered from both."""

from __future__ import annotations

import copy

from reference.apis import conditions
from reference.apis.labels import SERVICE, SERVICE_UID
from reference.apis.objects import owner_reference, propagated
from reference.reconciler.controller import Controller, Key, Watch, own_key, owner_keys


class ServiceReconciler(Controller):
    name = "service-controller"

    def __init__(self, registry) -> None:
        super().__init__(registry)
        kinds = registry.kinds
        self.kind = kinds.by_path("serving.knative.dev", "v1", "services")
        self.configurations = kinds.by_path("serving.knative.dev", "v1", "configurations")
        self.routes = kinds.by_path("serving.knative.dev", "v1", "routes")

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), Watch(self.configurations, owner_keys("Service")),
                Watch(self.routes, owner_keys("Service"))]

    def _child_meta(self, service: dict) -> dict:
        meta = service["metadata"]
        labels = {**(meta.get("labels") or {}), SERVICE: meta["name"], SERVICE_UID: meta["uid"]}
        return {"name": meta["name"], "namespace": meta["namespace"], "labels": labels,
                "annotations": propagated(meta.get("annotations")), "ownerReferences": [owner_reference(service)]}

    def desired_configuration(self, service: dict) -> dict:
        return {"apiVersion": "serving.knative.dev/v1", "kind": "Configuration",
                "metadata": self._child_meta(service),
                "spec": {"template": copy.deepcopy(service["spec"].get("template") or {})}}

    def desired_route(self, service: dict) -> dict:
        traffic = []
        for target in service["spec"].get("traffic") or []:
            entry = {k: v for k, v in target.items() if k not in ("url",)}
            if not entry.get("revisionName"):
                entry["configurationName"] = service["metadata"]["name"]
                entry["latestRevision"] = True
            traffic.append(entry)
        return {"apiVersion": "serving.knative.dev/v1", "kind": "Route", "metadata": self._child_meta(service),
                "spec": {"traffic": traffic}}

    def _ensure(self, kind, service: dict, desired: dict) -> tuple[dict | None, dict | None]:
        """The child as it is after making it match `desired`; or a NotOwned condition."""
        meta = service["metadata"]
        current = self.get(kind, meta["namespace"], meta["name"])
        if current is None:
            return self.registry.create(kind, meta["namespace"], desired, self.opts), None
        if not any(r.get("uid") == meta["uid"] for r in current["metadata"].get("ownerReferences") or []):
            return None, conditions.condition(
                "Ready", False, "NotOwned", f'There is an existing {kind.kind} "{meta["name"]}" that we do not own.')
        wanted_meta = desired["metadata"]
        if (current.get("spec") != desired["spec"] or current["metadata"].get("labels") != wanted_meta["labels"]
                or current["metadata"].get("annotations", {}) != wanted_meta["annotations"]):
            updated = copy.deepcopy(current)
            updated["spec"] = desired["spec"]
            updated["metadata"]["labels"] = wanted_meta["labels"]
            updated["metadata"]["annotations"] = wanted_meta["annotations"]
            current = self.registry.update(kind, meta["namespace"], meta["name"], updated, self.opts)
        return current, None

    async def reconcile(self, key: Key) -> float | None:
        service = self.get(self.kind, *key)
        if service is None or service["metadata"].get("deletionTimestamp"):
            return None
        config, config_problem = self._ensure(self.configurations, service, self.desired_configuration(service))
        route, route_problem = self._ensure(self.routes, service, self.desired_route(service))
        status: dict = {"observedGeneration": service["metadata"]["generation"]}
        parts = []
        if config_problem:
            parts.append({**config_problem, "type": "ConfigurationsReady"})
        else:
            config_ready = conditions.get(config)
            parts.append(conditions.condition("ConfigurationsReady", config_ready["status"],
                                              config_ready.get("reason", ""), config_ready.get("message", "")))
            config_status = config.get("status") or {}
            for field in ("latestCreatedRevisionName", "latestReadyRevisionName"):
                if field in config_status:
                    status[field] = config_status[field]
            if config_status.get("observedGeneration") != config["metadata"].get("generation"):
                parts[-1] = conditions.condition("ConfigurationsReady", None, "OutOfDate",
                                                 "The Configuration is still working to reflect the latest "
                                                 "desired specification.")
        if route_problem:
            parts.append({**route_problem, "type": "RoutesReady"})
        else:
            route_ready = conditions.get(route)
            route_status = route.get("status") or {}
            ready = conditions.condition("RoutesReady", route_ready["status"], route_ready.get("reason", ""),
                                         route_ready.get("message", ""))
            if route_status.get("observedGeneration") != route["metadata"].get("generation"):
                ready = conditions.condition("RoutesReady", None, "OutOfDate",
                                             "The Route is still working to reflect the latest desired "
                                             "specification.")
            elif not _traffic_current(route_status, status.get("latestReadyRevisionName")):
                ready = conditions.condition("RoutesReady", None, "OutOfDate",
                                             "The Route does not yet send traffic to the latest ready Revision.")
            parts.append(ready)
            for field in ("url", "address", "traffic"):
                if field in route_status:
                    status[field] = route_status[field]
        status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)],
                                                (service.get("status") or {}).get("conditions"))
        self.write_status(self.kind, service, status)
        return None


def _traffic_current(route_status: dict, latest_ready: str | None) -> bool:
    """Targets that follow the latest revision point at the Configuration's latest ready one."""
    return all(t.get("revisionName") == latest_ready for t in route_status.get("traffic") or []
               if t.get("latestRevision") and latest_ready)
