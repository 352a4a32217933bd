"""ContainerSource: the Pod built from the template (sink env, overrides, --sink args, labels, owner) and the
controller in process: one pod, a rolling replacement when the template or sink changes, conditions."""

import asyncio
import json

import pytest

from reference.apis import conditions
from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.registry import Registry
from reference.apiserver.store import Store
from reference.sources.container import (
    HASH_LABEL,
    NAME_LABEL,
    SOURCE_LABEL,
    ContainerSourceReconciler,
    make_pod,
    with_sink_args,
)

SINK = "http://sink.default.svc.cluster.local/beats"


def container_source(containers: list[dict], sink: dict | None = None, overrides: dict | None = None,
                     labels: dict | None = None) -> dict:
    spec: dict = {"template": {"spec": {"containers": containers}}, "sink": sink or {"uri": SINK}}
    if labels:
        spec["template"]["metadata"] = {"labels": labels}
    if overrides is not None:
        spec["ceOverrides"] = overrides
    return {"apiVersion": "sources.knative.dev/v1", "kind": "ContainerSource",
            "metadata": {"name": "beats", "namespace": "default", "uid": "uid-beats", "generation": 1},
            "spec": spec}


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env") or []}


@pytest.mark.parametrize(("args", "expected"), [
    ([], []),
    (["--period=1"], ["--period=1"]),
    (["--sink=http://old"], [f"--sink={SINK}"]),
    (["--sink", "http://old", "--period", "2"], ["--sink", SINK, "--period", "2"]),
    (["-sink=$(K_SINK)"], [f"-sink={SINK}"]),
    (["--period=1", "--sink"], ["--period=1", "--sink", SINK]),
    (["--sink", "--period=1"], ["--sink", SINK, "--period=1"]),
    (["--sinks=x", "sink"], ["--sinks=x", "sink"]),
])
def test_a_sink_argument_is_given_the_sink(args: list[str], expected: list[str]) -> None:
    assert with_sink_args(args, SINK) == expected


def test_every_container_learns_the_sink_and_the_overrides() -> None:
    source = container_source(
        [{"name": "a", "image": "ghcr.io/kproof/heartbeats", "env": [{"name": "K_SINK", "value": "stale"},
                                                                     {"name": "KEEP", "value": "me"}]},
         {"name": "b", "image": "ghcr.io/kproof/heartbeats", "args": ["--sink=x", "--period=1"]}],
        overrides={"extensions": {"team": "blue", "run": "7"}})
    pod = make_pod(source, SINK)
    first, second = pod["spec"]["containers"]
    for container in (first, second):
        env = env_of(container)
        assert env["K_SINK"] == env["SINK"] == SINK
        assert json.loads(env["K_CE_OVERRIDES"]) == {"extensions": {"team": "blue", "run": "7"}}
        assert env["K_CE_OVERRIDES"] == '{"extensions":{"run":"7","team":"blue"}}'  # as Go marshals it
    assert env_of(first)["KEEP"] == "me" and [e["name"] for e in first["env"]].count("K_SINK") == 1
    assert second["args"] == [f"--sink={SINK}", "--period=1"]
    assert "args" not in first


def test_no_overrides_no_k_ce_overrides() -> None:
    pod = make_pod(container_source([{"name": "a", "image": "i"}]), SINK)
    assert "K_CE_OVERRIDES" not in env_of(pod["spec"]["containers"][0])


def test_the_pod_is_owned_and_labelled_like_the_deployments_replica() -> None:
    source = container_source([{"name": "a", "image": "i"}], labels={"app": "beats"})
    registry = Registry(Store())
    bootstrap(registry)
    pods = registry.kinds.by_path("", "v1", "pods")
    pod = registry.create(pods, "default", make_pod(source, SINK))  # the API server completes generateName
    meta = pod["metadata"]
    assert meta["name"].startswith("beats-deployment-") and meta["namespace"] == "default"
    assert meta["labels"][NAME_LABEL] == "beats" and meta["labels"][SOURCE_LABEL] == "container-source-controller"
    assert meta["labels"]["app"] == "beats"
    assert meta["ownerReferences"] == [{"apiVersion": "sources.knative.dev/v1", "kind": "ContainerSource",
                                        "name": "beats", "uid": "uid-beats", "controller": True,
                                        "blockOwnerDeletion": True}]
    assert pod["spec"]["restartPolicy"] == "Always"
    again = registry.create(pods, "default", make_pod(source, SINK))
    assert again["metadata"]["labels"][HASH_LABEL] == meta["labels"][HASH_LABEL]
    assert again["metadata"]["name"] != meta["name"]
    assert make_pod(source, SINK + "2")["metadata"]["labels"][HASH_LABEL] != meta["labels"][HASH_LABEL]


