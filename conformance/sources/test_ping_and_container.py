"""ContainerSource and PingSource: a ContainerSource runs its image told where the sink is (K_SINK) and what
to add to its events (K_CE_OVERRIDES), and its events stop when it is deleted; a PingSource sends its data
on the minute with Knative's attributes (and Kn-Namespace); a source whose sink does not exist is not Ready."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from conformance.eventing.support import Bench, sink_ref
from conformance.helpers import eventually, unique
from kproof.target import Target, condition_status, pod_is_ready

CONTAINER_SOURCE = ("sources.knative.dev/v1", "ContainerSource")
PING_SOURCE = ("sources.knative.dev/v1", "PingSource")
HEARTBEAT_TYPE = "dev.knative.eventing.samples.heartbeat"
PING_TYPE = "dev.knative.sources.ping"
# PingSource schedules have minute granularity. Ready does not wait for Knative's multi-tenant adapter
# (scaled from zero for the first PingSource) to load the schedule, so the first event may come a minute later.
FIRST_PING = 135


@pytest.fixture(autouse=True)
def _sources(target: Target) -> None:
    try:
        target.resource(*PING_SOURCE)
    except ResourceNotFoundError:
        pytest.skip("the target does not serve sources.knative.dev/v1 (Knative Eventing's sources)")


def heartbeats_source(name: str, namespace: str, image: str, sink: dict, extensions: dict[str, str]) -> dict:
    """Knative's heartbeats sample as a ContainerSource: a beat a second (PERIOD), the pod's name and
    namespace for the event source (the sample requires them)."""
    field = {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    env = [{"name": "PERIOD", "value": "1"}] + [{"name": k, "valueFrom": {"fieldRef": {"fieldPath": v}}}
                                               for k, v in field.items()]
    return {"apiVersion": CONTAINER_SOURCE[0], "kind": CONTAINER_SOURCE[1],
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"spec": {"containers": [{"name": "heartbeats", "image": image, "env": env}]}},
                     "sink": sink, "ceOverrides": {"extensions": extensions}}}


def ping_source(name: str, namespace: str, sink: dict, **spec: object) -> dict:
    return {"apiVersion": PING_SOURCE[0], "kind": PING_SOURCE[1], "metadata": {"name": name, "namespace": namespace},
            "spec": {**spec, "sink": sink}}


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, eventing/custom-event-source/containersource: the sink's "
                  "URL in K_SINK, overrides in K_CE_OVERRIDES")
@pytest.mark.quick
def test_a_container_source_runs_its_image_with_the_sink_and_stops_when_deleted(
        bench: Bench, app_image: Callable[[str], str]) -> None:
    name, namespace = unique("beats"), bench.namespace
    path = f"/{name}"
    bench.target.create(heartbeats_source(name, namespace, app_image("heartbeats"), sink_ref("sink", namespace, path),
                                          {"kproofrun": name}))
    ready = bench.target.wait_for(*CONTAINER_SOURCE, name, namespace, timeout=120)
    sink_uri = ready["status"]["sinkUri"]
    assert sink_uri.endswith(path), f"the sink's address with the path: {sink_uri}"

    def ready_envs() -> list[dict[str, str | None]]:
        pods = bench.target.list("v1", "Pod", namespace, label_selector=f"sources.knative.dev/containerSource={name}")
        return [{e["name"]: e.get("value") for e in p["spec"]["containers"][0].get("env") or []}
                for p in pods if pod_is_ready(p)]

    # Knative's SinkBinding injects K_SINK into the source's Deployment, which then rolls out a new pod: until
    # it is ready, a ready pod from before the injection may still be there.
    envs = eventually(lambda: [e for e in ready_envs() if e.get("K_SINK") == sink_uri], 60,
                      f"a ready pod labelled with its ContainerSource, its K_SINK {sink_uri}")
    assert isinstance(envs, list)
    env = envs[0]
    assert "kproofrun" in (env.get("K_CE_OVERRIDES") or ""), "the overrides reach it as K_CE_OVERRIDES"

    records = bench.await_records("sink", 2, path, timeout=60)
    beat = records[0]["event"]
    assert beat["type"] == HEARTBEAT_TYPE
    assert beat["source"].startswith("https://knative.dev/") and f"#{namespace}/" in beat["source"], beat["source"]
    assert beat["kproofrun"] == name, "spec.ceOverrides extensions are on every event"
    assert records[0]["data"]["id"] >= 1 and "label" in records[0]["data"]

    bench.target.delete(*CONTAINER_SOURCE, name, namespace, timeout=60)
    stopped = len(bench.settled("sink", path, quiet=3.0, timeout=60))
    after = len(bench.settled("sink", path, quiet=3.0, timeout=10))
    assert after == stopped, f"{after - stopped} heartbeat(s) after the source and its pod were gone"


@pytest.mark.spec("SHOULD", "stable", source="Knative docs, eventing/sources/ping-source: data on the cron schedule, "
                  "type dev.knative.sources.ping")
def test_a_ping_source_sends_its_data_on_the_minute(bench: Bench) -> None:
    name, namespace = unique("ping"), bench.namespace
    path = f"/{name}"
    bench.target.create(ping_source(name, namespace, sink_ref("sink", namespace, path), schedule="* * * * *",
                                    data='{"msg": "hi"}', contentType="application/json",
                                    ceOverrides={"extensions": {"kproofrun": name}}))
    try:
        ready = bench.target.wait_for(*PING_SOURCE, name, namespace, timeout=60)
        assert ready["status"]["sinkUri"].endswith(path)
        record = bench.await_records("sink", 1, path, timeout=FIRST_PING)[0]
    finally:
        bench.target.delete(*PING_SOURCE, name, namespace, wait=False)
    ping = record["event"]
    assert ping["type"] == PING_TYPE
    assert ping["source"] == f"/apis/v1/namespaces/{namespace}/pingsources/{name}"
    assert ping["kproofrun"] == name and ping.get("datacontenttype") == "application/json"
    assert ping.get("id") and ping.get("time"), "a fresh id and the time of the tick"
    assert record["data"] == {"msg": "hi"}
    namespace_header = next((v for k, v in record["headers"].items() if k.lower() == "kn-namespace"), None)
    assert namespace_header == namespace, "a source's deliveries carry Kn-Namespace, as Knative's adapters send it"


@pytest.mark.spec("SHOULD", "stable", source="knative/specs common/error-signalling.md: \"Conditions where the "
                  "status is False MUST provide a failure reason\"; a source's SinkProvided is False while its sink "
                  "is missing")
@pytest.mark.parametrize("kind", ["PingSource", "ContainerSource"])
def test_a_source_whose_sink_does_not_exist_is_not_ready(bench: Bench, app_image: Callable[[str], str],
                                                        kind: str) -> None:
    name, namespace = unique("nosink"), bench.namespace
    absent = sink_ref("nobody", namespace)
    if kind == "PingSource":
        manifest = ping_source(name, namespace, absent, schedule="* * * * *", data="hi")
    else:
        manifest = heartbeats_source(name, namespace, app_image("heartbeats"), absent, {"kproofrun": name})
    api_version = PING_SOURCE[0]
    bench.target.create(manifest)
    try:
        found = bench.target.wait_until(api_version, kind, name,
                                        lambda s: condition_status(s or {}, "Ready") == "False", namespace, 30,
                                        what="Ready=False")
    finally:
        bench.target.delete(api_version, kind, name, namespace, wait=False)
    assert not (found.get("status") or {}).get("sinkUri"), "no sink URI for a sink that does not resolve"
