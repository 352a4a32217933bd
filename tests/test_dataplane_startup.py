"""A (re)started data plane opens its ingress only once it knows the routes, within a bound: before that it
would answer 404 for every host (what a killed-and-restarted data plane once did to a KafkaSource's sink)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import aiohttp
import certifi
import pytest

from reference.dataplane import server
from reference.dataplane.informer import ApiAccess
from reference.dataplane.server import DataPlane


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def _healthz(port: int) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz") as response:
        return response.status, await response.text()


def test_the_ingress_waits_for_the_first_sync_and_no_longer_than_its_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bound = 2.0
    monkeypatch.setattr(server, "INITIAL_FETCH_TIMEOUT", bound)

    async def scenario() -> None:
        # An API server that takes connections and never answers: no informer can list.
        silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
        api = f"https://127.0.0.1:{silent.sockets[0].getsockname()[1]}"
        plane = DataPlane(ApiAccess(api, "token", Path(certifi.where())), tmp_path)
        ingress, admin = _free_port(), _free_port()
        running = asyncio.create_task(plane.run("127.0.0.1", ingress, admin))
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            for _ in range(100):  # the admin port comes first
                if not await _refused(admin):
                    break
                await asyncio.sleep(0.02)
            assert await _healthz(admin) == (503, "syncing\n")
            assert await _refused(ingress), "the ingress listens before it knows any route"
            for _ in range(200):
                if not await _refused(ingress):
                    break
                await asyncio.sleep(0.05)
            waited = loop.time() - started
            assert not await _refused(ingress), "the ingress never opened"
            assert waited >= bound * 0.9, f"the ingress opened after {waited:.2f}s, before its bound"
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            silent.close()

    asyncio.run(scenario())
