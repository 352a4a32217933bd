"""The node agent (the kubelet's part): runs every Pod bound to one of the platform's nodes as sandboxed
processes on this machine (reference.runtime.pod_worker), with the nodes registered and heartbeating
(node_agent), claims bound (provisioner) and logs served (log_server).

The scheduler binds Pods to nodes; the kubelet runs what is bound to its nodes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable
from pathlib import Path

import aiohttp
from aiohttp import web

from reference.runtime import sandbox
from reference.runtime.api import NodeApi
from reference.runtime.catalog import Catalog
from reference.runtime.credentials import PodApiAccess
from reference.runtime.devices import DeviceManager
from reference.runtime.limits import platform_group, remove_tree
from reference.runtime.log_server import LogServer
from reference.runtime.network import Bridge
from reference.runtime.node_agent import NodeAgent
from reference.runtime.nodes import NodeSpec
from reference.runtime.pod_worker import Drain, PodWorker
from reference.runtime.provisioner import Provisioner

log = logging.getLogger("kproof.kubelet")


class Kubelet:
    def __init__(self, api: NodeApi, state_dir: Path, catalog: Catalog, drain: Drain | None = None,
                 node_env: dict[str, str] | None = None, nodes: list[NodeSpec] | None = None,
                 bridge: Bridge | None = None, provisioner: Provisioner | None = None,
                 cluster_dns: tuple[str, str] | None = None, api_access: PodApiAccess | None = None) -> None:
        self.api = api
        # how pods reach the API server with their ServiceAccount's token, where the kubelet mounts it itself
        # (None: a cluster's admission adds a kube-api-access volume instead)
        self.api_access = api_access
        self.cluster_dns = cluster_dns  # (nameserver, domain) on a cluster; None: the host's resolver
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
        self.node_agent = NodeAgent(api, state_dir, self.nodes)
        self.provisioner = provisioner  # the reference binds claims itself; a cluster has its own provisioners
        self.log_server = LogServer(api, state_dir, lambda uid: uid in self.workers)
        self.workers: dict[str, PodWorker] = {}
        self.session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()

    async def run(self) -> None:
        self.session = aiohttp.ClientSession()
        await self.node_agent.register()
        helpers = [asyncio.create_task(self.node_agent.renew_leases())]
        if self.provisioner is not None:
            helpers.append(asyncio.create_task(self.provisioner.run()))
        try:
            async for event, pod in self.api.watch_pods():
                self._observe(event, pod)
        finally:
            for task in helpers:
                task.cancel()

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
            await self.api.remove_pod(pod)
        except Exception as err:  # the object stays: the next start of the kubelet finishes it
            log.warning("could not remove pod %s: %s", meta["name"], err)

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

    async def logs(self, request: web.Request, namespace: str, name: str) -> web.StreamResponse:
        """`kubectl logs` (reference.runtime.log_server)."""
        return await self.log_server.logs(request, namespace, name)
