"""Objects outlive a restart of the platform (only where the suite may restart it)."""

from __future__ import annotations

import pytest

from conformance.api.manifests import service
from kproof.target import RESTART, Target


@pytest.mark.spec("MUST", "stable", source="Kubernetes objects are persistent entities "
                  "(kubernetes.io/docs/concepts/overview/working-with-objects): they outlive a restart of the "
                  "control plane")
@pytest.mark.requires(RESTART)
def test_objects_survive_a_restart(target: Target, namespace: str) -> None:
    created = target.create(service("durable", namespace))
    config = target.create({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "durable", "namespace": namespace}, "data": {"k": "v"}})
    assert target.platform is not None
    target.platform.restart()
    target.reconnect()
    ksvc = target.get("serving.knative.dev/v1", "Service", "durable", namespace)
    assert ksvc is not None and ksvc["metadata"]["uid"] == created["metadata"]["uid"]
    assert ksvc["metadata"]["generation"] == 1
    kept = target.get("v1", "ConfigMap", "durable", namespace)
    assert kept["data"] == {"k": "v"} and kept["metadata"]["uid"] == config["metadata"]["uid"]
    later = target.create({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "after", "namespace": namespace}})
    assert int(later["metadata"]["resourceVersion"]) > int(kept["metadata"]["resourceVersion"]), \
        "resource versions keep increasing across a restart"
