"""The data plane's KIngress mode, its parts that need no cluster: KIngress objects -> routes (hosts, splits,
header matches and appended headers, visibility, path prefixes, tags, rewriteHost, the probe hash), the
backends' endpoints from Services and EndpointSlices, the status it writes, and the proxy serving those
routes to real local backends (headers set, Host rewritten, WebSockets, no timeout, 503 without endpoints).
Knative's own ingress conformance suite, run against a real cluster, is what proves the contract."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from reference.dataplane.server import IngressSite, app_runner
from reference.dataplane.serving.h2c import Link, Pool
from reference.dataplane.serving.kingress import (
    BackendRef,
    KIngressTable,
    go_json,
    ingress_hash,
    status_differs,
    translate,
)
from reference.dataplane.serving.metrics import Metrics
from reference.dataplane.serving.proxy import Incoming, Proxy
from reference.dataplane.serving.routing import Redirect, Routed, RoutingTable

CLASS = "kproof.ingress.networking.knative.dev"
PUBLIC_LB = "kproof-ingress.kproof-system.svc.cluster.local"
PRIVATE_LB = "kproof-ingress-internal.kproof-system.svc.cluster.local"
WAIT = 10.0


def _split(service: str, port: int | str = 80, percent: int = 0, headers: dict | None = None) -> dict:
    out: dict = {"serviceName": service, "serviceNamespace": "ns", "servicePort": port}
    if percent:
        out["percent"] = percent
    if headers:
        out["appendHeaders"] = headers
    return out


def _ingress(rules: list[dict], name: str = "ing", generation: int = 1, klass: str | None = CLASS,
             **spec: object) -> dict:
    annotations = {"networking.knative.dev/ingress.class": klass} if klass is not None else {}
    return {"apiVersion": "networking.internal.knative.dev/v1alpha1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": "ns", "generation": generation, "annotations": annotations,
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"rules": rules, **spec}}


def _rule(hosts: list[str], paths: list[dict], visibility: str = "ExternalIP") -> dict:
    return {"hosts": hosts, "visibility": visibility, "http": {"paths": paths}}


def _service(name: str, port: int = 80, port_name: str = "http", target: int = 8080, **spec: object) -> dict:
    return {"metadata": {"name": name, "namespace": "ns"},
            "spec": {"ports": [{"name": port_name, "port": port, "targetPort": target}], **spec}}


def _slice(service: str, addresses: list[str], port: int = 8080, port_name: str = "http", ready: bool = True,
           name: str | None = None) -> dict:
    return {"metadata": {"name": name or f"{service}-abc", "namespace": "ns",
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "ports": [{"name": port_name, "port": port}],
            "endpoints": [{"addresses": [a], "conditions": {"ready": ready}} for a in addresses]}


def _table(*services: tuple[str, list[str]]) -> KIngressTable:
    table = KIngressTable(CLASS, PUBLIC_LB, PRIVATE_LB)
    for name, addresses in services:
        table.set_service("ADDED", _service(name))
        table.set_endpoint_slice("ADDED", _slice(name, addresses))
    return table


def _route(table: KIngressTable, host: str, path: str = "/", private: bool = False, secure: bool = False,
           headers: dict[str, str] | None = None) -> Routed | Redirect | None:
    return table.route(host, path, CIMultiDict(headers or {}), private, secure)


def _backend(routed: Routed | Redirect | None) -> str | None:
    assert routed is None or isinstance(routed, Routed)
    return None if routed is None else routed.target.name


# Routes ---------------------------------------------------------------------------------------------------


def test_hosts_of_a_rule_route_to_its_backend_whatever_the_port_and_case() -> None:
    table = _table(("a", ["10.0.0.1"]))
    table.set_ingress("ADDED", _ingress([_rule(["a.ns.example.com", "www.a.io"], [{"splits": [_split("a")]}])]))
    for host in ("a.ns.example.com", "A.NS.Example.com:80", "www.a.io"):
        assert _backend(_route(table, host)) == "a"
    assert _route(table, "other.example.com") is None


def test_visibility_cluster_local_rules_only_on_the_private_listener_external_on_both() -> None:
    table = _table(("a", ["10.0.0.1"]), ("b", ["10.0.0.2"]))
    table.set_ingress("ADDED", _ingress([
        _rule(["a.ns.svc.cluster.local", "a.ns.svc", "a.ns"], [{"splits": [_split("a")]}], "ClusterLocal"),
        _rule(["a.ns.example.com"], [{"splits": [_split("b")]}])]))
    for host in ("a.ns.svc.cluster.local", "a.ns.svc", "a.ns"):
        assert _route(table, host) is None
        assert _backend(_route(table, host, private=True)) == "a"
    assert _backend(_route(table, "a.ns.example.com")) == "b"
    assert _backend(_route(table, "a.ns.example.com", private=True)) == "b"


def test_path_prefixes_longest_first_and_the_catch_all() -> None:
    table = _table(("foo", ["10.0.0.1"]), ("bar", ["10.0.0.2"]), ("main", ["10.0.0.3"]))
    table.set_ingress("ADDED", _ingress([_rule(["h.example.com"], [
        {"splits": [_split("main")]},  # listed first: the longer prefixes still win
        {"path": "/foo", "splits": [_split("foo")]},
        {"path": "/foo/bar", "splits": [_split("bar")]}])]))
    assert _backend(_route(table, "h.example.com", "/foo")) == "foo"
    assert _backend(_route(table, "h.example.com", "/foobar?x=/foo/bar")) == "foo"
    assert _backend(_route(table, "h.example.com", "/foo/bar/baz")) == "bar"
    assert _backend(_route(table, "h.example.com", "/")) == "main"
    assert _backend(_route(table, "h.example.com", "/asdf")) == "main"


def test_percentages_split_traffic_and_a_zero_share_gets_none() -> None:
    table = _table(("blue", ["10.0.0.1"]), ("green", ["10.0.0.2"]), ("none", ["10.0.0.3"]))
    table.set_ingress("ADDED", _ingress([_rule(["h.example.com"], [{"splits": [
        _split("blue", percent=20), _split("green", percent=80), _split("none", percent=0)]}])]))
    seen = Counter(_backend(_route(table, "h.example.com")) for _ in range(4000))
    assert seen["none"] == 0
    assert 0.15 < seen["blue"] / 4000 < 0.25 and 0.75 < seen["green"] / 4000 < 0.85


def test_append_headers_are_set_split_then_path_and_the_rule_is_per_host() -> None:
    table = _table(("a", ["10.0.0.1"]), ("b", ["10.0.0.2"]))
    table.set_ingress("ADDED", _ingress([
        _rule(["a.example.com"], [{"appendHeaders": {"Foo-Bar-Baz": "a", "Who": "path"},
                                   "splits": [_split("a", headers={"Who": "split", "Split-Only": "yes"})]}]),
        _rule(["b.example.com"], [{"appendHeaders": {"Foo-Bar-Baz": "b"}, "splits": [_split("b")]}])]))
    routed = _route(table, "a.example.com")
    assert isinstance(routed, Routed)
    assert dict(routed.headers) == {"Foo-Bar-Baz": "a", "Who": "path", "Split-Only": "yes"}
    routed = _route(table, "b.example.com")
    assert isinstance(routed, Routed) and dict(routed.headers) == {"Foo-Bar-Baz": "b"}


def test_tag_header_routing_as_the_kingress_expresses_it() -> None:
    table = _table(("a", ["10.0.0.1"]))
    table.set_ingress("ADDED", _ingress([_rule(["h.example.com"], [
        {"headers": {"Knative-Serving-Tag": {"exact": "the-tag"}}, "appendHeaders": {"Which-Backend": "tag"},
         "splits": [_split("a")]},
        {"appendHeaders": {"Which-Backend": "no-tag"}, "splits": [_split("a")]}])]))

    def which(headers: dict[str, str] | None = None) -> str:
        routed = _route(table, "h.example.com", headers=headers)
        assert isinstance(routed, Routed)
        return dict(routed.headers)["Which-Backend"]

    assert which({"Knative-Serving-Tag": "the-tag"}) == "tag"
    assert which() == "no-tag"
    assert which({"Knative-Serving-Tag": ""}) == "no-tag"
    assert which({"Knative-Serving-Tag": "not-the-tag"}) == "no-tag"


def test_rewrite_host_and_the_probe_hash() -> None:
    table = _table(("a", ["10.0.0.1"]))
    ingress = _ingress([_rule(["vanity.example.com"], [{"rewriteHost": "a.ns.svc.cluster.local",
                                                        "splits": [_split("a")]}])])
    table.set_ingress("ADDED", ingress)
    routed = _route(table, "vanity.example.com")
    assert isinstance(routed, Routed) and routed.authority == "a.ns.svc.cluster.local"
    assert "K-Network-Hash" not in dict(routed.headers)
    probe = _route(table, "vanity.example.com", headers={"K-Network-Probe": "probe", "K-Network-Hash": "override"})
    assert isinstance(probe, Routed) and dict(probe.headers)["K-Network-Hash"] == ingress_hash(ingress)
    other = _route(table, "vanity.example.com", headers={"K-Network-Hash": "2701a1b2"})  # the prober's own: kept
    assert isinstance(other, Routed) and "K-Network-Hash" not in dict(other.headers)


def test_tls_and_http_option_redirected() -> None:
    table = _table(("a", ["10.0.0.1"]))
    table.set_ingress("ADDED", _ingress([_rule(["a.example.com"], [{"splits": [_split("a")]}])],
                                        tls=[{"hosts": ["a.example.com"], "secretName": "cert",
                                              "secretNamespace": "ns"}], httpOption="Redirected"))
    assert _route(table, "a.example.com", "/x?y=1") == Redirect("https://a.example.com/x?y=1")
    assert _backend(_route(table, "a.example.com", secure=True)) == "a"
    assert table.tls_hosts == {"a.example.com": ("ns", "cert")}


def test_only_ingresses_annotated_with_our_class_are_served() -> None:
    table = _table(("a", ["10.0.0.1"]))
    for name, klass in (("nil", None), ("empty", ""), ("other", "istio.ingress.networking.knative.dev")):
        table.set_ingress("ADDED", _ingress([_rule([f"{name}.example.com"], [{"splits": [_split("a")]}])], name,
                                            klass=klass))
        assert _route(table, f"{name}.example.com") is None
    assert table.ingresses == {} and table.changed == set()


# Backends -------------------------------------------------------------------------------------------------


def test_endpoints_are_the_ready_addresses_at_the_slice_port_of_the_service_port() -> None:
    table = KIngressTable(CLASS, PUBLIC_LB, PRIVATE_LB)
    backends = table.backends
    backends.set_service("ADDED", {"metadata": {"name": "s", "namespace": "ns"}, "spec": {"ports": [
        {"name": "http", "port": 80, "targetPort": "user-port"},
        {"name": "h2c", "port": 81, "targetPort": 9000, "appProtocol": "kubernetes.io/h2c"}]}})
    backends.set_slice("ADDED", {"metadata": {"name": "s-1", "namespace": "ns",
                                              "labels": {"kubernetes.io/service-name": "s"}},
                                 "addressType": "IPv4",
                                 "ports": [{"name": "http", "port": 8012}, {"name": "h2c", "port": 9000}],
                                 "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}},
                                               {"addresses": ["10.0.0.2"], "conditions": {"ready": False}},
                                               {"addresses": ["10.0.0.3"], "conditions": {}}]})
    assert [e.address for e in backends.endpoints(BackendRef("ns", "s", 80)) or []] == ["10.0.0.1:8012",
                                                                                         "10.0.0.3:8012"]
    assert [e.address for e in backends.endpoints(BackendRef("ns", "s", "h2c")) or []] == ["10.0.0.1:9000",
                                                                                            "10.0.0.3:9000"]
    assert not backends.speaks_h2c(BackendRef("ns", "s", 80)) and backends.speaks_h2c(BackendRef("ns", "s", 81))
    assert backends.endpoints(BackendRef("ns", "missing", 80)) is None
    assert backends.missing(BackendRef("ns", "missing", 80)) == "Service ns/missing not yet created"


def test_external_name_services_resolve_cluster_local_names_through_the_cluster_s_services() -> None:
    table = KIngressTable(CLASS, PUBLIC_LB, PRIVATE_LB)
    backends = table.backends
    backends.set_service("ADDED", {"metadata": {"name": "kproof-ingress-internal", "namespace": "kproof-system"},
                                   "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8092}]}})
    backends.set_slice("ADDED", {"metadata": {"name": "x", "namespace": "kproof-system",
                                              "labels": {"kubernetes.io/service-name": "kproof-ingress-internal"}},
                                 "addressType": "IPv4", "ports": [{"name": "http", "port": 8092}],
                                 "endpoints": [{"addresses": ["10.244.0.1"]}]})
    backends.set_service("ADDED", {"metadata": {"name": "vanity", "namespace": "ns"}, "spec": {
        "type": "ExternalName", "externalName": PRIVATE_LB, "ports": [{"name": "h2c", "port": 80}]}})
    backends.set_service("ADDED", {"metadata": {"name": "far", "namespace": "ns"}, "spec": {
        "type": "ExternalName", "externalName": "example.org"}})
    assert [e.address for e in backends.endpoints(BackendRef("ns", "vanity", 80)) or []] == ["10.244.0.1:8092"]
    assert backends.speaks_h2c(BackendRef("ns", "vanity", 80))
    assert [e.address for e in backends.endpoints(BackendRef("ns", "far", 80)) or []] == ["example.org:80"]
    assert backends.missing(BackendRef("ns", "far", 80)) is None


def test_targets_follow_endpoint_slices_and_h2c_ports() -> None:
    table = KIngressTable(CLASS, PUBLIC_LB, PRIVATE_LB)
    table.set_service("ADDED", _service("g", port=90, port_name="h2c"))
    table.set_endpoint_slice("ADDED", _slice("g", ["10.0.0.1"], port_name="h2c"))
    table.set_ingress("ADDED", _ingress([_rule(["g.example.com"], [{"splits": [_split("g", 90)]}])]))
    target = table.targets[BackendRef("ns", "g", 90)]
    assert target.h2c and not target.holds and sorted(target.throttler.endpoints) == ["10.0.0.1:8080"]
    table.set_endpoint_slice("MODIFIED", _slice("g", ["10.0.0.2", "10.0.0.3"], port_name="h2c"))
    assert sorted(target.throttler.endpoints) == ["10.0.0.2:8080", "10.0.0.3:8080"]
    table.set_endpoint_slice("DELETED", _slice("g", [], port_name="h2c"))
    assert target.throttler.endpoints == {}


# Programming and status --------------------------------------------------------------------------------


def _conditions(status: dict) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c.get("reason", "")) for c in status["conditions"]}


def test_status_ready_with_load_balancers_once_every_backend_has_endpoints() -> None:
    table = KIngressTable(CLASS, PUBLIC_LB, PRIVATE_LB)
    table.set_ingress("ADDED", _ingress([_rule(["a.example.com"], [{"splits": [_split("a")]}])], generation=3))
    status = table.desired_status(("ns", "ing"))
    assert status is not None and status["observedGeneration"] == 3
    assert _conditions(status) == {"NetworkConfigured": ("True", ""), "LoadBalancerReady": ("Unknown", "Uninitialized"),
                                   "Ready": ("Unknown", "Uninitialized")}
    assert "Service ns/a not yet created" in status["conditions"][0]["message"]
    assert "publicLoadBalancer" not in status and _route(table, "a.example.com") is None
    table.changed.clear()
    table.set_service("ADDED", _service("a"))
    table.set_endpoint_slice("ADDED", _slice("a", ["10.0.0.1"], ready=False))
    assert _route(table, "a.example.com") is None
    table.set_endpoint_slice("MODIFIED", _slice("a", ["10.0.0.1"]))
    assert table.changed == {("ns", "ing")}
    status = table.desired_status(("ns", "ing"))
    assert status is not None
    assert _conditions(status) == {"NetworkConfigured": ("True", ""), "LoadBalancerReady": ("True", ""),
                                   "Ready": ("True", "")}
    assert status["publicLoadBalancer"] == {"ingress": [{"domainInternal": PUBLIC_LB}]}
    assert status["privateLoadBalancer"] == {"ingress": [{"domainInternal": PRIVATE_LB}]}
    assert _backend(_route(table, "a.example.com")) == "a"
    written = {**table.ingresses[("ns", "ing")].obj, "status": status}
    assert not status_differs(written, table.desired_status(("ns", "ing")) or {})


def test_a_new_generation_waits_while_the_previous_one_keeps_serving() -> None:
    table = _table(("first", ["10.0.0.1"]))
    rules = [_rule(["h.example.com"], [{"splits": [_split("first", headers={"Who-Are-You": "first"})]}])]
    table.set_ingress("ADDED", _ingress(rules))
    table.set_ingress("MODIFIED", _ingress([_rule(["h.example.com"], [{"splits": [_split("next")]}])],
                                           generation=2))
    assert _backend(_route(table, "h.example.com")) == "first"
    status = table.desired_status(("ns", "ing"))
    assert status is not None and status["observedGeneration"] == 2
    assert _conditions(status)["Ready"] == ("Unknown", "Uninitialized")
    table.set_service("ADDED", _service("next"))
    table.set_endpoint_slice("ADDED", _slice("next", ["10.0.0.2"]))
    assert _backend(_route(table, "h.example.com")) == "next"
    assert BackendRef("ns", "first", 80) not in table.targets  # no Ingress uses it any more
    assert _conditions(table.desired_status(("ns", "ing")) or {})["Ready"] == ("True", "")


def test_a_host_another_ingress_serves_is_a_domain_conflict() -> None:
    table = _table(("a", ["10.0.0.1"]), ("b", ["10.0.0.2"]))
    table.set_ingress("ADDED", _ingress([_rule(["h.example.com"], [{"splits": [_split("a")]}])], "first"))
    table.set_ingress("ADDED", _ingress([_rule(["h.example.com"], [{"splits": [_split("b")]}])], "second"))
    status = table.desired_status(("ns", "second"))
    assert status is not None and _conditions(status)["LoadBalancerReady"] == ("False", "DomainConflict")
    assert _conditions(status)["Ready"] == ("False", "DomainConflict")
    assert _backend(_route(table, "h.example.com")) == "a"
    table.set_ingress("DELETED", _ingress([], "first"))
    assert _backend(_route(table, "h.example.com")) == "b"
    assert _conditions(table.desired_status(("ns", "second")) or {})["Ready"] == ("True", "")


# The probe hash ----------------------------------------------------------------------------------------------


def test_the_hash_is_knatives_compute_hash_of_the_defaulted_spec() -> None:
    ingress = _ingress([_rule(["a.example.com"], [{"splits": [_split("a", 80)], "appendHeaders": {"B": "<&>"},
                                                   "headers": {"X": {"exact": "y"}}}])],
                       tls=[{"hosts": ["a.example.com"], "secretName": "s", "secretNamespace": "ns"}])
    text = ('{"tls":[{"hosts":["a.example.com"],"secretName":"s","secretNamespace":"ns"}],"rules":[{"hosts":'
            '["a.example.com"],"visibility":"ExternalIP","http":{"paths":[{"headers":{"X":{"exact":"y"}},"splits":'
            '[{"serviceNamespace":"ns","serviceName":"a","servicePort":80,"percent":100}],"appendHeaders":'
            '{"B":"\\u003c\\u0026\\u003e"}}]}}]}')
    assert ingress_hash(ingress) == hashlib.sha256(text.encode() + b"nsing").hexdigest()
    assert go_json({"a": "\u2028"}) == '{"a":"\\u2028"}'


@pytest.mark.parametrize(("ingress", "expected"), [
    # Hashes printed by knative.dev/networking's own ingress.ComputeHash (after SetDefaults) for these objects.
    ({"metadata": {"name": "x", "namespace": "serving-tests"}, "spec": {"httpOption": "Enabled", "rules": [
        {"hosts": ["h"], "http": {"paths": [
            {"path": "/foo", "rewriteHost": "r.svc", "splits": [
                {"serviceName": "s", "serviceNamespace": "n", "servicePort": "http", "percent": 50,
                 "appendHeaders": {"Foo": "1"}},
                {"serviceName": "t", "serviceNamespace": "n", "servicePort": 81, "percent": 50}]},
            {"splits": []}]}},
        {"hosts": [], "visibility": "ClusterLocal", "http": {"paths": []}}]}},
     "2c6f7e8c473809b9ed30a6a756e88125352a1f05afa4c42da8857edf5ecb190b"),
    ({"metadata": {"name": "e", "namespace": "d"}, "spec": {}},
     "69c9056521c4632b02fa8a2120d48b6dda45d689016d6514eb368ad4b4e311ce"),
    ({"metadata": {"name": "ctl", "namespace": "d"}, "spec": {"rules": [{"hosts": ["q"], "http": {"paths": [
        {"splits": [{"serviceName": "s\u0001\t\n\b\f\x7f\"\\", "serviceNamespace": "n", "servicePort": 80}]}]}}]}},
     "ca6d7486eb9d518a0f227772bc3860c4c3cea3f7bb582ddfac9cff1add4b7dc8"),
])
def test_the_hash_matches_knatives_for_sparse_and_odd_specs(ingress: dict, expected: str) -> None:
    assert ingress_hash(ingress) == expected


# The proxy over KIngress routes, to real local backends ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def _backend_server() -> AsyncIterator[int]:
    """An HTTP/1.1 backend: echoes the request's Host and headers as JSON, waits when asked, echoes
    WebSocket messages with a suffix."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await ws.send_str(message.data + " - pong")
            return ws
        await asyncio.sleep(float(request.query.get("delay", "0")))
        return web.json_response({"host": request.host, "headers": dict(request.headers)})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()


