"""The kubelet's view of a real API server (reference.runtime.api.NodeApi over HTTPS): what the Node
authorizer and NodeRestriction let a `system:node:<name>` read and write, as the kubelet uses it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from reference.apis import times
from reference.dataplane.informer import ApiAccess, Informer
from reference.runtime.api import PLURALS, with_transition_times

log = logging.getLogger("kproof.node")

MERGE = "application/merge-patch+json"
MIN_TOKEN_SECONDS = 600  # the API server's floor for a TokenRequest
NO_RELATIONSHIP = "no relationship found between node"  # the Node authorizer's 403 for what it cannot link yet
GRAPH_RETRIES = (0.2, 0.5, 1, 2, 3)  # seconds between the attempts of such a request


class ApiCallError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class ClusterApi:
    def __init__(self, access: ApiAccess, node_name: str) -> None:
        self.access = access
        self.node_name = node_name
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.access.ssl_context()))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json"
                    ) -> dict | None:
        """The JSON answer; None for 404; ApiCallError for any other failure. A 403 that says the Node
        authorizer does not know yet that a Pod bound here uses the object is asked again, for a while (its
        graph follows the API's watch, a moment after the Pod is bound; the kubelet retries the same)."""
        for delay in (*GRAPH_RETRIES, None):
            try:
                return await self._call_once(method, path, body, content_type)
            except ApiCallError as err:
                if delay is None or err.status != 403 or NO_RELATIONSHIP not in str(err):
                    raise
                await asyncio.sleep(delay)
        return None  # not reached: the last attempt returns or raises

    async def _call_once(self, method: str, path: str, body: Any, content_type: str) -> dict | None:
        headers = {**self.access.headers(), "Content-Type": content_type}
        data = json.dumps(body) if body is not None else None
        async with self.session.request(method, self.access.url + path, data=data, headers=headers,
                                        timeout=aiohttp.ClientTimeout(total=30)) as response:
            text = await response.text()
            if response.status == 404:
                return None
            if response.status >= 400:
                with contextlib.suppress(ValueError):
                    text = json.loads(text).get("message", text)
                raise ApiCallError(response.status, text)
            return json.loads(text) if text else {}

    # Pods ------------------------------------------------------------------------------------------

    async def lookup(self, namespace: str, kind: str, name: str) -> dict | None:
        return await self._call("GET", f"/api/v1/namespaces/{namespace}/{PLURALS[kind]}/{name}")

    async def current_pod(self, namespace: str, name: str) -> dict | None:
        return await self._call("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")

    async def write_pod_status(self, pod: dict, status: dict) -> bool:
        meta = pod["metadata"]
        current = await self.current_pod(meta.get("namespace", ""), meta["name"])
        if current is None or current["metadata"]["uid"] != meta["uid"]:
            return False
        status = with_transition_times(status, current.get("status") or {})
        patch = {"metadata": {"uid": meta["uid"]}, "status": status}  # the uid: this Pod, not a namesake
        return await self._call("PATCH", f"/api/v1/namespaces/{meta.get('namespace', '')}/pods/{meta['name']}/status",
                                patch, MERGE) is not None

    async def annotate_pod(self, pod: dict, annotations: dict[str, str]) -> None:
        """A node may write a Pod's status, not its metadata (NodeRestriction): nothing to do on a cluster."""

    async def remove_pod(self, pod: dict) -> None:
        meta = pod["metadata"]
        with contextlib.suppress(ApiCallError):  # 409: another Pod of the name, or gone already
            await self._call("DELETE", f"/api/v1/namespaces/{meta.get('namespace', '')}/pods/{meta['name']}",
                             {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                              "preconditions": {"uid": meta["uid"]}})

    async def watch_pods(self) -> AsyncIterator[tuple[str, dict]]:
        events: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
        informer = Informer(self.access, "/api/v1/pods", lambda kind, obj, old: events.put_nowait((kind, obj)),
                            field_selector=f"spec.nodeName={self.node_name}")
        task = asyncio.create_task(informer.run(self.session))
        try:
            while True:
                yield await events.get()
        finally:
            task.cancel()

    async def service_account_token(self, pod: dict, audience: str | None, seconds: int) -> bytes:
        """A token bound to the Pod (TokenRequest as the node; with no audience, the API server's own)."""
        meta = pod["metadata"]
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        spec: dict = {"expirationSeconds": max(seconds, MIN_TOKEN_SECONDS),
                      "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}}
        if audience:
            spec["audiences"] = [audience]
        answer = await self._call("POST", f"/api/v1/namespaces/{meta.get('namespace', '')}/serviceaccounts/"
                                          f"{account}/token",
                                  {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
        if answer is None:
            raise ApiCallError(404, f'serviceaccount "{account}" not found')
        return str(answer["status"]["token"]).encode()

    # The node ---------------------------------------------------------------------------------------

    async def register_node(self, node: dict) -> None:
        name = node["metadata"]["name"]
        try:
            await self._call("POST", "/api/v1/nodes", {k: v for k, v in node.items() if k != "status"})
        except ApiCallError as err:
            if err.status != 409:
                raise
            await self._call("PATCH", f"/api/v1/nodes/{name}", {"metadata": {"labels": node["metadata"]["labels"]}},
                             MERGE)
        # PATCH, not a GET then PUT: the Node authorizer lets a node write its status but not read nodes/status
        await self._call("PATCH", f"/api/v1/nodes/{name}/status", {"status": node["status"]}, MERGE)

    async def forget_nodes_except(self, names: set[str]) -> None:
        """A cluster's node lifecycle controller takes care of Nodes that stopped: nothing to do."""

    async def renew_lease(self, name: str, seconds: int) -> None:
        spec = {"holderIdentity": name, "leaseDurationSeconds": seconds, "renewTime": times.now_micro()}
        path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
        try:
            if await self._call("PATCH", f"{path}/{name}", {"spec": spec}, MERGE) is None:
                await self._call("POST", path, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                                "metadata": {"name": name, "namespace": "kube-node-lease"},
                                                "spec": spec})
        except (ApiCallError, aiohttp.ClientError, TimeoutError) as err:
            log.warning("lease %s not renewed: %s", name, err)
