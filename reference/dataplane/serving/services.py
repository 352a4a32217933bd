"""Kubernetes Services of your own, as kube-proxy makes them work: a Service with a selector answers on its
cluster-local names (`<name>.<ns>.svc.cluster.local`, `.svc`, `<name>.<ns>`) by passing each request to a ready
Pod it selects, at the targetPort of the Service port asked for (80 when the Host names none), a named
targetPort being the container port of that name. A Service without a selector passes it to the ready
addresses of the EndpointSlices written for it (e.g. a networking layer's own Services), at the slice port of
that port's name. Knative's own Services (a Route's, a revision's) are left to the routing table.

A KIngress's cluster-local hosts answer at its private load balancer (the Service its status names), as cluster
DNS sends Knative's cluster-local names there: a client given the load balancer's address and the host as its
Host header (Knative's ingress conformance proxy) gets that host's request to it through the HTTP proxy too,
which sees only the host."""

from __future__ import annotations

import random
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from reference.apis import selectors
from reference.apis.objects import pod_ready, ready_hosts
from reference.dataplane.serving.proxy import HOP_BY_HOP

SUFFIXES = (".svc.cluster.local", ".svc", "")
KNATIVE_LABELS = ("serving.knative.dev/route", "serving.knative.dev/revision")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Backend:
    pod: str
    address: str  # host:port


class ServiceTable:
    def __init__(self) -> None:
        self.services: dict[tuple[str, str], dict] = {}
        self.pods: dict[tuple[str, str], dict] = {}
        # (namespace, Service) -> its EndpointSlices by name (those of Services without a selector are used)
        self.slices: dict[tuple[str, str], dict[str, dict]] = {}
        # a KIngress's cluster-local host -> its private load balancer's Service; (namespace, name) -> its hosts
        self.private_hosts: dict[str, tuple[str, str]] = {}
        self._kingress_hosts: dict[tuple[str, str], list[str]] = {}

    def set_service(self, kind: str, service: dict, old: dict | None) -> None:
        meta = service["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        labels = meta.get("labels") or {}
        spec = service.get("spec") or {}
        if kind == "DELETED" or spec.get("type") == "ExternalName" or any(k in labels for k in KNATIVE_LABELS):
            self.services.pop(key, None)
        else:
            self.services[key] = service

    def set_kingress(self, kind: str, ingress: dict, old: dict | None) -> None:
        meta = ingress["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        for host in self._kingress_hosts.pop(key, []):
            self.private_hosts.pop(host, None)
        balancers = ((ingress.get("status") or {}).get("privateLoadBalancer") or {}).get("ingress") or []
        domain = (balancers[0].get("domainInternal") or "") if balancers else ""
        parts = domain.split(".")
        if kind == "DELETED" or len(parts) < 3 or parts[2] != "svc":
            return
        hosts = [h.lower() for rule in (ingress.get("spec") or {}).get("rules") or []
                 if rule.get("visibility") == "ClusterLocal" for h in rule.get("hosts") or []]
        self._kingress_hosts[key] = hosts
        for host in hosts:
            self.private_hosts[host] = (parts[1], parts[0])

    def set_endpoint_slice(self, kind: str, slice_: dict, old: dict | None) -> None:
        meta = slice_["metadata"]
        service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if not service:
            return
        key = (meta.get("namespace", ""), service)
        if kind == "DELETED":
            self.slices.get(key, {}).pop(meta["name"], None)
        else:
            self.slices.setdefault(key, {})[meta["name"]] = slice_

    def set_pod(self, kind: str, pod: dict, old: dict | None) -> None:
        meta = pod["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if kind == "DELETED":
            self.pods.pop(key, None)
        else:
            self.pods[key] = pod

    def service_of(self, host: str) -> tuple[dict, int] | None:
        """The Service a Host names and the port asked for."""
        name, _, port = host.lower().partition(":")
        for suffix in SUFFIXES:
            if suffix and not name.endswith(suffix):
                continue
            parts = name[:len(name) - len(suffix)].split(".") if suffix else name.split(".")
            if len(parts) == 2 and tuple(parts[::-1]) in self.services:
                return self.services[(parts[1], parts[0])], int(port) if port.isdigit() else 80
        return None

    def backends(self, service: dict, port: int) -> list[Backend]:
        spec = service.get("spec") or {}
        ports = spec.get("ports") or []
        chosen = next((p for p in ports if p.get("port") == port), ports[0] if len(ports) == 1 else None)
        if chosen is None:
            return []
        target = chosen.get("targetPort", chosen.get("port"))
        namespace = service["metadata"].get("namespace", "")
        if not spec.get("selector"):
            return self._slice_backends((namespace, service["metadata"]["name"]), chosen.get("name", ""))
        found = []
        for (ns, name), pod in self.pods.items():
            ip = (pod.get("status") or {}).get("podIP")
            if ns != namespace or not ip or not pod_ready(pod) or pod["metadata"].get("deletionTimestamp"):
                continue
            if not selectors.matches({"matchLabels": spec["selector"]}, pod["metadata"].get("labels")):
                continue
            number = target if isinstance(target, int) else next(
                (p.get("containerPort") for c in (pod.get("spec") or {}).get("containers") or []
                 for p in c.get("ports") or [] if p.get("name") == target), None)
            if isinstance(target, str) and target.isdigit():
                number = int(target)
            if number:
                found.append(Backend(name, f"{ip}:{number}"))
        return found

    def lookup(self, host: str) -> list[Backend] | None:
        """The ready endpoints for a Host that names one of these Services (maybe none), or None."""
        found = self.service_of(host)
        balancer = self.private_hosts.get(host.lower().partition(":")[0])
        if found is None and balancer is not None and balancer in self.services:
            found = self.services[balancer], 80
        if found is None:
            return None
        service = found[0]
        meta = service["metadata"]
        if not (service.get("spec") or {}).get("selector") and not self.slices.get((meta.get("namespace", ""),
                                                                                   meta["name"])):
            return None  # nothing routes to it (no selector, no slices)
        return self.backends(*found)

    def _slice_backends(self, key: tuple[str, str], port_name: str) -> list[Backend]:
        """The ready addresses of a Service's EndpointSlices at their port named `port_name`."""
        found = []
        for name, slice_ in sorted(self.slices.get(key, {}).items()):
            number = next((p.get("port") for p in slice_.get("ports") or [] if p.get("name", "") == port_name),
                          None)
            if not number:
                continue
            for item, host in ready_hosts(slice_):
                found.append(Backend((item.get("targetRef") or {}).get("name", name), f"{host}:{number}"))
        return found


async def forward(request: web.Request, backends: list[Backend], session: aiohttp.ClientSession) -> web.Response:
    """The request, passed to one of the Service's endpoints (503 when it has none, as a connection kube-proxy
    refuses would fail)."""
    if not backends:
        return web.Response(status=503, text="the Service has no ready endpoints\n")
    backend = random.choice(backends)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    path = request.rel_url.path_qs if request.rel_url.path.startswith("/") else "/"
    try:
        async with session.request(request.method, f"http://{backend.address}{path}", headers=headers,
                                   data=await request.read(), allow_redirects=False) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP | {"content-length"}}
            return web.Response(status=answer.status, headers=kept, body=body)
    except (aiohttp.ClientError, OSError) as err:
        return web.Response(status=502, text=f"the Service's endpoint {backend.pod} failed: {err}\n")
