"""The data plane as the platform sees it: a supervised child process and a client for its admin port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path

import aiohttp

log = logging.getLogger("kproof.dataplane")
START_TIMEOUT = 30.0
PID_FILE = "dataplane.pid"  # in the state directory: who the data plane is now


class DataPlaneProcess:
    def __init__(self, state_dir: Path, api: str, ca: Path, host: str, port: int, admin_port: int) -> None:
        self.state_dir = state_dir
        self.api = api
        self.ca = ca
        self.host = host
        self.port = port
        self.admin_port = admin_port
        self.process: asyncio.subprocess.Process | None = None
        self.session: aiohttp.ClientSession | None = None
        self._supervisor: asyncio.Task | None = None
        self._stopping = False
        self.problem: str | None = "starting"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"  # the data plane keeps its admin port on loopback

    async def _spawn(self) -> None:
        log_file = (self.state_dir / "dataplane.log").open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reference.dataplane", "--api", self.api, "--ca", str(self.ca),
            "--token-file", str(self.state_dir / "token"), "--state-dir", str(self.state_dir),
            "--host", self.host, "--port", str(self.port), "--admin-port", str(self.admin_port),
            stdout=log_file, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
        log_file.close()
        (self.state_dir / PID_FILE).write_text(f"{self.process.pid}\n")

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        await self._spawn()
        await self._wait_healthy(START_TIMEOUT)
        self._supervisor = asyncio.create_task(self._supervise())

    async def _wait_healthy(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.process and self.process.returncode is not None:
                raise RuntimeError(f"the data plane exited with {self.process.returncode}; "
                                   f"see {self.state_dir / 'dataplane.log'}")
            if await self.healthy():
                self.problem = None
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"the data plane was not healthy within {timeout}s")

    async def _supervise(self) -> None:
        """Restarts the data plane if it dies (requests in flight then fail, as on a cluster)."""
        while not self._stopping:
            assert self.process is not None
            code = await self.process.wait()
            if self._stopping:
                return
            self.problem = f"exited with {code}; restarting"
            log.warning("the data plane exited with %s; restarting", code)
            await asyncio.sleep(0.5)
            await self._spawn()
            with contextlib.suppress(RuntimeError):
                await self._wait_healthy(START_TIMEOUT)

    async def stop(self) -> None:
        self._stopping = True
        if self._supervisor:
            self._supervisor.cancel()
        if self.process and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.session:
            await self.session.close()

    # Admin client ----------------------------------------------------------------------------------

    async def healthy(self) -> bool:
        try:
            assert self.session is not None
            async with self.session.get(f"{self.admin}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                return r.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError, AssertionError):
            return False

    async def serves(self, route: dict, traffic: list[dict]) -> bool:
        """The ingress probe: does the data plane send the route's traffic where status.traffic says?"""
        meta = route["metadata"]
        try:
            assert self.session is not None
            async with self.session.get(f"{self.admin}/routes/{meta['namespace']}/{meta['name']}",
                                        timeout=aiohttp.ClientTimeout(total=2)) as r:
                served = (await r.json()).get("traffic")
        except (aiohttp.ClientError, OSError, TimeoutError, AssertionError, ValueError):
            return False
        wanted = sorted((t["revisionName"], t["percent"]) for t in traffic if t.get("percent"))
        return served is not None and sorted((t["revisionName"], t["percent"]) for t in served) == wanted

    async def serves_eventing(self, kind: str, namespace: str, name: str, **expect: str) -> bool:
        """The broker / trigger / channel probe: does the data plane deliver for it (as `expect` says) yet?"""
        try:
            assert self.session is not None
            async with self.session.get(f"{self.admin}/eventing/{kind}/{namespace}/{name}", params=expect,
                                        timeout=aiohttp.ClientTimeout(total=2)) as r:
                return r.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError, AssertionError):
            return False

    async def kafka_source_consuming(self, namespace: str, name: str, generation: int) -> tuple[bool, str | None]:
        """The KafkaSource probe: do the data plane's consumers run this generation (and if not, why)?"""
        try:
            assert self.session is not None
            async with self.session.get(f"{self.admin}/eventing/kafkasources/{namespace}/{name}",
                                        params={"generation": str(generation)},
                                        timeout=aiohttp.ClientTimeout(total=2)) as r:
                body = await r.json()
            return bool(body.get("serving")), body.get("problem")
        except (aiohttp.ClientError, OSError, TimeoutError, AssertionError, ValueError) as err:
            return False, f"the data plane does not answer: {err}"

    async def drain(self, namespace: str, pod: str, timeout: float) -> None:
        """Knative's pre-stop hook: wait until the pod is out of routing with nothing in flight."""
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, AssertionError):
            assert self.session is not None
            async with self.session.post(f"{self.admin}/drain/{namespace}/{pod}", params={"timeout": str(timeout)},
                                         timeout=aiohttp.ClientTimeout(total=timeout + 1)) as r:
                await r.read()

    async def stats(self, since: int = 0) -> dict:
        assert self.session is not None
        async with self.session.get(f"{self.admin}/stats", params={"since": str(since)},
                                    timeout=aiohttp.ClientTimeout(total=2)) as r:
            return await r.json()

    async def activations(self, since: int) -> tuple[int, list[str]]:
        """Long-polls the revisions whose requests the activator holds (at zero replicas)."""
        assert self.session is not None
        async with self.session.get(f"{self.admin}/activations", params={"since": str(since)},
                                    timeout=aiohttp.ClientTimeout(total=60)) as r:
            body = await r.json()
        return body["next"], body["revisions"]
