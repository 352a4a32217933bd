"""Every scenario also runs from Locust's web UI: start it, swarm over the REST API, read the stats."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
import requests

from conformance.helpers import eventually
from conformance.serving.support import deploy, service
from kproof.target import Target
from load.runner import LOCUSTFILES


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("scenario", ["steady", "step", "burst", "ramp"])
def test_scenario_runs_from_the_web_ui(target: Target, namespace: str, app_image, scenario: str) -> None:
    deploy(target, service("web", namespace, app_image("helloworld")))
    swarm_from_the_web_ui(target, scenario, "web", namespace)


def swarm_from_the_web_ui(target: Target, scenario: str, service_name: str, namespace: str) -> None:
    """Starts Locust's web UI on the scenario, swarms over its REST API and reads the stats back."""
    port = _free_port()
    web = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILES / f"{scenario}.py"), "--web-host", "127.0.0.1",
         "--web-port", str(port), "--host", target.ingress, "--service-host",
         target.service_host(service_name, namespace), "--path", "/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: _answers(web), 30, "serving the web UI")
        assert "locust" in requests.get(web, timeout=5).text.lower()
        started = requests.post(f"{web}/swarm", data={"user_count": 2, "spawn_rate": 2, "host": target.ingress},
                                timeout=5)
        assert started.status_code == 200 and started.json()["success"]
        eventually(lambda: _requests(web) > 10, 30, "sending requests")
        assert requests.get(f"{web}/stats/requests", timeout=5).json()["fail_ratio"] == 0
        assert requests.post(f"{web}/stop", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(30)


def _answers(web: str) -> bool:
    try:
        return requests.get(web, timeout=2).status_code == 200
    except requests.RequestException:
        time.sleep(0.2)
        return False


def _requests(web: str) -> int:
    stats = requests.get(f"{web}/stats/requests", timeout=5).json()
    return sum(s["num_requests"] for s in stats["stats"] if s["name"] == "Aggregated")
