"""Core v1 Services in the API server: the kind, its defaults, cluster IP and node port allocation, its
validation, kubectl's columns, strategic merge of its ports, and garbage collection."""

import asyncio
import ipaddress
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from reference.apiserver import patch
from reference.apiserver.admission.services import SERVICE_RANGE, allocate_cluster_ip, allocate_node_port
from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.discovery import resource_list
from reference.apiserver.errors import ApiError
from reference.apiserver.registry import Registry
from reference.apiserver.server import ApiServer
from reference.apiserver.store import Store
from reference.apiserver.tables import table


@pytest.fixture
def registry() -> Registry:
    reg = Registry(Store())
    bootstrap(reg)
    return reg


def services(registry: Registry):
    return registry.kinds.by_path("", "v1", "services")


def svc(name: str = "web", **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def create(registry: Registry, body: dict, namespace: str = "default") -> dict:
    return registry.create(services(registry), namespace, body)


def refused(registry: Registry, body: dict) -> dict:
    with pytest.raises(ApiError) as err:
        create(registry, body)
    assert err.value.code == 422
    return {c["field"]: c["message"] for c in err.value.status()["details"]["causes"]}


def test_the_kind_is_served_beside_knatives_service(registry: Registry) -> None:
    core = services(registry)
    assert (core.short_names, core.categories, core.namespaced) == (("svc",), ("all",), True)
    assert registry.kinds.by_kind("v1", "Service") is core
    assert registry.kinds.by_kind("serving.knative.dev/v1", "Service").group == "serving.knative.dev"
    listed = resource_list("v1", [core], {})["resources"]
    assert {r["name"] for r in listed} == {"services", "services/status"}


def test_defaults_as_the_api_server_sets_them(registry: Registry) -> None:
    created = create(registry, svc(selector={"app": "web"}, ports=[{"port": 80, "targetPort": 8080}]))
    spec = created["spec"]
    assert (spec["type"], spec["sessionAffinity"], spec["internalTrafficPolicy"]) == ("ClusterIP", "None", "Cluster")
    assert spec["ports"] == [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]
    assert ipaddress.ip_address(spec["clusterIP"]) in SERVICE_RANGE
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert (spec["ipFamilies"], spec["ipFamilyPolicy"]) == (["IPv4"], "SingleStack")
    assert created["status"] == {"loadBalancer": {}}
    assert "generation" not in created["metadata"]
    one = create(registry, svc("one", ports=[{"port": 53, "protocol": "UDP"}]))
    assert one["spec"]["ports"] == [{"port": 53, "protocol": "UDP", "targetPort": 53}]


def test_cluster_ips_are_stable_and_unique() -> None:
    first = allocate_cluster_ip("default/web", set())
    assert first == allocate_cluster_ip("default/web", set())
    assert allocate_cluster_ip("default/web", {first}) not in (first, None)
    network, gateway = str(SERVICE_RANGE.network_address), str(SERVICE_RANGE.network_address + 1)
    taken: set[str] = set()
    for n in range(300):
        address = allocate_cluster_ip(f"ns/s{n % 7}", taken)  # the same names again: their start is taken
        assert address is not None and address not in taken and address not in (network, gateway)
        assert ipaddress.ip_address(address) in SERVICE_RANGE
        taken.add(address)
    port = allocate_node_port("default/np/80/TCP", set())
    assert 30000 <= port <= 32767 and allocate_node_port("default/np/80/TCP", {port}) != port


def test_allocation_is_unique_in_the_store_and_kept_on_update(registry: Registry) -> None:
    made = [create(registry, svc(f"s{n}", ports=[{"port": 80}]), namespace=ns)
            for n in range(20) for ns in ("default", "knative-serving")]
    addresses = [s["spec"]["clusterIP"] for s in made]
    assert len(set(addresses)) == len(addresses)
    again = Registry(Store())  # the same Service in another store gets the same address
    bootstrap(again)
    assert create(again, svc("s0", ports=[{"port": 80}]))["spec"]["clusterIP"] == addresses[0]

    kind = services(registry)
    updated = registry.update(kind, "default", "s0", svc("s0", ports=[{"port": 81}]))  # no clusterIP sent
    assert updated["spec"]["clusterIP"] == addresses[0]
    with pytest.raises(ApiError) as err:
        registry.update(kind, "default", "s0", svc("s0", clusterIP=addresses[1], ports=[{"port": 81}]))
    assert err.value.status()["details"]["causes"][0]["field"] == "spec.clusterIP"
    external = registry.update(kind, "default", "s0", {**updated, "spec": {
        **updated["spec"], "type": "ExternalName", "externalName": "db.example.com"}})
    assert "clusterIP" not in external["spec"] and "clusterIPs" not in external["spec"]


def test_asked_for_addresses_headless_and_external_names(registry: Registry) -> None:
    taken = create(registry, svc("a", ports=[{"port": 80}]))["spec"]["clusterIP"]
    assert create(registry, svc("b", clusterIP="10.96.0.10", ports=[{"port": 53}]))["spec"]["clusterIP"] == "10.96.0.10"
    assert "already allocated" in refused(registry, svc("c", clusterIP=taken, ports=[{"port": 80}]))["spec.clusterIP"]
    assert "not in the valid range" in refused(registry, svc("d", clusterIP="192.168.1.1",
                                                             ports=[{"port": 80}]))["spec.clusterIP"]
    headless = create(registry, svc("e", clusterIP="None", selector={"app": "e"}))
    assert (headless["spec"]["clusterIP"], headless["spec"]["clusterIPs"]) == ("None", ["None"])
    external = create(registry, svc("f", type="ExternalName", externalName="db.example.com"))
    assert "clusterIP" not in external["spec"] and "internalTrafficPolicy" not in external["spec"]
    node = create(registry, svc("g", type="NodePort", ports=[{"name": "a", "port": 80}, {"name": "b", "port": 443}]))
    node_ports = [p["nodePort"] for p in node["spec"]["ports"]]
    assert len(set(node_ports)) == 2 and all(30000 <= p <= 32767 for p in node_ports)
    assert node["spec"]["externalTrafficPolicy"] == "Cluster"
    clash = refused(registry, svc("h", type="NodePort", ports=[{"port": 80, "nodePort": node_ports[0]}]))
    assert clash["spec.ports[0].nodePort"].endswith("provided port is already allocated")


@pytest.mark.parametrize(("spec", "field", "message"), [
    ({"type": "Headless", "ports": [{"port": 80}]}, "spec.type",
     'Unsupported value: "Headless": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'),
    ({}, "spec.ports", "Required value"),
    ({"ports": [{"port": 0}]}, "spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
    ({"ports": [{"port": 70000}]}, "spec.ports[0].port",
     "Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ({"ports": [{"port": 80, "protocol": "HTTP"}]}, "spec.ports[0].protocol",
     'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'),
    ({"ports": [{"name": "a", "port": 80}, {"port": 81}]}, "spec.ports[1].name", "Required value"),
    ({"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]}, "spec.ports[1].name", 'Duplicate value: "a"'),
    ({"ports": [{"name": "Web", "port": 80}]}, "spec.ports[0].name", 'Invalid value: "Web": a lowercase RFC 1123'),
    ({"ports": [{"port": 80, "targetPort": "http_port"}]}, "spec.ports[0].targetPort",
     'Invalid value: "http_port": must contain only alpha-numeric characters'),
    ({"ports": [{"port": 80, "nodePort": 30001}]}, "spec.ports[0].nodePort",
     "Forbidden: may not be used when `type` is 'ClusterIP'"),
    ({"type": "ExternalName"}, "spec.externalName", "Required value"),
    ({"type": "ExternalName", "externalName": "Not A Host"}, "spec.externalName",
     'Invalid value: "Not A Host": a lowercase RFC 1123 subdomain'),
    ({"type": "ExternalName", "externalName": "a.example.com", "clusterIP": "10.96.0.20"}, "spec.clusterIP",
     "Forbidden: must be empty for ExternalName services"),
    ({"type": "NodePort", "clusterIP": "None", "ports": [{"port": 80}]}, "spec.clusterIP",
     "Invalid value: \"None\": may not be set to 'None' for NodePort services"),
    ({"ports": [{"port": 80}], "sessionAffinity": "Sticky"}, "spec.sessionAffinity",
     'Unsupported value: "Sticky": supported values: "ClientIP", "None"'),
])
def test_validation_names_the_field(registry: Registry, spec: dict, field: str, message: str) -> None:
    causes = refused(registry, svc(**spec))
    assert causes[field].startswith(message), causes
    assert registry.store.get(services(registry).resource, "default", "web") is None


def test_names_are_dns_1035_labels(registry: Registry) -> None:
    causes = refused(registry, svc("1web", ports=[{"port": 80}]))
    assert causes["metadata.name"].startswith('Invalid value: "1web": a DNS-1035 label')


def test_kubectl_columns(registry: Registry) -> None:
    kind = services(registry)
    made = [create(registry, svc("cip", selector={"b": "2", "a": "1"}, ports=[{"port": 80}])),
            create(registry, svc("ext", type="ExternalName", externalName="hello.default.example.com",
                                 ports=[{"name": "http2", "port": 80}])),
            create(registry, svc("np", type="NodePort", ports=[{"port": 80}])),
            create(registry, svc("lb", type="LoadBalancer", ports=[{"port": 443}])),
            create(registry, svc("hl", clusterIP="None"))]
    rendered = table(kind, made)
    assert [c["name"] for c in rendered["columnDefinitions"]] == [
        "Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]
    assert rendered["columnDefinitions"][-1]["priority"] == 1
    rows = {r["cells"][0]: r["cells"][1:5] + r["cells"][6:] for r in rendered["rows"]}
    assert rows["cip"] == ["ClusterIP", made[0]["spec"]["clusterIP"], "<none>", "80/TCP", "a=1,b=2"]
    assert rows["ext"] == ["ExternalName", "<none>", "hello.default.example.com", "80/TCP", "<none>"]
    assert rows["np"] == ["NodePort", made[2]["spec"]["clusterIP"], "<none>",
                          f"80:{made[2]['spec']['ports'][0]['nodePort']}/TCP", "<none>"]
    assert rows["lb"][2] == "<pending>"
    assert rows["hl"] == ["ClusterIP", "None", "<none>", "<none>", "<none>"]
    balanced = {**made[3], "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}}
    assert table(kind, [balanced])["rows"][0]["cells"][3] == "203.0.113.7"


def test_strategic_merge_patch_merges_service_ports_by_port() -> None:
    live = {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                               {"name": "https", "port": 443, "protocol": "TCP"}]}}
    merged = patch.strategic_merge_patch(live, {"spec": {"$setElementOrder/ports": [{"port": 80}, {"port": 443}],
                                                         "ports": [{"port": 80, "targetPort": 9090}]}})
    assert merged["spec"]["ports"][0] == {"name": "http", "port": 80, "targetPort": 9090, "protocol": "TCP"}
    assert merged["spec"]["ports"][1]["name"] == "https"
    container = patch.strategic_merge_patch({"ports": [{"containerPort": 8080, "name": "a"}]},
                                            {"ports": [{"containerPort": 8080, "protocol": "TCP"}]})
    assert container["ports"] == [{"containerPort": 8080, "name": "a", "protocol": "TCP"}]


def test_owned_services_are_garbage_collected(registry: Registry) -> None:
    config_maps = registry.kinds.by_path("", "v1", "configmaps")
    owner = registry.create(config_maps, "default", {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    create(registry, {**svc("owned", ports=[{"port": 80}]), "metadata": {"name": "owned", "ownerReferences": [ref]}})
    registry.delete(config_maps, "default", "owner")
    assert registry.store.get(services(registry).resource, "default", "owned") is None


def test_a_plain_service_over_http_and_its_table() -> None:
    async def scenario(client: TestClient) -> None:
        auth = {"Authorization": "Bearer t"}
        path = "/api/v1/namespaces/default/services"
        created = await client.post(path, data=json.dumps(svc(ports=[{"port": 80}], selector={"app": "web"})),
                                    headers=auth)
        assert created.status == 201
        accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        listed = await (await client.get(path, headers={**auth, "Accept": accept})).json()
        assert listed["rows"][0]["cells"][:2] == ["web", "ClusterIP"]
        knative = await (await client.get("/apis/serving.knative.dev/v1/namespaces/default/services",
                                          headers=auth)).json()
        assert knative["items"] == []
        root = await (await client.get("/openapi/v3", headers=auth)).json()
        document = await (await client.get(root["paths"]["api/v1"]["serverRelativeURL"], headers=auth)).json()
        assert "io.k8s.api.core.v1.Service" in document["components"]["schemas"]

    async def main() -> None:
        registry = Registry(Store())
        bootstrap(registry)
        async with TestClient(TestServer(ApiServer(registry, "t").app())) as client:
            await scenario(client)

    asyncio.run(main())
