"""Helpers for the tests of ApiServerSource, SinkBinding, JobSink and EventPolicy: Knative's documented examples
as fixtures, what event_display printed (read back from a pod's log), and ServiceAccount tokens from the API
server's TokenRequest subresource."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import yaml

from kproof.target import Target, pod_is_ready

EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "manifests" / "eventing"
BANNER = "☁️  cloudevents.Event"
DEPLOYMENT = ("apps/v1", "Deployment")
JOB = ("batch/v1", "Job")
CRON_JOB = ("batch/v1", "CronJob")
KSVC = ("serving.knative.dev/v1", "Service")
API_SERVER_SOURCE = ("sources.knative.dev/v1", "ApiServerSource")
SINK_BINDING = ("sources.knative.dev/v1", "SinkBinding")
PING_SOURCE = ("sources.knative.dev/v1", "PingSource")
JOB_SINK = ("sinks.knative.dev/v1alpha1", "JobSink")
EVENT_POLICY = ("eventing.knative.dev/v1alpha1", "EventPolicy")
SERVICE_ACCOUNT = ("v1", "ServiceAccount")
RBAC = "rbac.authorization.k8s.io/v1"


def example(kind: str, name: str) -> list[dict]:
    """A docs example, as the fixture holds it."""
    return [doc for doc in yaml.safe_load_all((EXAMPLES / kind / name).read_text()) if doc]


def apply_example(target: Target, kind: str, *names: str, namespace: str | None = None) -> list[dict]:
    applied: list[dict] = []
    for name in names:
        applied += target.apply(example(kind, name), namespace=namespace)
    return applied


@contextlib.contextmanager
def fixed_namespaces(target: Target, *names: str) -> Iterator[None]:
    """Namespaces a docs example names itself: gone before (a run that was killed may have left them) and
    after."""
    for name in names:
        target.delete("v1", "Namespace", name, timeout=120)
    try:
        yield
    finally:
        for name in names:
            target.delete("v1", "Namespace", name, wait=False)


def pod_log(target: Target, namespace: str, selector: str, container: str | None = None,
            ready_only: bool = True) -> str:
    """What the pods the selector picks printed (one container's log)."""
    texts = []
    for pod in target.list("v1", "Pod", namespace, label_selector=selector):
        if ready_only and not pod_is_ready(pod):
            continue
        params = {"container": container} if container else {}
        response = target.raw("GET", f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}/log",
                              params=params, timeout=10)
        if response.status_code == 200:
            texts.append(response.content.decode("utf-8", errors="replace"))  # text/plain names no charset
    return "\n".join(texts)


def displayed(log: str) -> list[dict]:
    """The events in event_display's log, in order: their attributes and extensions, and `data` (the printed
    data, decoded when it is JSON)."""
    found = []
    for block in log.split(BANNER)[1:]:
        attributes: dict = {}
        data: list[str] = []
        section = ""
        for line in block.splitlines():
            if line in ("Context Attributes,", "Extensions,", "Data,"):
                section = line
            elif section == "Data," and line.startswith("  "):
                data.append(line[2:])
            elif section and line.startswith("  ") and ": " in line:
                key, _, value = line.strip().partition(": ")
                attributes[key] = value
            elif line.strip() and not line.startswith(" "):
                break
        if data:
            text = "\n".join(data)
            try:
                attributes["data"] = json.loads(text)
            except ValueError:
                attributes["data"] = text
        found.append(attributes)
    return found


def token_for(target: Target, namespace: str, account: str, audience: str) -> str:
    """A token of the ServiceAccount for `audience`, from the API server's TokenRequest subresource."""
    response = target.raw("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
                          json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                "spec": {"audiences": [audience], "expirationSeconds": 3600}})
    assert response.status_code == 201, response.text
    return str(response.json()["status"]["token"])


def service_account(name: str, namespace: str) -> dict:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}


def role(name: str, namespace: str, resources: list[str], group: str = "") -> dict:
    return {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": name, "namespace": namespace},
            "rules": [{"apiGroups": [group], "resources": resources, "verbs": ["get", "list", "watch"]}]}


def role_binding(name: str, namespace: str, role_name: str, account: str, cluster: bool = False) -> dict:
    return {"apiVersion": RBAC, "kind": "ClusterRoleBinding" if cluster else "RoleBinding",
            "metadata": {"name": name, **({} if cluster else {"namespace": namespace})},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole" if cluster else "Role",
                        "name": role_name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]}
