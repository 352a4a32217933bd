"""Table tests of the ApiServerSource, SinkBinding, JobSink and EventPolicy reconcilers and of sender identity in
the Broker and Trigger reconcilers (objects in; creates, updates and conditions out), and of the job-sink
receiver's and the ApiServerSource adapter's pure parts."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

import pytest

from reference.apiserver.bootstrap import bootstrap
from reference.cloudevents.codec import Event
from reference.dataplane.eventing.jobsink import event_json, job_name, location, make_job, make_secret
from reference.dataplane.serving.services import ServiceTable
from reference.eventing.broker import BrokerReconciler, TriggerReconciler
from reference.eventing.eventpolicy import EventPolicyReconciler
from reference.eventing.jobsink import JobSinkReconciler
from reference.sources.apiserver import (
    ApiServerSourceReconciler,
    change_of,
    guess_resource,
    make_event,
    owner_passes,
    self_link,
)
from reference.sources.sinkbinding import SinkBindingReconciler
from tests.unit.reconciler_table import RecordingRegistry, Row, run, seed

NS = "ns"
OIDC = {("knative-eventing", "config-features"): {"authentication-oidc": "enabled"}}
RBAC = "rbac.authorization.k8s.io/v1"
SINK = {"uri": "http://sink.example.com"}


def api_server_source(name: str = "src", account: str = "watcher", sink: dict | None = None, **extra: object) -> dict:
    return {"apiVersion": "sources.knative.dev/v1", "kind": "ApiServerSource",
            "metadata": {"name": name, "namespace": NS, **extra.pop("metadata", {})},  # type: ignore[dict-item]
            "spec": {"serviceAccountName": account, "resources": [{"apiVersion": "v1", "kind": "Event"}],
                     "sink": sink or SINK, **extra}}


def grants(account: str = "watcher", resources: tuple[str, ...] = ("events",)) -> list[dict]:
    return [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": NS}},
            {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": "r", "namespace": NS},
             "rules": [{"apiGroups": [""], "resources": list(resources), "verbs": ["get", "list", "watch"]}]},
            {"apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": "rb", "namespace": NS},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
             "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NS}]}]


API_SERVER_SOURCE_ROWS = [
    Row("with the RBAC to watch, the adapter runs", [*grants(), api_server_source()], (NS, "src"),
        want_conditions={"SinkProvided": ("True", ""), "SufficientPermissions": ("True", ""),
                         "Deployed": ("True", ""),
                         "OIDCIdentityCreated": ("True", "authentication-oidc feature disabled"),
                         "Ready": ("True", "")},
        want_status={"namespaces": [NS], "sinkUri": "http://sink.example.com"}),
    Row("a service account that may not watch what it asks for", [*grants(resources=("pods",)), api_server_source()],
        (NS, "src"),
        want_conditions={"SufficientPermissions": ("False", ""), "Deployed": ("Unknown", ""), "Ready": ("False", "")}),
    Row("the skip-permissions annotation skips the check",
        [api_server_source(metadata={"annotations": {
            "features.knative.dev/apiserversource-skip-permissions-check": "true"}})], (NS, "src"),
        want_conditions={"SufficientPermissions": ("True", ""), "Ready": ("True", "")}),
    Row("a sink that does not resolve", [*grants(), api_server_source(sink={"ref": {
        "apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "nobody"}})], (NS, "src"),
        want_conditions={"SinkProvided": ("False", "NotFound"), "Ready": ("False", "NotFound")}),
    Row("with sender identity on, its OIDC ServiceAccount", [*grants(), api_server_source()], (NS, "src"),
        want_creates=["ServiceAccount/src-oidc-sources.knative.dev-apiserversource"],
        want_conditions={"OIDCIdentityCreated": ("True", ""), "Ready": ("True", "")},
        want_status={"auth": {"serviceAccountName": "src-oidc-sources.knative.dev-apiserversource"}}, config=OIDC),
]


@pytest.mark.parametrize("row", API_SERVER_SOURCE_ROWS, ids=lambda r: r.name)
def test_api_server_source_reconciler(row: Row) -> None:
    run(row, ApiServerSourceReconciler)


def test_the_adapter_makes_knatives_events() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS}}
    event = make_event("update", obj, "https://10.96.0.1:443", True, {"team": "blue"}, event_id="1")
    assert event.attributes == {"team": "blue", "specversion": "1.0", "id": "1",
                                "type": "dev.knative.apiserver.ref.update", "source": "https://10.96.0.1:443",
                                "subject": "/apis/apps/v1/namespaces/ns/deployments/web",
                                "datacontenttype": "application/json", "kind": "Deployment", "apiversion": "apps/v1",
                                "name": "web", "namespace": NS}
    assert json.loads(event.data or b"") == {"kind": "Deployment", "namespace": NS, "name": "web",
                                             "apiVersion": "apps/v1"}
    resource = make_event("delete", obj, "s", False)
    assert resource.attributes["type"] == "dev.knative.apiserver.resource.delete"
    assert json.loads(resource.data or b"") == obj
    assert [guess_resource(k) for k in ("Pod", "Ingress", "Policy", "Endpoints")] == [
        "pods", "ingresses", "policies", "endpoints"]
    assert self_link("serving.knative.dev", "Service", NS, "x") == "/apis/serving.knative.dev/versionUnknown/" \
                                                                   "namespaces/ns/services/x"


def test_the_adapter_sees_a_selector_as_a_watch_does_and_filters_by_owner() -> None:
    def labelled(value: str) -> dict:
        return {"metadata": {"labels": {"app": value}}}
    selector = {"matchLabels": {"app": "a"}}
    assert change_of("ADDED", labelled("a"), None, selector) == "add"
    assert change_of("ADDED", labelled("b"), None, selector) is None
    assert change_of("MODIFIED", labelled("a"), labelled("b"), selector) == "add", "entering the selection"
    assert change_of("MODIFIED", labelled("b"), labelled("a"), selector) == "delete", "leaving it"
    assert change_of("MODIFIED", labelled("a"), labelled("a"), selector) == "update"
    controller = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True}
    controlled = {"metadata": {"ownerReferences": [controller]}}
    assert owner_passes({"apiVersion": "apps/v1", "kind": "ReplicaSet"}, controlled)
    assert not owner_passes({"kind": "Job"}, controlled)
    assert not owner_passes({"kind": "ReplicaSet"}, {"metadata": {}}), "no controller, filtered out"


# SinkBinding ------------------------------------------------------------------------------------------------

def sink_binding(subject: dict, sink: dict | None = None) -> dict:
    return {"apiVersion": "sources.knative.dev/v1", "kind": "SinkBinding",
            "metadata": {"name": "bind", "namespace": NS},
            "spec": {"subject": subject, "sink": sink or SINK}}


WEB = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
       "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "main", "image": "ghcr.io/kproof/heartbeats"}]}}}}
DEPLOYMENT_SUBJECT = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}

SINK_BINDING_ROWS = [
    Row("the subject gets the sink", [WEB, sink_binding(DEPLOYMENT_SUBJECT)], (NS, "bind"),
        want_updates=["SinkBinding/bind", "Deployment/web"],
        want_conditions={"SinkProvided": ("True", ""), "SinkBindingAvailable": ("True", ""),
                         "OIDCIdentityCreated": ("True", "authentication-oidc feature disabled"),
                         "OIDCTokenSecretCreated": ("True", "authentication-oidc feature disabled"),
                         "TrustBundlePropagated": ("True", ""), "Ready": ("True", "")},
        want_status={"sinkUri": "http://sink.example.com"}),
    Row("a named subject that does not exist", [sink_binding(DEPLOYMENT_SUBJECT)], (NS, "bind"),
        want_updates=["SinkBinding/bind"],
        want_conditions={"SinkBindingAvailable": ("False", "SubjectMissing"), "Ready": ("False", "SubjectMissing")}),
    Row("a sink that does not resolve", [WEB, sink_binding(DEPLOYMENT_SUBJECT, {"ref": {
        "apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "nobody"}})], (NS, "bind"),
        want_updates=["SinkBinding/bind"],
        want_conditions={"SinkProvided": ("False", "NoAddressable"), "Ready": ("False", "NoAddressable")}),
    Row("subjects by selector", [WEB, sink_binding({"apiVersion": "apps/v1", "kind": "Deployment",
                                                    "selector": {"matchLabels": {"app": "other"}}})], (NS, "bind"),
        want_updates=["SinkBinding/bind"], want_conditions={"SinkBindingAvailable": ("True", "")}),
]


@pytest.mark.parametrize("row", SINK_BINDING_ROWS, ids=lambda r: r.name)
def test_sink_binding_reconciler(row: Row) -> None:
    run(row, SinkBindingReconciler)


# JobSink and EventPolicy ---------------------------------------------------------------------------------------

JOB_SINK = {"apiVersion": "sinks.knative.dev/v1alpha1", "kind": "JobSink",
            "metadata": {"name": "logger", "namespace": NS},
            "spec": {"job": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "main", "image": "docker.io/library/bash:5", "command": ["cat"]}]}}}}}}
ADDRESS = "http://job-sink.knative-eventing.svc.cluster.local/ns/logger"


def event_policy(senders: list[dict], to: list[dict] | None = None) -> dict:
    spec: dict = {"from": senders}
    if to is not None:
        spec["to"] = to
    return {"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "EventPolicy",
            "metadata": {"name": "policy", "namespace": NS}, "spec": spec}


JOB_SINK_ROWS = [
    Row("an address on the job-sink receiver", [JOB_SINK], (NS, "logger"),
        want_conditions={"Addressable": ("True", ""), "EventPoliciesReady": ("True", "OIDCDisabled"),
                         "Ready": ("True", "")},
        want_status={"address": {"name": "http", "url": ADDRESS},
                     "job": {"selector": "sinks.knative.dev/job-sink-name=logger"}}),
    Row("with sender identity on, an audience and the default mode", [JOB_SINK], (NS, "logger"),
        want_conditions={"EventPoliciesReady": ("True", "DefaultAuthorizationMode")},
        want_status={"address": {"name": "http", "url": ADDRESS, "audience": "sinks.knative.dev/jobsink/ns/logger"}},
        config=OIDC),
]


@pytest.mark.parametrize("row", JOB_SINK_ROWS, ids=lambda r: r.name)
def test_job_sink_reconciler(row: Row) -> None:
    run(row, JobSinkReconciler)


def test_a_job_sink_lists_the_policies_that_apply_to_it() -> None:
    policy_row = Row("policies", [event_policy([{"sub": "system:serviceaccount:ns:a"}], [
        {"ref": {"apiVersion": "sinks.knative.dev/v1alpha1", "kind": "JobSink", "name": "logger"}}]), JOB_SINK],
        (NS, "logger"), want_conditions={"EventPoliciesReady": ("False", "EventPoliciesNotReady")}, config=OIDC)
    run(policy_row, JobSinkReconciler)  # the policy has not been reconciled: it is not Ready yet


PING = {"apiVersion": "sources.knative.dev/v1", "kind": "PingSource", "metadata": {"name": "ping", "namespace": NS},
        "spec": {"schedule": "* * * * *", "sink": SINK},
        "status": {"auth": {"serviceAccountName": "ping-oidc-sources.knative.dev-pingsource"}}}

EVENT_POLICY_ROWS = [
    Row("subjects resolve: a sub as it is, a ref to the account its object sends as",
        [PING, event_policy([{"sub": "system:serviceaccount:ns:other-*"},
                             {"ref": {"apiVersion": "sources.knative.dev/v1", "kind": "PingSource", "name": "ping"}}])],
        (NS, "policy"), config=OIDC,
        want_conditions={"AuthenticationEnabled": ("True", ""), "SubjectsResolved": ("True", ""),
                         "Ready": ("True", "")},
        want_status={"from": ["system:serviceaccount:ns:other-*",
                              "system:serviceaccount:ns:ping-oidc-sources.knative.dev-pingsource"]}),
    Row("a ref to nothing", [event_policy([{"ref": {"apiVersion": "sources.knative.dev/v1", "kind": "PingSource",
                                                    "name": "gone"}}])], (NS, "policy"), config=OIDC,
        want_conditions={"SubjectsResolved": ("False", "SubjectsNotResolved"),
                         "Ready": ("False", "SubjectsNotResolved")}),
]


@pytest.mark.parametrize("row", EVENT_POLICY_ROWS, ids=lambda r: r.name)
def test_event_policy_reconciler(row: Row) -> None:
    run(row, EventPolicyReconciler)


def test_a_policy_is_not_ready_once_sender_identity_is_off() -> None:
    registry = RecordingRegistry()
    bootstrap(registry)
    seed(registry, [event_policy([{"sub": "a"}])], OIDC)
    seed(registry, [], {("knative-eventing", "config-features"): {"authentication-oidc": "disabled"}})
    asyncio.run(EventPolicyReconciler(registry).reconcile((NS, "policy")))
    found = registry.store.get("eventing.knative.dev/eventpolicies", NS, "policy") or {}
    kinds = {c["type"]: (c["status"], c.get("reason")) for c in found["status"]["conditions"]}
    assert kinds["AuthenticationEnabled"] == ("False", "OIDCAuthenticationDisabled")
    assert kinds["Ready"][0] == "False"


# Broker and Trigger with sender identity ------------------------------------------------------------------------

BROKER = {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "metadata": {"name": "default", "namespace": NS}}
TRIGGER = {"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger", "metadata": {"name": "t", "namespace": NS},
           "spec": {"broker": "default", "subscriber": {"ref": {"apiVersion": "sinks.knative.dev/v1alpha1",
                                                                "kind": "JobSink", "name": "logger"}}}}

IDENTITY_ROWS = [
    Row("a broker announces its audience and the default mode", [BROKER], (NS, "default"), config=OIDC,
        want_conditions={"EventPoliciesReady": ("True", "DefaultAuthorizationMode"), "Ready": ("True", "")},
        want_status={"address": {"name": "http", "url": "http://broker-ingress.knative-eventing.svc.cluster.local/ns/"
                                 "default", "audience": "eventing.knative.dev/broker/ns/default"}}),
    Row("without sender identity, no audience", [BROKER], (NS, "default"),
        want_conditions={"EventPoliciesReady": ("True", "OIDCDisabled"), "Ready": ("True", "")}),
]


@pytest.mark.parametrize("row", IDENTITY_ROWS, ids=lambda r: r.name)
def test_broker_sender_identity(row: Row) -> None:
    run(row, BrokerReconciler)


def test_a_trigger_sends_as_its_own_service_account_to_its_subscribers_audience() -> None:
    job_sink = {**JOB_SINK, "status": {"address": {"url": ADDRESS, "audience": "sinks.knative.dev/jobsink/ns/logger"}}}
    row = Row("trigger", [BROKER, job_sink, TRIGGER], (NS, "t"), config=OIDC,
              want_creates=["ServiceAccount/t-oidc-eventing.knative.dev-trigger"],
              want_conditions={"OIDCIdentityCreated": ("True", "")},
              want_status={"auth": {"serviceAccountName": "t-oidc-eventing.knative.dev-trigger"},
                           "subscriberAudience": "sinks.knative.dev/jobsink/ns/logger", "subscriberUri": ADDRESS})
    run(row, TriggerReconciler)


# The job-sink receiver and Services of your own --------------------------------------------------------------------

def test_the_job_sink_receiver_names_builds_and_keeps_the_event() -> None:
    event = Event({"specversion": "1.0", "id": "123", "source": "my/curl/command", "type": "my.demo.event",
                   "datacontenttype": "application/json"}, b'{"details":"JobSinkDemo"}')
    assert event_json(event) == (b'{"specversion":"1.0","id":"123","source":"my/curl/command","type":"my.demo.event",'
                                 b'"datacontenttype":"application/json","data":{"details":"JobSinkDemo"}}')
    name = job_name("logger", "my/curl/command", "123")
    assert name == "logger-" + hashlib.md5(b"my/curl/command123").hexdigest()
    assert location(NS, "logger", "my/curl/command", "123") == \
        "/namespaces/ns/name/logger/sources/my%2Fcurl%2Fcommand/ids/123"
    sink = {**JOB_SINK, "metadata": {**JOB_SINK["metadata"], "uid": "u"}}
    job = make_job(sink, name)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["volumeMounts"] == [{"name": "jobsink-event", "readOnly": True, "mountPath": "/etc/jobsink-event"}]
    assert {"name": "K_EVENT_PATH", "value": "/etc/jobsink-event"} in container["env"]
    assert job["spec"]["template"]["spec"]["volumes"] == [{"name": "jobsink-event", "secret": {"secretName": name}}]
    assert job["metadata"]["labels"] == {"sinks.knative.dev/job-sink-id": name,
                                         "sinks.knative.dev/job-sink-name": "logger"}
    secret = make_secret({**job, "metadata": {**job["metadata"], "uid": "j"}}, "logger", event_json(event))
    assert secret["immutable"] is True and base64.b64decode(secret["data"]["event"]) == event_json(event)
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "Job"


def test_a_service_of_your_own_answers_on_its_names_with_the_pods_it_selects() -> None:
    table = ServiceTable()
    table.set_service("ADDED", {"metadata": {"name": "event-display", "namespace": NS},
                                "spec": {"selector": {"app": "ed"}, "ports": [{"port": 80, "targetPort": 8080}]}}, None)
    ready = {"type": "Ready", "status": "True"}
    table.set_pod("ADDED", {"metadata": {"name": "p", "namespace": NS, "labels": {"app": "ed"}},
                            "spec": {"containers": [{"name": "c"}]},
                            "status": {"podIP": "10.0.0.5", "conditions": [ready]}}, None)
    table.set_pod("ADDED", {"metadata": {"name": "q", "namespace": NS, "labels": {"app": "other"}},
                            "status": {"podIP": "10.0.0.6", "conditions": [ready]}}, None)
    for host in ("event-display.ns.svc.cluster.local", "event-display.ns.svc", "event-display.ns",
                 "event-display.ns.svc.cluster.local:80"):
        assert [b.address for b in table.lookup(host) or []] == ["10.0.0.5:8080"], host
    assert table.lookup("nothing.ns.svc.cluster.local") is None
    table.set_service("ADDED", {"metadata": {"name": "r", "namespace": NS,
                                             "labels": {"serving.knative.dev/route": "r"}},
                                "spec": {"selector": {"app": "ed"}}}, None)
    assert table.lookup("r.ns.svc.cluster.local") is None, "Knative's own Services are the routing table's"