@asynccontextmanager
async def _listener(table: KIngressTable, private: bool = False) -> AsyncIterator[str]:
    routing = RoutingTable()
    routing.sources.append(table)
    session = aiohttp.ClientSession(auto_decompress=False)
    pool = Pool()
    proxy = Proxy(routing, Metrics(), session, lambda: None, h2c=pool)

    async def serve(request: web.Request) -> web.StreamResponse:
        return await proxy.handle(request, private)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", serve)
    runner = app_runner(app, head_timeout=5.0)
    await runner.setup()
    port = _free_port()
    await IngressSite(runner, "127.0.0.1", port, lambda: Link(
        client_side=False, serve=lambda s: proxy.handle_stream(s, Incoming.of_stream(s, private)))).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        pool.close()
        await runner.cleanup()
        await session.close()


def _served(port: int) -> KIngressTable:
    table = KIngressTable(CLASS, PUBLIC_LB, PRIVATE_LB)
    table.set_service("ADDED", _service("app", target=port))
    table.set_endpoint_slice("ADDED", _slice("app", ["127.0.0.1"], port=port))
    table.set_service("ADDED", _service("empty"))
    table.set_ingress("ADDED", _ingress([
        _rule(["app.example.com"], [{"appendHeaders": {"Foo-Bar-Baz": "set"}, "splits": [_split("app")]}]),
        _rule(["vanity.example.com"], [{"rewriteHost": "app.ns.svc.cluster.local", "splits": [_split("app")]}]),
        _rule(["app.ns.svc.cluster.local"], [{"splits": [_split("app")]}], "ClusterLocal")]))
    table.set_endpoint_slice("ADDED", _slice("empty", ["127.0.0.1"], port=1))
    table.set_ingress("ADDED", _ingress([_rule(["empty.example.com"], [{"splits": [_split("empty")]}])], "other"))
    table.set_endpoint_slice("MODIFIED", _slice("empty", []))
    return table


