"""One Pod as the kubelet runs it: its containers prepared (the catalog's command, env from values, config
maps, secrets and field refs, GPUs, volumes, the sandbox), supervised, probed and evicted when an emptyDir
passes its sizeLimit; its status written back. Graceful deletion: the Pod reports not ready, the data plane
drains it (Knative's queue-proxy pre-stop), then SIGTERM, SIGKILL after the grace period."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from reference.apis import times
from reference.apis.resources import GPU_MEM, NVIDIA_GPU, container_requests, qos_class
from reference.runtime import credentials, etc, sandbox, volumes
from reference.runtime.catalog import ImageNotFound, ImageUnavailable, Launch
from reference.runtime.container import BuiltinContainer, Container, ContainerSpec
from reference.runtime.devices import DevicesUnavailable, no_gpu_env, whole_gpu_env
from reference.runtime.limits import Cgroup, limits_of
from reference.runtime.network import Bridge, NetworkError, PodNetwork
from reference.runtime.nodes import NodeSpec
from reference.runtime.probes import checker
from reference.scheduler import gpushare

if TYPE_CHECKING:
    from reference.runtime.kubelet import Kubelet

log = logging.getLogger("kproof.kubelet")

USER = "system:node:kproof"
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
        # the host's address where pods share its network; on a bridge, none until the pod has its own
        self.pod_ip = node.address if kubelet.bridge is None else ""
        self.evicted = ""  # the eviction manager's message once the pod was evicted
        self._objects: dict[tuple[str, str], dict] = {}  # (kind, name) -> what the Pod refers to
        self._tokens: dict[tuple[str | None, int], bytes] = {}  # (audience, seconds) -> its projected tokens
        self._api_token: str | None = None  # its ServiceAccount's token for the API server (credentials.py)

    @property
    def key(self) -> tuple[str, str]:
        return self.meta.get("namespace", ""), self.meta["name"]

    # Preparing ---------------------------------------------------------------------------------

    def _lookup(self, namespace: str, kind: str, name: str) -> dict | None:
        return self._objects.get((kind, name))

    async def _fetch_references(self) -> None:
        """The ConfigMaps, Secrets and claims the Pod names, and its projected tokens, read once from the API
        before its containers are prepared (preparing them is then plain, synchronous work)."""
        spec = self.pod.get("spec") or {}
        wanted: set[tuple[str, str]] = set()
        tokens: set[tuple[str | None, int]] = set()
        for volume in spec.get("volumes") or []:
            sources = [volume, *((volume.get("projected") or {}).get("sources") or [])]
            for source in sources:
                if "configMap" in source:
                    wanted.add(("ConfigMap", source["configMap"].get("name", "")))
                if "secret" in source:
                    wanted.add(("Secret", source["secret"].get("secretName", source["secret"].get("name", ""))))
                if "persistentVolumeClaim" in source:
                    wanted.add(("PersistentVolumeClaim", source["persistentVolumeClaim"].get("claimName", "")))
                if "serviceAccountToken" in source:
                    requested = source["serviceAccountToken"]
                    tokens.add((requested.get("audience"), int(requested.get("expirationSeconds") or 3600)))
        for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
            for source in container.get("envFrom") or []:
                for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                    if field in source:
                        wanted.add((kind, source[field].get("name", "")))
            for var in container.get("env") or []:
                value_from = var.get("valueFrom") or {}
                for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                    if field in value_from:
                        wanted.add((kind, value_from[field].get("name", "")))
        namespace = self.meta.get("namespace", "")
        api = self.kubelet.api
        found = {}
        for kind, name in wanted:
            obj = await api.lookup(namespace, kind, name)
            if obj is not None:
                found[(kind, name)] = obj
        self._objects = found
        self._tokens = {key: await api.service_account_token(self.pod, *key) for key in tokens}
        access = self.kubelet.api_access
        if access is not None:
            account = credentials.account_of(self.pod)
            found_account = await api.lookup(namespace, "ServiceAccount", account)
            self._api_token = access.mint(namespace, account) if credentials.automounts(
                self.pod, found_account) else None

    def _token(self, pod: dict, requested: dict) -> bytes:
        return self._tokens[(requested.get("audience"), int(requested.get("expirationSeconds") or 3600))]

    def _field(self, path: str) -> str:
        values = {"metadata.name": self.meta["name"], "metadata.namespace": self.meta.get("namespace", ""),
                  "metadata.uid": self.meta["uid"], "spec.nodeName": self.node.name, "status.podIP": self.pod_ip,
                  "status.hostIP": self.node.address, "spec.serviceAccountName": self.pod["spec"].get(
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

    def _prepare(self, session: aiohttp.ClientSession) -> list[Container | BuiltinContainer]:
        """Containers ready to start; raises with the waiting reason when one cannot start."""
        state_dir = self.kubelet.state_dir
        spec = self.pod.get("spec") or {}
        pod_dir = pod_directory(state_dir, self.pod)
        prepared_volumes = volumes.prepare(self.pod, pod_dir, state_dir, self._lookup, self._token)
        read_only = volumes.read_only_volumes(spec)
        containers = spec.get("containers") or []
        launches = {c["name"]: self.kubelet.catalog.launch(c) for c in containers}
        users = {c["name"]: self._identity(spec, c, launches[c["name"]]) for c in containers}
        limits = {c["name"]: limits_of(c) for c in containers}
        memory = [limits[name].memory_bytes for name, launch in launches.items() if not launch.builtin]
        pod_memory = sum(m for m in memory if m) if memory and all(memory) else None
        in_memory = volumes.memory_volumes(spec, pod_memory, sandbox.DEFAULT_SCRATCH)
        dns = self.kubelet.cluster_dns
        own_etc = etc.write(pod_dir / "etc", self.meta["name"], self.pod_ip, [(u.uid, u.gid) for u in users.values()],
                            etc.cluster_resolv_conf(self.meta.get("namespace", ""), *dns) if dns else None)
        out: list[Container | BuiltinContainer] = []
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
            cgroup = Cgroup(f"{pod_dir.name}-{container['name']}", limits[container["name"]],
                            parent=self.kubelet.cgroup_parent)
            box = sandbox.Box(hostname=self.meta["name"], devices=self._devices(container, env),
                              user=users[container["name"]], etc=own_etc,
                              memory=limits[container["name"]].memory_bytes, ids=self.kubelet.ids,
                              cgroups=tuple(cgroup.mounts()), files=tuple(launch.files.items()))
            mounts = volumes.mounts(container, prepared_volumes, read_only, in_memory, pod_dir / "subpaths")
            access = self.kubelet.api_access
            if access is not None:
                env = {**access.env(), **env}
                if self._api_token is not None and sandbox.bubblewrap() is not None:
                    written = access.write(pod_dir / "serviceaccount", self.meta.get("namespace", ""),
                                           self._api_token)
                    mounts.append(sandbox.Mount(written, credentials.MOUNT_PATH, read_only=True))
            workdir = container.get("workingDir")
            argv = self._in_network(sandbox.command(launch.argv, mounts, workdir, box))
            if self.network is not None:
                env.setdefault("KPROOF_BIND", "0.0.0.0")  # kproof's apps: every address of the pod's own network
            cspec = ContainerSpec(
                name=container["name"], image=container.get("image", ""), argv=argv, env=env,
                log_path=log_path(state_dir, self.pod, container["name"]),
                restart_policy=spec.get("restartPolicy", "Always"),
                readiness=container.get("readinessProbe"), liveness=container.get("livenessProbe"),
                limits=limits[container["name"]], cgroup=cgroup)

            def exec_argv(command: list[str], mounts: list = mounts, workdir: str | None = workdir,
                          box: sandbox.Box = box) -> list[str]:
                return self._in_network(sandbox.command(command, mounts, workdir, box))

            def probe(spec: dict | None, c: dict = container, e: dict = env,
                      x: Callable = exec_argv) -> Callable | None:
                return checker(spec, self.pod_ip, self._port_of(c), x, e, session) if spec else None

            out.append(Container(cspec, probe(cspec.readiness), probe(cspec.liveness), self.changed))
        return out

    def _identity(self, spec: dict, container: dict, launch: Launch | None = None) -> sandbox.Identity:
        """Who the container runs as (the pod's runAsUser/runAsGroup, else the image's user); refuses uid 0
        under runAsNonRoot, as the kubelet does."""
        user = sandbox.identity_of(spec, container)
        if launch is not None and (user.uid is None or user.gid is None):
            user = sandbox.Identity(launch.uid if user.uid is None else user.uid,
                                    launch.gid if user.gid is None else user.gid)
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
            had = (self.pod.get("status") or {}).get("podIP")  # a restarted node agent keeps it
            self.network = await asyncio.to_thread(bridge.add, self.meta["uid"], had)
            self.pod_ip = self.network.ip

    # Running -----------------------------------------------------------------------------------

    def changed(self) -> None:
        self._dirty.set()

    async def run(self) -> None:
        writer = asyncio.create_task(self._write_status())
        self._tasks.append(writer)
        session = self.kubelet.session
        assert session is not None  # the kubelet opens it before it starts any pod worker
        while not self.terminating:
            try:
                await self._wire()
                await self._fetch_references()
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
        await self._mark_gpu_share_assigned()
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

    async def _mark_gpu_share_assigned(self) -> None:
        """gpushare's device plugin marks the Pod once it has allocated the share the extender chose."""
        annotations = self.meta.get("annotations") or {}
        if gpushare.assigned_index(self.pod) is None or annotations.get(gpushare.ASSIGNED) == "true":
            return
        await self.kubelet.api.annotate_pod(self.pod, {gpushare.ASSIGNED: "true"})

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
        status = {"phase": phase, "conditions": conditions, "hostIP": self.node.address,
                  "startTime": self.start_time, "qosClass": qos_class(self.pod), "containerStatuses": statuses}
        if self.pod_ip:
            status.update({"podIP": self.pod_ip, "podIPs": [{"ip": self.pod_ip}]})
        if self.evicted:
            status.update({"reason": "Evicted", "message": self.evicted})
            conditions.append({"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
                               "message": self.evicted})
        return status

    async def _write_status(self) -> None:
        last: dict | None = None
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.01)  # coalesce bursts of changes into one write
            self._dirty.clear()
            status = self.status()
            if status == last:
                continue
            try:
                if not await self.kubelet.api.write_pod_status(self.pod, copy.deepcopy(status)):
                    return  # the Pod is gone
                last = status
            except Exception as err:  # a conflict, the API away for a moment: write again
                log.debug("pod %s/%s: status not written: %s", *self.key, err)
                self._dirty.set()
                await asyncio.sleep(RETRY_SECONDS / 4)

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

