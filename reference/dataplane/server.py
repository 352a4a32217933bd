"""The data plane process: informers feeding the routing table, the proxy on the ingress port, and an
admin port for the platform (health, Prometheus metrics, autoscaler stats, ingress probe, drain)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from prometheus_client import generate_latest

from reference.apis.eventing import (
    BROKER_INGRESS_HOST,
    JOB_SINK_HOST,
    KAFKA_BROKER_INGRESS_HOST,
    KAFKA_SINK_INGRESS_HOST,
    REQUEST_REPLY_HOST,
    parse_channel_host,
)
from reference.cloudevents.cesql.functions import register as register_cesql_function
from reference.cloudevents.delivery import CONNECTIONS_PER_DESTINATION, Dispatcher, cluster_local, ingress_route
from reference.dataplane.eventing.broker import BrokerPlane
from reference.dataplane.eventing.channel import ChannelPlane
from reference.dataplane.eventing.identity import Gate, api_fetcher, api_token_provider
from reference.dataplane.eventing.jobsink import JobSinkPlane
from reference.dataplane.eventing.kafka_broker import KafkaBrokerPlane
from reference.dataplane.eventing.kafka_sink import KafkaSinkPlane
from reference.dataplane.eventing.kafka_source import KafkaSourcePlane
from reference.dataplane.eventing.requestreply import RequestReplyPlane
from reference.dataplane.eventing.transform import TransformPlane
from reference.dataplane.informer import INITIAL_FETCH_TIMEOUT, ApiAccess, Informer, first_sync
from reference.dataplane.serving.h2c import H2Stream, Link, Pool, Sniffer
from reference.dataplane.serving.metrics import Metrics
from reference.dataplane.serving.proxy import Incoming, Proxy
from reference.dataplane.serving.requestlog import RequestRecord, compile_template
from reference.dataplane.serving.routing import RoutingTable
from reference.dataplane.serving.services import ServiceTable, forward

ADMIN_HOST = "127.0.0.1"
REQUEST_REPLY_KEYS_LABEL = "eventing.knative.dev/part-of=request-reply"
REQUEST_LOG_FLAG = "logging.enable-request-log"
REQUEST_LOG_TEMPLATE = "logging.request-log-template"
# aiohttp's keep-alive timer runs from a connection's start, and from each answer, until a whole request
# head has come; bytes of a partial head do not restart it. So it bounds an idle connection and a head
# sent slowly alike (aiohttp's default is an hour). A minute, a common ReadHeaderTimeout of Go servers, and
# longer than clients keep idle connections (the dispatcher's pool: 30 s), so none reuses one being closed.
# (Bodies have their own limit where they are read: reference.cloudevents.receiver.BODY_TIMEOUT.)
HEAD_TIMEOUT = 60.0


class DataPlane:
    def __init__(self, access: ApiAccess, state_dir: Path) -> None:
        self.access = access
        self.state_dir = state_dir
        self.table = RoutingTable()
        self.metrics = Metrics()
        self.pod_dirs: dict[tuple[str, str], Path] = {}
        self._log_render: Callable[[RequestRecord], str] | None = None
        self._log_files: dict[Path, IO[str]] = {}
        self.informers = [
            Informer(access, "/apis/serving.knative.dev/v1/routes",
                     lambda kind, obj, old: self.table.set_route(None if kind == "DELETED" else obj,
                                                                 Informer.key(obj))),
            Informer(access, "/apis/serving.knative.dev/v1/revisions",
                     lambda kind, obj, old: self.table.set_revision(None if kind == "DELETED" else obj,
                                                                    Informer.key(obj))),
            Informer(access, "/api/v1/services",
                     lambda kind, obj, old: self.table.set_route_service(obj, kind == "DELETED"),
                     label_selector="serving.knative.dev/route"),
            Informer(access, "/api/v1/pods", self._on_pod, label_selector="serving.knative.dev/revision"),
            Informer(access, "/api/v1/namespaces/knative-serving/configmaps", self._on_config),
        ]
        self.services = ServiceTable()  # Services of your own, to the Pods they select
        self.informers += [
            Informer(access, "/api/v1/services", self.services.set_service),
            Informer(access, "/api/v1/pods", self.services.set_pod),
            Informer(access, "/apis/discovery.k8s.io/v1/endpointslices", self.services.set_endpoint_slice),
            Informer(access, "/apis/networking.internal.knative.dev/v1alpha1/ingresses", self.services.set_kingress),
        ]
        self.session: aiohttp.ClientSession | None = None
        self.proxy: Proxy | None = None
        self.h2c = Pool()  # to replicas whose port is named h2c
        self.h2c_clients: set[Link] = set()  # connections of clients that speak h2c to the ingress
        self.ingress_address = ""
        self.brokers: BrokerPlane | None = None
        self.channels: ChannelPlane | None = None
        self.kafka_sources: KafkaSourcePlane | None = None
        self.kafka_brokers: KafkaBrokerPlane | None = None
        self.kafka_sinks = KafkaSinkPlane(self.metrics.registry)
        self.gate: Gate | None = None  # sender identity: tokens and EventPolicies at the ingresses
        self.job_sinks: JobSinkPlane | None = None
        self.transforms: TransformPlane | None = None
        self.request_replies: RequestReplyPlane | None = None
        self._activations: list[str] = []  # revisions asked for at zero replicas, in order
        self._dropped = 0
        self._activated = asyncio.Event()

    # Informer handlers ---------------------------------------------------------------------------

    def _on_pod(self, kind: str, pod: dict, old: dict | None) -> None:
        meta = pod["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if kind == "DELETED":
            self.pod_dirs.pop(key, None)
        else:
            self.pod_dirs[key] = self.state_dir / "pods" / f"{key[0]}_{key[1]}_{meta['uid']}"
        self.table.set_pod(pod, kind == "DELETED")

    def _on_config(self, kind: str, config: dict, old: dict | None) -> None:
        if config["metadata"]["name"] == "config-autoscaler":
            self.table.set_autoscaler_config((config.get("data") or {}) if kind != "DELETED" else {})
            return
        if config["metadata"]["name"] != "config-observability":
            return
        data = config.get("data") or {} if kind != "DELETED" else {}
        enabled = data.get(REQUEST_LOG_FLAG, "false").lower() == "true" and data.get(REQUEST_LOG_TEMPLATE)
        self._log_render = compile_template(data[REQUEST_LOG_TEMPLATE]) if enabled else None

    def _on_eventing_config(self, kind: str, config: dict, old: dict | None) -> None:
        if config["metadata"]["name"] == "config-features":
            for plane in (self.brokers, self.kafka_brokers):
                if plane is not None:
                    plane.set_features((config.get("data") or {}) if kind != "DELETED" else {})
            if self.gate is not None:
                self.gate.set_features((config.get("data") or {}) if kind != "DELETED" else {})

    def _eventing_informers(self) -> list[Informer]:
        assert self.brokers is not None and self.channels is not None and self.kafka_sources is not None
        assert self.kafka_brokers is not None
        assert self.transforms is not None and self.request_replies is not None
        access, planes = self.access, (self.brokers, self.kafka_brokers)

        def on_broker(kind: str, obj: dict, old: dict | None) -> None:
            for plane in planes:  # each plane keeps the brokers of its classes
                plane.set_broker(kind, obj, old)

        def on_trigger(kind: str, obj: dict, old: dict | None) -> None:
            for plane in planes:
                plane.set_trigger(kind, obj, old)

        return [
            Informer(access, "/apis/eventing.knative.dev/v1/brokers", on_broker),
            Informer(access, "/apis/eventing.knative.dev/v1/triggers", on_trigger),
            Informer(access, "/apis/messaging.knative.dev/v1/inmemorychannels", self.channels.set_channel),
            Informer(access, "/api/v1/namespaces/knative-eventing/configmaps", self._on_eventing_config),
            Informer(access, "/apis/sources.knative.dev/v1beta1/kafkasources", self.kafka_sources.set_source),
            Informer(access, "/apis/eventing.knative.dev/v1alpha1/kafkasinks", self.kafka_sinks.set_sink),
            *self._identity_informers(),
            Informer(access, "/apis/eventing.knative.dev/v1alpha1/eventtransforms", self.transforms.set_transform),
            Informer(access, "/apis/eventing.knative.dev/v1alpha1/requestreplies",
                     self.request_replies.set_request_reply),
            Informer(access, "/api/v1/namespaces/knative-eventing/secrets", self.request_replies.set_secret,
                     label_selector=REQUEST_REPLY_KEYS_LABEL),
        ]

    def _identity_informers(self) -> list[Informer]:
        assert self.gate is not None and self.job_sinks is not None
        return [Informer(self.access, "/apis/eventing.knative.dev/v1alpha1/eventpolicies", self.gate.set_policy),
                Informer(self.access, "/apis/sinks.knative.dev/v1alpha1/jobsinks", self.job_sinks.set_sink)]

    def _api(self, session: aiohttp.ClientSession):
        """The API server as the job-sink receiver calls it: (method, path, body) -> (status, JSON)."""
        async def call(method: str, path: str, body: dict | None) -> tuple[int, dict]:
            async with session.request(method, self.access.url + path, json=body,
                                       headers=self.access.headers()) as response:
                try:
                    return response.status, await response.json(content_type=None)
                except ValueError:
                    return response.status, {}
        return call

    async def local_exchange(self, url: str, headers: dict[str, str], body: bytes
                             ) -> tuple[int, dict[str, str], bytes] | None:
        """Deliveries to Knative Services skip the loopback hop through the ingress port."""
        assert self.proxy is not None
        parts = urlsplit(url)
        if (parts.hostname or "").lower() not in self.table.hosts:
            return None
        return await self.proxy.exchange(parts.hostname or "", (parts.path or "/") + (
            f"?{parts.query}" if parts.query else ""), headers, body)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """The ingress port: the broker and KafkaSink ingresses, channels, and otherwise Knative Services."""
        assert self.proxy is not None and self.brokers is not None and self.channels is not None
        host = request.host.split(":", 1)[0].lower()
        if host == BROKER_INGRESS_HOST:
            return await self.brokers.handle(request)
        if host == KAFKA_BROKER_INGRESS_HOST and self.kafka_brokers is not None:
            return await self.kafka_brokers.handle(request)
        if host == KAFKA_SINK_INGRESS_HOST:
            return await self.kafka_sinks.handle(request)
        if host == REQUEST_REPLY_HOST and self.request_replies is not None:
            return await self.request_replies.handle(request)
        transform = self.transforms.route(host) if self.transforms is not None else None
        if transform is not None:
            assert self.transforms is not None
            return await self.transforms.handle(request, transform)
        if host == JOB_SINK_HOST and self.job_sinks is not None:
            return await self.job_sinks.handle(request)
        channel = parse_channel_host(host)
        if channel is not None:
            return await self.channels.handle(request, *channel)
        backends = self.services.lookup(request.host) if host not in self.table.hosts else None
        if backends is not None and self.session is not None:
            return await forward(request, backends, self.session)
        return await self.proxy.handle(request)

    async def serve_stream(self, stream: H2Stream) -> None:
        """The ingress port for a client speaking h2c: Knative Services in HTTP/2 (to their replicas in h2c
        where their port says so), the other hosts through the HTTP/1.1 side."""
        assert self.proxy is not None
        incoming = Incoming.of_stream(stream)
        host = incoming.host.split(":", 1)[0].lower()
        eventing = (BROKER_INGRESS_HOST, KAFKA_BROKER_INGRESS_HOST, KAFKA_SINK_INGRESS_HOST, REQUEST_REPLY_HOST)
        transform = self.transforms.route(host) if self.transforms is not None else None
        if host in eventing or transform is not None or parse_channel_host(host) is not None:
            await self.proxy.pass_on(stream, incoming, self.ingress_address)
        else:
            await self.proxy.handle_stream(stream, incoming)

    def h2c_client(self) -> Link:
        link = Link(client_side=False, serve=self.serve_stream, on_lost=self.h2c_clients.discard)
        self.h2c_clients.add(link)
        return link

    def request_logger(self):
        return self._write_request_log if self._log_render is not None else None

    def _write_request_log(self, record: RequestRecord) -> None:
        directory = self.pod_dirs.get((record.namespace, record.pod_name))
        if directory is None or self._log_render is None:
            return
        path = directory / "queue-proxy.log"
        handle = self._log_files.get(path)
        if handle is None:
            directory.mkdir(parents=True, exist_ok=True)
            handle = self._log_files[path] = path.open("a")
        handle.write(self._log_render(record) + "\n")
        handle.flush()

    def wake(self, key: tuple[str, str]) -> None:
        """The activator holds a request for a revision without ready replicas: tell the autoscaler."""
        self._activations.append(f"{key[0]}/{key[1]}")
        if len(self._activations) > 10_000:
            del self._activations[:5_000]
            self._dropped += 5_000
        self._activated.set()

    # Admin endpoints -------------------------------------------------------------------------------

    @staticmethod
    def _number(request: web.Request, name: str, default: int, upper: int = 2**62) -> int:
        """A whole-number query parameter in [0, upper]; anything else answers 400 naming it."""
        text = request.query.get(name, str(default))
        if not (text.isascii() and text.isdigit()) or int(text) > upper:
            raise web.HTTPBadRequest(text=f"{name} must be a whole number from 0 to {upper}, not {text!r}\n")
        return int(text)

    @staticmethod
    def _seconds(request: web.Request, name: str, default: float, upper: float = 3600.0) -> float:
        """A duration query parameter in seconds, finite, in [0, upper]; anything else answers 400."""
        text = request.query.get(name, str(default))
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not 0 <= value <= upper:  # NaN fails both
            raise web.HTTPBadRequest(text=f"{name} must be seconds from 0 to {upper:g}, not {text!r}\n")
        return value

    async def activations(self, request: web.Request) -> web.Response:
        """Long poll: the revisions woken since sequence number `since` (blocks up to 25 s for one)."""
        since = self._number(request, "since", 0)
        if since >= self._sequence():
            self._activated.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._activated.wait(), 25)
        end = self._sequence()
        start = max(0, len(self._activations) - (end - since))
        return web.json_response({"next": end, "revisions": sorted(set(self._activations[start:]))})

    def _sequence(self) -> int:
        return self._dropped + len(self._activations)

    async def healthz(self, request: web.Request) -> web.Response:
        synced = all(i.synced.is_set() for i in self.informers)
        return web.Response(status=200 if synced else 503, text="ok\n" if synced else "syncing\n")

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics.registry), content_type="text/plain")

    async def stats(self, request: web.Request) -> web.Response:
        since = self._number(request, "since", 0)
        ready = {f"{k[0]}/{k[1]}": t.throttler.ready for k, t in self.table.revisions.items()}
        for key, target in self.table.revisions.items():
            if target.throttler.ready:
                self.metrics.stats(key)  # ready replicas report zeros too, as queue-proxies do when idle
        return web.json_response({"time": time.time(), "revisions": self.metrics.snapshot(since), "ready": ready})

    async def route(self, request: web.Request) -> web.Response:
        key = (request.match_info["namespace"], request.match_info["name"])
        traffic = self.table.served_traffic(key)
        known = traffic is not None and all((key[0], t["revisionName"]) in self.table.revisions for t in traffic)
        return web.json_response({"traffic": traffic if known else None})

    async def drain(self, request: web.Request) -> web.Response:
        """Returns once the pod is out of routing and has no request in flight (or the timeout passed)."""
        namespace, pod = request.match_info["namespace"], request.match_info["pod"]
        deadline = time.monotonic() + self._seconds(request, "timeout", 30.0)
        while time.monotonic() < deadline:
            busy = any(t.throttler.routed(pod) or t.throttler.inflight_on(pod)
                       for k, t in self.table.revisions.items() if k[0] == namespace)
            if not busy:
                return web.json_response({"drained": True})
            await asyncio.sleep(0.02)
        return web.json_response({"drained": False}, status=408)

    async def eventing_probe(self, request: web.Request) -> web.Response:
        """Does the data plane serve this broker, trigger or channel yet (the controllers' readiness probes)?"""
        assert self.brokers is not None and self.channels is not None and self.kafka_brokers is not None
        kind, namespace, name = (request.match_info[k] for k in ("kind", "namespace", "name"))
        query = request.query
        if kind == "brokers":
            serving = self.brokers.serves(namespace, name) or self.kafka_brokers.serves(namespace, name)
        elif kind == "triggers":
            uid = query.get("uid", "")
            plane = self.kafka_brokers if self.kafka_brokers.owns_trigger(uid) else self.brokers
            serving = plane.serves_trigger(namespace, name, uid, self._number(request, "generation", 0),
                                           query.get("subscriber", ""))
        elif kind == "inmemorychannels":
            serving = self.channels.serves(namespace, name, query.get("subscriber"))
        elif kind == "jobsinks" and self.job_sinks is not None:
            serving = self.job_sinks.serves(namespace, name)
        elif kind == "kafkasinks":
            serving = self.kafka_sinks.serves(namespace, name)
        elif kind == "eventtransforms" and self.transforms is not None:
            serving = self.transforms.serves(namespace, name, self._number(request, "generation", 0),
                                             query.get("sink", ""))
        elif kind == "requestreplies" and self.request_replies is not None:
            serving = self.request_replies.serves(namespace, name)
        elif kind == "kafkasources" and self.kafka_sources is not None:
            serving, problem = self.kafka_sources.serves(namespace, name, self._number(request, "generation", 0))
            return web.json_response({"serving": serving, "problem": problem}, status=200 if serving else 404)
        else:
            serving = False
        return web.json_response({"serving": serving}, status=200 if serving else 404)

    def admin_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.prometheus)
        app.router.add_get("/stats", self.stats)
        app.router.add_get("/routes/{namespace}/{name}", self.route)
        app.router.add_post("/drain/{namespace}/{pod}", self.drain)
        app.router.add_get("/activations", self.activations)
        app.router.add_get("/eventing/{kind}/{namespace}/{name}", self.eventing_probe)
        return app

    def ingress_app(self) -> web.Application:
        assert self.proxy is not None

        @web.middleware
        async def everything(request: web.Request, handler: object) -> web.StreamResponse:
            # Every request is ours, also those the router cannot match (an HTTP proxy client may send
            # `POST http://host HTTP/1.1`, with no path at all).
            return await self.serve(request)

        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[everything])
        app.router.add_route("*", "/{tail:.*}", self.serve)
        return app

    # Running -------------------------------------------------------------------------------------

    async def run(self, host: str, port: int, admin_port: int) -> None:
        api_session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.access.ssl_context()))
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30), auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None))
        self.proxy = Proxy(self.table, self.metrics, self.session, self.request_logger, self.wake, self.h2c)
        # The dispatcher sends cluster-local and routed hosts through this ingress (Services skip even that hop).
        hosts = host.split(",")  # the ingress's addresses: the platform's, and its pods' gateway where they have one
        self.ingress_address = f"{hosts[0]}:{port}"
        route = ingress_route(f"http://{hosts[0]}:{port}", routed=lambda h: cluster_local(h) or h in self.table.hosts)
        connections = int(os.environ.get("KPROOF_DESTINATION_CONNECTIONS") or CONNECTIONS_PER_DESTINATION)
        dispatcher = Dispatcher(self.session, route, local=self.local_exchange, connections=connections)
        self.brokers = BrokerPlane(dispatcher, self.metrics.registry)
        self.channels = ChannelPlane(dispatcher, self.metrics.registry)
        self.kafka_sources = KafkaSourcePlane(dispatcher, self.metrics.registry)
        self.kafka_brokers = KafkaBrokerPlane(dispatcher, self.metrics.registry)
        self.transforms = TransformPlane(dispatcher, self.metrics.registry)
        self.request_replies = RequestReplyPlane(dispatcher)
        self.gate = Gate(api_fetcher(api_session, self.access.url, self.access.headers()))
        tokens = api_token_provider(api_session, self.access.url, self.access.headers())
        for plane in (self.brokers, self.kafka_brokers):
            plane.gate, plane.tokens = self.gate, tokens
        self.job_sinks = JobSinkPlane(self._api(api_session), self.gate)
        # Before any Trigger's filter compiles: RequestReply's Triggers call it.
        register_cesql_function(self.request_replies.verify_function())
        self.informers += self._eventing_informers()
        tasks = [asyncio.create_task(i.run(api_session)) for i in self.informers]
        runners = []
        # The admin port (/metrics, /routes, /drain) has no authentication: it stays on loopback whatever
        # address the ingress is given. It opens first, its /healthz saying "syncing"; the ingress opens once
        # every informer has listed, as Envoy activates a listener only after its initial fetch: a restarted
        # data plane refuses connections for a moment rather than answering 404 for hosts it has not learnt.
        sites = ((self.admin_app(), [ADMIN_HOST], admin_port, False), (self.ingress_app(), hosts, port, True))
        for app, app_hosts, app_port, ingress in sites:
            if ingress:
                await first_sync(self.informers, INITIAL_FETCH_TIMEOUT)
            runner = app_runner(app)
            await runner.setup()
            for app_host in app_hosts:
                site = IngressSite(runner, app_host, app_port, self.h2c_client) if ingress else web.TCPSite(
                    runner, app_host, app_port, reuse_address=True, backlog=1024)
                await site.start()
            runners.append(runner)
        print(json.dumps({"ingress": port, "admin": admin_port}), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            self._activated.set()  # let long polls answer, so shutdown need not wait for them
            for task in tasks:
                task.cancel()
            await self.brokers.close()
            await self.channels.close()
            await self.kafka_sources.close()
            await self.kafka_brokers.close()
            await self.kafka_sinks.close()
            await self.request_replies.close()
            for link in list(self.h2c_clients):
                link.close()
            self.h2c.close()
            for runner in runners:
                await runner.cleanup()
            await api_session.close()
            await self.session.close()
            for handle in self._log_files.values():
                with contextlib.suppress(OSError):
                    handle.close()


class IngressSite(web.BaseSite):
    """The ingress's listening site: HTTP/1.1 by aiohttp, and HTTP/2 with prior knowledge (h2c, what gRPC
    clients speak) on connections that open with HTTP/2's preface, as Kourier's and Istio's gateways do.
    With `tls`, the same inside TLS (HTTP/2 is then what ALPN agreed)."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, http2: Callable[[], asyncio.Protocol],
                 head_timeout: float = HEAD_TIMEOUT, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(runner, backlog=1024)
        self.host, self.port, self.http2, self.head_timeout, self.tls = host, port, http2, head_timeout, tls

    @property
    def name(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        http1 = self._runner.server
        assert http1 is not None
        self._server = await asyncio.get_running_loop().create_server(
            lambda: Sniffer(http1, self.http2, self.head_timeout), self.host, self.port, backlog=self._backlog,
            reuse_address=True, ssl=self.tls)


def app_runner(app: web.Application, head_timeout: float = HEAD_TIMEOUT) -> web.AppRunner:
    """The data plane's servers: a connection must bring a whole request head within `head_timeout`."""
    return web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0,
                         keepalive_timeout=head_timeout)
