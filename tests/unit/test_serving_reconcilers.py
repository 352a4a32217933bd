"""Table tests of serving's reconcilers (Service, Configuration, Revision, Route) and of the revision's status
precedence: objects in; creates, updates, deletes and conditions out (reconciler_table.Row)."""

from __future__ import annotations

import asyncio

import pytest

from reference.apis import conditions
from reference.apiserver.bootstrap import bootstrap
from reference.serving.configuration import ConfigurationReconciler
from reference.serving.revision import RevisionReconciler
from reference.serving.route import RouteReconciler
from reference.serving.service import ServiceReconciler
from reference.serving.status.revision import Replicas, resources_available
from tests.unit.reconciler_table import RecordingRegistry, Row, run, seed

NS = "ns"
TEMPLATE = {"spec": {"containers": [{"image": "ghcr.io/kproof/helloworld"}]}}


def ready(status: str = "True", reason: str = "", message: str = "", type_: str = "Ready") -> dict:
    return conditions.condition(type_, status, reason, message)


def service(name: str = "hello", traffic: list | None = None) -> dict:
    spec: dict = {"template": TEMPLATE}
    if traffic is not None:
        spec["traffic"] = traffic
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": spec}


def configuration(name: str = "hello", template_name: str | None = None) -> dict:
    template = {**TEMPLATE, "metadata": {"name": template_name}} if template_name else TEMPLATE
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Configuration",
            "metadata": {"name": name, "namespace": NS}, "spec": {"template": template}}


# Service ---------------------------------------------------------------------------------------------

SERVICE_ROWS = [
    Row("a new Service makes its Configuration and Route", [service()], (NS, "hello"),
        want_creates=["Configuration/hello", "Route/hello"],
        want_conditions={"ConfigurationsReady": ("Unknown", "OutOfDate"), "RoutesReady": ("Unknown", "OutOfDate"),
                         "Ready": ("Unknown", "OutOfDate")}),
    Row("a Configuration of the name that is someone else's is not taken over",
        [configuration(), service()], (NS, "hello"),
        want_creates=["Route/hello"],
        want_conditions={"ConfigurationsReady": ("False", "NotOwned"), "Ready": ("False", "NotOwned")}),
]


@pytest.mark.parametrize("row", SERVICE_ROWS, ids=lambda r: r.name)
def test_service_reconciler(row: Row) -> None:
    run(row, ServiceReconciler)


def test_service_reconciler_keeps_its_children_and_gathers_their_status() -> None:
    """Reconciled twice: the second pass changes no child, and Ready follows them once they are Ready."""
    registry = RecordingRegistry()
    bootstrap(registry)
    seed(registry, [service()], {})
    controller = ServiceReconciler(registry)
    asyncio.run(controller.reconcile((NS, "hello")))
    for kind, fields in ((controller.configurations, {"latestReadyRevisionName": "hello-00001",
                                                      "latestCreatedRevisionName": "hello-00001"}),
                         (controller.routes, {"url": "http://hello.ns.example.com",
                                              "traffic": [{"revisionName": "hello-00001", "latestRevision": True,
                                                           "percent": 100}]})):
        child = registry.get(kind, NS, "hello")
        registry.update(kind, NS, "hello", {**child, "status": {"observedGeneration": 1, "conditions": [ready()],
                                                              **fields}}, subresource="status")
    registry.recording = True
    asyncio.run(controller.reconcile((NS, "hello")))
    assert registry.updates == [] and registry.creates == [], "nothing of the children changes"
    status = registry.get(controller.kind, NS, "hello")["status"]
    assert conditions.is_true({"status": status}) and status["url"] == "http://hello.ns.example.com"
    assert status["latestReadyRevisionName"] == "hello-00001"


# Configuration -----------------------------------------------------------------------------------------

CONFIGURATION_ROWS = [
    Row("a new Configuration makes its first Revision", [configuration()], (NS, "hello"),
        want_creates=["Revision/hello-00001"], want_conditions={"Ready": ("Unknown", "")},
        want_status={"latestCreatedRevisionName": "hello-00001", "observedGeneration": 1}),
    Row("a bring-your-own revision name that someone else's Revision has fails the Configuration",
        [{"apiVersion": "serving.knative.dev/v1", "kind": "Revision", "metadata": {"name": "hello-mine",
                                                                                  "namespace": NS},
          "spec": TEMPLATE["spec"]}, configuration(template_name="hello-mine")], (NS, "hello"),
        want_conditions={"Ready": ("False", "RevisionFailed")}),
]


