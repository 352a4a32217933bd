"""A Service's status, gathered from its Configuration and Route (Knative's service_lifecycle.go)."""

from __future__ import annotations

from reference.apis import conditions

OUT_OF_DATE = {"ConfigurationsReady": "The Configuration is still working to reflect the latest desired "
                                      "specification.",
               "RoutesReady": "The Route is still working to reflect the latest desired specification."}


def not_owned(kind: str, name: str) -> dict:
    return conditions.condition("Ready", False, "NotOwned", f'There is an existing {kind} "{name}" that we do not own.')


def _caught_up(child: dict) -> bool:
    return (child.get("status") or {}).get("observedGeneration") == child["metadata"].get("generation")


def _from_child(type_: str, child: dict, problem: dict | None) -> dict:
    """The child's Ready as `type_`, Unknown while the child has not caught up with its generation."""
    if problem is not None:
        return {**problem, "type": type_}
    if not _caught_up(child):
        return conditions.condition(type_, None, "OutOfDate", OUT_OF_DATE[type_])
    ready = conditions.get(child)
    return conditions.condition(type_, ready["status"], ready.get("reason", ""), ready.get("message", ""))


def _traffic_current(route_status: dict, latest_ready: str | None) -> bool:
    """Targets that follow the latest revision point at the Configuration's latest ready one."""
    return all(t.get("revisionName") == latest_ready for t in route_status.get("traffic") or []
               if t.get("latestRevision") and latest_ready)


def service_status(service: dict, config: dict, config_problem: dict | None, route: dict,
                   route_problem: dict | None) -> dict:
    status: dict = {"observedGeneration": service["metadata"]["generation"]}
    configurations = _from_child("ConfigurationsReady", config, config_problem)
    if config_problem is None:
        for field in ("latestCreatedRevisionName", "latestReadyRevisionName"):
            if field in (config.get("status") or {}):
                status[field] = config["status"][field]
    routes = _from_child("RoutesReady", route, route_problem)
    if route_problem is None:
        route_status = route.get("status") or {}
        if _caught_up(route) and not _traffic_current(route_status, status.get("latestReadyRevisionName")):
            routes = conditions.condition("RoutesReady", None, "OutOfDate",
                                          "The Route does not yet send traffic to the latest ready Revision.")
        for field in ("url", "address", "traffic"):
            if field in route_status:
                status[field] = route_status[field]
    parts = [configurations, routes]
    status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)],
                                            (service.get("status") or {}).get("conditions"))
    return status
