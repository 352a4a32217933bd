"""Table tests of Kubernetes' workload controllers the reference runs (Deployment, Job, CronJob, ServiceAccount),
and of the parts they rest on: the Job's admission defaults, RBAC's authorizer and SinkBinding's webhook."""

from __future__ import annotations

import asyncio

import pytest

from reference.apis import times
from reference.apiserver.admission.bindings import bound
from reference.apiserver.admission.workloads import default_job
from reference.apiserver.store import Store
from reference.core.cronjob import CronJobController, last_due
from reference.core.deployment import DeploymentController
from reference.core.job import JobController, policy_action
from reference.core.rbac import allowed
from reference.core.serviceaccounts import ServiceAccountController
from reference.reconciler.podset import HASH_LABEL, template_hash
from tests.unit.reconciler_table import RecordingRegistry, Row, run, seed

NS = "ns"
TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "main", "image": "ghcr.io/kproof/helloworld"}]}}


def deployment(replicas: int = 2, template: dict | None = None) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": template or TEMPLATE}}


def pod(name: str, owner_kind: str = "", labels: dict | None = None, phase: str = "Running", ready: bool = True,
        exit_code: int | None = None) -> dict:
    status: dict = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if exit_code is not None:
        status["containerStatuses"] = [{"name": "main", "state": {"terminated": {"exitCode": exit_code}}}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": labels or {}},
            "spec": {"containers": [{"name": "main", "image": "ghcr.io/kproof/helloworld"}]}, "status": status}


def owned(obj: dict, registry: RecordingRegistry, kind: str, name: str) -> dict:
    """`obj` with a controller reference to the stored `kind/name`."""
    plural = {"Deployment": ("apps", "v1", "deployments"), "Job": ("batch", "v1", "jobs"),
              "CronJob": ("batch", "v1", "cronjobs")}[kind]
    owner = registry.store.get(registry.kinds.require(*plural).resource, NS, name)
    assert owner is not None
    obj["metadata"]["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": kind, "name": name,
                                           "uid": owner["metadata"]["uid"], "controller": True}]
    return obj


# Deployment --------------------------------------------------------------------------------------------

DEPLOYMENT_ROWS = [
    Row("a new Deployment gets its replicas, named as a ReplicaSet's pods", [deployment(2)], (NS, "web"),
        want_creates=["Pod/web-*", "Pod/web-*"],
        want_conditions={"Available": ("False", "MinimumReplicasUnavailable"),
                         "Progressing": ("True", "ReplicaSetUpdated")},
        want_status={"replicas": 2, "updatedReplicas": 2}),
    Row("no replicas, nothing made", [deployment(0)], (NS, "web"),
        want_conditions={"Available": ("True", "MinimumReplicasAvailable"),
                         "Progressing": ("True", "NewReplicaSetAvailable")}),
]


@pytest.mark.parametrize("row", DEPLOYMENT_ROWS, ids=lambda r: r.name)
def test_deployment_controller(row: Row) -> None:
    run(row, DeploymentController)


def reconcile(registry: RecordingRegistry, controller, key: tuple[str, str]) -> None:
    registry.recording = True
    asyncio.run(controller.reconcile(key))
    registry.recording = False


def test_a_deployment_scales_in_and_rolls_to_a_new_template() -> None:
    registry = RecordingRegistry()
    seed(registry, [deployment(3)], {})
    kind = registry.kinds.require("", "v1", "pods")
    deployments = registry.kinds.require("apps", "v1", "deployments")
    stored = registry.store.get(deployments.resource, NS, "web")
    assert stored is not None
    digest = template_hash(stored["spec"]["template"])  # as defaulted
    for name in ("a", "b", "c"):
        seed(registry, [owned(pod(name, labels={"app": "web", HASH_LABEL: digest}), registry, "Deployment", "web")],
             {})
    controller = DeploymentController(registry)
    current = registry.store.get(deployments.resource, NS, "web")
    assert current is not None
    registry.update(deployments, NS, "web", {**current, "spec": {**current["spec"], "replicas": 2}})
    reconcile(registry, controller, (NS, "web"))
    assert len(registry.deletes) == 1 and not registry.creates, "scale-in removes one replica"
    found = registry.store.get(deployments.resource, NS, "web")
    assert found is not None and found["status"]["readyReplicas"] == 2
    changed = {**TEMPLATE, "spec": {"containers": [{"name": "main", "image": "ghcr.io/kproof/autoscale"}]}}
    registry.update(deployments, NS, "web", {**found, "spec": {**found["spec"], "template": changed}})
    reconcile(registry, controller, (NS, "web"))
    assert len(registry.creates) == 2 and len(registry.deletes) == 1, "new pods first; old ones stay until ready"
    new_pods = [e.obj for e in registry.store.entries(kind.resource, NS)
                if e.obj["metadata"]["labels"].get(HASH_LABEL) != digest]
    assert len(new_pods) == 2 and all(p["metadata"]["name"].startswith("web-") for p in new_pods)


