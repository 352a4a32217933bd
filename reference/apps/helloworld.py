"""Knative's helloworld sample: `GET /` answers `Hello $TARGET!` (TARGET defaults to World)."""

from __future__ import annotations

import os

from aiohttp import web

from reference.apps.server import log, serve

NAME = "helloworld"


async def hello(request: web.Request) -> web.Response:
    log(NAME, "received a request")
    return web.Response(text=f"Hello {os.environ.get('TARGET', 'World')}!\n")


def app() -> web.Application:
    application = web.Application()
    application.router.add_get("/{tail:.*}", hello)
    return application


if __name__ == "__main__":
    log(NAME, "starting server...")
    serve(app(), NAME)
