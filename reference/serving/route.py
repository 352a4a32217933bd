"""Route -> resolved traffic (revision and percent per target, tags), hostnames, the Route's Kubernetes
Services (reference.serving.resources.services), and ingress readiness.

Targets name a Revision, or a Configuration whose latest ready Revision they follow. The status is
written in two steps, as Knative does with its ingress prober: first the resolved traffic (the data
plane serves from it), then Ready once the data plane reports that it serves exactly that traffic.

With a rollout duration a Configuration's new revision takes its traffic in steps (status/rollout.py); the
rollout's state is kept in the Route's status.annotations (Knative keeps it on its Ingress).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Awaitable, Callable

from reference.apis import conditions
from reference.apis.labels import ROUTE, ROUTES_ANNOTATION, ROUTING_STATE
from reference.reconciler.controller import Controller, Key, Watch, own_key, owner_keys
from reference.serving.resources import domain
from reference.serving.resources.services import make_route_services
from reference.serving.status import rollout
from reference.serving.status.route import (
    ingress_ready,
    resolve_traffic,
    rollout_duration,
    rollout_in_progress,
    route_status,
)

# (route, its status.traffic) -> whether the data plane already serves that traffic
IngressProbe = Callable[[dict, list[dict]], Awaitable[bool]]
PROBE_RETRY = 0.05
OBSERVE_RETRY = 0.25  # while a rollout waits for its first 1% to be served


async def always_ready(route: dict, traffic: list[dict]) -> bool:
    return True


class RouteReconciler(Controller):
    name = "route-controller"

    def __init__(self, registry, ingress_probe: IngressProbe = always_ready,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(registry)
        self.clock = clock
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
        if meta.get("namespace") == "knative-serving" and meta["name"] in ("config-domain", "config-network"):
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
        state, next_step = None, None
        if traffic is not None:
            traffic, state, next_step = await self._rollout(route, traffic)
        not_owned = self._reconcile_services(route, traffic, domains) if traffic is not None else None
        served = traffic is not None and not_owned is None and await self.ingress_probe(route, traffic)
        ingress = ingress_ready(traffic, not_owned, served)
        if served and state is not None and not state.done():
            ingress = rollout_in_progress()
        url = f"http://{domain.route_host(meta['name'], namespace, labels, domains)}"
        address = f"http://{domain.cluster_local_host(meta['name'], namespace)}"
        status = route_status(route, url, address, traffic, assigned, ingress)
        if state is not None:
            status["annotations"] = {**(status.get("annotations") or {}), rollout.ANNOTATION: rollout.dump(state)}
        self.write_status(self.kind, route, status)
        if traffic is not None and served:
            # Only once the data plane sends traffic to the new targets do the old ones leave the route.
            self._label_revisions(route, {t["revisionName"] for t in traffic})
        if traffic is not None and not served:
            return PROBE_RETRY
        return next_step

    async def _rollout(self, route: dict, traffic: list[dict]
                       ) -> tuple[list[dict], rollout.Rollout | None, float | None]:
        """The traffic to serve now, the rollout state behind it (None without a rollout duration) and the
        seconds until its next step (reconcileRollout)."""
        duration = rollout_duration(route, self.registry.read_config("knative-serving", "config-network"))
        if duration <= 0:
            return traffic, None, None
        spec = route["spec"].get("traffic") or []
        status = route.get("status") or {}
        previous = rollout.parse((status.get("annotations") or {}).get(rollout.ANNOTATION))
        now = int(self.clock() * rollout.NS)
        if (previous is not None and conditions.get(route, "IngressReady").get("status") != "True"
                and status.get("traffic") and await self.ingress_probe(route, status["traffic"])):
            rollout.observe_ready(previous, now, duration)  # the first step is served: time the rest
        state, due = rollout.step(rollout.build(spec, traffic), previous, now)
        if due:
            after: float | None = max(PROBE_RETRY, (due - now) / rollout.NS)
        else:  # a rollout that has not timed its first step yet looks again soon; none looks no more
            after = None if state.done() else OBSERVE_RETRY
        return rollout.effective_traffic(spec, traffic, state), state, after

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
