"""The embedded reference as a child process: start, stop, restart and inspect it by state directory."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from kproof.postgres import LocalPostgres
from kproof.target import (
    CEL_FILTERS,
    CEPH,
    GPU,
    KAFKA,
    KILL_POD,
    REFERENCE,
    RESERVE_INSTANCE,
    RESTART,
    VOLUMES,
    XPA,
    Target,
)
from reference.ceph.cluster import LocalCeph
from reference.ceph.cluster import unavailable as ceph_unavailable
from reference.dataplane.process import PID_FILE as DATAPLANE_PID_FILE
from reference.host.processes import (
    Record,
    StateDirBusy,
    create_private,
    private_dir,
    process_alive,
    start_time,
    stop_leftovers,
    stop_recorded,
)
from reference.kafka.embedded import EmbeddedKafka
from reference.runtime.limits import platform_group, remove_tree
from reference.runtime.network import Bridge
from reference.runtime.network import unavailable as network_unavailable

START_TIMEOUT = 60.0
CEPH_DIR = "ceph"  # `kproof up --ceph`'s Ceph, in the state directory
STOP_TIMEOUT = 20.0


class PlatformError(RuntimeError):
    pass


@dataclass
class Endpoints:
    api: str
    pid: int
    ca: str | None = None  # the CA file that signed the API server's certificate
    ingress: str | None = None
    kafka: str | None = None  # the Kafka bootstrap address the platform uses
    gpus: int = 0  # GPUs on its nodes, real and virtual
    containment: dict = field(default_factory=dict)  # how replicas are contained (sandbox, limits, network)


def read_endpoints(state_dir: Path) -> Endpoints | None:
    """Where a running reference listens, or None when none runs on this state directory."""
    try:
        data = json.loads((state_dir / "endpoints.json").read_text())
    except (OSError, ValueError):
        return None
    pid = int(data.get("pid", 0))
    if not pid or not process_alive(pid):
        return None
    if data.get("pid_start") and str(start_time(pid)) != str(data["pid_start"]):
        return None  # the platform was killed and its pid went to another process
    return Endpoints(api=data["api"], pid=pid, ca=data.get("ca"), ingress=data.get("ingress"),
                     kafka=data.get("kafka") or None, gpus=int(data.get("gpus") or 0),
                     containment=dict(data.get("containment") or {}))


def readiness(endpoints: Endpoints) -> dict[str, str]:
    """Each component's health from /readyz?verbose: {"apiserver": "ok", ...}."""
    response = requests.get(f"{endpoints.api}/readyz", params={"verbose": "1"}, timeout=5,
                            verify=endpoints.ca or True)
    checks = {}
    for line in response.text.splitlines():
        if line.startswith(("[+]", "[-]")):
            name, _, rest = line[3:].partition(" ")
            checks[name] = "ok" if line.startswith("[+]") else rest or "failed"
    return checks


