"""The node agent: registers the platform's nodes, runs every Pod bound to one of them as sandboxed
processes on this machine, and reports their status.

The scheduler binds Pods to nodes; the kubelet runs what is bound to its nodes. A Pod's containers get
their image's local command from the catalog, the container's env (values, config map and secret
keys, field refs), their GPUs (the device plugins' part), and their volumes mounted at mountPath.
Graceful deletion: the Pod reports not ready, the data plane drains it (like Knative's queue-proxy
pre-stop hook), then SIGTERM, SIGKILL after the grace period, and the Pod object is removed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from reference.apis import times
from reference.apis.resources import GPU_MEM, NVIDIA_GPU, container_requests, qos_class
from reference.apiserver.errors import ApiError
from reference.apiserver.kinds import Kind
from reference.apiserver.registry import Options, Registry
from reference.runtime import etc, sandbox, volumes
from reference.runtime.catalog import Catalog, ImageNotFound, ImageUnavailable
from reference.runtime.container import BuiltinContainer, Container, ContainerSpec
from reference.runtime.devices import DeviceManager, DevicesUnavailable, no_gpu_env, whole_gpu_env
from reference.runtime.limits import limits_of, platform_group, remove_tree
from reference.runtime.network import Bridge, NetworkError, PodNetwork
from reference.runtime.nodes import HOST_IP, MANAGED_LABEL, NodeSpec, node_object
from reference.runtime.probes import checker
from reference.scheduler import gpushare

log = logging.getLogger("kproof.kubelet")

USER = "system:node:kproof"
LEASE_SECONDS = 40  # the node lease's duration; the kubelet renews it every quarter of that
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RETRY_SECONDS = 2.0
EVICTION_SECONDS = 2.0  # how often a pod's emptyDirs are measured against their sizeLimit

# Called before SIGTERM with (namespace, pod name, seconds left): returns once no request is in flight.
Drain = Callable[[str, str, float], Awaitable[None]]


class ContainerConfigError(RuntimeError):
    """An env source is missing (CreateContainerConfigError)."""


def pod_directory(state_dir: Path, pod: dict) -> Path:
    meta = pod["metadata"]
    return state_dir / "pods" / f"{meta.get('namespace', 'default')}_{meta['name']}_{meta['uid']}"


def log_path(state_dir: Path, pod: dict, container: str, previous: bool = False) -> Path:
    return pod_directory(state_dir, pod) / (f"{container}.previous.log" if previous else f"{container}.log")


class PodWorker:
    """Runs one Pod: prepares its containers, supervises them and writes its status."""

    def __init__(self, kubelet: Kubelet, pod: dict, node: NodeSpec) -> None:
        self.kubelet = kubelet
        self.node = node
        self.pod = pod
        self.meta = pod["metadata"]
        self.containers: list[Container | BuiltinContainer] = []
        self.waiting: dict[str, dict] = {}  # container -> waiting state while it cannot start
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.terminating = False
        self.start_time = times.now()
        self.network: PodNetwork | None = None  # its own namespace, where the platform wires pods
        self.pod_ip = HOST_IP
        self.evicted = ""  # the eviction manager's message once the pod was evicted

    @property
    def key(self) -> tuple[str, str]:
        return self.meta.get("namespace", ""), self.meta["name"]

    # Preparing ---------------------------------------------------------------------------------

    def _lookup(self, namespace: str, kind: str, name: str) -> dict | None:
        plural = {"ConfigMap": "configmaps", "Secret": "secrets",
                  "PersistentVolumeClaim": "persistentvolumeclaims"}[kind]
        return self.kubelet.registry.store.get(f"/{plural}", namespace, name)

    def _field(self, path: str) -> str:
        values = {"metadata.name": self.meta["name"], "metadata.namespace": self.meta.get("namespace", ""),
                  "metadata.uid": self.meta["uid"], "spec.nodeName": self.node.name, "status.podIP": self.pod_ip,
                  "status.hostIP": HOST_IP, "spec.serviceAccountName": self.pod["spec"].get(
                      "serviceAccountName", "default")}
        if path.startswith("metadata.labels['") or path.startswith("metadata.annotations['"):
            field, _, key = path.partition("['")
            return (self.meta.get(field.split(".")[1]) or {}).get(key.rstrip("']"), "")
        return values.get(path, "")

    def _env(self, container: dict, base: dict[str, str]) -> dict[str, str]:
        namespace = self.meta.get("namespace", "")
        env = {"PATH": DEFAULT_PATH, "HOSTNAME": self.meta["name"], "HOME": sandbox.REPLICA_HOME,
               **self.kubelet.node_env, **base}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                ref = source["configMapRef"]
                found = self._lookup(namespace, "ConfigMap", ref.get("name", ""))
                if found is None and not ref.get("optional"):
                    raise ContainerConfigError(f'configmap "{ref.get("name")}" not found')
                env.update({prefix + k: v for k, v in ((found or {}).get("data") or {}).items()})
            if "secretRef" in source:
                ref = source["secretRef"]
                found = self._lookup(namespace, "Secret", ref.get("name", ""))
                if found is None and not ref.get("optional"):
                    raise ContainerConfigError(f'secret "{ref.get("name")}" not found')
                env.update({prefix + k: base64.b64decode(v).decode(errors="replace")
                            for k, v in ((found or {}).get("data") or {}).items()})
        for var in container.get("env") or []:
            name, source = var["name"], var.get("valueFrom")
            if source is None:
                env[name] = str(var.get("value", ""))
            elif "configMapKeyRef" in source or "secretKeyRef" in source:
                secret = "secretKeyRef" in source
                ref = source["secretKeyRef" if secret else "configMapKeyRef"]
                found = self._lookup(namespace, "Secret" if secret else "ConfigMap", ref.get("name", ""))
                data = (found or {}).get("data") or {}
                if ref.get("key") not in data:
                    if ref.get("optional"):
                        continue
                    what = "secret" if secret else "configmap"
                    raise ContainerConfigError(f'couldn\'t find key {ref.get("key")} in {what} '
                                               f'{namespace}/{ref.get("name")}' if found else
                                               f'{what} "{ref.get("name")}" not found')
                value = data[ref["key"]]
                env[name] = base64.b64decode(value).decode(errors="replace") if secret else value
            elif "fieldRef" in source:
                env[name] = self._field(source["fieldRef"].get("fieldPath", ""))
        return env

    def _port_of(self, container: dict) -> Callable[[object], int]:
        ports = container.get("ports") or []

        def resolve(port: object) -> int:
            if isinstance(port, int) and port:
                return port
            if isinstance(port, str):
                if port.isdigit():
                    return int(port)
                for p in ports:
                    if p.get("name") == port:
                        return int(p["containerPort"])
            return int(ports[0]["containerPort"]) if ports else 8080

        return resolve

    def _devices(self, container: dict, env: dict[str, str]) -> tuple[str, ...]:
        """The device plugins' part: a container's GPUs into its environment; the device files it needs."""
        requests = container_requests(container)
        host_gpus = self.kubelet.host_has_gpus
        if requests[NVIDIA_GPU] > 0:
            gpus = self.kubelet.devices.allocate(self.node.gpus, self.meta["uid"], container["name"],
                                                 int(requests[NVIDIA_GPU]))
            env.update(whole_gpu_env(gpus, host_gpus))
            return tuple(f for g in gpus for f in g.device_files)
        index = gpushare.assigned_index(self.pod)
        if requests[GPU_MEM] > 0 and index is not None and index < len(self.node.gpus):
            gpu = self.node.gpus[index]
            env.update(gpushare.container_env(self.pod, requests[GPU_MEM]))
            env.update(whole_gpu_env([gpu], host_gpus))
            env["NVIDIA_VISIBLE_DEVICES"] = str(index)  # gpushare names the GPU by its index
            return gpu.device_files
        env.update(no_gpu_env(host_gpus))
        return ()

    def _prepare(self, session: aiohttp.ClientSession) -> list[Container]:
        """Containers ready to start; raises with the waiting reason when one cannot start."""
        state_dir = self.kubelet.state_dir
        spec = self.pod.get("spec") or {}
        pod_dir = pod_directory(state_dir, self.pod)
        prepared_volumes = volumes.prepare(self.pod, pod_dir, state_dir, self._lookup)
        read_only = volumes.read_only_volumes(spec)
        containers = spec.get("containers") or []
        launches = {c["name"]: self.kubelet.catalog.launch(c) for c in containers}
        users = {c["name"]: self._identity(spec, c) for c in containers}
        limits = {c["name"]: limits_of(c) for c in containers}
        memory = [limits[name].memory_bytes for name, launch in launches.items() if not launch.builtin]
        pod_memory = sum(m for m in memory if m) if memory and all(memory) else None
        in_memory = volumes.memory_volumes(spec, pod_memory, sandbox.DEFAULT_SCRATCH)
        own_etc = etc.write(pod_dir / "etc", self.meta["name"], self.pod_ip,
                            [(u.uid, u.gid) for u in users.values()])
        out = []
        for container in containers:
            launch = launches[container["name"]]
            if launch.builtin:
                out.append(BuiltinContainer(ContainerSpec(
                    name=container["name"], image=container.get("image", ""), argv=[], env={},
                    log_path=log_path(state_dir, self.pod, container["name"])), self.changed))
                continue
            annotations = self.meta.get("annotations") or {}
            env = self._env(container, {**launch.env, **{var: annotations[key] for key, var in
                                                         launch.annotations.items() if key in annotations}})
            box = sandbox.Box(hostname=self.meta["name"], devices=self._devices(container, env),
                              user=users[container["name"]], etc=own_etc,
                              memory=limits[container["name"]].memory_bytes, ids=self.kubelet.ids)
            mounts = volumes.mounts(container, prepared_volumes, read_only, in_memory, pod_dir / "subpaths")
            workdir = container.get("workingDir")
            argv = self._in_network(sandbox.command(launch.argv, mounts, workdir, box))
            if self.network is not None:
                env.setdefault("KPROOF_BIND", "0.0.0.0")  # kproof's apps: every address of the pod's own network
            cspec = ContainerSpec(
                name=container["name"], image=container.get("image", ""), argv=argv, env=env,
                log_path=log_path(state_dir, self.pod, container["name"]),
                restart_policy=spec.get("restartPolicy", "Always"),
                readiness=container.get("readinessProbe"), liveness=container.get("livenessProbe"),
                limits=limits[container["name"]], cgroup_parent=self.kubelet.cgroup_parent)

            def exec_argv(command: list[str], mounts: list = mounts, workdir: str | None = workdir,
                          box: sandbox.Box = box) -> list[str]:
                return self._in_network(sandbox.command(command, mounts, workdir, box))

            def probe(spec: dict | None, c: dict = container, e: dict = env,
                      x: Callable = exec_argv) -> Callable | None:
                return checker(spec, self.pod_ip, self._port_of(c), x, e, session) if spec else None

            out.append(Container(cspec, probe(cspec.readiness), probe(cspec.liveness), self.changed))
        return out

    def _identity(self, spec: dict, container: dict) -> sandbox.Identity:
        """Who the container runs as; refuses uid 0 under runAsNonRoot, as the kubelet does."""
        user = sandbox.identity_of(spec, container)
        non_root = (container.get("securityContext") or {}).get(
            "runAsNonRoot", (spec.get("securityContext") or {}).get("runAsNonRoot"))
        if non_root and user.uid == 0:
            raise ContainerConfigError(f'container\'s runAsUser breaks non-root policy (pod: "{self.meta["name"]}'
                                       f'_{self.meta.get("namespace", "")}", container: {container["name"]})')
        return user

    def _in_network(self, argv: list[str]) -> list[str]:
        return Bridge.wrap(argv, self.network) if self.network is not None else argv

    async def _wire(self) -> None:
        """The pod's own network namespace and address (the CNI plugin's part), where the platform wires
        pods; raises NetworkError with the step that failed."""
        bridge = self.kubelet.bridge
        if bridge is not None and self.network is None:
            self.network = await asyncio.to_thread(bridge.add, self.meta["uid"])
            self.pod_ip = self.network.ip

    # Running -----------------------------------------------------------------------------------

    def changed(self) -> None:
        self._dirty.set()

    async def run(self) -> None:
        writer = asyncio.create_task(self._write_status())
        self._tasks.append(writer)
        session = self.kubelet.session
        while not self.terminating:
            try:
                await self._wire()
                self.containers = self._prepare(session)
                self.waiting.clear()
                break
            except ImageNotFound as err:
                self._wait_all("ImagePullBackOff" if self.waiting else "ErrImagePull",
                               f'Back-off pulling image "{self._image()}": {err}')
            except ImageUnavailable as err:
                self._wait_all("ImagePullBackOff", f'image "{self._image()}" cannot run here: {err}')
            except ContainerConfigError as err:
                self._wait_all("CreateContainerConfigError", str(err))
            except volumes.UnsupportedVolume as err:  # no retry will help: the revision fails now
                self._wait_all("CreateContainerConfigError", f"MountVolume.SetUp failed: {err}")
            except volumes.VolumeError as err:
                self._wait_all("ContainerCreating", f"MountVolume.SetUp failed: {err}")
            except sandbox.SandboxUnavailable as err:
                self._wait_all("CreateContainerError", str(err))
            except DevicesUnavailable as err:
                self._wait_all("UnexpectedAdmissionError", str(err))
            except NetworkError as err:
                self._wait_all("ContainerCreating", f"failed to set up the pod's network: {err}")
            await asyncio.sleep(RETRY_SECONDS)
        if self.terminating:
            return
        self._mark_gpu_share_assigned()
        runners = [asyncio.create_task(c.run()) for c in self.containers]
        self._tasks += runners
        limited = volumes.size_limited(self.pod.get("spec") or {})
        if limited:
            self._tasks.append(asyncio.create_task(self._watch_local_storage(limited)))
        self.changed()
        await asyncio.gather(*runners, return_exceptions=True)

    async def _watch_local_storage(self, limited: dict[str, tuple[int, str]]) -> None:
        """The eviction manager's local-storage check: an emptyDir past its sizeLimit evicts the pod, with
        Kubernetes' reason and message; its owner starts another."""
        pod_dir = pod_directory(self.kubelet.state_dir, self.pod)
        while not self.terminating:
            await asyncio.sleep(EVICTION_SECONDS)
            for name, (limit, written) in limited.items():
                if await asyncio.to_thread(volumes.usage, pod_dir / "volumes" / name) > limit:
                    await self.evict(f'Usage of EmptyDir volume "{name}" exceeds the limit "{written}". ')
                    return

    async def evict(self, message: str) -> None:
        """Stops the pod's containers at once and leaves it Failed with reason Evicted (the object stays,
        as on a node)."""
        log.info("evicting pod %s/%s: %s", *self.key, message)
        self.evicted = message
        self.changed()
        await asyncio.gather(*(c.stop(0) for c in self.containers), return_exceptions=True)
        self.changed()

    def _mark_gpu_share_assigned(self) -> None:
        """gpushare's device plugin marks the Pod once it has allocated the share the extender chose."""
        annotations = self.meta.get("annotations") or {}
        if gpushare.assigned_index(self.pod) is None or annotations.get(gpushare.ASSIGNED) == "true":
            return
        current = self.kubelet.registry.store.get(self.kubelet.pods.resource, *self.key)
        if current is None or current["metadata"]["uid"] != self.meta["uid"]:
            return
        current["metadata"].setdefault("annotations", {})[gpushare.ASSIGNED] = "true"
        with contextlib.suppress(ApiError):
            self.kubelet.registry.update(self.kubelet.pods, *self.key, current, Options(user=USER))

    def _image(self) -> str:
        return ((self.pod.get("spec") or {}).get("containers") or [{}])[0].get("image", "")

    def _wait_all(self, reason: str, message: str) -> None:
        for container in (self.pod.get("spec") or {}).get("containers") or []:
            self.waiting[container["name"]] = {"reason": reason, "message": message}
        self.changed()

    def status(self) -> dict:
        spec_containers = (self.pod.get("spec") or {}).get("containers") or []
        if self.containers:
            statuses = [c.status() for c in self.containers]
        else:
            statuses = [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                         "started": False, "restartCount": 0,
                         "state": {"waiting": self.waiting.get(c["name"], {"reason": "ContainerCreating"})}}
                        for c in spec_containers]
        ready = bool(statuses) and all(s["ready"] for s in statuses) and not self.terminating
        running = any("running" in s["state"] for s in statuses)
        terminated = statuses and all("terminated" in s["state"] for s in statuses)
        if terminated and (self.pod.get("spec") or {}).get("restartPolicy") in ("Never", "OnFailure"):
            failed = any(s["state"]["terminated"]["exitCode"] for s in statuses)
            phase = "Failed" if failed else "Succeeded"
        else:
            phase = "Running" if running or self.containers else "Pending"
        if self.evicted:
            ready, phase = False, "Failed"
        flag = "True" if ready else "False"
        conditions = [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": flag},
            {"type": "Ready", "status": flag},
        ]
        status = {"phase": phase, "conditions": conditions, "hostIP": HOST_IP, "podIP": self.pod_ip,
                  "podIPs": [{"ip": self.pod_ip}], "startTime": self.start_time, "qosClass": qos_class(self.pod),
                  "containerStatuses": statuses}
        if self.evicted:
            status.update({"reason": "Evicted", "message": self.evicted})
            conditions.append({"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
                               "message": self.evicted})
        return status

    async def _write_status(self) -> None:
        registry = self.kubelet.registry
        pods = self.kubelet.pods
        last: dict | None = None
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.01)  # coalesce bursts of changes into one write
            self._dirty.clear()
            status = self.status()
            if status == last:
                continue
            current = registry.store.get(pods.resource, *self.key)
            if current is None or current["metadata"]["uid"] != self.meta["uid"]:
                return
            current["status"] = _with_transition_times(status, current.get("status") or {})
            try:
                registry.update(pods, self.key[0], self.key[1], current, Options(user=USER), subresource="status")
                last = status
            except ApiError as err:
                if err.code == 404:
                    return
                self._dirty.set()

    async def terminate(self, grace: float, drain: Drain | None) -> None:
        """Leaves routing, drains, then stops every container within `grace` seconds."""
        self.terminating = True
        self.changed()
        deadline = time.monotonic() + grace
        if drain is not None and self.containers and grace > 0:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(drain(self.key[0], self.key[1], grace), grace)
        remaining = max(0.0, deadline - time.monotonic())
        await asyncio.gather(*(c.stop(remaining) for c in self.containers), return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.kubelet.devices.release(self.meta["uid"])
        if self.network is not None and self.kubelet.bridge is not None:
            await asyncio.to_thread(self.kubelet.bridge.remove, self.meta["uid"])


def _with_transition_times(status: dict, previous: dict) -> dict:
    before = {c["type"]: c for c in previous.get("conditions") or []}
    for condition in status["conditions"]:
        old = before.get(condition["type"])
        condition["lastTransitionTime"] = (old["lastTransitionTime"] if old and old.get("status") ==
                                           condition["status"] and old.get("lastTransitionTime") else times.now())
    return status


class Kubelet:
    def __init__(self, registry: Registry, state_dir: Path, catalog: Catalog, drain: Drain | None = None,
                 node_env: dict[str, str] | None = None, nodes: list[NodeSpec] | None = None,
                 bridge: Bridge | None = None) -> None:
        self.registry = registry
        self.bridge = bridge  # pods get networks of their own on it (None: they share the host's)
        self.node_env = node_env or {}  # what every container sees (the cluster-DNS stand-in)
        self.state_dir = state_dir
        self.catalog = catalog
        self.drain = drain
        self.nodes = {spec.name: spec for spec in nodes or []}
        self.host_has_gpus = any(not g.virtual for spec in self.nodes.values() for g in spec.gpus)
        # the host ids this platform's pods map theirs to (a root platform's; bubblewrap's otherwise)
        self.ids = sandbox.id_range(state_dir) if os.geteuid() == 0 else None
        self.cgroup_parent = platform_group(state_dir)
        self.stopping = False  # set by stop(): nothing new starts after it
        self.devices = DeviceManager()
        self.pods: Kind = registry.kinds.by_path("", "v1", "pods")
        self.claims: Kind = registry.kinds.by_path("", "v1", "persistentvolumeclaims")
        self.node_kind: Kind = registry.kinds.by_path("", "v1", "nodes")
        self.leases: Kind = registry.kinds.by_path("coordination.k8s.io", "v1", "leases")
        self.workers: dict[str, PodWorker] = {}
        self.session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()

    async def run(self) -> None:
        self.session = aiohttp.ClientSession()
        self.register_nodes()
        watcher = self.registry.store.watch(self.pods.resource, None, None)
        claim_watcher = self.registry.store.watch(self.claims.resource, None, None)
        claims = asyncio.create_task(self._bind_claims(claim_watcher))
        leases = asyncio.create_task(self._renew_leases())
        try:
            for entry in self.registry.store.entries(self.pods.resource):
                self._observe("ADDED", entry.obj)
            for entry in self.registry.store.entries(self.claims.resource):
                self._bind_claim(entry.obj)
            async for event in self.registry.store.events(watcher):
                self._observe(event.type, event.obj)
        finally:
            claims.cancel()
            leases.cancel()
            self.registry.store.unwatch(watcher)
            self.registry.store.unwatch(claim_watcher)

    # Nodes ---------------------------------------------------------------------------------------

    def register_nodes(self) -> None:
        """Creates or refreshes this kubelet's Nodes; Nodes it registered before and runs no more go, with
        the Pods bound to them (the pod garbage collector's part)."""
        opts = Options(user=USER)
        disk = shutil.disk_usage(self.state_dir).total
        for spec in self.nodes.values():
            self._register(node_object(spec, disk, times.now()), opts)
        for entry in self.registry.store.entries(self.node_kind.resource):
            name = entry.obj["metadata"]["name"]
            if name not in self.nodes and (entry.obj["metadata"].get("labels") or {}).get(MANAGED_LABEL):
                with contextlib.suppress(ApiError):
                    self.registry.delete(self.node_kind, "", name, {}, opts)
        known = {e.obj["metadata"]["name"] for e in self.registry.store.entries(self.node_kind.resource)}
        for entry in self.registry.store.entries(self.pods.resource):
            meta, node = entry.obj["metadata"], (entry.obj.get("spec") or {}).get("nodeName")
            if node and node not in known:
                with contextlib.suppress(ApiError):
                    self.registry.delete(self.pods, meta.get("namespace", ""), meta["name"],
                                         {"gracePeriodSeconds": 0}, opts)

    def _register(self, desired: dict, opts: Options) -> None:
        """A new Node as declared; an existing one keeps its spec (cordons, taints added since) and the
        labels others set, with this kubelet's labels and status refreshed."""
        name = desired["metadata"]["name"]
        current = self.registry.store.get(self.node_kind.resource, "", name)
        if current is None:
            current = self.registry.create(self.node_kind, "", {k: v for k, v in desired.items() if k != "status"},
                                           opts)
        else:
            meta = current["metadata"]
            meta["labels"] = {**(meta.get("labels") or {}), **desired["metadata"]["labels"]}
            current = self.registry.update(self.node_kind, "", name, current, opts)
        self.registry.update(self.node_kind, "", name, {**current, "status": desired["status"]}, opts,
                             subresource="status")

    async def _renew_leases(self) -> None:
        """The node heartbeat: a Lease per node in kube-node-lease, renewed every quarter of its duration."""
        opts = Options(user=USER)
        while True:
            renewed = times.now_micro()
            for name in self.nodes:
                lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                         "metadata": {"name": name, "namespace": "kube-node-lease"},
                         "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": renewed}}
                current = self.registry.store.get(self.leases.resource, "kube-node-lease", name)
                with contextlib.suppress(ApiError):
                    if current is None:
                        self.registry.create(self.leases, "kube-node-lease", lease, opts)
                    else:
                        current["spec"] = lease["spec"]
                        self.registry.update(self.leases, "kube-node-lease", name, current, opts)
            await asyncio.sleep(LEASE_SECONDS / 4)

    # Pods ----------------------------------------------------------------------------------------

    def _spawn(self, coroutine: Awaitable) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _observe(self, event: str, pod: dict) -> None:
        if self.stopping:
            return
        meta = pod["metadata"]
        uid = meta["uid"]
        if event == "DELETED":
            worker = self.workers.pop(uid, None)
            if worker is not None:
                self._spawn(worker.terminate(0, None))
            return
        node = self.nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is None:
            return  # not bound yet (the scheduler's part), or bound to a node of another kubelet
        worker = self.workers.get(uid)
        if worker is None:
            if meta.get("deletionTimestamp"):
                self._spawn(self._finish(pod, None))
                return
            worker = PodWorker(self, pod, node)
            self.workers[uid] = worker
            self._spawn(worker.run())
        worker.pod = pod
        worker.meta = meta
        if meta.get("deletionTimestamp") and not worker.terminating:
            worker.terminating = True
            self._spawn(self._finish(pod, worker))

    async def _finish(self, pod: dict, worker: PodWorker | None) -> None:
        meta = pod["metadata"]
        grace = float(meta.get("deletionGracePeriodSeconds") or 0)
        if worker is not None:
            await worker.terminate(grace, self.drain)
            self.workers.pop(meta["uid"], None)
        try:
            self.registry.delete(self.pods, meta.get("namespace", ""), meta["name"],
                                 {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}, Options(user=USER))
        except ApiError as err:
            if err.code not in (404, 409):
                log.warning("could not remove pod %s: %s", meta["name"], err.message)

    async def _bind_claims(self, watcher) -> None:
        async for event in self.registry.store.events(watcher):
            if event.type != "DELETED":
                self._bind_claim(event.obj)

    def _bind_claim(self, claim: dict) -> None:
        """The provisioner's part: every claim is Bound to a directory under the state directory."""
        if (claim.get("status") or {}).get("phase") == "Bound":
            return
        meta = claim["metadata"]
        volumes.claim_directory(self.state_dir, meta.get("namespace", ""), meta["name"]).mkdir(parents=True,
                                                                                              exist_ok=True)
        current = dict(claim)
        current["status"] = {"phase": "Bound", "accessModes": (claim.get("spec") or {}).get("accessModes", []),
                             "capacity": {"storage": ((claim.get("spec") or {}).get("resources") or {}).get(
                                 "requests", {}).get("storage", "1Gi")}}
        with contextlib.suppress(ApiError):
            self.registry.update(self.claims, meta.get("namespace", ""), meta["name"], current, Options(user=USER),
                                 subresource="status")

    async def stop(self) -> None:
        """Stops every replica (the platform is going down; their Pods stay for the next start): first
        nothing new may start, then every worker stops its containers, then whatever is still in the
        platform's cgroups (a replica that started meanwhile, a child that outlived its container) goes."""
        self.stopping = True
        workers = list(self.workers.values())
        self.workers.clear()
        await asyncio.gather(*(w.terminate(5.0, None) for w in workers), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(remove_tree, self.cgroup_parent)
        if self.session:
            await self.session.close()

    # kubectl logs --------------------------------------------------------------------------------

    async def logs(self, request: web.Request, kind: Kind, namespace: str, name: str) -> web.StreamResponse:
        pod = self.registry.get(kind, namespace, name)
        containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        container = request.query.get("container") or (containers[0] if containers else "")
        if container not in containers:
            raise ApiError(400, "BadRequest", f'container {container} is not valid for pod {name}')
        previous = request.query.get("previous") in ("true", "1")
        path = log_path(self.state_dir, pod, container, previous)
        if not path.exists():
            if previous:
                raise ApiError(400, "BadRequest", f'previous terminated container "{container}" in pod "{name}" '
                                                  f"not found")
            raise ApiError(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start')
        data = path.read_bytes()
        if request.query.get("tailLines"):
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-int(request.query["tailLines"]):]) if int(request.query["tailLines"]) else b""
        if request.query.get("limitBytes"):
            data = data[: int(request.query["limitBytes"])]
        if request.query.get("follow") not in ("true", "1"):
            return web.Response(body=data, content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(data)
        offset = path.stat().st_size
        while pod["metadata"]["uid"] in self.workers:
            await asyncio.sleep(0.2)
            with contextlib.suppress(OSError):
                size = os.path.getsize(path)
                if size < offset:  # rotated: the new file is read from its start
                    offset = 0
                if size > offset:
                    with path.open("rb") as f:
                        f.seek(offset)
                        await response.write(f.read(size - offset))
                    offset = size
        return response
