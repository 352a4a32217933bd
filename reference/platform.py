"""The reference platform as one process: it owns the state directory and starts each component.

State directory layout:
  state.db        every API object (SQLite)
  token           the bearer token clients must present
  pki/            the CA and the API server's certificate (kubectl sends credentials only over TLS)
  kubeconfig      a kubeconfig for kubectl and the kubernetes client
  endpoints.json  where the running components listen (removed on a clean stop)
  ports.json      the ports used last time (reused when free)
  config.yaml     settings given to `kproof up` that later starts keep (extra image catalogs, the node file)
  processes/      every process the platform started, with its start time (see reference/host/processes.py)
  pods/           per pod: volumes and container logs (kubectl logs)
  volumes/        persistent volume claims, one directory each
  reference.log, dataplane.log

The directory is 0700 and the files the platform writes are 0600: state.db holds Secrets, token and
kubeconfig grant access, pki/ holds the keys.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import secrets
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import yaml
from aiohttp import web

from reference.apiserver.bootstrap import bootstrap, set_config
from reference.apiserver.registry import Registry
from reference.apiserver.server import ApiServer
from reference.apiserver.store import Store
from reference.apiserver.tls import ensure_certificates
from reference.apiserver.tokens import TokenRequests
from reference.auth.provider import TokenProvider
from reference.auth.tokens import Signer, expiry
from reference.core import workload_controllers
from reference.core.apiaccess import ServiceAccountAccess
from reference.core.imagecache import ImageCacheController
from reference.core.resourcequota import ResourceQuotaController
from reference.dataplane.process import DataPlaneProcess
from reference.eventing.broker import BrokerReconciler, TriggerReconciler
from reference.eventing.channel import ChannelReconciler, InMemoryChannelReconciler, SubscriptionReconciler
from reference.eventing.eventpolicy import EventPolicyReconciler
from reference.eventing.flows import flows_controllers
from reference.eventing.jobsink import JobSinkReconciler
from reference.eventing.kafka_sink import KafkaSinkReconciler
from reference.host.processes import (
    MAIN,
    PLATFORM_PID_ENV,
    Record,
    create_private,
    forget,
    lock_state_dir,
    pids_of,
    private_dir,
    record,
    recorded,
    snapshot,
    start_time,
    stat,
    stop_leftovers,
    write_private,
)
from reference.host.processes import stop as stop_processes
from reference.kafka.locate import KafkaEndpoint
from reference.kafka.locate import locate as locate_kafka
from reference.kafka.locate import reachable as kafka_reachable
from reference.reconciler.controller import Controller
from reference.runtime.api import RegistryApi
from reference.runtime.catalog import Catalog
from reference.runtime.credentials import PodApiAccess
from reference.runtime.kubelet import Kubelet
from reference.runtime.network import Bridge, NetworkError
from reference.runtime.network import unavailable as network_unavailable
from reference.runtime.nodes import node_specs
from reference.runtime.provisioner import Provisioner
from reference.runtime.sandbox import containment
from reference.runtime.warm import warm
from reference.scheduler.scheduler import Scheduler
from reference.serving import autoscaler_metrics
from reference.serving.autoscaler_metrics import AutoscalerMetrics
from reference.serving.configuration import ConfigurationReconciler
from reference.serving.podautoscaler import PodAutoscalerReconciler
from reference.serving.revision import RevisionReconciler
from reference.serving.route import RouteReconciler
from reference.serving.service import ServiceReconciler
from reference.sources import ingress_route, sources_controllers
from reference.sources.kafka import KafkaSourceReconciler

log = logging.getLogger("kproof.reference")

CLUSTER_NAME = "kproof"
USER_NAME = "kproof-admin"


@dataclass
class PlatformConfig:
    state_dir: Path
    host: str = "127.0.0.1"
    api_port: int = 0
    ingress_port: int = 0
    images: list[Path] = field(default_factory=list)  # extra image catalogs (theirs win)
    kafka_bootstrap: str | None = None  # a Kafka to use; else Testcontainers or the embedded broker
    nodes: Path | None = None  # a node file: more nodes, virtual GPUs
    upstream_strict: bool = False  # refuse ACK's forms as upstream Knative does (config-kproof)

    def _saved(self) -> dict:
        path = self.state_dir / "config.yaml"
        return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}

    def _save(self, key: str, value: object) -> None:
        private_dir(self.state_dir)
        write_private(self.state_dir / "config.yaml", yaml.safe_dump({**self._saved(), key: value}))

    def saved_images(self) -> list[Path]:
        """Catalogs given now, else those a previous start was given (one since removed is left out,
        so that the platform still starts)."""
        if self.images:
            self._save("images", [str(p.resolve()) for p in self.images])
            return self.images
        kept = [Path(p) for p in self._saved().get("images") or []]
        for gone in [path for path in kept if not path.is_file()]:
            log.warning("the image catalog %s, given to an earlier start, is gone: left out", gone)
        return [path for path in kept if path.is_file()]

    def saved_nodes(self) -> Path | None:
        """The node file given now, else the one a previous start was given (nodes outlive a restart)."""
        if self.nodes is not None:
            self._save("nodes", str(self.nodes.resolve()))
            return self.nodes
        saved = self._saved().get("nodes")
        return Path(saved) if saved else None


def read_or_create_token(state_dir: Path) -> str:
    path = state_dir / "token"
    if path.exists():
        path.chmod(0o600)  # a state directory from before files were private
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    write_private(path, token + "\n")
    return token


def kubeconfig(server: str, token: str, ca_pem: bytes) -> dict:
    cluster = {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER_NAME, "cluster": cluster}],
        "users": [{"name": USER_NAME, "user": {"token": token}}],
        "contexts": [{"name": CLUSTER_NAME,
                      "context": {"cluster": CLUSTER_NAME, "user": USER_NAME, "namespace": "default"}}],
        "current-context": CLUSTER_NAME,
        "preferences": {},
    }


def cluster_network_env(ingress_url: str) -> dict[str, str]:
    """Replicas share the host's network, where cluster-local names do not resolve: they reach Services,
    brokers and channels through the ingress as their HTTP proxy (loopback stays direct)."""
    no_proxy = "127.0.0.1,localhost,::1"
    return {"HTTP_PROXY": ingress_url, "http_proxy": ingress_url, "NO_PROXY": no_proxy, "no_proxy": no_proxy}


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _previous_port(state_dir: Path, key: str) -> int:
    """The port a component used last time, so a restarted platform keeps its addresses."""
    try:
        url = json.loads((state_dir / "ports.json").read_text())[key]
        return int(url)
    except (OSError, ValueError, KeyError, TypeError):
        return 0


REPLICA_PREFIX = "pod-"
PRUNE_SECONDS = 5.0


def _make_private(state_dir: Path, *names: str) -> None:
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            (state_dir / name).chmod(0o600)


def replica_processes(pod: dict) -> dict[str, int]:
    """Record name -> pid of each running container of a Pod, from its status (containerID process://PID)."""
    uid = pod["metadata"].get("uid", "")
    found = {}
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        scheme, _, pid = str(status.get("containerID") or "").partition("://")
        if scheme == "process" and pid.isdigit():
            found[f"{REPLICA_PREFIX}{uid}-{status['name']}-{pid}"] = int(pid)
    return found


class ReplicaRecords:
    """Records each replica process the kubelet starts, as its Pod's status names it. Replicas run in
    sessions of their own: those a killed platform leaves behind are stopped by the next start or by
    `kproof down`, and a clean stop ends whatever is left in their process groups."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.known: dict[str, Record] = {}

    def observe(self, pod: dict) -> None:
        """Records the Pod's replicas that are this platform's children (a status written by an earlier
        run names processes that are not)."""
        for name, pid in replica_processes(pod).items():
            found = stat(pid)
            if name not in self.known and found is not None and found.ppid == os.getpid():
                entry = record(self.state_dir, name, pid, group=True)
                if entry is not None:
                    self.known[name] = entry

    def prune(self) -> None:
        """Forgets the replicas whose process groups are gone."""
        processes = snapshot()
        for name, entry in list(self.known.items()):
            if not pids_of(entry, processes):
                forget(self.state_dir, name, entry.pid)
                del self.known[name]

    async def run(self, store: Store, resource: str) -> None:
        watcher = store.watch(resource, None, None)
        pruning = asyncio.create_task(self._prune_every(PRUNE_SECONDS))
        try:
            async for event in store.events(watcher):
                self.observe(event.obj)
        finally:
            pruning.cancel()
            store.unwatch(watcher)

    async def _prune_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.prune()

    def stop_all(self, timeout: float) -> None:
        stop_processes(self.known.values(), timeout)
        self.prune()


class Endpoints(TypedDict, total=False):
    """endpoints.json: where the running components listen, and what `kproof status` shows of them."""

    api: str
    ca: str
    ingress: str
    dataplane_admin: str
    pid: str
    pid_start: str
    kafka: str
    kafka_kind: str
    gpus: int
    containment: dict[str, str]


class Platform:
    def _autoscaler(self) -> PodAutoscalerReconciler:
        """The KPA controller, its metrics served where Knative's autoscaler has them."""
        assert self.dataplane is not None
        published = AutoscalerMetrics()
        self.api.add_service_proxy(autoscaler_metrics.NAMESPACE, autoscaler_metrics.SERVICE, published.serve)
        return PodAutoscalerReconciler(self.registry, self.dataplane.stats, self.dataplane.activations,
                                       published=published)

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        self.state_dir = private_dir(config.state_dir)
        self._claim_state_dir()
        self.token = read_or_create_token(self.state_dir)
        self.store = Store(self.state_dir / "state.db")
        self.registry = Registry(self.store)
        self.api = ApiServer(self.registry, self.token)
        self.catalog = Catalog.load(*config.saved_images())
        self.node_specs = node_specs(config.saved_nodes())  # NodeFileError: the file says what is wrong
        self.dataplane: DataPlaneProcess | None = None
        self.kubelet: Kubelet | None = None
        self.bridge: Bridge | None = None
        self.replicas = ReplicaRecords(self.state_dir)
        self.controllers: list[Controller] = []
        self.kafka: KafkaEndpoint | None = None
        self.kafka_problem: str | None = None
        self._tasks: dict[str, asyncio.Task] = {}
        self._runners: list[web.AppRunner] = []
        self.endpoints: Endpoints = {}

    def _pod_network(self) -> Bridge | None:
        """A bridge for pods' own networks where this machine allows one; else they share the host's."""
        reason = network_unavailable()
        if reason is None:
            bridge = Bridge(self.state_dir)
            try:
                bridge.start()
                log.info("pods get networks of their own on %s (%s)", bridge.name, bridge.subnet)
                return bridge
            except NetworkError as err:
                reason = str(err)
                with contextlib.suppress(NetworkError):
                    bridge.stop()
        log.info("pods share the host's network: %s", reason)
        return None

    def _claim_state_dir(self) -> None:
        """Takes the state directory (StateDirBusy while another platform runs on it), stops what a killed
        platform left running there, then records this one."""
        self._lock = lock_state_dir(self.state_dir)
        for entry in stop_leftovers(self.state_dir):
            log.warning("stopped %s (pid %d), left running by a platform that was killed", entry.name, entry.pid)
        record(self.state_dir, MAIN, os.getpid())

    async def _serve(self, app: web.Application, port: int, ssl_context: ssl.SSLContext | None = None,
                     also: str | None = None) -> int:
        """Serves `app` on the platform's address (and on `also`, at the same port); returns the port."""
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, port, reuse_address=True, ssl_context=ssl_context)
        await site.start()
        self._runners.append(runner)
        chosen = int(runner.addresses[0][1])  # the first site's
        if also:
            await web.TCPSite(runner, also, chosen, reuse_address=True, ssl_context=ssl_context).start()
        return chosen

    def _choose_port(self, wanted: int, key: str) -> int:
        if wanted:
            return wanted
        previous = _previous_port(self.state_dir, key)
        return previous if previous and _bindable(self.config.host, previous) else 0

    def _component_check(self, name: str):
        def check() -> str | None:
            task = self._tasks.get(name)
            if task is None or not task.done():
                return None
            return f"stopped: {task.exception() if not task.cancelled() else 'cancelled'}"
        return check

    def _run_task(self, name: str, coroutine) -> None:
        self._tasks[name] = asyncio.create_task(coroutine, name=name)
        self.api.add_health_check(name, self._component_check(name))

    async def start(self) -> None:
        bootstrap(self.registry)
        if self.config.upstream_strict:
            set_config(self.registry, "knative-serving", "config-kproof", "upstream-strict", "true")
        self.bridge = await asyncio.to_thread(self._pod_network)
        every_address = self.config.host in ("0.0.0.0", "::")
        # pods on a bridge reach the API server (with their ServiceAccount's token) at its gateway address
        pods_api_host = self.bridge.gateway if self.bridge and not every_address else None
        hosts = sorted({"127.0.0.1", "localhost", self.config.host, *([pods_api_host] if pods_api_host else [])}
                       - {"0.0.0.0", "::"})
        certs = ensure_certificates(private_dir(self.state_dir / "pki"), hosts)
        pods = self.registry.kinds.require("", "v1", "pods")
        self.api.add_subresource(pods, "log", self._logs)
        api_port = await self._serve(self.api.app(), self._choose_port(self.config.api_port, "api"),
                                     certs.server_context(), also=pods_api_host)
        client_host = "127.0.0.1" if self.config.host in ("0.0.0.0", "::") else self.config.host
        self.api.address = f"{client_host}:{api_port}"
        api_url = f"https://{client_host}:{api_port}"
        signer = Signer.load_or_create(self.state_dir / "pki" / "sa.key")
        tokens = self._token_requests(signer, api_url)
        accounts = ServiceAccountAccess(self.registry, signer)
        accounts.install(self.api)
        pod_api = PodApiAccess(pods_api_host or client_host, api_port, certs.ca.read_bytes(), accounts.mint)
        ingress_port = self._choose_port(self.config.ingress_port, "ingress") or _free_port(self.config.host)
        admin_port = self._choose_port(0, "dataplane-admin") or _free_port("127.0.0.1")
        kubeconfig_path = self.state_dir / "kubeconfig"
        config = kubeconfig(api_url, self.token, certs.ca.read_bytes())
        write_private(kubeconfig_path, yaml.safe_dump(config, sort_keys=False))

        os.environ[PLATFORM_PID_ENV] = str(os.getpid())  # the data plane dies with this process
        create_private(self.state_dir / "dataplane.log")
        # Pods on a bridge reach the ingress at its gateway address (the ingress listens there too).
        ingress_hosts = self.config.host + (f",{self.bridge.gateway}" if self.bridge and not every_address else "")
        self.dataplane = DataPlaneProcess(self.state_dir, api_url, certs.ca, ingress_hosts, ingress_port,
                                          admin_port)
        await self.dataplane.start()
        self.api.add_health_check("dataplane", lambda: self.dataplane.problem if self.dataplane else "absent")
        await self._start_kafka()
        _make_private(self.state_dir, "dataplane.pid", "kafka.json", "kafka.log")  # their writers keep the mode
        ingress_url = f"http://{client_host}:{ingress_port}"
        pods_ingress = f"http://{self.bridge.gateway}:{ingress_port}" if self.bridge else ingress_url
        self.kubelet = Kubelet(RegistryApi(self.registry), self.state_dir, self.catalog, self.dataplane.drain,
                               cluster_network_env(pods_ingress), self.node_specs, self.bridge,
                               Provisioner(self.registry, self.state_dir), api_access=pod_api)
        self._run_task("kubelet", self.kubelet.run())
        self._tasks["replica-records"] = asyncio.create_task(
            self.replicas.run(self.store, self.registry.kinds.require("", "v1", "pods").resource))
        self.controllers = [Scheduler(self.registry), ResourceQuotaController(self.registry),
                            ServiceReconciler(self.registry),
                            ConfigurationReconciler(self.registry),
                            RevisionReconciler(self.registry, own_network=self.bridge is not None),
                            RouteReconciler(self.registry, self.dataplane.serves),
                            self._autoscaler(),
                            BrokerReconciler(self.registry, self.dataplane.serves_eventing,
                                             kafka_bootstrap=lambda: self.kafka.bootstrap if self.kafka else None),
                            TriggerReconciler(self.registry, self.dataplane.serves_eventing),
                            InMemoryChannelReconciler(self.registry, self.dataplane.serves_eventing),
                            ChannelReconciler(self.registry),
                            SubscriptionReconciler(self.registry, self.dataplane.serves_eventing),
                            KafkaSourceReconciler(self.registry, self.dataplane.kafka_source_consuming),
                            KafkaSinkReconciler(self.registry, self.dataplane.serves_eventing),
                            JobSinkReconciler(self.registry, self.dataplane.serves_eventing),
                            EventPolicyReconciler(self.registry), *workload_controllers(self.registry),
                            ImageCacheController(self.registry, lambda image: warm(self.catalog, image)),
                            *flows_controllers(self.registry, self.dataplane.serves_eventing),
                            *sources_controllers(self.registry, ingress_route(ingress_url), api_url, tokens)]
        for controller in self.controllers:
            self._run_task(controller.name, controller.run())

        self.endpoints = {"api": api_url, "ca": str(certs.ca), "ingress": ingress_url,
                          "dataplane_admin": self.dataplane.admin, "pid": str(os.getpid()),
                          "pid_start": str(start_time(os.getpid()) or ""),
                          "kafka": self.kafka.bootstrap if self.kafka else "", "kafka_kind": self.kafka.kind
                          if self.kafka else "", "gpus": sum(len(spec.gpus) for spec in self.node_specs),
                          "containment": containment(self.bridge, self.kubelet.ids)}
        write_private(self.state_dir / "ports.json", json.dumps({"api": api_port, "ingress": ingress_port,
                                                                 "dataplane-admin": admin_port}))
        write_private(self.state_dir / "endpoints.json", json.dumps(self.endpoints, indent=2))
        log.info("API server on %s, ingress on %s", api_url, ingress_url)

    def _token_requests(self, signer: Signer, api_url: str) -> TokenProvider:
        """Serves ServiceAccount tokens (TokenRequest) and their issuer's discovery, signed with pki/sa.key; the
        platform's own senders (sources) get theirs in process."""
        requests = TokenRequests(self.registry, signer, api_url)
        requests.install(self.api)

        async def mint(namespace: str, account: str, audience: str) -> tuple[str, int]:
            token = requests.issue(namespace, account, [audience])["status"]["token"]
            return token, expiry(token) or 0

        return TokenProvider(mint)

    async def _logs(self, request, kind, namespace, name):
        assert self.kubelet is not None
        return await self.kubelet.logs(request, namespace, name)

    async def _start_kafka(self) -> None:
        """Finds (or starts) the Kafka; a platform without one still runs, its Kafka parts not Ready."""
        try:
            self.kafka = await asyncio.to_thread(locate_kafka, self.state_dir, self.config.kafka_bootstrap)
        except Exception as err:  # a missing broker binary, a container that failed: report, keep going
            log.error("no Kafka: %s", err)
            self.kafka_problem = f"no Kafka: {err}"
        self.api.add_health_check("kafka", lambda: self.kafka_problem)
        self._run_task("kafka-watch", self._watch_kafka())

    async def _watch_kafka(self) -> None:
        while self.kafka is not None:
            self.kafka_problem = await asyncio.to_thread(kafka_reachable, self.kafka.bootstrap, 3.0)
            await asyncio.sleep(5)
        await asyncio.Event().wait()

    async def stop(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / "endpoints.json").unlink()
        for name, task in self._tasks.items():
            if name != "kubelet":
                task.cancel()
        if self.kubelet is not None:
            await self.kubelet.stop()
        # What the replicas left in their process groups (their own children) goes too.
        await asyncio.to_thread(self.replicas.stop_all, 5.0)
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self.dataplane is not None:
            await self.dataplane.stop()
        if self.bridge is not None:
            await asyncio.to_thread(self.bridge.stop)
        self.store.end_watches()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        self.store.close()
        await asyncio.to_thread(self._forget_processes)

    def _forget_processes(self) -> None:
        """A clean stop leaves nothing it started running, and no record behind; then the state directory
        is free for the next platform."""
        others = [entry for entry in recorded(self.state_dir) if entry.pid != os.getpid()]
        stop_processes(others, 5.0)
        for entry in recorded(self.state_dir):
            forget(self.state_dir, entry.name, entry.pid)
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1

    async def run_forever(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
