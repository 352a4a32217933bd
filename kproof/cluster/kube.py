"""Talking to the cluster as its admin: plain HTTPS GETs for health and state, kubectl for applying YAML."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import requests

from kproof.cluster.state import API_PORT, Layout

KUBECTL_TIMEOUT = 300.0


class KubeError(RuntimeError):
    pass


class Admin:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.url = f"https://127.0.0.1:{API_PORT}"
        self.session = requests.Session()
        self.cert = (str(layout.pki / "admin.crt"), str(layout.pki / "admin.key"))
        self.ca = str(layout.pki / "ca.crt")

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, dict]:
        """(status, JSON body); status 0 when the API server does not answer."""
        try:
            # per request: a session's own `verify` loses to REQUESTS_CA_BUNDLE from the environment
            response = self.session.get(self.url + path, timeout=timeout, verify=self.ca, cert=self.cert)
        except requests.RequestException:
            return 0, {}
        try:
            body = response.json()
        except ValueError:
            body = {"text": response.text}
        return response.status_code, body if isinstance(body, dict) else {}

    def kubectl(self, *arguments: str, timeout: float = KUBECTL_TIMEOUT) -> str:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise KubeError("kubectl is not installed (scripts/setup.sh installs it)")
        command = [kubectl, "--kubeconfig", str(self.layout.kubeconfig), *arguments]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise KubeError(f"kubectl {' '.join(arguments)}: no answer within {timeout:.0f}s") from err
        if done.returncode != 0:
            raise KubeError(f"kubectl {' '.join(arguments)}: {done.stderr.strip()[-3000:]}")
        return done.stdout

    def apply(self, path: Path) -> None:
        # server-side: no last-applied annotation, which Knative's largest CRDs would overflow
        self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=kproof", "-f", str(path))
