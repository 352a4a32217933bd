"""The kubelet's own HTTPS endpoint (port 10250): the API server reaches it, with its kubelet client
certificate, for `kubectl logs` (GET /containerLogs/<namespace>/<pod>/<container>), and asks /healthz."""

from __future__ import annotations

import ssl
from pathlib import Path

from aiohttp import web

from reference.apiserver.errors import ApiError
from reference.runtime.log_server import LogServer


def ssl_context(cert: Path, key: Path, client_ca: Path) -> ssl.SSLContext:
    """Serves with the node's certificate; only clients with a certificate of the cluster's CA are heard."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(client_ca))
    context.load_cert_chain(str(cert), str(key))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def app(logs: LogServer) -> web.Application:
    async def container_logs(request: web.Request) -> web.StreamResponse:
        info = request.match_info
        try:
            return await logs.logs(request, info["namespace"], info["pod"], info["container"])
        except ApiError as err:
            return web.Response(status=err.code, text=err.message + "\n")

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    application = web.Application()
    application.router.add_get("/containerLogs/{namespace}/{pod}/{container}", container_logs)
    application.router.add_get("/healthz", healthz)
    return application
