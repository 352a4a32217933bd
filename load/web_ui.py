"""Locust's web UI on a kproof scenario, in the foreground: the scenario's options, what the Knative tab
needs to watch the Service, and with `workers` above one a master and that many local workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from kproof.target import Target
from load.distributed import LOOPBACK, STOP_SECONDS, local_workers, master_arguments
from load.runner import LOCUSTFILES


def web_ui_command(target: Target, scenario: str, service: str, namespace: str, *, path: str = "/",
                   web_port: int = 8089, workers: int = 1, master_port: int = 0,
                   master_bind: str = LOOPBACK) -> list[str]:
    if not target.ingress:
        raise RuntimeError("the target has no ingress address")
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILES / f"{scenario}.py"),
               "--web-host", LOOPBACK, "--web-port", str(web_port), "--host", target.ingress,
               "--service-host", target.service_host(service, namespace), "--path", path,
               "--kubeconfig", str(target.kubeconfig.resolve()), "--service", service, "--namespace", namespace]
    if workers > 1:
        command += master_arguments(workers, master_port, master_bind, headless=False)
    return command


def run_web_ui(target: Target, scenario: str, service: str, namespace: str, *, path: str = "/",
               web_port: int = 8089, workers: int = 1, master_port: int = 0, master_bind: str = LOOPBACK) -> int:
    """Serves the web UI until Ctrl-C or SIGTERM; the master and every worker are stopped and reaped."""
    command = web_ui_command(target, scenario, service, namespace, path=path, web_port=web_port, workers=workers,
                             master_port=master_port, master_bind=master_bind)
    locustfile = LOCUSTFILES / f"{scenario}.py"
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with local_workers(locustfile, workers if workers > 1 else 0, master_port, dict(os.environ)):
            master = subprocess.Popen(command, stdin=subprocess.DEVNULL)
            try:
                return master.wait()
            except KeyboardInterrupt:
                master.terminate()  # Ctrl-C reached it already; SIGTERM did not
                try:
                    master.wait(STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    master.kill()
                    master.wait()
                return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
