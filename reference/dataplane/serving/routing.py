"""What the data plane knows: hosts -> traffic targets -> revisions -> endpoints (ready replicas).

Built from Routes (status.traffic, url, address), their Kubernetes Services, Revisions
(containerConcurrency, timeouts) and Pods (address, readiness). Only the informers' handlers change it,
on the data plane's event loop.

A Route's cluster-local names (`<name>.<namespace>.svc.cluster.local`, `.svc`, `<name>.<namespace>`, and
the same for each tag's `<tag>-<name>`) resolve in a cluster through the Route's Service of that name:
they are answered only while that Service exists. Its public hosts do not need it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from reference.apis.objects import is_reserved, pod_ready, protocol_type
from reference.dataplane.serving.throttler import Endpoint, Throttler


@dataclass
class RevisionTarget:
    namespace: str
    name: str
    container_concurrency: int = 0
    timeout: float = 300.0
    response_start_timeout: float | None = None
    idle_timeout: float = 0.0
    service: str = ""
    configuration: str = ""
    burst_capacity_annotation: str | None = None
    h2c: bool = False  # the replica speaks HTTP/2 cleartext (its port is named h2c)
    # The activator's hold: a request waits (until its timeout) for a replica while none is ready. A KIngress
    # backend has no activator of ours in front of it: without endpoints it answers 503 at once, as Envoy does.
    holds: bool = True
    throttler: Throttler = field(default_factory=Throttler)
    reserved: set[str] = field(default_factory=set)  # pods that are reserved instances (ACK)

    @property
    def only_reserved(self) -> bool:
        """Its ready replicas are reserved instances only: a request must wake standard ones."""
        return bool(self.reserved) and self.reserved.issuperset(self.throttler.endpoints)

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name

    @property
    def first_byte_timeout(self) -> float:
        return self.response_start_timeout or self.timeout


@dataclass(frozen=True)
class Split:
    """One entry of a route's traffic: a revision and its share."""

    revision: tuple[str, str]
    percent: int


NO_TIMEOUT = math.inf  # a KIngress sets no timeout: the revision's own is its queue-proxy's
T = TypeVar("T")


class SmoothWeighted:
    """Weighted choice by smooth weighted round robin (nginx's upstream balancer): over any run of picks as
    long as the weights' sum, each choice gets exactly its share, interleaved. A random pick gives the same
    shares on average, but a 50/50 split of 100 requests strays outside 40/60 one run in thirty."""

    def __init__(self, remembered: int = 4096) -> None:
        self._current: dict[tuple[object, ...], list[int]] = {}  # per split: each choice's running credit
        self._remembered = remembered  # splits that change (a rollout) leave entries behind: bound them

    def pick(self, choices: Sequence[T], weight: Callable[[T], int]) -> T:
        """One of `choices` (a share of 0 is never picked while another has one)."""
        shares = [c for c in choices if weight(c) > 0]
        if len(shares) <= 1:
            return shares[0] if shares else choices[0]
        weights = [weight(c) for c in shares]
        key = tuple(zip(shares, weights, strict=True))
        credit = self._current.get(key)
        if credit is None:
            if len(self._current) >= self._remembered:
                self._current.clear()
            credit = self._current[key] = [0] * len(shares)
        for i, w in enumerate(weights):
            credit[i] += w
        best = max(range(len(shares)), key=credit.__getitem__)
        credit[best] -= sum(weights)
        return shares[best]


weighted = SmoothWeighted().pick  # the data plane's one picker: only its event loop calls it


@dataclass(frozen=True)
class Routed:
    """Where a request goes: the target, the headers the route sets on it (replacing the client's of the same
    name), and the Host it is sent with when the route rewrites it."""

    target: RevisionTarget
    headers: tuple[tuple[str, str], ...] = ()
    authority: str | None = None


@dataclass(frozen=True)
class Redirect:
    """The route answers with a redirect instead (a KIngress's HTTPOption Redirected on plain HTTP)."""

    location: str


class RouteSource(Protocol):
    """A second source of routes for the same proxy (the KIngresses of a cluster)."""

    def route(self, host: str, target: str, headers: Mapping[str, str], private: bool,
              secure: bool) -> Routed | Redirect | None: ...


