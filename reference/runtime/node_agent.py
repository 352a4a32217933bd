"""The kubelet's node registration: the platform's Nodes created or refreshed with this machine's (and the
node file's) capacity, the Nodes it registered before and no longer runs removed with their Pods (the pod
garbage collector's part), and a Lease per Node renewed as the node heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

from reference.apis import times
from reference.apiserver.errors import ApiError
from reference.apiserver.kinds import Kind
from reference.apiserver.registry import Options, Registry
from reference.runtime.nodes import MANAGED_LABEL, NodeSpec, node_object
from reference.runtime.pod_worker import USER

LEASE_SECONDS = 40  # the node lease's duration; the kubelet renews it every quarter of that


class NodeAgent:
    def __init__(self, registry: Registry, state_dir: Path, nodes: dict[str, NodeSpec]) -> None:
        self.registry = registry
        self.state_dir = state_dir
        self.nodes = nodes
        self.pods: Kind = registry.kinds.require("", "v1", "pods")
        self.node_kind: Kind = registry.kinds.require("", "v1", "nodes")
        self.leases: Kind = registry.kinds.require("coordination.k8s.io", "v1", "leases")

    def register(self) -> None:
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

    async def renew_leases(self) -> None:
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
