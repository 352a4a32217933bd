"""Locust's distributed mode: one master (the only one that writes stats and serves the web UI) and worker
processes on this machine that run the users; more workers may join from other machines."""

from __future__ import annotations

import contextlib
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

WORKERS_WAIT_SECONDS = 60  # a headless master gives up on workers that never connect
WORKERS_EXIT_SECONDS = 5.0  # workers leave by themselves once the master quits
STOP_SECONDS = 10.0  # then SIGTERM, then SIGKILL
LOOPBACK = "127.0.0.1"
PROJECT = Path(__file__).resolve().parents[1]


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def master_arguments(workers: int, port: int, bind: str = LOOPBACK, *, headless: bool = True) -> list[str]:
    """The master's options; a headless master waits for `workers` before it starts (at most a minute)."""
    arguments = ["--master", "--master-bind-host", bind, "--master-bind-port", str(port)]
    if headless:
        arguments += ["--expect-workers", str(workers), "--expect-workers-max-wait", str(WORKERS_WAIT_SECONDS)]
    return arguments


def worker_command(locustfile: Path, port: int, master_host: str = LOOPBACK) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(locustfile), "--worker", "--master-host", master_host,
            "--master-port", str(port), "--loglevel", "WARNING"]


def remote_worker_command(locustfile: Path, port: int, bind: str) -> str:
    """What adds a worker from another machine to a master listening on `bind`: run in a checkout of this
    project, from its root."""
    try:
        shown = locustfile.resolve().relative_to(PROJECT)
    except ValueError:
        shown = locustfile
    host = socket.gethostname() if bind in ("*", "0.0.0.0", "::") else bind
    return shlex.join(["locust", "-f", str(shown), "--worker", "--master-host", host, "--master-port", str(port)])


@contextlib.contextmanager
def local_workers(locustfile: Path, count: int, port: int, env: dict[str, str], logs: Path | None = None
                  ) -> Iterator[list[subprocess.Popen]]:
    """`count` workers connecting to the master on this machine's `port`; however the block ends they are
    stopped and reaped. `logs`: a folder for their output (locust-worker-N.log), else they share ours."""
    processes: list[subprocess.Popen] = []
    files = []
    try:
        for number in range(1, count + 1):
            output = None
            if logs is not None:
                output = (logs / f"locust-worker-{number}.log").open("wb")
                files.append(output)
            processes.append(subprocess.Popen(worker_command(locustfile, port), stdout=output,
                                              stderr=subprocess.STDOUT if output else None,
                                              stdin=subprocess.DEVNULL, env=env))
        yield processes
    finally:
        stop(processes)
        for output in files:
            output.close()


def stop(processes: list[subprocess.Popen]) -> None:
    """Lets the processes exit by themselves for a moment, then SIGTERM, then SIGKILL; every one reaped."""
    deadline = time.monotonic() + WORKERS_EXIT_SECONDS
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
