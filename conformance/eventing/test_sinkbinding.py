"""SinkBinding (sources.knative.dev/v1): Knative's "Create a SinkBinding" applied as the docs give it (event_display
as a Knative Service, a CronJob of heartbeats, a SinkBinding selecting its Jobs) delivers the heartbeats the Jobs
send to K_SINK; a Deployment named as the subject gets K_SINK and K_CE_OVERRIDES and follows the sink when it
moves, and loses them when the binding goes; a missing subject and an unresolvable sink leave the binding not
Ready with Knative's reasons; bad specs are refused naming the field."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from conformance.eventing.docs_support import (
    DEPLOYMENT,
    JOB,
    KSVC,
    SINK_BINDING,
    apply_example,
    displayed,
    pod_log,
)
from conformance.eventing.support import Bench, sink_ref
from conformance.helpers import assert_invalid, eventually, refused, unique
from kproof.target import Target, condition_status

DOCS = "https://knative.dev/docs/eventing/custom-event-source/sinkbinding/create-a-sinkbinding/"
REFERENCE = "https://knative.dev/docs/eventing/custom-event-source/sinkbinding/reference/"
HEARTBEAT = "dev.knative.eventing.samples.heartbeat"
# The first heartbeat comes with the CronJob's next minute, then a Job's pod starts and sends.
FIRST_BEAT = 150


@pytest.fixture(autouse=True)
def _served(target: Target) -> None:
    try:
        target.resource(*SINK_BINDING)
    except ResourceNotFoundError:
        pytest.skip("the target does not serve sources.knative.dev/v1 SinkBinding")


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env") or []}


def binding(name: str, namespace: str, subject: dict, sink: dict, **spec: object) -> dict:
    return {"apiVersion": SINK_BINDING[0], "kind": SINK_BINDING[1], "metadata": {"name": name, "namespace": namespace},
            "spec": {"subject": subject, "sink": sink, **spec}}


def heartbeats(name: str, namespace: str, image: str) -> dict:
    """A Deployment that sends a heartbeat a second to wherever K_SINK points."""
    field = {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    env = [{"name": "PERIOD", "value": "1"}] + [{"name": k, "valueFrom": {"fieldRef": {"fieldPath": v}}}
                                               for k, v in field.items()]
    labels = {"app": name}
    return {"apiVersion": DEPLOYMENT[0], "kind": DEPLOYMENT[1], "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "heartbeats", "image": image, "env": env}]}}}}


@pytest.mark.spec("MUST", "stable", source=DOCS)
def test_the_docs_sinkbinding_sends_the_cron_jobs_heartbeats_to_event_display(target: Target, namespace: str) -> None:
    applied = apply_example(target, "sinkbinding", "event-display.yaml", "heartbeat-cron.yaml", "sinkbinding.yaml",
                            namespace=namespace)
    assert [o["kind"] for o in applied] == ["Service", "CronJob", "SinkBinding"]
    sink_url = target.wait_for(*KSVC, "event-display", namespace, timeout=180)["status"]["address"]["url"]
    ready = target.wait_for(*SINK_BINDING, "bind-heartbeat", namespace, timeout=60)
    assert ready["status"]["sinkUri"] == sink_url
    for condition in ("SinkProvided", "SinkBindingAvailable", "OIDCIdentityCreated", "OIDCTokenSecretCreated"):
        assert condition_status(ready, condition) == "True", condition

    def beats() -> list[dict]:
        log = pod_log(target, namespace, "serving.knative.dev/service=event-display", "user-container")
        return [e for e in displayed(log) if e.get("type") == HEARTBEAT]

    found = eventually(beats, FIRST_BEAT, "a heartbeat of the CronJob's Job displayed")
    assert isinstance(found, list)
    beat = found[0]
    assert beat["source"].startswith(f"https://knative.dev/eventing-contrib/cmd/heartbeats/#{namespace}/"
                                     "heartbeat-cron-"), beat["source"]
    assert (beat["beats"], beat["heart"], beat["the"]) == ("true", "yes", "42")
    assert beat["data"] == {"id": 1, "label": ""}

    jobs = target.list(*JOB, namespace, label_selector="app=heartbeat-cron")
    assert jobs, "the CronJob's Jobs carry the label the binding selects"
    env = env_of(jobs[0]["spec"]["template"]["spec"]["containers"][0])
    assert env["K_SINK"] == sink_url and env["K_CE_OVERRIDES"] == "", "the binding's variables, as Knative sets them"


@pytest.mark.spec("MUST", "stable", source=REFERENCE)
def test_a_deployment_subject_follows_the_sink_and_loses_it_with_the_binding(
        bench: Bench, app_image: Callable[[str], str]) -> None:
    name, namespace, target = unique("bound"), bench.namespace, bench.target
    first, second = f"/{name}-first", f"/{name}-second"
    target.create(heartbeats(name, namespace, app_image("heartbeats")))
    target.create(binding(name, namespace, {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                          sink_ref("sink", namespace, first), ceOverrides={"extensions": {"kproofrun": name}}))
    try:
        ready = target.wait_for(*SINK_BINDING, name, namespace, timeout=60)
        assert ready["status"]["sinkUri"].endswith(first)
        record = bench.await_records("sink", 1, first, timeout=90)[0]
        assert record["event"]["type"] == HEARTBEAT and record["event"]["kproofrun"] == name, \
            "K_CE_OVERRIDES' extensions reach the events"
        container = target.get(*DEPLOYMENT, name, namespace)["spec"]["template"]["spec"]["containers"][0]
        assert env_of(container)["K_CE_OVERRIDES"] == '{"extensions":{"kproofrun":"' + name + '"}}'

        target.patch(*SINK_BINDING, name, {"spec": {"sink": sink_ref("sink", namespace, second)}}, namespace)
        moved = target.wait_until(*SINK_BINDING, name,
                                  lambda b: ((b or {}).get("status") or {}).get("sinkUri", "").endswith(second),
                                  namespace, 30, what="re-resolved")
        assert moved is not None
        bench.await_records("sink", 1, second, timeout=90)
        container = target.get(*DEPLOYMENT, name, namespace)["spec"]["template"]["spec"]["containers"][0]
        assert env_of(container)["K_SINK"] == moved["status"]["sinkUri"]
    finally:
        target.delete(*SINK_BINDING, name, namespace, timeout=60)
    container = target.get(*DEPLOYMENT, name, namespace)["spec"]["template"]["spec"]["containers"][0]
    assert "K_SINK" not in env_of(container) and "K_CE_OVERRIDES" not in env_of(container), \
        "a deleted binding takes its variables out of its subjects"
    target.delete(*DEPLOYMENT, name, namespace, wait=False)


@pytest.mark.spec("MUST", "stable", source=REFERENCE)
def test_a_missing_subject_or_sink_leaves_the_binding_not_ready(bench: Bench) -> None:
    namespace, target = bench.namespace, bench.target
    no_subject, no_sink = unique("nosubject"), unique("nosink")
    target.create(binding(no_subject, namespace, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nobody"},
                          sink_ref("sink", namespace)))
    target.create(binding(no_sink, namespace, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nobody"},
                          sink_ref("nobody", namespace)))
    try:
        missing = target.wait_until(*SINK_BINDING, no_subject,
                                    lambda b: condition_status(b or {}, "SinkBindingAvailable") == "False",
                                    namespace, 30, what="SinkBindingAvailable=False")
        unresolved = target.wait_until(*SINK_BINDING, no_sink,
                                       lambda b: condition_status(b or {}, "SinkProvided") == "False",
                                       namespace, 30, what="SinkProvided=False")
    finally:
        for name in (no_subject, no_sink):
            target.delete(*SINK_BINDING, name, namespace, wait=False)
    reasons = {c["type"]: c.get("reason") for c in (missing or {})["status"]["conditions"]}
    assert reasons["SinkBindingAvailable"] == "SubjectMissing" and condition_status(missing or {}, "Ready") == "False"
    reasons = {c["type"]: c.get("reason") for c in (unresolved or {})["status"]["conditions"]}
    assert reasons["SinkProvided"] == "NoAddressable" and condition_status(unresolved or {}, "Ready") == "False"


@pytest.mark.spec("MUST", "stable", source=REFERENCE)
@pytest.mark.parametrize(("subject", "field"), [
    ({"apiVersion": "apps/v1", "kind": "Deployment"}, "spec.subject.name"),
    ({"apiVersion": "apps/v1", "kind": "Deployment", "name": "a", "selector": {"matchLabels": {"a": "b"}}},
     "spec.subject.selector"),
    ({"kind": "Deployment", "name": "a"}, "spec.subject.apiVersion"),
], ids=["neither name nor selector", "both", "no apiVersion"])
def test_bad_specs_are_refused_naming_the_field(target: Target, namespace: str, subject: dict, field: str) -> None:
    manifest = binding(unique("bad"), namespace, subject, {"uri": "http://example.com"})
    assert_invalid(refused(lambda: target.create(manifest)), field)
