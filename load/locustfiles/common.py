"""What every kproof scenario shares: a user that calls one Knative Service through the ingress.

Locust's `--host` is the ingress (e.g. http://127.0.0.1:8080); `--service-host` is the Service's host
(e.g. autoscale.default.example.com), sent as the Host header; `--path` is what each request asks for
(the autoscale app: `/?sleep=200` holds a request 200 ms).
"""

from __future__ import annotations

import os

from locust import FastHttpUser, events, task
from locust.env import Environment

from load.locustfiles import knative_tab  # noqa: F401  (the web UI's Knative tab, for every scenario)


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--service-host", default=os.environ.get("KPROOF_SERVICE_HOST", ""),
                        help="the Knative Service's host, sent as the Host header")
    parser.add_argument("--path", default=os.environ.get("KPROOF_PATH", "/?sleep=200"),
                        help="the path each request asks for")


def option(environment: Environment, name: str, default: str = "") -> str:
    options = environment.parsed_options
    return str(getattr(options, name, default) or default) if options else default


class ServiceUser(FastHttpUser):
    """One client in a closed loop: a request, its answer, the next request."""

    abstract = True

    def on_start(self) -> None:
        self.service_host = option(self.environment, "service_host")
        self.path = option(self.environment, "path", "/")

    @task
    def call(self) -> None:
        headers = {"Host": self.service_host} if self.service_host else {}
        self.client.get(self.path, headers=headers, name=self.path.split("?")[0] or "/")


def number(name: str, default: float) -> float:
    """A shape's knob from the environment (KPROOF_<NAME>), so CI can shrink a scenario."""
    return float(os.environ.get(f"KPROOF_{name.upper()}", default))