class ReferenceProcess:
    """A reference platform on `state_dir`, run as `python -m reference` in its own session."""

    def __init__(self, state_dir: Path, host: str = "127.0.0.1", api_port: int = 0,
                 kafka_bootstrap: str | None = None, nodes: Path | None = None,
                 images: tuple[Path, ...] = (), upstream_strict: bool = False, ingress_port: int = 0) -> None:
        self.state_dir = state_dir.resolve()
        self.ingress_port = ingress_port  # 0: the last used or a free port
        self.upstream_strict = upstream_strict
        self.host = host
        self.api_port = api_port
        self.kafka_bootstrap = kafka_bootstrap
        self.nodes = nodes
        self.images = images
        self.process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.state_dir / "reference.log"

    def start(self, timeout: float = START_TIMEOUT) -> Endpoints:
        if read_endpoints(self.state_dir):
            raise PlatformError(f"a reference already runs on {self.state_dir} (kproof down first)")
        private_dir(self.state_dir)
        try:
            stop_leftovers(self.state_dir)
        except StateDirBusy as err:
            raise PlatformError(str(err)) from err
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / "endpoints.json").unlink()
        command = [sys.executable, "-m", "reference", "--state-dir", str(self.state_dir),
                   "--host", self.host, "--api-port", str(self.api_port)]
        if self.ingress_port:
            command += ["--ingress-port", str(self.ingress_port)]
        if self.kafka_bootstrap:
            command += ["--kafka-bootstrap", self.kafka_bootstrap]
        if self.nodes:
            command += ["--nodes", str(self.nodes.resolve())]
        for catalog in self.images:
            command += ["--images", str(catalog.resolve())]
        if self.upstream_strict:
            command.append("--upstream-strict")
        log = create_private(self.log_path).open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PlatformError(f"the reference exited with {self.process.returncode}; "
                                     f"see {self.log_path}:\n{self._log_tail()}")
            endpoints = read_endpoints(self.state_dir)
            if endpoints and endpoints.pid == self.process.pid and _ready(endpoints):
                return endpoints
            time.sleep(0.05)
        self.stop()
        raise PlatformError(f"the reference was not ready within {timeout}s; see {self.log_path}")

    def _log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = STOP_TIMEOUT, keep_data: bool = False) -> list[Record]:
        """Stops the platform, then whatever is still recorded on its state directory (what a killed
        platform left running), and, unless `keep_data`, the embedded Kafka, the private PostgreSQL
        (`kproof up --postgres`) and Ceph (`kproof up --ceph`). Returns the recorded processes that were
        still running."""
        pid = self.process.pid if self.process else None
        if pid is None:
            endpoints = read_endpoints(self.state_dir)
            pid = endpoints.pid if endpoints else None
        if pid is not None:
            stop_pid(pid, timeout)
        if self.process:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
            self.process = None
        left = stop_recorded(self.state_dir, timeout)
        if network_unavailable() is None:  # a killed platform leaves its bridge and pod namespaces
            Bridge(self.state_dir).remove_leftovers()
        remove_tree(platform_group(self.state_dir))  # and its pods' cgroups
        if not keep_data:
            EmbeddedKafka(self.state_dir).stop()
            LocalPostgres(self.state_dir).stop()
            LocalCeph(self.state_dir / CEPH_DIR).stop()
        return left

    def restart(self) -> None:
        """A restart of the platform; Kafka (and PostgreSQL), like a cluster's, keep running."""
        self.stop(keep_data=True)
        self.start()

    def kill_data_plane(self) -> None:
        """SIGKILL to the data plane (no drain, no last commit); the platform's supervisor starts another."""
        pid = int((self.state_dir / DATAPLANE_PID_FILE).read_text())
        os.kill(pid, signal.SIGKILL)

    def target(self) -> Target:
        endpoints = read_endpoints(self.state_dir)
        if endpoints is None:
            raise PlatformError("the reference is not running")
        return Target(
            kubeconfig=self.state_dir / "kubeconfig",
            ingress=endpoints.ingress,
            capabilities=frozenset({REFERENCE, RESTART, KILL_POD, RESERVE_INSTANCE, XPA, CEL_FILTERS}
                                   | ({VOLUMES} if _sandboxed() else set()) | ({KAFKA} if endpoints.kafka else set())
                                   | ({GPU} if endpoints.gpus else set())
                                   | ({CEPH} if ceph_unavailable() is None else set())),
            kafka_bootstrap=endpoints.kafka,
            platform=self,
        )


def _sandboxed() -> bool:
    """Whether the reference will run replicas in bubblewrap (and so can mount volumes)."""
    return shutil.which("bwrap") is not None and os.environ.get("KPROOF_SANDBOX", "").lower() not in (
        "none", "off", "0")


def _ready(endpoints: Endpoints) -> bool:
    try:
        return requests.get(f"{endpoints.api}/readyz", timeout=2,
                            verify=endpoints.ca or True).status_code == 200
    except requests.RequestException:
        return False


def stop_pid(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL to the whole session if it has not exited within `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
