"""The kubelet's log endpoint behind `kubectl logs`: a container's log (or the one before its restart),
tailLines and limitBytes, and follow while the Pod runs (from the start of a rotated file)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from reference.apiserver import errors
from reference.apiserver.errors import ApiError
from reference.runtime.api import NodeApi
from reference.runtime.pod_worker import log_path


class LogServer:
    def __init__(self, api: NodeApi, state_dir: Path, running: Callable[[str], bool]) -> None:
        self.api = api
        self.state_dir = state_dir
        self.running = running  # a Pod's uid -> whether it still runs (follow ends when it does not)

    async def logs(self, request: web.Request, namespace: str, name: str, container: str = "") -> web.StreamResponse:
        """A container's log; `container` as the kubelet's path names it, else the request's query."""
        pod = await self.api.current_pod(namespace, name)
        if pod is None:
            raise errors.not_found("pods", "", name)
        containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        container = container or request.query.get("container") or (containers[0] if containers else "")
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
        while self.running(pod["metadata"]["uid"]):
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