@pytest.mark.parametrize("row", CONFIGURATION_ROWS, ids=lambda r: r.name)
def test_configuration_reconciler(row: Row) -> None:
    run(row, ConfigurationReconciler)


# Revision ---------------------------------------------------------------------------------------------

def revision(name: str = "hello-00001", annotations: dict | None = None) -> dict:
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Revision",
            "metadata": {"name": name, "namespace": NS, "annotations": annotations or {}},
            "spec": {"containers": [{"image": "ghcr.io/kproof/helloworld"}], "timeoutSeconds": 300}}


REVISION_ROWS = [
    Row("a new Revision makes its PodAutoscaler, its two Services and its initial Pod", [revision()],
        (NS, "hello-00001"),
        want_creates=["PodAutoscaler/hello-00001", "Service/hello-00001", "Service/hello-00001-private",
                      "Pod/hello-00001-deployment-*"],
        want_conditions={"ResourcesAvailable": ("Unknown", "Deploying"), "ContainerHealthy": ("True", ""),
                         "Ready": ("Unknown", "Deploying")},
        want_status={"desiredReplicas": 1, "actualReplicas": 0}),
    Row("initial-scale 3 makes three Pods", [revision(annotations={"autoscaling.knative.dev/initial-scale": "3"})],
        (NS, "hello-00001"),
        want_creates=["PodAutoscaler/hello-00001", "Service/hello-00001", "Service/hello-00001-private",
                      *["Pod/hello-00001-deployment-*"] * 3],
        want_status={"desiredReplicas": 3}),
    Row("a namespace quota of no Pods says FailedCreate with the API server's message",
        [{"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "none", "namespace": NS},
          "spec": {"hard": {"pods": "0"}}}, revision()], (NS, "hello-00001"),
        want_creates=["PodAutoscaler/hello-00001", "Service/hello-00001", "Service/hello-00001-private"],
        want_conditions={"ResourcesAvailable": ("False", "FailedCreate"), "Ready": ("False", "FailedCreate")}),
]


@pytest.mark.parametrize("row", REVISION_ROWS, ids=lambda r: r.name)
def test_revision_reconciler(row: Row) -> None:
    run(row, RevisionReconciler)


def _pod(ready_status: str = "False", waiting: str = "", exit_code: int = 0, scheduled: dict | None = None) -> dict:
    status: dict = {"conditions": [{"type": "Ready", "status": ready_status}]}
    if scheduled:
        status["conditions"].append(scheduled)
    container: dict = {"name": "user-container", "ready": ready_status == "True", "state": {}}
    if waiting:
        container["state"] = {"waiting": {"reason": waiting, "message": f"{waiting}: why"}}
    if exit_code:
        container["lastState"] = {"terminated": {"exitCode": exit_code, "message": "boom"}}
    status["containerStatuses"] = [container]
    return {"metadata": {"name": "p"}, "status": status}


NO_TRAFFIC = {"status": {"conditions": [conditions.condition("Active", False, "NoTraffic"),
                                        conditions.condition("ScaleTargetInitialized", True)]}}
GAVE_UP = {"status": {"conditions": [conditions.condition("Active", False, "TimedOut")]}}
UNSCHEDULABLE = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."}


@pytest.mark.parametrize(("pods", "desired", "wanted", "refused", "autoscaler", "available"), [
    ([_pod("True")], 1, 1, "", None, ("True", "")),
    ([_pod()], 1, 1, "", None, ("Unknown", "Deploying")),
    ([], 0, 0, "", NO_TRAFFIC, ("True", "")),  # scaled to zero
    ([_pod(waiting="ImagePullBackOff")], 1, 1, "", None, ("False", "ImagePullBackOff")),
    ([_pod(exit_code=1)], 1, 1, "", None, ("Unknown", "Deploying")),  # ContainerHealthy says it
    ([_pod(scheduled=UNSCHEDULABLE)], 1, 1, "", None, ("False", "Unschedulable")),
    ([_pod()], 1, 1, "", GAVE_UP, ("False", "ProgressDeadlineExceeded")),
    # never initialised and inactive: gave up at the progress deadline, even with no traffic
    ([], 0, 0, "", {"status": {"conditions": [conditions.condition("Active", False, "NoTraffic")]}},
     ("False", "ProgressDeadlineExceeded")),
    # precedence: a later rule never hides an earlier one
    ([_pod(waiting="ImagePullBackOff", scheduled=UNSCHEDULABLE)], 1, 1, "", GAVE_UP, ("False", "Unschedulable")),
    ([_pod(waiting="ImagePullBackOff")], 1, 1, "", GAVE_UP, ("False", "ImagePullBackOff")),
    ([_pod("True")], 2, 5, "", None, ("False", "ReplicaLimit")),
    ([_pod(scheduled=UNSCHEDULABLE)], 2, 5, "exceeded quota", None, ("False", "FailedCreate")),
])
def test_resources_available_rules_in_order(pods: list[dict], desired: int, wanted: int, refused: str,
                                            autoscaler: dict | None, available: tuple[str, str]) -> None:
    rev = {"metadata": {"name": "r"}, "status": {}}
    condition = resources_available(rev, Replicas(pods, desired, wanted, 100, refused), autoscaler)
    assert (condition["status"], condition.get("reason", "")) == available, condition


