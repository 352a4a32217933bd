"""One container as a supervised process: start, probe, restart with back-off, stop gracefully.

Its state is reported the way the kubelet reports a containerStatus (waiting / running / terminated,
ready, restartCount, lastState), and every change calls back so the pod's status can be written.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from reference.apis.times import now
from reference.runtime.limits import GROUP, Cgroup, Limits
from reference.runtime.probes import AGGRESSIVE_PERIOD
from reference.runtime.sandbox import signal_app, start_ticks

Check = Callable[[], Awaitable[bool]]
MAX_BACKOFF = 30.0  # seconds; the kubelet caps at 5 minutes, a local platform should recover faster
RESET_BACKOFF_AFTER = 60.0  # a container that ran this long starts its back-off again from 1 s
LOG_MAX_BYTES = 10 * 1024 * 1024  # the kubelet's containerLogMaxSize: past it the log rotates
LOG_CHUNK = 64 * 1024
LOG_DRAIN_SECONDS = 5.0  # after the container exits, how long what it left in the pipe is still read


def _log_tail(path: Path, lines: int = 80, limit: int = 2048) -> str:
    try:
        text = path.read_bytes()[-limit:].decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class BoundedLog:
    """A container's log file as the runtime writes it from the container's output: past LOG_MAX_BYTES it
    becomes `<name>.log.1` (one rotated file is kept) and a new one starts, so a container's logs never
    hold more than twice the bound, however fast it writes (the writer waits on the pipe meanwhile)."""

    def __init__(self, path: Path, max_bytes: int = LOG_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._file = path.open("ab")
        self._size = self._file.tell()

    def write(self, chunk: bytes) -> None:
        if self._size and self._size + len(chunk) > self.max_bytes:
            self._file.close()
            self.path.replace(self.path.with_name(self.path.name + ".1"))
            self._file = self.path.open("ab")
            self._size = 0
        self._file.write(chunk[: self.max_bytes])
        self._file.flush()
        self._size += min(len(chunk), self.max_bytes)

    def close(self) -> None:
        self._file.close()


async def copy_output(stream: asyncio.StreamReader, log: BoundedLog) -> None:
    """Copies a container's output into its log until the pipe closes."""
    try:
        while chunk := await stream.read(LOG_CHUNK):
            log.write(chunk)
    finally:
        log.close()


@dataclass
class ContainerSpec:
    name: str
    image: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    restart_policy: str = "Always"
    readiness: dict | None = None
    liveness: dict | None = None
    limits: Limits = field(default_factory=Limits)
    cgroup: Cgroup | None = None  # made by the pod worker (its sandbox shows it); else one of its own below GROUP


@dataclass
class ContainerState:
    state: dict = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    pid: int | None = None


