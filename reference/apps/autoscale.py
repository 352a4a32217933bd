"""Like Knative's autoscale-go: each request sleeps, burns CPU or holds memory as asked, so load tests
can shape what a replica does. Plus the probes and reports the conformance suite needs.

GET /?sleep=MS&prime=N&bloat=MB   the work; the answer says what was done
    &stream=MS                    after the first byte, keep streaming for MS milliseconds
    &delay=MS                     wait MS milliseconds before sending the headers
GET /runtime                      the environment, request headers and mounts the replica sees
    ?cuda=1                       also what torch.cuda sees (device count and names)
GET /health, /healthz             readiness and liveness (see POST /control)
POST /control {"ready": bool, "live": bool}

Every answer carries X-Kproof-Pod, X-Kproof-Revision, X-Kproof-Concurrency (requests in flight on this
replica when it arrived, itself included), X-Kproof-Start and X-Kproof-End (epoch seconds).
Environment: STARTUP_DELAY_MS (wait before listening), READY_DELAY_MS (listen, but report not ready
until then).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

from aiohttp import web

from reference.apps.server import log, serve

NAME = "autoscale"
STATE = web.AppKey("state", dict)


def largest_prime_below(limit: int) -> int:
    """The largest prime below `limit`, by trial division (deliberately CPU-bound)."""
    for candidate in range(limit - 1, 1, -1):
        if all(candidate % d for d in range(2, int(candidate ** 0.5) + 1)):
            return candidate
    return 0


def _number(request: web.Request, name: str) -> int:
    try:
        return max(0, int(request.query.get(name, "0")))
    except ValueError as err:
        raise web.HTTPBadRequest(text=f"{name} must be a whole number\n") from err


def _headers(state: dict, start: float, concurrency: int) -> dict[str, str]:
    return {"X-Kproof-Pod": state["pod"], "X-Kproof-Revision": os.environ.get("K_REVISION", ""),
            "X-Kproof-Concurrency": str(concurrency), "X-Kproof-Start": f"{start:.6f}",
            "X-Kproof-End": f"{time.time():.6f}"}


async def work(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    state["inflight"] += 1
    concurrency = state["inflight"]
    start = time.time()
    try:
        sleep, prime, bloat = _number(request, "sleep"), _number(request, "prime"), _number(request, "bloat")
        stream, delay = _number(request, "stream"), _number(request, "delay")
        lines = []
        if delay:
            await asyncio.sleep(delay / 1000)
        if sleep:
            began = time.perf_counter()
            await asyncio.sleep(sleep / 1000)
            lines.append(f"Slept for {(time.perf_counter() - began) * 1000:.2f} milliseconds.")
        if prime:
            found = await asyncio.get_running_loop().run_in_executor(None, largest_prime_below, prime)
            lines.append(f"The largest prime less than {prime} is {found}.")
        if bloat:
            memory = bytearray(bloat * 1024 * 1024)
            lines.append(f"Allocated {len(memory) // (1024 * 1024)} Mb of memory.")
            del memory
        if not stream:
            return web.Response(text="\n".join(lines) + "\n" if lines else "OK\n",
                                headers=_headers(state, start, concurrency))
        response = web.StreamResponse(headers=_headers(state, start, concurrency))
        await response.prepare(request)
        await response.write(b"streaming\n")
        deadline = time.monotonic() + stream / 1000
        while time.monotonic() < deadline:
            await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            await response.write(b".\n")
        await response.write_eof()
        return response
    finally:
        state["inflight"] -= 1


def cuda_report() -> dict:
    """What torch sees of the GPUs this replica was given (torch is imported only when asked)."""
    try:
        import torch
    except ImportError:
        return {"torch": None}
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return {"torch": torch.__version__, "available": torch.cuda.is_available(), "count": count,
            "devices": [torch.cuda.get_device_name(i) for i in range(count)]}


async def runtime(request: web.Request) -> web.Response:
    mounts = []
    try:
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f]
    except OSError:
        pass
    return web.json_response({
        "env": dict(os.environ),
        "headers": dict(request.headers),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "mounts": mounts,
        "files": {path: open(path).read() for path in request.query.getall("file", []) if os.path.isfile(path)},
        **({"cuda": await asyncio.to_thread(cuda_report)} if request.query.get("cuda") else {}),
    })


async def readiness(request: web.Request) -> web.Response:
    state = request.app[STATE]
    ready = state["ready"] and time.monotonic() >= state["ready_at"]
    return web.Response(status=200 if ready else 503, text="ready\n" if ready else "not ready\n")


async def liveness(request: web.Request) -> web.Response:
    live = request.app[STATE]["live"]
    return web.Response(status=200 if live else 500, text="alive\n" if live else "failing\n")


async def control(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await request.json()
    for key in ("ready", "live"):
        if key in body:
            state[key] = bool(body[key])
    log(NAME, f"control: ready={state['ready']} live={state['live']}")
    return web.json_response({"ready": state["ready"], "live": state["live"], "pod": state["pod"]})


def app() -> web.Application:
    application = web.Application()
    application[STATE] = {
        "inflight": 0,
        "ready": True,
        "live": True,
        "ready_at": time.monotonic() + int(os.environ.get("READY_DELAY_MS", "0")) / 1000,
        "pod": os.environ.get("HOSTNAME") or socket.gethostname(),
    }
    application.router.add_get("/runtime", runtime)
    application.router.add_get("/health", readiness)
    application.router.add_get("/healthz", liveness)
    application.router.add_post("/control", control)
    application.router.add_route("*", "/{tail:.*}", work)
    return application


if __name__ == "__main__":
    delay = int(os.environ.get("STARTUP_DELAY_MS", "0"))
    if delay:
        log(NAME, f"starting in {delay} ms")
        time.sleep(delay / 1000)
    serve(app(), NAME)
