"""The Kubernetes Services Knative makes for Routes and Revisions, as the serving controllers make them, and the
data plane answering a Route's cluster-local names only while its Service exists."""

import asyncio

import pytest

from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.registry import Registry
from reference.apiserver.store import Store
from reference.dataplane.serving.routing import RoutingTable
from reference.serving.resources import services as k8s_services
from reference.serving.revision import RevisionReconciler
from reference.serving.route import RouteReconciler

ROUTE_LABEL = "serving.knative.dev/route"
VISIBILITY = "networking.knative.dev/visibility"


@pytest.fixture
def registry() -> Registry:
    reg = Registry(Store())
    bootstrap(reg)
    return reg


def kind(registry: Registry, plural: str, group: str = "serving.knative.dev"):
    return registry.kinds.by_path(group, "v1", plural)


def services(registry: Registry, namespace: str = "default") -> dict[str, dict]:
    return {e.obj["metadata"]["name"]: e.obj for e in registry.store.entries("/services", namespace)}


def ready_revision(registry: Registry, name: str = "hello-00001") -> dict:
    revisions = kind(registry, "revisions")
    created = registry.create(revisions, "default", {
        "metadata": {"name": name, "labels": {"team": "a", "serving.knative.dev/routingState": "active"},
                     "annotations": {"note": "x", "serving.knative.dev/routes": "hello",
                                     "autoscaling.knative.dev/metric": "rps"}},
        "spec": {"containers": [{"image": "gcr.io/knative-samples/helloworld-go"}]}})
    return registry.update(revisions, "default", name, {**created, "status": {
        "conditions": [{"type": "Ready", "status": "True"}]}}, subresource="status")


def route(registry: Registry, traffic: list[dict], labels: dict[str, str] | None = None) -> dict:
    return registry.create(kind(registry, "routes"), "default", {
        "metadata": {"name": "hello", "labels": labels or {}, "annotations": {"note": "y"}},
        "spec": {"traffic": traffic}})


def reconcile_route(registry: Registry) -> dict:
    asyncio.run(RouteReconciler(registry).reconcile(("default", "hello")))
    return registry.get(kind(registry, "routes"), "default", "hello")


TAGGED = [{"revisionName": "hello-00001", "percent": 100},
          {"revisionName": "hello-00001", "percent": 0, "tag": "blue"}]


def test_a_route_gets_an_external_name_service_per_host(registry: Registry) -> None:
    ready_revision(registry)
    owner = route(registry, TAGGED, labels={"team": "a"})
    assert services(registry) == {}  # nothing before the route reconciles
    reconcile_route(registry)
    made = services(registry)
    assert set(made) == {"hello", "blue-hello"}
    main, tag = made["hello"], made["blue-hello"]
    assert main["spec"]["type"] == "ExternalName"
    assert main["spec"]["externalName"] == "hello.default.example.com"
    assert tag["spec"]["externalName"] == "blue-hello.default.example.com"
    assert main["spec"]["ports"] == [{"name": "http2", "appProtocol": "kubernetes.io/h2c", "protocol": "TCP",
                                      "port": 80, "targetPort": 80}]
    assert main["metadata"]["labels"] == {"team": "a", ROUTE_LABEL: "hello"}
    assert main["metadata"]["annotations"]["note"] == "y"
    ref = main["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("Route", "hello", owner["metadata"]["uid"],
                                                                         True)
    versions = {n: s["metadata"]["resourceVersion"] for n, s in made.items()}
    reconcile_route(registry)
    assert {n: s["metadata"]["resourceVersion"] for n, s in services(registry).items()} == versions, "no churn"


def test_labels_are_added_never_removed_and_old_tags_go(registry: Registry) -> None:
    ready_revision(registry)
    route(registry, TAGGED, labels={"team": "a"})
    current = reconcile_route(registry)
    routes = kind(registry, "routes")
    current["metadata"]["labels"] = {"owner": "b"}
    current["spec"]["traffic"] = TAGGED[:1]
    registry.update(routes, "default", "hello", current)
    reconcile_route(registry)
    made = services(registry)
    assert set(made) == {"hello"}
    assert made["hello"]["metadata"]["labels"] == {"team": "a", "owner": "b", ROUTE_LABEL: "hello"}  # kmap.Union


def test_a_cluster_local_route_points_at_its_cluster_local_name(registry: Registry) -> None:
    ready_revision(registry)
    route(registry, TAGGED[:1], labels={VISIBILITY: "cluster-local"})
    reconcile_route(registry)
    made = services(registry)["hello"]
    assert made["spec"]["externalName"] == "hello.default.svc.cluster.local"
    assert VISIBILITY not in made["metadata"]["labels"]


def test_a_service_of_someone_else_makes_the_route_not_owned(registry: Registry) -> None:
    ready_revision(registry)
    registry.create(kind(registry, "services", ""), "default", {"metadata": {"name": "hello"},
                                                                "spec": {"ports": [{"port": 80}]}})
    route(registry, TAGGED[:1])
    status = reconcile_route(registry)["status"]
    ingress = next(c for c in status["conditions"] if c["type"] == "IngressReady")
    assert (ingress["status"], ingress["reason"]) == ("False", "NotOwned")
    assert ingress["message"] == 'There is an existing placeholder Service "hello" that we do not own.'
    assert services(registry)["hello"]["spec"]["type"] == "ClusterIP", "left as it was"