class Container:
    def __init__(self, spec: ContainerSpec, readiness: Check | None, liveness: Check | None,
                 on_change: Callable[[], None]) -> None:
        self.spec = spec
        self._readiness = readiness
        self._liveness = liveness
        self._on_change = on_change
        self.current = ContainerState()
        self._process: asyncio.subprocess.Process | None = None
        self._started_ticks: int | None = None  # the process's start time (sandbox.start_ticks)
        self._stopping = False
        self._ever_ready = False
        self.cgroup = spec.cgroup or Cgroup(f"{spec.log_path.parent.name}-{spec.name}", spec.limits, parent=GROUP)

    # Status ------------------------------------------------------------------------------------

    def status(self) -> dict:
        out = {
            "name": self.spec.name,
            "image": self.spec.image,
            "imageID": f"kproof://{self.spec.image}",
            "ready": self.current.ready,
            "started": self.current.started,
            "restartCount": self.current.restart_count,
            "state": self.current.state,
        }
        if self.current.pid:
            out["containerID"] = f"process://{self.current.pid}"
        if self.current.last_state:
            out["lastState"] = self.current.last_state
        return out

    def _set(self, **changes: object) -> None:
        for key, value in changes.items():
            setattr(self.current, key, value)
        self._on_change()

    # Lifecycle ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Runs, restarts and probes the container until stop(), within its limits."""
        self.cgroup.create()
        try:
            await self._run_and_restart()
        finally:
            await self.cgroup.remove()

    async def _run_and_restart(self) -> None:
        backoff = 1.0
        while not self._stopping:
            started = asyncio.get_running_loop().time()
            exit_code = await self._run_once()
            if self._stopping:
                return
            if self.spec.restart_policy == "Never" or (self.spec.restart_policy == "OnFailure" and exit_code == 0):
                return
            if asyncio.get_running_loop().time() - started > RESET_BACKOFF_AFTER:
                backoff = 1.0
            self._set(state={"waiting": {"reason": "CrashLoopBackOff", "message": (
                f"back-off {backoff:g}s restarting failed container={self.spec.name}")}})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            self.current.restart_count += 1

    async def _run_once(self) -> int:
        log_path = self.spec.log_path
        if log_path.exists() and log_path.stat().st_size:
            log_path.replace(log_path.with_suffix(".previous.log"))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = BoundedLog(log_path)
        # stdout and stderr are one pipe, as a runtime gives them (uvloop's PIPE would be a socket, which
        # a container cannot open as /dev/stdout or /dev/stderr)
        read_end, write_end = os.pipe()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.cgroup.wrap(self.spec.argv), env=self.spec.env, stdout=write_end,
                stderr=write_end, stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
        except OSError as err:
            os.close(read_end)
            log.write(f"{err}\n".encode())
            log.close()
            self._set(state={"terminated": {"exitCode": 128, "reason": "StartError", "message": str(err),
                                            "finishedAt": now()}}, ready=False)
            return 128
        finally:
            os.close(write_end)
        self._started_ticks = start_ticks(self._process.pid)  # to never signal the pid once it is another's
        output = asyncio.StreamReader()
        pipe, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(output), os.fdopen(read_end, "rb", 0))
        copier = asyncio.create_task(copy_output(output, log))
        self._set(state={"running": {"startedAt": now()}}, started=True, pid=self._process.pid,
                  ready=self._readiness is None)
        oom_kills = self.cgroup.oom_kills()
        probes = [asyncio.create_task(self._probe_readiness())] if self._readiness else []
        if self._liveness:
            probes.append(asyncio.create_task(self._probe_liveness()))
        try:
            code = await self._process.wait()
        finally:
            for task in probes:
                task.cancel()
            await asyncio.gather(*probes, return_exceptions=True)
            # what the container wrote last is in its log before its status says it ended
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(copier), LOG_DRAIN_SECONDS)
            copier.cancel()
            await asyncio.gather(copier, return_exceptions=True)
            pipe.close()
        reason = "Completed" if code == 0 else ("OOMKilled" if self.cgroup.oom_kills() > oom_kills else "Error")
        terminated = {"exitCode": code if code >= 0 else 128 - code, "reason": reason,
                      "startedAt": self.current.state.get("running", {}).get("startedAt", now()),
                      "finishedAt": now()}
        if code != 0 and not self._stopping:
            # terminationMessagePolicy FallbackToLogsOnError, which Knative sets on user containers
            terminated["message"] = _log_tail(self.spec.log_path)
        self._set(state={"terminated": terminated}, last_state={"terminated": terminated}, ready=False,
                  started=False, pid=None)
        return code

    async def _probe_readiness(self) -> None:
        probe = self.spec.readiness or {}
        assert self._readiness is not None
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        period = float(probe.get("periodSeconds") or 0)
        success_needed = int(probe.get("successThreshold") or 1)
        failures_allowed = int(probe.get("failureThreshold") or 3)
        successes = failures = 0
        while True:
            ok = await self._readiness()
            successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
            if not self.current.ready and successes >= success_needed:
                self._ever_ready = True
                self._set(ready=True)
            elif self.current.ready and failures >= failures_allowed:
                self._set(ready=False)
            aggressive = period == 0 and not self.current.ready
            await asyncio.sleep(AGGRESSIVE_PERIOD if aggressive else (period or 1.0))

    async def _probe_liveness(self) -> None:
        probe = self.spec.liveness or {}
        assert self._liveness is not None
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        period = float(probe.get("periodSeconds") or 10)
        failures_allowed = int(probe.get("failureThreshold") or 3)
        failures = 0
        while True:
            await asyncio.sleep(period)
            failures = 0 if await self._liveness() else failures + 1
            if failures >= failures_allowed:
                with contextlib.suppress(OSError), self.spec.log_path.open("a") as log:
                    log.write(f"kproof: liveness probe failed {failures} times; restarting\n")
                await self._terminate(grace=5.0)
                return

    async def _terminate(self, grace: float) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        started = self._started_ticks  # None: it was gone at once, and its pid may be another's now
        if started is not None:
            signal_app(process.pid, signal.SIGTERM, started)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            if started is not None:
                signal_app(process.pid, signal.SIGKILL, started)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    async def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL once `grace` seconds have passed."""
        self._stopping = True
        await self._terminate(grace)


class BuiltinContainer:
    """A container the platform itself plays (the queue-proxy): no process, running and ready until
    stopped. Its log is whatever the platform writes to its log file."""

    def __init__(self, spec: ContainerSpec, on_change: Callable[[], None]) -> None:
        self.spec = spec
        self._on_change = on_change
        self._stopped = asyncio.Event()
        self.current = ContainerState(state={"running": {"startedAt": now()}}, ready=True, started=True)

    def status(self) -> dict:
        return {"name": self.spec.name, "image": self.spec.image, "imageID": f"kproof://{self.spec.image}",
                "ready": self.current.ready, "started": True, "restartCount": 0, "state": self.current.state}

    async def run(self) -> None:
        self.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.spec.log_path.touch()
        self._on_change()
        await self._stopped.wait()

    async def stop(self, grace: float) -> None:
        self.current.ready = False
        self._stopped.set()