# Route --------------------------------------------------------------------------------------------------

def route(traffic: list[dict]) -> dict:
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Route", "metadata": {"name": "hello", "namespace": NS},
            "spec": {"traffic": traffic}}


def ready_configuration() -> dict:
    return {**configuration(), "status": {"observedGeneration": 1, "latestReadyRevisionName": "hello-00001",
                                          "conditions": [ready()]}}


def ready_revision() -> dict:
    return {**revision(), "status": {"conditions": [ready()]}}


FOLLOW_LATEST = [{"configurationName": "hello", "latestRevision": True, "percent": 100}]
ROUTE_ROWS = [
    Row("traffic to a Configuration with no ready Revision waits", [configuration(), route(FOLLOW_LATEST)],
        (NS, "hello"),
        want_conditions={"AllTrafficAssigned": ("Unknown", "RevisionMissing"), "IngressReady": ("Unknown",
                                                                                               "Uninitialized"),
                         "Ready": ("Unknown", "RevisionMissing")}),
    Row("traffic to a missing Configuration fails", [route(FOLLOW_LATEST)], (NS, "hello"),
        want_conditions={"AllTrafficAssigned": ("False", "ConfigurationMissing")}),
    Row("a ready Revision gets the traffic, the Route its Service, the Revision routingState active",
        [ready_configuration(), ready_revision(), route(FOLLOW_LATEST)], (NS, "hello"),
        want_creates=["Service/hello"], want_updates=["Revision/hello-00001"],
        want_conditions={"AllTrafficAssigned": ("True", ""), "IngressReady": ("True", ""), "Ready": ("True", "")},
        want_status={"url": "http://hello.ns.example.com",
                     "traffic": [{"percent": 100, "revisionName": "hello-00001", "latestRevision": True}]}),
    Row("a tag gets a Service of its own", [ready_configuration(), ready_revision(),
                                           route([{**FOLLOW_LATEST[0], "tag": "candidate"}])], (NS, "hello"),
        want_creates=["Service/hello", "Service/candidate-hello"], want_updates=["Revision/hello-00001"],
        want_conditions={"Ready": ("True", "")}),
    Row("someone else's Service of the Route's name keeps the ingress from being ready",
        [ready_configuration(), ready_revision(),
         {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hello", "namespace": NS},
          "spec": {"type": "ExternalName", "externalName": "elsewhere.example.com"}}, route(FOLLOW_LATEST)],
        (NS, "hello"), want_conditions={"IngressReady": ("False", "NotOwned"), "Ready": ("False", "NotOwned")}),
]


def named_configuration(name: str, ready_revision_name: str | None = None) -> dict:
    """A Configuration `name`, with a latest ready Revision when `ready_revision_name` is given."""
    config = {**configuration(name), "metadata": {"name": name, "namespace": NS}}
    if ready_revision_name:
        config["status"] = {"observedGeneration": 1, "latestReadyRevisionName": ready_revision_name,
                            "conditions": [ready()]}
    return config


def named_revision(name: str) -> dict:
    return {**revision(name), "status": {"conditions": [ready()]}}


# seed 003's Route: half the traffic to each of two Configurations, by configurationName
SPLIT = [{"configurationName": "google-vision-configuration", "percent": 50},
         {"configurationName": "resnet-configuration", "percent": 50}]
