"""What the kubelet reads and writes of the API, behind one interface: the reference's own registry, in the
platform's process (RegistryApi), or a real Kubernetes API server over HTTPS as `system:node:<name>`
(reference.node.cluster_api), where kproof's runtime is the node agent of an upstream cluster."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from reference.apis import times
from reference.apiserver.errors import ApiError
from reference.apiserver.kinds import Kind
from reference.apiserver.registry import Options, Registry
from reference.runtime.nodes import MANAGED_LABEL
from reference.runtime.volumes import placeholder_token

USER = "system:node:kproof"
PLURALS = {"ConfigMap": "configmaps", "Secret": "secrets", "PersistentVolumeClaim": "persistentvolumeclaims",
           "ServiceAccount": "serviceaccounts"}


class NodeApi(Protocol):
    async def lookup(self, namespace: str, kind: str, name: str) -> dict | None:
        """A ConfigMap, Secret, PersistentVolumeClaim or ServiceAccount a Pod refers to; None when it does not
        exist."""
        ...

    async def current_pod(self, namespace: str, name: str) -> dict | None: ...

    async def write_pod_status(self, pod: dict, status: dict) -> bool:
        """Writes the Pod's status (its conditions keep their transition times while they hold); False once
        the Pod (this uid) is gone."""
        ...

    async def annotate_pod(self, pod: dict, annotations: dict[str, str]) -> None: ...

    async def remove_pod(self, pod: dict) -> None:
        """The kubelet's last word on a deleted Pod: the object goes (grace 0, this uid only)."""
        ...

    def watch_pods(self) -> AsyncIterator[tuple[str, dict]]:
        """Every Pod as ADDED, then each change, for as long as the kubelet runs."""
        ...

    async def service_account_token(self, pod: dict, audience: str | None, seconds: int) -> bytes:
        """A token of the Pod's ServiceAccount for a projected volume (bound to the Pod where the API can)."""
        ...

    async def register_node(self, node: dict) -> None:
        """Creates the Node or refreshes its labels and status."""
        ...

    async def forget_nodes_except(self, names: set[str]) -> None:
        """Nodes this kubelet registered before and runs no more go, with their Pods (where it owns them)."""
        ...

    async def renew_lease(self, name: str, seconds: int) -> None: ...


def with_transition_times(status: dict, previous: dict) -> dict:
    """`status` with each condition's lastTransitionTime kept from `previous` while its status holds."""
    before = {c["type"]: c for c in previous.get("conditions") or []}
    for condition in status["conditions"]:
        old = before.get(condition["type"])
        condition["lastTransitionTime"] = (old["lastTransitionTime"] if old and old.get("status") ==
                                           condition["status"] and old.get("lastTransitionTime") else times.now())
    return status


class RegistryApi:
    """The reference's registry, in process: what its kubelet has always read and written."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.opts = Options(user=USER)
        self.pods: Kind = registry.kinds.require("", "v1", "pods")
        self.nodes: Kind = registry.kinds.require("", "v1", "nodes")
        self.leases: Kind = registry.kinds.require("coordination.k8s.io", "v1", "leases")

    async def lookup(self, namespace: str, kind: str, name: str) -> dict | None:
        return self.registry.store.get(f"/{PLURALS[kind]}", namespace, name)

    async def current_pod(self, namespace: str, name: str) -> dict | None:
        return self.registry.store.get(self.pods.resource, namespace, name)

    def _same_pod(self, pod: dict) -> dict | None:
        meta = pod["metadata"]
        current = self.registry.store.get(self.pods.resource, meta.get("namespace", ""), meta["name"])
        return current if current is not None and current["metadata"]["uid"] == meta["uid"] else None

    async def write_pod_status(self, pod: dict, status: dict) -> bool:
        current = self._same_pod(pod)
        if current is None:
            return False
        current["status"] = with_transition_times(status, current.get("status") or {})
        meta = current["metadata"]
        try:
            self.registry.update(self.pods, meta.get("namespace", ""), meta["name"], current, self.opts,
                                 subresource="status")
        except ApiError as err:
            if err.code == 404:
                return False
            raise
        return True

    async def annotate_pod(self, pod: dict, annotations: dict[str, str]) -> None:
        current = self._same_pod(pod)
        if current is None:
            return
        current["metadata"].setdefault("annotations", {}).update(annotations)
        meta = current["metadata"]
        with contextlib.suppress(ApiError):
            self.registry.update(self.pods, meta.get("namespace", ""), meta["name"], current, self.opts)

    async def remove_pod(self, pod: dict) -> None:
        meta = pod["metadata"]
        try:
            self.registry.delete(self.pods, meta.get("namespace", ""), meta["name"],
                                 {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}, self.opts)
        except ApiError as err:
            if err.code not in (404, 409):
                raise

    async def watch_pods(self) -> AsyncIterator[tuple[str, dict]]:
        store = self.registry.store
        watcher = store.watch(self.pods.resource, None, None)
        try:
            for entry in store.entries(self.pods.resource):
                yield "ADDED", entry.obj
            async for event in store.events(watcher):
                yield event.type, event.obj
        finally:
            store.unwatch(watcher)

    async def service_account_token(self, pod: dict, audience: str | None, seconds: int) -> bytes:
        # The platform's own token must never reach a replica: an unsigned token with the claims, which
        # the reference's API server refuses.
        return placeholder_token(pod, {"audience": audience, "expirationSeconds": seconds})

    async def register_node(self, node: dict) -> None:
        name = node["metadata"]["name"]
        current = self.registry.store.get(self.nodes.resource, "", name)
        if current is None:
            current = self.registry.create(self.nodes, "", {k: v for k, v in node.items() if k != "status"},
                                           self.opts)
        else:
            meta = current["metadata"]
            # an existing Node keeps its spec (cordons, taints added since) and the labels others set
            meta["labels"] = {**(meta.get("labels") or {}), **node["metadata"]["labels"]}
            current = self.registry.update(self.nodes, "", name, current, self.opts)
        self.registry.update(self.nodes, "", name, {**current, "status": node["status"]}, self.opts,
                             subresource="status")

    async def forget_nodes_except(self, names: set[str]) -> None:
        for entry in self.registry.store.entries(self.nodes.resource):
            name = entry.obj["metadata"]["name"]
            if name not in names and (entry.obj["metadata"].get("labels") or {}).get(MANAGED_LABEL):
                with contextlib.suppress(ApiError):
                    self.registry.delete(self.nodes, "", name, {}, self.opts)
        known = {e.obj["metadata"]["name"] for e in self.registry.store.entries(self.nodes.resource)}
        for entry in self.registry.store.entries(self.pods.resource):
            meta, node = entry.obj["metadata"], (entry.obj.get("spec") or {}).get("nodeName")
            if node and node not in known:
                with contextlib.suppress(ApiError):
                    self.registry.delete(self.pods, meta.get("namespace", ""), meta["name"],
                                         {"gracePeriodSeconds": 0}, self.opts)

    async def renew_lease(self, name: str, seconds: int) -> None:
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": name, "namespace": "kube-node-lease"},
                 "spec": {"holderIdentity": name, "leaseDurationSeconds": seconds, "renewTime": times.now_micro()}}
        current = self.registry.store.get(self.leases.resource, "kube-node-lease", name)
        with contextlib.suppress(ApiError):
            if current is None:
                self.registry.create(self.leases, "kube-node-lease", lease, self.opts)
            else:
                current["spec"] = lease["spec"]
                self.registry.update(self.leases, "kube-node-lease", name, current, self.opts)
