"""Probes as the kubelet runs them: httpGet, tcpSocket and exec, each with a timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp

from reference.runtime.nodes import KUBELET_VERSION

# Knative probes a fresh replica aggressively when periodSeconds is 0, so traffic flows the moment
# the app listens; this is the interval of that startup probing.
KUBE_PROBE = f"kube-probe/{KUBELET_VERSION.lstrip('v').rsplit('.', 1)[0]}"
AGGRESSIVE_PERIOD = 0.025


async def http_get(host: str, port: int, path: str, headers: dict[str, str], timeout: float,
                   session: aiohttp.ClientSession, scheme: str = "HTTP") -> bool:
    """An httpGet probe; HTTPS without verifying the certificate, as the kubelet probes it."""
    url = f"{scheme.lower()}://{host}:{port}{path if path.startswith('/') else '/' + path}"
    try:
        async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout),
                               allow_redirects=False, ssl=False) as response:
            return 200 <= response.status < 400
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


async def tcp_socket(host: str, port: int, timeout: float) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def exec_command(argv: list[str], env: dict[str, str], timeout: float) -> bool:
    try:
        process = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                       stderr=asyncio.subprocess.DEVNULL)
    except OSError:
        return False
    try:
        return await asyncio.wait_for(process.wait(), timeout) == 0
    except TimeoutError:
        process.kill()
        return False


def checker(probe: dict, host: str, port_of: Callable[[object], int], exec_argv: Callable[[list[str]], list[str]],
            env: dict[str, str], session: aiohttp.ClientSession) -> Callable[[], Awaitable[bool]]:
    """A zero-argument coroutine function that runs `probe` once."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    if "httpGet" in probe:
        action = probe["httpGet"]
        # the kubelet's own User-Agent (Knative's queue-proxy tells its probes by it), unless the probe sets one
        headers = {"User-Agent": KUBE_PROBE, **{h["name"]: h["value"] for h in action.get("httpHeaders") or []}}
        port = port_of(action.get("port"))
        return lambda: http_get(action.get("host") or host, port, action.get("path", "/"), headers, timeout, session,
                                action.get("scheme") or "HTTP")
    if "exec" in probe:
        argv = exec_argv(list(probe["exec"].get("command") or []))
        return lambda: exec_command(argv, env, timeout)
    action = probe.get("tcpSocket") or {}
    port = port_of(action.get("port"))
    return lambda: tcp_socket(action.get("host") or host, port, timeout)