# The controller in process ------------------------------------------------------------------------------

def _setup() -> tuple[Registry, ContainerSourceReconciler]:
    registry = Registry(Store())
    bootstrap(registry)
    return registry, ContainerSourceReconciler(registry)


def _create(registry: Registry, source: dict) -> None:
    kind = registry.kinds.by_path("sources.knative.dev", "v1", "containersources")
    registry.create(kind, "default", {**source, "metadata": {"name": source["metadata"]["name"]}})


def _pods(registry: Registry) -> list[dict]:
    pods = registry.kinds.by_path("", "v1", "pods")
    return [e.obj for e in registry.store.entries(pods.resource, "default")
            if not e.obj["metadata"].get("deletionTimestamp")]


def _set_pod_status(registry: Registry, pod: dict, ready: bool, waiting: str | None = None) -> None:
    pods = registry.kinds.by_path("", "v1", "pods")
    current = registry.get(pods, "default", pod["metadata"]["name"])
    state = {"waiting": {"reason": waiting, "message": "no such image"}} if waiting else {"running": {}}
    current["status"] = {"phase": "Running" if ready else "Pending",
                         "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                         "containerStatuses": [{"name": "a", "ready": ready, "state": state}]}
    registry.update(pods, "default", pod["metadata"]["name"], current, subresource="status")


def _status(registry: Registry) -> dict:
    kind = registry.kinds.by_path("sources.knative.dev", "v1", "containersources")
    return registry.get(kind, "default", "beats")["status"]


def test_one_pod_then_ready_then_a_rolling_replacement() -> None:
    registry, controller = _setup()
    _create(registry, container_source([{"name": "a", "image": "ghcr.io/kproof/heartbeats"}]))
    asyncio.run(controller.reconcile(("default", "beats")))
    asyncio.run(controller.reconcile(("default", "beats")))
    (pod,) = _pods(registry)
    status = _status(registry)
    assert status["sinkUri"] == SINK and conditions.is_true({"status": status}, "SinkBindingReady")
    assert conditions.get({"status": status}, "ReceiveAdapterReady")["status"] == "Unknown"
    assert not conditions.is_true({"status": status})

    _set_pod_status(registry, pod, ready=True)
    asyncio.run(controller.reconcile(("default", "beats")))
    assert conditions.is_true({"status": _status(registry)})

    kind = registry.kinds.by_path("sources.knative.dev", "v1", "containersources")
    current = registry.get(kind, "default", "beats")
    current["spec"]["template"]["spec"]["containers"][0]["args"] = ["--period=1"]
    registry.update(kind, "default", "beats", current)
    asyncio.run(controller.reconcile(("default", "beats")))
    pods = _pods(registry)
    assert len(pods) == 2  # the old one keeps sending until the new one is ready
    (new,) = [p for p in pods if p["metadata"]["name"] != pod["metadata"]["name"]]
    assert new["spec"]["containers"][0]["args"] == ["--period=1"]
    _set_pod_status(registry, new, ready=True)
    asyncio.run(controller.reconcile(("default", "beats")))
    assert [p["metadata"]["name"] for p in _pods(registry)] == [new["metadata"]["name"]]
    assert _status(registry)["observedGeneration"] == 2


def test_a_pod_that_cannot_start_makes_the_source_not_ready_with_its_reason() -> None:
    registry, controller = _setup()
    _create(registry, container_source([{"name": "a", "image": "example.com/absent"}]))
    asyncio.run(controller.reconcile(("default", "beats")))
    _set_pod_status(registry, _pods(registry)[0], ready=False, waiting="ImagePullBackOff")
    asyncio.run(controller.reconcile(("default", "beats")))
    ready = conditions.get({"status": _status(registry)})
    assert (ready["status"], ready["reason"]) == ("False", "ImagePullBackOff")


def test_a_sink_that_does_not_resolve_starts_nothing() -> None:
    registry, controller = _setup()
    _create(registry, container_source([{"name": "a", "image": "i"}], sink={"ref": {
        "apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "absent"}}))
    assert asyncio.run(controller.reconcile(("default", "beats"))) is not None
    status = _status(registry)
    bound = conditions.get({"status": status}, "SinkBindingReady")
    assert (bound["status"], bound["reason"]) == ("False", "NotFound") and "absent" in bound["message"]
    assert conditions.get({"status": status})["status"] == "False" and "sinkUri" not in status
    assert _pods(registry) == []
