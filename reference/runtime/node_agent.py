"""The kubelet's node registration: the platform's Nodes created or refreshed with this machine's (and the
node file's) capacity, the Nodes it registered before and no longer runs removed with their Pods (the pod
garbage collector's part), and a Lease per Node renewed as the node heartbeat."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from reference.apis import times
from reference.runtime.api import NodeApi
from reference.runtime.nodes import NodeSpec, node_object

LEASE_SECONDS = 40  # the node lease's duration; the kubelet renews it every quarter of that


class NodeAgent:
    def __init__(self, api: NodeApi, state_dir: Path, nodes: dict[str, NodeSpec]) -> None:
        self.api = api
        self.state_dir = state_dir
        self.nodes = nodes

    async def register(self) -> None:
        """Creates or refreshes this kubelet's Nodes (an existing one keeps its spec, cordons and taints added
        since, and the labels others set); Nodes it registered before and runs no more go, with the Pods bound
        to them (the pod garbage collector's part)."""
        disk = shutil.disk_usage(self.state_dir).total
        for spec in self.nodes.values():
            await self.api.register_node(node_object(spec, disk, times.now()))
        await self.api.forget_nodes_except(set(self.nodes))

    async def renew_leases(self) -> None:
        """The node heartbeat: a Lease per node in kube-node-lease, renewed every quarter of its duration."""
        while True:
            for name in self.nodes:
                await self.api.renew_lease(name, LEASE_SECONDS)
            await asyncio.sleep(LEASE_SECONDS / 4)