SPLIT_ROWS = [
    Row("a split by configurationName sends each share to its Configuration's latest ready Revision",
        [named_configuration("google-vision-configuration", "google-vision-configuration-00001"),
         named_revision("google-vision-configuration-00001"),
         named_configuration("resnet-configuration", "resnet-configuration-00001"),
         named_revision("resnet-configuration-00001"), route(SPLIT)], (NS, "hello"),
        want_creates=["Service/hello"],
        want_updates=["Revision/google-vision-configuration-00001", "Revision/resnet-configuration-00001"],
        want_conditions={"AllTrafficAssigned": ("True", ""), "Ready": ("True", "")},
        want_status={"traffic": [
            {"percent": 50, "revisionName": "google-vision-configuration-00001", "latestRevision": True},
            {"percent": 50, "revisionName": "resnet-configuration-00001", "latestRevision": True}]}),
    Row("a split waits while one of its Configurations has no ready Revision",
        [named_configuration("google-vision-configuration", "google-vision-configuration-00001"),
         named_revision("google-vision-configuration-00001"),
         named_configuration("resnet-configuration"), route(SPLIT)], (NS, "hello"),
        want_conditions={"AllTrafficAssigned": ("Unknown", "RevisionMissing"), "Ready": ("Unknown",
                                                                                       "RevisionMissing")}),
    Row("a split naming a missing Configuration fails, naming it",
        [named_configuration("google-vision-configuration", "google-vision-configuration-00001"),
         named_revision("google-vision-configuration-00001"), route(SPLIT)],
        (NS, "hello"), want_conditions={"AllTrafficAssigned": ("False", "ConfigurationMissing"),
                                        "Ready": ("False", "ConfigurationMissing")}),
]


@pytest.mark.parametrize("row", ROUTE_ROWS + SPLIT_ROWS, ids=lambda r: r.name)
def test_route_reconciler(row: Row) -> None:
    run(row, RouteReconciler)


def rolled_route(annotations: dict[str, str], served: str = "hello-00001") -> dict:
    """A Route that served `served` at 100% (its rollout state says so) and whose Configuration has moved on."""
    state = ('{"configurations":[{"configurationName":"hello","percent":100,"revisions":'
             f'[{{"revisionName":"{served}","percent":100}}]}}]}}')
    return {**route(FOLLOW_LATEST), "metadata": {"name": "hello", "namespace": NS, "annotations": annotations},
            "status": {"traffic": [{"percent": 100, "revisionName": served, "latestRevision": True}],
                       "annotations": {"networking.internal.knative.dev/rollout": state},
                       "conditions": [ready(type_="IngressReady"), ready()]}}


def second_revision_ready() -> list[dict]:
    return [{**configuration(), "status": {"observedGeneration": 2, "latestReadyRevisionName": "hello-00002",
                                           "conditions": [ready()]}},
            ready_revision(), {**revision("hello-00002"), "status": {"conditions": [ready()]}}]


ROLLED = [{"percent": 99, "revisionName": "hello-00001", "latestRevision": True},
          {"percent": 1, "revisionName": "hello-00002", "latestRevision": True}]
ROLLOUT_ROWS = [
    Row("a new revision under the Route's rollout-duration starts with 1%",
        [*second_revision_ready(), rolled_route({"serving.knative.dev/rollout-duration": "60s"})], (NS, "hello"),
        want_creates=["Service/hello"], want_updates=["Revision/hello-00001", "Revision/hello-00002"],
        want_conditions={"IngressReady": ("Unknown", "RolloutInProgress"), "Ready": ("Unknown", "RolloutInProgress")},
        want_status={"traffic": ROLLED}),
    Row("config-network's rollout-duration applies to every Route",
        [*second_revision_ready(), rolled_route({})], (NS, "hello"),
        config={("knative-serving", "config-network"): {"rollout-duration": "120"}},
        want_creates=["Service/hello"], want_updates=["Revision/hello-00001", "Revision/hello-00002"],
        want_conditions={"IngressReady": ("Unknown", "RolloutInProgress")}, want_status={"traffic": ROLLED}),
    Row("without a rollout duration the new revision takes everything at once",
        [*second_revision_ready(), rolled_route({})], (NS, "hello"),
        want_creates=["Service/hello"], want_updates=["Revision/hello-00002"],
        want_conditions={"IngressReady": ("True", ""), "Ready": ("True", "")},
        want_status={"traffic": [{"percent": 100, "revisionName": "hello-00002", "latestRevision": True}]}),
]


@pytest.mark.parametrize("row", ROLLOUT_ROWS, ids=lambda r: r.name)
def test_route_rollout(row: Row) -> None:
    run(row, RouteReconciler)