def test_a_revision_gets_its_public_and_private_services(registry: Registry) -> None:
    revision = ready_revision(registry)
    asyncio.run(RevisionReconciler(registry).reconcile(("default", "hello-00001")))
    made = services(registry)
    public, private = made["hello-00001"], made["hello-00001-private"]
    uid = revision["metadata"]["uid"]
    for service, kind_of in ((public, "Public"), (private, "Private")):
        labels = service["metadata"]["labels"]
        assert labels["serving.knative.dev/revision"] == "hello-00001"
        assert labels["serving.knative.dev/revisionUID"] == uid
        assert labels["networking.internal.knative.dev/serviceType"] == kind_of
        assert labels["networking.internal.knative.dev/serverlessservice"] == "hello-00001"
        assert (labels["team"], labels["app"]) == ("a", "hello-00001")
        assert "serving.knative.dev/routingState" not in labels
        assert service["metadata"]["annotations"] == {"note": "x"}
        assert service["metadata"]["ownerReferences"][0]["uid"] == uid
        assert service["spec"]["type"] == "ClusterIP" and service["spec"]["clusterIP"]
    assert "selector" not in public["spec"]
    assert [(p["name"], p["port"], p["targetPort"]) for p in public["spec"]["ports"]] == [
        ("http", 80, 8012), ("https", 443, 8112)]
    assert private["spec"]["selector"] == {"serving.knative.dev/revisionUID": uid}
    assert [(p["name"], p["port"], p["targetPort"]) for p in private["spec"]["ports"]] == [
        ("http", 80, 8012), ("https", 443, 8112), ("http-autometric", 9090, "http-autometric"),
        ("http-usermetric", 9091, "http-usermetric"), ("http-istio", 8012, 8012)]
    registry.delete(kind(registry, "revisions"), "default", "hello-00001")
    assert services(registry) == {}


def test_h2c_revisions_and_long_names() -> None:
    revision = {"apiVersion": "serving.knative.dev/v1", "kind": "Revision",
                "metadata": {"name": "r", "namespace": "ns", "uid": "u"}}
    public, private = k8s_services.make_revision_services(revision, "h2c")
    first = public["spec"]["ports"][0]
    assert (first["name"], first["port"], first["targetPort"]) == ("http2", 81, 8013)
    assert private["spec"]["ports"][0]["appProtocol"] == "kubernetes.io/h2c"
    long = "a" * 60
    name = k8s_services.private_service_name(long)
    assert len(name) == 63 and name.endswith("-private") and name != k8s_services.private_service_name("a" * 61)
    assert k8s_services.private_service_name("short") == "short-private"


def test_deleting_the_route_deletes_its_services(registry: Registry) -> None:
    ready_revision(registry)
    route(registry, TAGGED)
    reconcile_route(registry)
    registry.delete(kind(registry, "routes"), "default", "hello")
    assert services(registry) == {}


def _status_route() -> dict:
    return {"metadata": {"name": "hello", "namespace": "ns"},
            "status": {"url": "http://hello.ns.example.com", "address": {"url": "http://hello.ns.svc.cluster.local"},
                       "traffic": [{"revisionName": "r1", "percent": 100},
                                   {"revisionName": "r1", "percent": 0, "tag": "blue",
                                    "url": "http://blue-hello.ns.example.com"}]}}


def _service(name: str) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "labels": {ROUTE_LABEL: "hello"}}}


def test_cluster_local_names_are_answered_while_the_route_service_exists() -> None:
    table = RoutingTable()
    table.set_revision({"metadata": {"name": "r1", "namespace": "ns", "labels": {}}, "spec": {}}, ("ns", "r1"))
    table.set_route(_status_route(), ("ns", "hello"))
    assert table.lookup("hello.ns.example.com").name == "r1", "public hosts need no Service"
    assert table.lookup("hello.ns.svc.cluster.local") is None
    assert table.served_traffic(("ns", "hello")) is None, "not Ready while a name is unanswered"
    table.set_route_service(_service("hello"), deleted=False)
    for host in ("hello.ns.svc.cluster.local", "hello.ns.svc", "hello.ns"):
        assert table.lookup(host).name == "r1"
    assert table.lookup("blue-hello.ns.svc.cluster.local") is None
    table.set_route_service(_service("blue-hello"), deleted=False)
    assert table.lookup("blue-hello.ns.svc.cluster.local").name == "r1"
    assert table.served_traffic(("ns", "hello")) == [{"revisionName": "r1", "percent": 100}]
    for host in ("r1.ns.svc.cluster.local", "r1-private.ns.svc.cluster.local"):  # revisions' Services: no route
        assert table.lookup(host) is None
    table.set_route_service(_service("hello"), deleted=True)
    assert table.lookup("hello.ns.svc.cluster.local") is None
    assert table.lookup("hello.ns.example.com").name == "r1"
    other = {"metadata": {"name": "hello", "namespace": "ns", "labels": {ROUTE_LABEL: "another"}}}
    table.set_route_service(other, deleted=False)
    assert table.lookup("hello.ns.svc.cluster.local") is None, "a Service for another route is not this one's"
