"""The networking layer the ingress conformance tests drive on a reference: its data plane in KIngress mode
(reference/dataplane/kingress.py), run against the reference's API server as a networking layer runs against a
cluster. It serves the KIngresses of its class on a public, a cluster-local and a TLS listener, reaches the
tests' Pods through the EndpointSlices the reference writes, and publishes its Services (kproof-kingress,
kproof-kingress-internal). The tests dial the node ports of the public Service that the KIngresses' status
names, as on a kind cluster; with no kube-proxy on a reference, those node ports are the listeners' own ports.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from kproof.upstream.target import free_node_port

INGRESS_CLASS = "kproof.ingress.networking.knative.dev"
NAMESPACE = "kproof-system"
PUBLIC_SERVICE, PRIVATE_SERVICE = "kproof-kingress", "kproof-kingress-internal"
GATEWAY = (NAMESPACE, PUBLIC_SERVICE)
START_SECONDS = 60.0
STOP_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class KIngressLayer:
    def __init__(self, kubeconfig: Path, state_dir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.state_dir = state_dir
        self.process: subprocess.Popen | None = None
        self.log_path = state_dir / "kingress.log"

    def command(self, listen: int, private: int, tls: int, admin: int) -> list[str]:
        return [sys.executable, "-m", "reference.dataplane", "--kubeconfig", str(self.kubeconfig),
                "--kingress-class", INGRESS_CLASS, "--listen", f"127.0.0.1:{listen}",
                "--private-listen", f"127.0.0.1:{private}", "--tls-listen", f"127.0.0.1:{tls}",
                "--admin-listen", f"127.0.0.1:{admin}", "--publish-address", "127.0.0.1",
                "--service-namespace", NAMESPACE, "--public-service", PUBLIC_SERVICE,
                "--private-service", PRIVATE_SERVICE, "--node-ports", "--state-dir", str(self.state_dir)]

    def start(self) -> tuple[str, str]:
        """Starts it (it publishes its Services); returns its public Service (namespace, name)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        listen, tls = free_node_port(), free_node_port()
        while tls == listen:
            tls = free_node_port()
        admin = _free_port()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command(listen, _free_port(), tls, admin), stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_SECONDS
        while not self._healthy(admin):
            if self.process.poll() is not None:
                raise RuntimeError(f"the KIngress data plane exited ({self.process.returncode}); see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the KIngress data plane was not ready in {START_SECONDS:.0f} s; see "
                                   f"{self.log_path}")
            time.sleep(0.5)
        return GATEWAY

    @staticmethod
    def _healthy(admin: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/healthz", timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_SECONDS)