def test_the_proxy_sets_route_headers_rewrites_the_host_and_waits_without_timeout() -> None:
    async def scenario() -> None:
        async with _backend_server() as port, _listener(_served(port)) as url, aiohttp.ClientSession() as client:
            timeout = aiohttp.ClientTimeout(total=WAIT)
            async with client.get(url, headers={"Host": "app.example.com", "Foo-Bar-Baz": "bogus"},
                                  timeout=timeout) as response:
                assert response.status == 200
                body = await response.json()
                assert body["headers"]["Foo-Bar-Baz"] == "set" and body["host"] == "app.example.com"
            async with client.get(url, headers={"Host": "vanity.example.com"}, timeout=timeout) as response:
                assert (await response.json())["host"] == "app.ns.svc.cluster.local"
            async with client.get(url, headers={"Host": "app.ns.svc.cluster.local"}, timeout=timeout) as response:
                assert response.status == 404  # cluster-local: not on the public listener
            async with client.get(url, headers={"Host": "empty.example.com"}, timeout=timeout) as response:
                assert response.status == 503  # no ready endpoints: at once, no activator hold
            async with client.get(f"{url}/?delay=1.5", headers={"Host": "app.example.com"},
                                  timeout=timeout) as response:
                assert response.status == 200

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_websockets_pass_through_the_proxy_both_ways() -> None:
    async def scenario() -> None:
        async with _backend_server() as port, _listener(_served(port)) as url, aiohttp.ClientSession() as client, \
                client.ws_connect(url, headers={"Host": "app.example.com"},
                                  timeout=aiohttp.ClientWSTimeout(ws_close=WAIT)) as ws:
            for i in range(20):
                await ws.send_str(f"ping {i}")
                message = await ws.receive(timeout=WAIT)
                assert message.type == aiohttp.WSMsgType.TEXT and message.data == f"ping {i} - pong"
            await ws.close()
            assert ws.close_code == aiohttp.WSCloseCode.OK

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_the_private_listener_serves_cluster_local_hosts() -> None:
    async def scenario() -> None:
        async with _backend_server() as port, _listener(_served(port), private=True) as url, \
                aiohttp.ClientSession() as client, client.get(url, headers={"Host": "app.ns.svc.cluster.local"},
                                                              timeout=aiohttp.ClientTimeout(total=WAIT)) as response:
            assert response.status == 200
            assert json.loads(await response.text())["host"] == "app.ns.svc.cluster.local"

    asyncio.run(asyncio.wait_for(scenario(), 30))


@pytest.mark.parametrize("spec", [
    {"rules": [{"hosts": ["h"], "http": {"paths": [{"splits": [{"serviceName": "s", "servicePort": "http"}]}]}}]},
    {"rules": [{"http": None}], "httpOption": "Enabled"},
    {},
])
def test_translate_accepts_sparse_specs(spec: dict) -> None:
    program = translate({"metadata": {"name": "x", "namespace": "ns"}, "spec": spec})
    assert set(program.routes) == {"public", "private", "tls"}