@dataclass
class RouteEntry:
    namespace: str
    name: str
    splits: list[Split]
    tag_splits: dict[str, Split]
    hosts: list[str]  # every host this route (and its tags) answer on
    missing_services: list[str] = field(default_factory=list)  # whose cluster-local names are not answered


ROUTE_LABEL = "serving.knative.dev/route"
CLUSTER_SUFFIX = ".svc.cluster.local"


def _host(url: str | None) -> str:
    return urlsplit(url).hostname or "" if url else ""


def cluster_local_hosts(name: str, namespace: str) -> list[str]:
    """The names a Service `name` gives in a cluster (what Knative's ingress lists for cluster-local rules)."""
    return [f"{name}.{namespace}{CLUSTER_SUFFIX}", f"{name}.{namespace}.svc", f"{name}.{namespace}"]


class RoutingTable:
    def __init__(self) -> None:
        self._autoscaler: dict[str, str] = {}
        self.routes: dict[tuple[str, str], RouteEntry] = {}
        self.revisions: dict[tuple[str, str], RevisionTarget] = {}
        self.hosts: dict[str, list[Split]] = {}
        # Pods seen before their revision: kept until it arrives.
        self._pods: dict[tuple[str, str], dict[str, dict]] = {}
        # (namespace, Service name) -> the Route it is for; and the Routes last seen, to redo their hosts
        # when one of their Services comes or goes.
        self.route_services: dict[tuple[str, str], str] = {}
        self._route_objects: dict[tuple[str, str], dict] = {}
        self.sources: list[RouteSource] = []

    # Routes -------------------------------------------------------------------------------------

    def set_route(self, route: dict | None, key: tuple[str, str]) -> None:
        old = self.routes.pop(key, None)
        if old is not None:
            for host in old.hosts:
                self.hosts.pop(host, None)
        if route is None:
            self._route_objects.pop(key, None)
        else:
            self._route_objects[key] = route
        status = (route or {}).get("status") or {}
        traffic = status.get("traffic")
        if route is None or not traffic:
            return
        namespace, name = key
        entry = RouteEntry(namespace, name, [], {}, [])
        tag_urls: dict[str, str] = {}
        for target in traffic:
            split = Split((namespace, target.get("revisionName", "")), int(target.get("percent") or 0))
            if split.percent:
                entry.splits.append(split)
            if target.get("tag"):
                entry.tag_splits[target["tag"]] = Split(split.revision, 100)
                tag_urls[target["tag"]] = target.get("url") or ""
        self._add_hosts(entry, name, [status.get("url"), (status.get("address") or {}).get("url")], entry.splits)
        for tag, split in entry.tag_splits.items():
            self._add_hosts(entry, f"{tag}-{name}", [tag_urls[tag]], [split])
        self.routes[key] = entry

    def _add_hosts(self, entry: RouteEntry, service: str, urls: list[str | None], splits: list[Split]) -> None:
        """The public hosts of `urls`, and the cluster-local names of `service` while that Service exists."""
        hosts = [h for h in (_host(u) for u in urls) if h and not h.endswith(CLUSTER_SUFFIX)]
        if self.route_services.get((entry.namespace, service)) == entry.name:
            hosts += cluster_local_hosts(service, entry.namespace)
        else:
            entry.missing_services.append(service)
        for host in dict.fromkeys(hosts):
            self.hosts[host] = splits
            entry.hosts.append(host)

    def set_route_service(self, service: dict, deleted: bool) -> None:
        """A Kubernetes Service labelled for a Route came, changed or went: its names follow."""
        meta = service["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        before = self.route_services.pop(key, None)
        route = (meta.get("labels") or {}).get(ROUTE_LABEL)
        if route and not deleted:
            self.route_services[key] = route
        for name in {before, self.route_services.get(key)} - {None}:
            route_key = (key[0], name)
            if route_key in self._route_objects:
                self.set_route(self._route_objects[route_key], route_key)

    def served_traffic(self, key: tuple[str, str]) -> list[dict] | None:
        """What the route's hosts send where; None until every one of its names is answered."""
        entry = self.routes.get(key)
        if entry is None or entry.missing_services:
            return None
        return [{"revisionName": s.revision[1], "percent": s.percent} for s in entry.splits]

    def lookup(self, host: str) -> RevisionTarget | None:
        """The revision a request for `host` goes to (by weight over the route's split)."""
        splits = self.hosts.get(host.split(":", 1)[0].lower())
        if not splits:
            return None
        return self.revisions.get(weighted(splits, lambda s: s.percent).revision)

    def route(self, host: str, target: str, headers: Mapping[str, str], private: bool = False,
              secure: bool = False) -> Routed | Redirect | None:
        """Where a request goes: the Routes' hosts first, then the other sources. `target` is the request-target
        (path and query), `private` says the request came to the cluster-local listener, `secure` over TLS."""
        found = self.lookup(host)
        if found is not None:
            return Routed(found)
        for source in self.sources:
            routed = source.route(host, target, headers, private, secure)
            if routed is not None:
                return routed
        return None

    # Revisions and pods --------------------------------------------------------------------------

    def set_autoscaler_config(self, data: dict[str, str]) -> None:
        """config-autoscaler's defaults for the target burst capacity and a replica's capacity."""
        self._autoscaler = data
        for target in self.revisions.values():
            self._apply_burst(target)

    def _apply_burst(self, target: RevisionTarget) -> None:
        config = self._autoscaler
        try:
            burst = float(target.burst_capacity_annotation or config.get("target-burst-capacity", "211"))
            default_total = float(config.get("container-concurrency-target-default", "100"))
        except ValueError:
            burst, default_total = 211.0, 100.0
        target.throttler.burst_capacity = burst
        target.throttler.per_pod_total = float(target.container_concurrency) or default_total

    def set_revision(self, revision: dict | None, key: tuple[str, str]) -> None:
        if revision is None:
            target = self.revisions.pop(key, None)
            if target is not None:
                target.throttler.close()
            return
        spec = revision.get("spec") or {}
        labels = revision["metadata"].get("labels") or {}
        target = self.revisions.get(key)
        if target is None:
            target = RevisionTarget(*key)
            self.revisions[key] = target
            for pod in self._pods.pop(key, {}).values():
                self._apply_pod(target, pod)
        target.container_concurrency = int(spec.get("containerConcurrency") or 0)
        target.timeout = float(spec.get("timeoutSeconds") or 300)
        target.response_start_timeout = float(spec["responseStartTimeoutSeconds"]) if spec.get(
            "responseStartTimeoutSeconds") else None
        target.idle_timeout = float(spec.get("idleTimeoutSeconds") or 0)
        target.h2c = protocol_type(revision) == "h2c"
        target.service = labels.get("serving.knative.dev/service", "")
        target.configuration = labels.get("serving.knative.dev/configuration", "")
        annotations = revision["metadata"].get("annotations") or {}
        target.burst_capacity_annotation = next(
            (annotations[k] for k in ("autoscaling.knative.dev/target-burst-capacity",
                                      "autoscaling.knative.dev/targetBurstCapacity") if k in annotations), None)
        target.throttler.set_concurrency(target.container_concurrency)
        self._apply_burst(target)

    def set_pod(self, pod: dict, deleted: bool) -> None:
        meta = pod["metadata"]
        revision = (meta.get("labels") or {}).get("serving.knative.dev/revision")
        if not revision:
            return
        key = (meta.get("namespace", ""), revision)
        target = self.revisions.get(key)
        if target is None:
            waiting = self._pods.setdefault(key, {})
            if deleted:
                waiting.pop(meta["name"], None)
            else:
                waiting[meta["name"]] = pod
            return
        if deleted:
            target.throttler.remove(meta["name"])
            target.reserved.discard(meta["name"])
        else:
            self._apply_pod(target, pod)

    @staticmethod
    def _apply_pod(target: RevisionTarget, pod: dict) -> None:
        meta = pod["metadata"]
        status = pod.get("status") or {}
        ready = pod_ready(pod) and bool(status.get("podIP"))
        port = next((p.get("containerPort") for c in (pod.get("spec") or {}).get("containers") or []
                     for p in c.get("ports") or [] if p.get("containerPort")), None)
        if ready and port:
            target.throttler.upsert(Endpoint(meta["name"], f"{status['podIP']}:{port}", meta.get("uid", "")))
            if is_reserved(pod):
                target.reserved.add(meta["name"])
        else:
            target.throttler.remove(meta["name"])
            target.reserved.discard(meta["name"])