# Job ------------------------------------------------------------------------------------------------------

def job(completions: int = 1, parallelism: int = 1, **spec: object) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "work", "namespace": NS},
            "spec": {"completions": completions, "parallelism": parallelism,
                     "template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "main", "image": "docker.io/library/bash"}]}},
                     **spec}}


def job_rows_with_pods(phases: list[tuple[str, int | None]], spec: dict | None = None) -> RecordingRegistry:
    registry = RecordingRegistry()
    seed(registry, [job(**(spec or {}))], {})
    for i, (phase, code) in enumerate(phases):
        seed(registry, [owned(pod(f"work-{i}", phase=phase, ready=phase == "Running", exit_code=code), registry,
                              "Job", "work")], {})
    return registry


def job_after(phases: list[tuple[str, int | None]], spec: dict | None = None) -> tuple[dict, RecordingRegistry]:
    registry = job_rows_with_pods(phases, spec)
    reconcile(registry, JobController(registry), (NS, "work"))
    found = registry.store.get(registry.kinds.require("batch", "v1", "jobs").resource, NS, "work")
    assert found is not None
    return found, registry


def conditions_of(obj: dict) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c.get("reason", "")) for c in obj["status"].get("conditions") or []}


def test_a_job_runs_parallelism_pods_until_its_completions_succeeded() -> None:
    found, registry = job_after([], {"completions": 3, "parallelism": 2})
    assert registry.creates == ["Pod/work-*", "Pod/work-*"]
    assert found["status"]["active"] == 2 and "conditions" not in found["status"]
    found, registry = job_after([("Succeeded", None), ("Succeeded", None), ("Running", None)],
                                {"completions": 3, "parallelism": 2})
    assert registry.creates == [], "one still running is all that is needed"
    found, _ = job_after([("Succeeded", None)] * 3, {"completions": 3, "parallelism": 2})
    assert conditions_of(found) == {"SuccessCriteriaMet": ("True", "CompletionsReached"),
                                    "Complete": ("True", "CompletionsReached")}
    assert found["status"]["succeeded"] == 3 and found["status"].get("completionTime")


def test_a_job_fails_past_its_backoff_limit() -> None:
    found, registry = job_after([("Failed", 1), ("Failed", 1)], {"backoffLimit": 1})
    assert conditions_of(found)["Failed"] == ("True", "BackoffLimitExceeded")
    assert found["status"]["failed"] == 2 and not registry.creates
    found, registry = job_after([("Failed", 1)], {"backoffLimit": 1})
    assert "conditions" not in found["status"] and registry.creates == ["Pod/work-*"], "a failure retries"


def test_a_pod_failure_policy_fails_the_job_at_once_or_ignores_a_failure() -> None:
    rules = {"podFailurePolicy": {"rules": [
        {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
        {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [7]}}]}, "backoffLimit": 0}
    found, registry = job_after([("Failed", 42), ("Running", None)], {**rules, "completions": 2, "parallelism": 2})
    failed = next(c for c in found["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "PodFailurePolicy"
    assert failed["message"] == ("Container main for pod ns/work-0 failed with exit code 42 matching FailJob rule at "
                                 "index 0")
    assert registry.deletes == ["Pod/work-1"], "a failed Job's running pods are stopped"
    found, _ = job_after([("Failed", 7)], rules)
    assert "conditions" not in found["status"], "an ignored failure does not count against backoffLimit 0"
    assert policy_action(found, pod("x", phase="Failed", exit_code=3)) is None


def test_a_job_gets_kubernetes_selector_and_labels_from_its_uid() -> None:
    obj = job()
    default_job(obj, None, None)  # type: ignore[arg-type]
    uid = obj["metadata"]["uid"]
    assert obj["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = obj["spec"]["template"]["metadata"]["labels"]
    assert labels == {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                      "batch.kubernetes.io/job-name": "work", "job-name": "work"}
    assert (obj["spec"]["backoffLimit"], obj["spec"]["completionMode"]) == (6, "NonIndexed")


# CronJob ----------------------------------------------------------------------------------------------------

def cron_job() -> dict:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "beat", "namespace": NS},
            "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"metadata": {"labels": {"app": "beat"}},
                                                                  "spec": job()["spec"]}}}


