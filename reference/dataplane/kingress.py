"""The data plane as a Knative networking layer of a real cluster (KIngress mode): it watches the cluster's
KIngresses of its class, Services, EndpointSlices and TLS Secrets, serves them with the same proxy as the
embedded mode (h2c, gRPC, WebSockets) on a public, a private (cluster-local) and a TLS listener, writes the
KIngresses' status, and publishes the Services that front it (Kourier's `kourier` and `kourier-internal`):

- `<public-service>` (type LoadBalancer, ports http 80 and https 443) whose load balancer is the address it
  is published at, as k3s's ServiceLB publishes node addresses; KIngresses name it in
  status.publicLoadBalancer;
- `<private-service>` (ClusterIP, port http 80), named in status.privateLoadBalancer: cluster-local names
  resolve to it (Knative makes a Route's Service an ExternalName of it);
each with an EndpointSlice of its own to the listeners' ports at the published address (kube-proxy does the
rest).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import generate_latest

from reference.dataplane.informer import INITIAL_FETCH_TIMEOUT, ApiAccess, Informer, first_sync
from reference.dataplane.server import IngressSite, app_runner
from reference.dataplane.serving.h2c import Link, Pool
from reference.dataplane.serving.kingress import CERTIFICATE_LABEL, KIngressTable, status_differs
from reference.dataplane.serving.metrics import Metrics
from reference.dataplane.serving.proxy import MAX_BODY, Incoming, Proxy
from reference.dataplane.serving.routing import RoutingTable
from reference.dataplane.serving.sni import Certificates

log = logging.getLogger("kproof.kingress")
FIELD_MANAGER = "kproof-ingress"
MANAGED_BY = "kproof.dev"  # not the endpointslice controller's: it leaves our slices alone
INGRESSES = "/apis/networking.internal.knative.dev/v1alpha1"
RETRY = 1.0
REPUBLISH = 300.0


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Address:
        host, _, port = text.rpartition(":")
        if not port.isdigit() or not host:
            raise ValueError(f"{text!r} is not HOST:PORT")
        return cls(host.strip("[]"), int(port))


@dataclass(frozen=True)
class Options:
    ingress_class: str
    listen: Address
    private_listen: Address
    admin_listen: Address
    scratch: Path  # private files: TLS keys while OpenSSL reads them
    tls_listen: Address | None = None
    namespace: str = "kproof-system"
    public_service: str = "kproof-ingress"
    private_service: str = "kproof-ingress-internal"
    cluster_domain: str = "cluster.local"
    publish_address: str | None = None  # the address the Services' EndpointSlices (and load balancer) give
    # the public Service's node ports are the listeners' own ports (in the node-port range): where no kube-proxy
    # forwards node ports (a reference), a client dialing the node port reaches the listener
    node_ports: bool = False

    def domain(self, service: str) -> str:
        return f"{service}.{self.namespace}.svc.{self.cluster_domain}"


class KIngressPlane:
    def __init__(self, access: ApiAccess, options: Options) -> None:
        self.access = access
        self.options = options
        self.metrics = Metrics()
        self.table = RoutingTable()
        self.kingress = KIngressTable(options.ingress_class, options.domain(options.public_service),
                                      options.domain(options.private_service))
        self.kingress.backends.cluster_domain = options.cluster_domain
        self.certificates = Certificates(options.scratch / "tls", lambda: self.kingress.tls_hosts)
        self.kingress.secret_problem = self.certificates.problem
        self.table.sources.append(self.kingress)
        self._changed = asyncio.Event()
        self.kingress.on_change = self._changed.set
        self.informers = [
            Informer(access, f"{INGRESSES}/ingresses", self.kingress.set_ingress),
            Informer(access, "/api/v1/services", self.kingress.set_service),
            Informer(access, "/apis/discovery.k8s.io/v1/endpointslices", self.kingress.set_endpoint_slice),
            Informer(access, "/api/v1/secrets", self._on_secret, label_selector=CERTIFICATE_LABEL),
        ]
        self.h2c = Pool()
        self.h2c_clients: set[Link] = set()
        self.proxy: Proxy | None = None
        self.published = asyncio.Event()

    def _on_secret(self, kind: str, secret: dict, old: dict | None) -> None:
        self.certificates.set_secret(kind, secret, old)
        self.kingress.secrets_changed()

    # Listeners ---------------------------------------------------------------------------------------

    def ingress_app(self, private: bool) -> web.Application:
        proxy = self.proxy
        assert proxy is not None

        async def serve(request: web.Request) -> web.StreamResponse:
            return await proxy.handle(request, private)

        @web.middleware
        async def everything(request: web.Request, handler: object) -> web.StreamResponse:
            return await serve(request)  # also what the router cannot match (no path at all)

        app = web.Application(client_max_size=MAX_BODY, middlewares=[everything])
        app.router.add_route("*", "/{tail:.*}", serve)
        return app

    def h2c_client(self, private: bool) -> Link:
        proxy = self.proxy
        assert proxy is not None
        link = Link(client_side=False, serve=lambda stream: proxy.handle_stream(stream, Incoming.of_stream(
            stream, private)), on_lost=self.h2c_clients.discard)
        self.h2c_clients.add(link)
        return link

    def admin_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.prometheus)
        app.router.add_get("/kingresses/{namespace}/{name}", self.describe)
        return app

    async def healthz(self, request: web.Request) -> web.Response:
        synced = all(i.synced.is_set() for i in self.informers)
        return web.Response(status=200 if synced else 503, text="ok\n" if synced else "syncing\n")

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics.registry), content_type="text/plain")

    async def describe(self, request: web.Request) -> web.Response:
        """What the data plane serves for a KIngress, and why its current generation waits if it does."""
        state = self.kingress.ingresses.get((request.match_info["namespace"], request.match_info["name"]))
        if state is None:
            return web.json_response({"ours": False}, status=404)
        program = state.program
        return web.json_response({
            "ours": True, "programmedGeneration": state.generation, "waiting": state.waiting,
            "conflict": state.conflict, "hosts": sorted(program.hosts) if program else [],
            "backends": {f"{t.namespace}/{t.name}:{ref.port}": sorted(t.throttler.endpoints)
                         for ref, t in self.kingress.targets.items()
                         if program is not None and ref in program.backends}})

    # Status ------------------------------------------------------------------------------------------

    async def write_statuses(self, api: aiohttp.ClientSession) -> None:
        """Brings each changed KIngress's status to what the table says, once every informer has synced (a
        restart must not report Ingresses as waiting for backends it has not listed yet)."""
        await asyncio.gather(*(i.synced.wait() for i in self.informers))
        await self.published.wait()
        self.kingress.changed.update(self.kingress.ingresses)
        while True:
            keys, self.kingress.changed = self.kingress.changed, set()
            failed = set()
            for key in sorted(keys):
                if not await self._write_status(api, key):
                    failed.add(key)
            if failed:
                self.kingress.changed |= failed
                await asyncio.sleep(RETRY)
                continue
            self._changed.clear()
            if not self.kingress.changed:
                await self._changed.wait()

    async def _write_status(self, api: aiohttp.ClientSession, key: tuple[str, str]) -> bool:
        state = self.kingress.ingresses.get(key)
        desired = self.kingress.desired_status(key)
        if state is None or desired is None or not status_differs(state.obj, desired):
            return True
        url = f"{self.access.url}{INGRESSES}/namespaces/{key[0]}/ingresses/{key[1]}/status"
        try:
            async with api.patch(url, data=json.dumps({"status": desired}), headers={
                    **self.access.headers(), "Content-Type": "application/merge-patch+json"}) as response:
                if response.status == 404:
                    return True  # gone: its deletion event follows
                if response.status >= 400:
                    log.warning("status of KIngress %s/%s: %s %s", *key, response.status, await response.text())
                    return False
                written = await response.json()
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
            log.warning("status of KIngress %s/%s: %s", *key, error)
            return False
        current = self.kingress.ingresses.get(key)
        if current is not None and (written.get("metadata") or {}).get("generation") == \
                current.obj["metadata"].get("generation"):
            current.obj = {**current.obj, "status": written.get("status") or {}}
        return True

    # The Services that front the ingress --------------------------------------------------------------

    def service_objects(self) -> list[tuple[str, dict]]:
        """(API path, object) of what `publish` applies: the namespace, both Services, their EndpointSlices."""
        o = self.options
        assert o.publish_address is not None
        labels = {"app.kubernetes.io/name": "kproof-ingress", "app.kubernetes.io/managed-by": MANAGED_BY}
        public_ports = [("http", 80, o.listen.port)] + ([("https", 443, o.tls_listen.port)] if o.tls_listen else [])
        objects: list[tuple[str, dict]] = [(f"/api/v1/namespaces/{o.namespace}", {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": o.namespace}})]
        for name, kind, ports in ((o.public_service, "LoadBalancer", public_ports),
                                  (o.private_service, "ClusterIP", [("http", 80, o.private_listen.port)])):
            objects.append((f"/api/v1/namespaces/{o.namespace}/services/{name}", {
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": o.namespace,
                                                                    "labels": labels},
                "spec": {"type": kind, "ports": [{"name": n, "port": p, "targetPort": t, "protocol": "TCP",
                                                  **({"nodePort": t} if o.node_ports and kind != "ClusterIP" else {})}
                                                 for n, p, t in ports]}}))
            objects.append((f"/apis/discovery.k8s.io/v1/namespaces/{o.namespace}/endpointslices/{name}-kproof", {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": f"{name}-kproof", "namespace": o.namespace,
                             "labels": {**labels, "kubernetes.io/service-name": name,
                                        "endpointslice.kubernetes.io/managed-by": MANAGED_BY}},
                "addressType": "IPv6" if ":" in o.publish_address else "IPv4",
                "ports": [{"name": n, "port": t, "protocol": "TCP"} for n, _, t in ports],
                "endpoints": [{"addresses": [o.publish_address], "conditions": {"ready": True}}]}))
        return objects

    async def publish(self, api: aiohttp.ClientSession) -> None:
        """Applies the Services (server-side apply, so re-applying is harmless) and the public one's load
        balancer; again now and then, should someone have removed them."""
        o = self.options
        assert o.publish_address is not None
        while True:
            try:
                for path, body in self.service_objects():
                    await self._request(api, "PATCH", path, body, "application/apply-patch+yaml",
                                        params={"fieldManager": FIELD_MANAGER, "force": "true"})
                await self._request(api, "PATCH", f"/api/v1/namespaces/{o.namespace}/services/{o.public_service}"
                                    "/status", {"status": {"loadBalancer": {"ingress": [{"ip": o.publish_address}]}}},
                                    "application/merge-patch+json")
                self.published.set()
                await asyncio.sleep(REPUBLISH)
            except (aiohttp.ClientError, OSError, TimeoutError, RuntimeError) as error:
                log.warning("publishing the ingress's Services: %s", error)
                await asyncio.sleep(RETRY)

    async def _request(self, api: aiohttp.ClientSession, method: str, path: str, body: dict, content_type: str,
                       params: dict[str, str] | None = None) -> None:
        async with api.request(method, self.access.url + path, data=json.dumps(body), params=params,
                               headers={**self.access.headers(), "Content-Type": content_type}) as response:
            if response.status >= 400:
                raise RuntimeError(f"{method} {path}: {response.status} {await response.text()}")

    # Running -----------------------------------------------------------------------------------------

    async def run(self) -> None:
        o = self.options
        api = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.access.ssl_context()),
                                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
                                        auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None))
        self.proxy = Proxy(self.table, self.metrics, session, lambda: None, h2c=self.h2c)
        tasks = [asyncio.create_task(i.run(api)) for i in self.informers]
        tasks.append(asyncio.create_task(self.write_statuses(api)))
        if o.publish_address is not None:
            tasks.append(asyncio.create_task(self.publish(api)))
        else:
            self.published.set()  # someone else publishes the Services (kproof cluster up)
        runners = []
        listeners: list[tuple[Address, bool, ssl.SSLContext | None]] = [(o.listen, False, None),
                                                                         (o.private_listen, True, None)]
        if o.tls_listen is not None:
            listeners.append((o.tls_listen, False, self.certificates.listener_context()))
        try:
            # /healthz first (it says "syncing"); the listeners once the routes are known, as in embedded mode.
            admin = app_runner(self.admin_app())
            await admin.setup()
            await web.TCPSite(admin, o.admin_listen.host, o.admin_listen.port, reuse_address=True).start()
            runners.append(admin)
            await first_sync(self.informers, INITIAL_FETCH_TIMEOUT)
            for address, private, tls in listeners:
                runner = app_runner(self.ingress_app(private))
                await runner.setup()
                await IngressSite(runner, address.host, address.port, functools.partial(self.h2c_client, private),
                                  tls=tls).start()
                runners.append(runner)
            print(json.dumps({"listen": o.listen.port, "private": o.private_listen.port,
                              "tls": o.tls_listen.port if o.tls_listen else None, "admin": o.admin_listen.port}),
                  flush=True)
            await asyncio.Event().wait()
        finally:
            for task in tasks:
                task.cancel()
            for link in list(self.h2c_clients):
                link.close()
            self.h2c.close()
            for runner in runners:
                with contextlib.suppress(Exception):
                    await runner.cleanup()
            await api.close()
            await session.close()
