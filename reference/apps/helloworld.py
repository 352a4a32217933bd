"""Knative's helloworld sample: `GET /` answers `Hello $TARGET!` (TARGET defaults to World).

Two additions of kproof's, for the seed 004 tests that apply its helloworld-go Services unchanged and need
the app to be slow or stuck (the Go sample never is):

GET /...?sleep=MS     answer after MS milliseconds (a response that takes that long)
POST /kproof/hang     stop accepting connections and stay alive: a stuck server, which a TCP liveness
                      probe on its port sees failing
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

from aiohttp import web

from reference.apps.server import log, serve

NAME = "helloworld"


async def hello(request: web.Request) -> web.Response:
    log(NAME, "received a request")
    try:
        sleep = max(0, int(request.query.get("sleep", "0")))
    except ValueError:
        sleep = 0
    if sleep:
        await asyncio.sleep(sleep / 1000)
    return web.Response(text=f"Hello {os.environ.get('TARGET', 'World')}!\n")


def _stop_listening() -> int:
    """Shuts this process's listening sockets (the event loop stops watching them first); how many."""
    loop = asyncio.get_running_loop()
    stopped = 0
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            copy = os.dup(fd)
        except OSError:
            continue  # closed meanwhile (the directory's own descriptor)
        try:
            probe = socket.socket(fileno=copy)
        except OSError:
            os.close(copy)
            continue  # not a socket
        with probe, contextlib.suppress(OSError):
            if probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                loop.remove_reader(fd)
                probe.shutdown(socket.SHUT_RDWR)
                stopped += 1
    return stopped


async def hang(request: web.Request) -> web.Response:
    stopped = _stop_listening()
    log(NAME, f"hanging: stopped listening on {stopped} socket(s)")
    return web.Response(text=f"hanging: no longer accepting connections ({stopped} listener(s) shut)\n")


def app() -> web.Application:
    application = web.Application()
    application.router.add_post("/kproof/hang", hang)
    application.router.add_get("/{tail:.*}", hello)
    return application


if __name__ == "__main__":
    log(NAME, "starting server...")
    serve(app(), NAME)
