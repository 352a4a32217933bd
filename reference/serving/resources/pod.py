"""A revision's Pod: its containers with Knative's runtime contract, and the queue-proxy beside them
(Knative's pkg/reconciler/revision/resources/deploy.go makes the Deployment's pod template the same way)."""

from __future__ import annotations

import copy

from reference.apis.labels import CONFIGURATION, REVISION, REVISION_UID, SERVICE
from reference.apis.objects import DEFAULT_PORT, first_port, user_container
from reference.reconciler.podset import replica_pod, template_hash

REVISION_ONLY_FIELDS = ("containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds", "idleTimeoutSeconds")
USER_PORT_NAME = "user-port"
CONTRACT_ENV = ("PORT", "K_REVISION", "K_CONFIGURATION", "K_SERVICE")
# Knative requests queue-sidecar-cpu-request (25m) for its queue-proxy; a cpu quota counts it
QUEUE_PROXY = {"name": "queue-proxy", "image": "ghcr.io/kproof/queue-proxy", "resources": {"requests": {"cpu": "25m"}}}


def make_pod(revision: dict, port: int) -> dict:
    """The Pod a revision runs, its user container listening on `port` (the declared containerPort where pods
    have networks of their own); probes on the traffic port point at `port` too."""
    meta = revision["metadata"]
    labels = dict(meta.get("labels") or {})
    spec = copy.deepcopy(revision.get("spec") or {})
    timeout = spec.get("timeoutSeconds", 300)
    for field in REVISION_ONLY_FIELDS:
        spec.pop(field, None)
    user = user_container(spec)
    declared = first_port(spec)
    declared_port, declared_name = declared.get("containerPort") or DEFAULT_PORT, declared.get("name")
    user["ports"] = [{"name": USER_PORT_NAME, "containerPort": port, "protocol": "TCP"}]
    user["env"] = [e for e in user.get("env") or [] if e.get("name") not in CONTRACT_ENV] + [
        {"name": "PORT", "value": str(port)}, {"name": "K_REVISION", "value": meta["name"]},
        {"name": "K_CONFIGURATION", "value": labels.get(CONFIGURATION, "")},
        {"name": "K_SERVICE", "value": labels.get(SERVICE, "")}]
    for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = user.get(probe_name) or {}
        for action in ("httpGet", "tcpSocket"):
            if action in probe and probe[action].get("port") in (None, 0, "", declared_port, declared_name, "http"):
                probe[action]["port"] = port
    spec["containers"] = [*(spec.get("containers") or []), copy.deepcopy(QUEUE_PROXY)]
    spec.update({"restartPolicy": "Always", "terminationGracePeriodSeconds": timeout, "enableServiceLinks": False})
    labels.update({REVISION: meta["name"], REVISION_UID: meta["uid"], "app": meta["name"]})
    return replica_pod(revision, labels, dict(meta.get("annotations") or {}), spec,
                       template_hash(revision.get("spec")))
