"""Route -> resolved traffic (revision and percent per target, tags), hostnames, the Route's Kubernetes
Services (reference.serving.resources.services), and ingress readiness.

Targets name a Revision, or a Configuration whose latest ready Revision they follow. The status is
written in two steps, as Knative does with its ingress prober: first the resolved traffic (the data
plane serves from it), then Ready once the data plane reports that it serves exactly that traffic.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable

from reference.apis.labels import ROUTE, ROUTES_ANNOTATION, ROUTING_STATE
from reference.reconciler.controller import Controller, Key, Watch, own_key, owner_keys
from reference.serving.resources import domain
from reference.serving.resources.services import make_route_services
from reference.serving.status.route import ingress_ready, resolve_traffic, route_status

# (route, its status.traffic) -> whether the data plane already serves that traffic
IngressProbe = Callable[[dict, list[dict]], Awaitable[bool]]
PROBE_RETRY = 0.05


async def always_ready(route: dict, traffic: list[dict]) -> bool:
    return True


class RouteReconciler(Controller):
    name = "route-controller"

    def __init__(self, registry, ingress_probe: IngressProbe = always_ready) -> None:
        super().__init__(registry)
        kinds = registry.kinds
        self.kind = kinds.require("serving.knative.dev", "v1", "routes")
        self.configurations = kinds.require("serving.knative.dev", "v1", "configurations")
        self.revisions = kinds.require("serving.knative.dev", "v1", "revisions")
        self.configmaps = kinds.require("", "v1", "configmaps")
        self.services = kinds.require("", "v1", "services")
        self.ingress_probe = ingress_probe

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), Watch(self.configurations, self._routes_of_configuration),
                Watch(self.revisions, self._routes_of_revision), Watch(self.configmaps, self._on_config),
                Watch(self.services, owner_keys("Route"))]

    def _routes(self, namespace: str, matches: Callable[[dict], bool]) -> list[Key]:
        return [(namespace, e.obj["metadata"]["name"]) for e in self.registry.store.entries(self.kind.resource,
                                                                                              namespace)
                if matches(e.obj)]

    def _routes_of_configuration(self, config: dict) -> list[Key]:
        name = config["metadata"]["name"]
        return self._routes(config["metadata"]["namespace"], lambda r: any(
            t.get("configurationName") == name for t in r["spec"].get("traffic") or []))

    def _routes_of_revision(self, revision: dict) -> list[Key]:
        name = revision["metadata"]["name"]
        config = revision["metadata"].get("labels", {}).get("serving.knative.dev/configuration")
        return self._routes(revision["metadata"]["namespace"], lambda r: any(
            t.get("revisionName") == name or (config and t.get("configurationName") == config)
            for t in r["spec"].get("traffic") or []))

    def _on_config(self, config_map: dict) -> list[Key]:
        meta = config_map["metadata"]
        if meta.get("namespace") == "knative-serving" and meta["name"] == "config-domain":
            return [(e.obj["metadata"]["namespace"], e.obj["metadata"]["name"])
                    for e in self.registry.store.entries(self.kind.resource)]
        return []

    def _domain_config(self) -> dict[str, str]:
        return self.registry.read_config("knative-serving", "config-domain")

    async def reconcile(self, key: Key) -> float | None:
        route = self.get(self.kind, *key)
        if route is None or route["metadata"].get("deletionTimestamp"):
            return None
        meta = route["metadata"]
        namespace, labels, domains = meta["namespace"], meta.get("labels") or {}, self._domain_config()
        traffic, assigned = resolve_traffic(
            route, lambda name: self.get(self.configurations, namespace, name),
            lambda name: self.get(self.revisions, namespace, name),
            lambda tag: f"http://{domain.tag_host(tag, meta['name'], namespace, labels, domains)}")
        not_owned = self._reconcile_services(route, traffic, domains) if traffic is not None else None
        served = traffic is not None and not_owned is None and await self.ingress_probe(route, traffic)
        ingress = ingress_ready(traffic, not_owned, served)
        url = f"http://{domain.route_host(meta['name'], namespace, labels, domains)}"
        address = f"http://{domain.cluster_local_host(meta['name'], namespace)}"
        self.write_status(self.kind, route, route_status(route, url, address, traffic, assigned, ingress))
        if traffic is not None and ingress["status"] == "True":
            # Only once the data plane sends traffic to the new targets do the old ones leave the route.
            self._label_revisions(route, {t["revisionName"] for t in traffic})
        return PROBE_RETRY if traffic is not None and ingress["status"] != "True" else None

    def _reconcile_services(self, route: dict, traffic: list[dict], domains: dict[str, str]) -> str | None:
        """Creates or updates the Route's Services (one per tag too) and deletes those of tags it no longer
        has; returns the name of one that exists and is not the Route's, if any."""
        meta = route["metadata"]
        wanted = make_route_services(route, traffic, domains)
        for desired in wanted:
            _, owned = self.ensure_child(self.services, desired, route, _union_metadata)
            if not owned:
                return desired["metadata"]["name"]
        names = {d["metadata"]["name"] for d in wanted}
        for entry in self.registry.store.entries(self.services.resource, meta["namespace"]):
            service = entry.obj["metadata"]
            if (service.get("labels") or {}).get(ROUTE) == meta["name"] and service["name"] not in names:
                # a tag no longer in the traffic; found by the route label, as Knative finds them
                self.registry.delete(self.services, meta["namespace"], service["name"], {}, self.opts)
        return None

    def _label_revisions(self, route: dict, referenced: set[str]) -> None:
        """routingState active for revisions this route sends traffic to, reserve for those no route does."""
        name, namespace = route["metadata"]["name"], route["metadata"]["namespace"]
        for entry in self.registry.store.entries(self.revisions.resource, namespace):
            revision = entry.obj
            meta = revision["metadata"]
            routes = {r for r in (meta.get("annotations") or {}).get(ROUTES_ANNOTATION, "").split(",") if r}
            if meta["name"] not in referenced and name not in routes:
                continue  # this route never sent it traffic: its state is not ours to change
            wanted = routes | {name} if meta["name"] in referenced else routes - {name}
            state = "active" if wanted else "reserve"
            if wanted == routes and (meta.get("labels") or {}).get(ROUTING_STATE) == state:
                continue
            updated = {**revision, "metadata": {**meta, "labels": {**(meta.get("labels") or {}), ROUTING_STATE: state},
                                                "annotations": {**(meta.get("annotations") or {}),
                                                                ROUTES_ANNOTATION: ",".join(sorted(wanted))}}}
            if not wanted:
                updated["metadata"]["annotations"].pop(ROUTES_ANNOTATION)
            self.registry.update(self.revisions, namespace, meta["name"], updated, self.opts)


def _union_metadata(current: dict, desired: dict) -> dict | None:
    """The desired spec; labels and annotations are added to, never taken away (Knative's kmap.Union). The
    API server's own fields (a cluster IP) are not the Route's to compare."""
    meta, wanted = current["metadata"], desired["metadata"]
    labels = {**(meta.get("labels") or {}), **wanted["labels"]}
    annotations = {**(meta.get("annotations") or {}), **wanted["annotations"]}
    spec = current.get("spec") or {}
    if (all(spec.get(k) == v for k, v in desired["spec"].items()) and labels == (meta.get("labels") or {})
            and annotations == (meta.get("annotations") or {})):
        return None
    updated = copy.deepcopy(current)
    updated["spec"] = desired["spec"]
    updated["metadata"]["labels"], updated["metadata"]["annotations"] = labels, annotations
    return updated
