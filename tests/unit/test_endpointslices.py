"""The EndpointSlice and Endpoints controller, the data plane's use of slices for Services without a selector
and of KIngresses' private load balancers, the KIngress plane's node ports, and core Events' legacy names."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from reference.apiserver.admission import ack
from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.objectmeta import name_causes
from reference.core.endpointslices import EndpointSliceController, desired_endpoints, desired_slices
from reference.dataplane.informer import ApiAccess
from reference.dataplane.kingress import Address, KIngressPlane, Options
from reference.dataplane.serving.services import Backend, ServiceTable
from tests.unit.reconciler_table import RecordingRegistry, Row, run, seed

SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
           "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.9",
                    "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}


def pod(name: str, ip: str, ready: bool = True, port: int = 8080, deleting: bool = False, app: str = "web") -> dict:
    meta: dict = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": {"app": app}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": "kproof", "containers": [{"name": "c", "image": "app", "ports": [{"name": "http",
                                                                                   "containerPort": port}]}]},
            "status": {"phase": "Running", "podIP": ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_a_slice_lists_the_selected_pods_with_their_readiness_and_resolved_port() -> None:
    pods = [pod("a", "10.88.0.2"), pod("b", "10.88.0.3", ready=False), pod("c", "10.88.0.4", deleting=True),
            pod("other", "10.88.0.5", app="db"), {**pod("no-ip", ""), "status": {"phase": "Pending"}}]
    [slice_] = desired_slices(SERVICE, pods)
    assert slice_["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
    assert slice_["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert slice_["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert [(e["addresses"], e["conditions"]) for e in slice_["endpoints"]] == [
        (["10.88.0.2"], {"ready": True, "serving": True, "terminating": False}),
        (["10.88.0.3"], {"ready": False, "serving": False, "terminating": False}),
        (["10.88.0.4"], {"ready": False, "serving": True, "terminating": True}),
    ]
    endpoints = desired_endpoints(SERVICE, [slice_])
    [subset] = endpoints["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["10.88.0.2"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.88.0.3"]  # the terminating one is left out


def test_pods_resolving_a_named_port_differently_get_slices_of_their_own() -> None:
    slices = desired_slices(SERVICE, [pod("a", "10.88.0.2", port=8080), pod("b", "10.88.0.3", port=9090)])
    assert sorted(s["ports"][0]["port"] for s in slices) == [8080, 9090]
    assert len({s["metadata"]["name"] for s in slices}) == 2


def test_a_service_without_pods_keeps_an_empty_slice_and_endpoints() -> None:
    [slice_] = desired_slices(SERVICE, [])
    assert slice_["endpoints"] == [] and desired_endpoints(SERVICE, [slice_])["subsets"] == []


def test_the_controller_writes_slices_and_endpoints_and_follows_the_pods() -> None:
    service = {k: v for k, v in SERVICE.items()}
    service["metadata"] = {"name": "web", "namespace": "ns"}
    run(Row("creates both", [service, pod("a", "10.88.0.2")], ("ns", "web"),
            want_creates=["EndpointSlice/web-*", "Endpoints/web"]), EndpointSliceController)
    registry = RecordingRegistry()
    bootstrap(registry)
    seed(registry, [service, pod("a", "10.88.0.2")], {})
    controller = EndpointSliceController(registry)
    asyncio.run(controller.reconcile(("ns", "web")))
    pods = registry.kinds.require("", "v1", "pods")
    stored = registry.store.get(pods.resource, "ns", "a")
    assert list(controller._services_of(stored)) == [("ns", "web")]
    registry.update(pods, "ns", "a", {**stored, "status": {**stored["status"], "conditions": [
        {"type": "Ready", "status": "False"}]}}, subresource="status")
    registry.recording = True
    asyncio.run(controller.reconcile(("ns", "web")))
    assert sorted(registry.updates) == sorted(["Endpoints/web", *[u for u in registry.updates
                                                                 if u.startswith("EndpointSlice/web-")]])
    assert len(registry.updates) == 2 and not registry.creates  # the slice and the Endpoints, in place
    endpoints = registry.store.get(registry.kinds.require("", "v1", "endpoints").resource, "ns", "web")
    assert [a["ip"] for a in endpoints["subsets"][0]["notReadyAddresses"]] == ["10.88.0.2"]


def test_a_service_without_a_selector_is_left_to_whoever_writes_its_slices() -> None:
    manual = {**SERVICE, "spec": {"ports": SERVICE["spec"]["ports"]}, "metadata": {"name": "web", "namespace": "ns"}}
    run(Row("nothing", [manual], ("ns", "web")), EndpointSliceController)


def test_the_data_plane_reaches_a_selectorless_service_through_its_slices() -> None:
    table = ServiceTable()
    service = {"metadata": {"name": "gw", "namespace": "sys"},
               "spec": {"type": "ClusterIP", "ports": [{"name": "http", "port": 80, "targetPort": 8081}]}}
    table.set_service("ADDED", service, None)
    assert table.lookup("gw.sys.svc.cluster.local") is None  # no slice yet: nothing routes to it
    slice_ = {"metadata": {"name": "gw-x", "namespace": "sys", "labels": {"kubernetes.io/service-name": "gw"}},
              "ports": [{"name": "http", "port": 8081}],
              "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}},
                            {"addresses": ["127.0.0.2"], "conditions": {"ready": False}}]}
    table.set_endpoint_slice("ADDED", slice_, None)
    assert table.lookup("gw.sys.svc.cluster.local") == [Backend("gw-x", "127.0.0.1:8081")]
    table.set_endpoint_slice("DELETED", slice_, None)
    assert table.lookup("gw.sys") is None


def test_core_events_keep_their_legacy_names() -> None:
    assert name_causes("Event", "sink-abc.Received.1") == []  # what client-go's event recorders name them
    assert name_causes("Event", "a/b") and name_causes("Event", "..")
    assert name_causes("ConfigMap", "sink-abc.Received.1")  # every other kind's is a DNS-1123 subdomain


def test_a_kingress_cluster_local_host_answers_at_its_private_load_balancer() -> None:
    table = ServiceTable()
    table.set_service("ADDED", {"metadata": {"name": "gw-internal", "namespace": "sys"},
                                "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8081}]}}, None)
    table.set_endpoint_slice("ADDED", {
        "metadata": {"name": "gw-x", "namespace": "sys", "labels": {"kubernetes.io/service-name": "gw-internal"}},
        "ports": [{"name": "http", "port": 8081}], "endpoints": [{"addresses": ["127.0.0.1"]}]}, None)
    ingress = {"metadata": {"name": "priv", "namespace": "ns"},
               "spec": {"rules": [{"hosts": ["priv.ns.svc"], "visibility": "ClusterLocal"},
                                  {"hosts": ["public.example.com"], "visibility": "ExternalIP"}]},
               "status": {"privateLoadBalancer": {"ingress": [
                   {"domainInternal": "gw-internal.sys.svc.cluster.local"}]}}}
    table.set_kingress("ADDED", ingress, None)
    assert table.lookup("priv.ns.svc:80") == [Backend("gw-x", "127.0.0.1:8081")]
    assert table.lookup("public.example.com") is None  # public hosts are the public listener's
    table.set_kingress("DELETED", ingress, None)
    assert table.lookup("priv.ns.svc") is None


def test_the_kingress_plane_can_publish_its_listeners_as_node_ports(tmp_path: Path) -> None:
    def public_ports(node_ports: bool) -> list[dict]:
        options = Options("c", Address("127.0.0.1", 30080), Address("127.0.0.1", 8081), Address("127.0.0.1", 8093),
                          tmp_path, tls_listen=Address("127.0.0.1", 30443), publish_address="127.0.0.1",
                          node_ports=node_ports)
        plane = KIngressPlane(ApiAccess("https://127.0.0.1:1", "token", tmp_path / "ca.crt"), options)
        services = {body["metadata"]["name"]: body for _, body in plane.service_objects() if body["kind"] == "Service"}
        assert "nodePort" not in str(services["kproof-ingress-internal"])  # a ClusterIP Service has none
        return services["kproof-ingress"]["spec"]["ports"]

    assert [p.get("nodePort") for p in public_ports(True)] == [30080, 30443]
    assert [p.get("nodePort") for p in public_ports(False)] == [None, None]


def test_a_kingress_class_draws_no_warning_a_service_s_does() -> None:
    annotated = {"metadata": {"annotations": {"networking.knative.dev/ingress.class": "kproof.ingress"}}}
    assert ack.warnings("networking.internal.knative.dev/v1alpha1", "Ingress", annotated) == []
    assert ack.warnings("serving.knative.dev/v1", "Service", annotated)  # one ingress serves every Service


def test_a_refused_connection_is_tried_again_after_a_backoff() -> None:
    """A replica Ready before its program listens (no readiness probe) gets the request once it does."""
    from aiohttp import web

    from tests.unit.test_kingress import _free_port, _listener, _served

    async def scenario() -> None:
        port = _free_port()
        app = web.Application()
        async def answer(request: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        app.router.add_get("/", answer)
        runner = web.AppRunner(app)
        await runner.setup()

        async def listen_later() -> None:
            await asyncio.sleep(0.1)  # after the first attempts were refused
            await web.TCPSite(runner, "127.0.0.1", port).start()

        async with _listener(_served(port)) as url, aiohttp.ClientSession() as client:
            later = asyncio.create_task(listen_later())
            try:
                async with client.get(url, headers={"Host": "app.example.com"}) as response:
                    assert response.status == 200
            finally:
                await later
                await runner.cleanup()

    asyncio.run(asyncio.wait_for(scenario(), 30))
