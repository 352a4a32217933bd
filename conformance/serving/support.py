"""Deploying Knative Services and driving traffic at them, for the serving tests."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

from kproof.target import REFERENCE, Target

KSVC = ("serving.knative.dev/v1", "Service")
READY_TIMEOUT = 180


def service(name: str, namespace: str, image: str, *, env: dict[str, str] | None = None,
            annotations: dict[str, str] | None = None, revision_name: str | None = None,
            traffic: list[dict] | None = None, **spec: object) -> dict:
    container: dict = {"image": image}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    for key in ("command", "args", "readinessProbe", "livenessProbe", "ports", "resources"):
        if key in spec:
            container[key] = spec.pop(key)
    template: dict = {"spec": {"containers": [container], **spec}}
    if annotations or revision_name:
        template["metadata"] = {}
        if annotations:
            template["metadata"]["annotations"] = annotations
        if revision_name:
            template["metadata"]["name"] = revision_name
    body: dict = {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                  "metadata": {"name": name, "namespace": namespace}, "spec": {"template": template}}
    if traffic is not None:
        body["spec"]["traffic"] = traffic
    return body


def reference_state_dir(target: Target) -> Path:
    """The state directory of a reference target (its kubeconfig lives there)."""
    return Path(getattr(target.platform, "state_dir", None) or Path(target.kubeconfig).parent)


def containment(target: Target) -> dict:
    """What a reference says of how it contains replicas (kproof status); {} elsewhere."""
    if not target.has(REFERENCE):
        return {}
    try:
        return json.loads((reference_state_dir(target) / "endpoints.json").read_text()).get("containment") or {}
    except (OSError, ValueError):
        return {}


def deploy(target: Target, manifest: dict, timeout: float = READY_TIMEOUT) -> dict:
    """Applies a Service and waits until it is Ready for its latest generation."""
    target.apply(manifest)
    meta = manifest["metadata"]
    return target.wait_for(*KSVC, meta["name"], meta["namespace"], timeout=timeout)


def wait_for_revision(target: Target, name: str, namespace: str, revision: str, timeout: float = READY_TIMEOUT
                      ) -> dict:
    """Waits until the Service is Ready with `revision` as its latest ready revision."""
    def holds(obj: dict | None) -> bool:
        status = (obj or {}).get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        return ready and status.get("latestReadyRevisionName") == revision
    found = target.wait_until(*KSVC, name, holds, namespace, timeout, what=f"serving {revision}")
    assert found is not None
    return found


@dataclass
class Stream:
    """A steady stream of requests from a few client threads, counting what comes back."""

    target: Target
    service: str
    namespace: str
    path: str = "/"
    clients: int = 3
    pause: float = 0.02
    results: Counter = field(default_factory=Counter)
    revisions: Counter = field(default_factory=Counter)  # who answered (X-Kproof-Revision), where told
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Stream:
        host = self.target.service_host(self.service, self.namespace)
        for _ in range(self.clients):
            thread = threading.Thread(target=self._run, args=(host,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, host: str) -> None:
        session = requests.Session()
        deadline = time.monotonic() + 600  # a bound, should a test forget to stop the stream
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                response = session.get(self.target.ingress.rstrip("/") + self.path, headers={"Host": host},
                                       timeout=60)
                self.results[response.status_code] += 1
                if "X-Kproof-Revision" in response.headers:
                    self.revisions[response.headers["X-Kproof-Revision"]] += 1
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code}: {response.text[:200]}")
            except requests.RequestException as err:
                self.results["error"] += 1
                self.failures.append(repr(err))
            time.sleep(self.pause)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)

    @property
    def total(self) -> int:
        return sum(self.results.values())
