"""A list-and-watch cache of one resource, over the Kubernetes API (the client side of a watch).

Components in other processes (the data plane) keep their view of the cluster with it: list, then
watch from the list's resourceVersion, re-watch after a disconnect, re-list after 410 Gone.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

from reference.host.processes import write_private

log = logging.getLogger("kproof.informer")

INITIAL_FETCH_TIMEOUT = 15.0  # seconds a listener waits for its first routes (Envoy's default)

Handler = Callable[[str, dict, "dict | None"], None]  # (event type, object, previous object)


@dataclass(frozen=True)
class ApiAccess:
    """How to reach an API server: its URL and CA, and who we are: a bearer token, or a client certificate
    (a node agent is `system:node:<name>` by its certificate, as the kubelet is)."""

    url: str
    token: str
    ca: Path
    cert: Path | None = None
    key: Path | None = None

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        if self.cert is not None:
            context.load_cert_chain(str(self.cert), str(self.key) if self.key else None)
        return context

    def headers(self) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**auth, "Accept": "application/json"}

    @classmethod
    def from_kubeconfig(cls, path: Path, scratch: Path) -> ApiAccess:
        """The current context of a kubeconfig; certificates and keys given inline (`*-data`) are written into
        `scratch` (0600), since TLS reads them from files."""
        config = yaml.safe_load(path.read_text()) or {}
        current = config.get("current-context") or (config.get("contexts") or [{}])[0].get("name")
        context = next(c["context"] for c in config.get("contexts") or [] if c.get("name") == current)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user: dict = next((u["user"] for u in config.get("users") or [] if u["name"] == context.get("user")), {})

        def file(section: dict, field: str) -> Path | None:
            if section.get(f"{field}-data"):
                target = scratch / f"{field}.pem"
                write_private(target, base64.b64decode(section[f"{field}-data"]).decode())
                return target
            return (path.parent / section[field]) if section.get(field) else None

        scratch.mkdir(parents=True, exist_ok=True)
        ca = file(cluster, "certificate-authority")
        if ca is None:
            raise ValueError(f"{path}: the cluster has no certificate-authority")
        return cls(cluster["server"].rstrip("/"), str(user.get("token") or ""), ca,
                   file(user, "client-certificate"), file(user, "client-key"))


class Informer:
    def __init__(self, access: ApiAccess, path: str, handler: Handler, label_selector: str = "",
                 field_selector: str = "") -> None:
        self.access = access
        self.path = path
        self.handler = handler
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.cache: dict[tuple[str, str], dict] = {}
        self.synced = asyncio.Event()

    @staticmethod
    def key(obj: dict) -> tuple[str, str]:
        meta = obj["metadata"]
        return meta.get("namespace", ""), meta["name"]

    async def run(self, session: aiohttp.ClientSession) -> None:
        while True:
            try:
                version = await self._list(session)
                await self._watch(session, version)
            except (aiohttp.ClientError, OSError, ValueError, TimeoutError) as err:
                log.debug("informer %s: %s; retrying", self.path, err)
                await asyncio.sleep(0.5)

    def _params(self, **extra: str) -> dict[str, str]:
        params = dict(extra)
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        if self.field_selector:
            params["fieldSelector"] = self.field_selector
        return params

    async def _list(self, session: aiohttp.ClientSession) -> str:
        async with session.get(self.access.url + self.path, params=self._params(),
                               headers=self.access.headers()) as response:
            response.raise_for_status()
            body = await response.json()
        fresh = {self.key(item): item for item in body.get("items") or []}
        for key, old in list(self.cache.items()):
            if key not in fresh:
                del self.cache[key]
                self.handler("DELETED", old, old)
        for key, obj in fresh.items():
            previous = self.cache.get(key)
            self.cache[key] = obj
            if previous != obj:
                self.handler("ADDED" if previous is None else "MODIFIED", obj, previous)
        self.synced.set()
        return body["metadata"]["resourceVersion"]

    async def _watch(self, session: aiohttp.ClientSession, version: str) -> None:
        params = self._params(watch="true", resourceVersion=version, timeoutSeconds="600")
        async with session.get(self.access.url + self.path, params=params, headers=self.access.headers(),
                               timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as response:
            response.raise_for_status()
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        event = json.loads(line)
                        if event["type"] == "ERROR":
                            return  # 410 Gone and friends: list again
                        self._apply(event["type"], event["object"])

    def _apply(self, kind: str, obj: dict) -> None:
        key = self.key(obj)
        old = self.cache.get(key)
        if kind == "DELETED":
            self.cache.pop(key, None)
        else:
            self.cache[key] = obj
        self.handler(kind, obj, old)


async def first_sync(informers: list[Informer], timeout: float) -> None:
    """Waits until every informer has listed once, at most `timeout` seconds.

    Bounded as Envoy bounds its initial fetch (initial_fetch_timeout, 15 s): an API server that stays away
    delays a listener, it does not keep it shut."""
    try:
        await asyncio.wait_for(asyncio.gather(*(i.synced.wait() for i in informers)), timeout)
    except TimeoutError:
        log.warning("not every informer listed within %.0fs; opening the listeners without them", timeout)