def test_a_cron_job_makes_a_job_named_by_the_scheduled_minute_when_due() -> None:
    registry = RecordingRegistry()
    seed(registry, [cron_job()], {})
    cron = registry.store.get(registry.kinds.require("batch", "v1", "cronjobs").resource, NS, "beat")
    assert cron is not None
    created = times.parse(cron["metadata"]["creationTimestamp"]) or 0
    later = (created // 60 + 2) * 60 + 5
    controller = CronJobController(registry, clock=lambda: later)
    reconcile(registry, controller, (NS, "beat"))
    name = f"beat-{int(later // 60)}"
    assert registry.creates == [f"Job/{name}"], "only the most recent missed time"
    made = registry.store.get(registry.kinds.require("batch", "v1", "jobs").resource, NS, name)
    assert made is not None and made["metadata"]["labels"] == {"app": "beat"}
    reconcile(registry, controller, (NS, "beat"))
    assert registry.creates == [f"Job/{name}"], "nothing new within the same minute"
    assert last_due("*/5 * * * *", None, 0, 601) == 600 and last_due("*/5 * * * *", None, 600, 601) is None


# ServiceAccounts and RBAC -------------------------------------------------------------------------------------

def test_every_namespace_gets_a_default_service_account() -> None:
    row = Row("a namespace without one", [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fresh"}}],
              ("", "fresh"), want_creates=["ServiceAccount/default"])
    run(row, ServiceAccountController)


def test_rbac_allows_what_a_bound_role_grants() -> None:
    store = Store()
    rbac = "rbac.authorization.k8s.io"
    role = {"metadata": {"name": "watch", "namespace": NS},
            "rules": [{"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
                      {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"], "resourceNames": ["x"]}]}
    store.put(f"{rbac}/roles", role, created=True)
    binding = {"metadata": {"name": "b", "namespace": NS}, "roleRef": {"kind": "Role", "name": "watch"},
               "subjects": [{"kind": "ServiceAccount", "name": "sa"}]}
    store.put(f"{rbac}/rolebindings", binding, created=True)
    user = f"system:serviceaccount:{NS}:sa"
    assert allowed(store, user, "watch", "", "events", NS)
    assert not allowed(store, user, "create", "", "events", NS)
    assert not allowed(store, user, "list", "", "events", "other")
    assert not allowed(store, "system:serviceaccount:ns:other", "list", "", "events", NS)
    assert not allowed(store, user, "list", "apps", "deployments", NS), "resourceNames never grant a collection"
    store.put(f"{rbac}/clusterroles", {"metadata": {"name": "all"}, "rules": [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}, created=True)
    store.put(f"{rbac}/clusterrolebindings", {"metadata": {"name": "sas"}, "roleRef": {"kind": "ClusterRole",
                                                                                      "name": "all"},
                                              "subjects": [{"kind": "Group", "name": "system:serviceaccounts:other"}]},
              created=True)
    assert allowed(store, "system:serviceaccount:other:x", "delete", "apps", "deployments", "anywhere")


# SinkBinding's webhook --------------------------------------------------------------------------------------

def sink_binding(subject: dict, sink_uri: str | None = "http://sink.ns.svc.cluster.local",
                 overrides: dict | None = None, name: str = "bind") -> dict:
    return {"metadata": {"name": name, "namespace": NS},
            "spec": {"subject": {"namespace": NS, **subject}, **({"ceOverrides": overrides} if overrides else {})},
            "status": {"sinkUri": sink_uri} if sink_uri else {}}


def test_the_webhook_injects_the_sink_into_the_subjects_it_names() -> None:
    subject = deployment(1)
    by_name = sink_binding({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                           overrides={"extensions": {"a": "b"}})
    changed = bound(subject, [by_name], [])
    assert changed is not None
    env = changed["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "K_SINK", "value": "http://sink.ns.svc.cluster.local"},
                   {"name": "K_CE_OVERRIDES", "value": '{"extensions":{"a":"b"}}'}]
    by_selector = sink_binding({"apiVersion": "apps/v1", "kind": "Deployment", "selector": {"matchLabels": {"x": "y"}}})
    assert bound(subject, [by_selector], []) is None, "a selector that does not match leaves it alone"
    other_kind = sink_binding({"apiVersion": "batch/v1", "kind": "Job", "name": "web"})
    assert bound(subject, [other_kind], []) is None
    excluded = [{"metadata": {"name": NS, "labels": {"bindings.knative.dev/exclude": "true"}}}]
    assert bound(subject, [by_name], excluded) is None, "an excluded namespace is left alone"
    unresolved = bound(changed, [sink_binding({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, None)],
                       [])
    assert unresolved is not None and unresolved["spec"]["template"]["spec"]["containers"][0]["env"] == [], \
        "a binding whose sink does not resolve takes its variables out (Do starts with Undo)"
