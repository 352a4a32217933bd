from reference.dataplane.serving.metrics import RevisionStats
from reference.dataplane.serving.requestlog import RequestRecord, compile_template, js_escape
from reference.dataplane.serving.routing import RoutingTable


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_buckets_hold_time_weighted_concurrency_and_request_counts() -> None:
    clock = Clock(100.0)
    stats = RevisionStats(clock)
    stats.started()  # one request for the whole of second 100
    clock.now = 100.5
    stats.started()  # a second one for its second half
    clock.now = 101.0
    stats.finished()
    clock.now = 101.25
    stats.finished()
    clock.now = 103.0
    buckets = stats.recent()
    assert [(b.second, b.concurrency, b.requests) for b in buckets] == [
        (100, 1.5, 2), (101, 0.25, 0), (102, 0.0, 0)]
    assert stats.recent(since=101)[0].second == 102


def test_request_log_template_renders_like_go() -> None:
    template = ('{"method": "{{.Request.Method}}", "url": "{{js .Request.RequestURI}}", "status": {{.Response.Code}}, '
                '"trace": "{{index .Request.Header "X-B3-Traceid"}}", "rev": "{{.Revision.Name}}"}')
    record = RequestRecord(method="GET", uri="/a?b=\'c\'", proto="HTTP/1.1", host="h", remote_addr="1.2.3.4:0",
                           user_agent="ua", referer="", content_length=0, headers={"x-b3-traceid": "t1"}, code=200,
                           size=5, latency=0.01, revision="r-00001", namespace="n", service="s", configuration="c",
                           pod_name="p", pod_ip="127.0.0.1")
    line = compile_template(template)(record)
    assert line == ('{"method": "GET", "url": "/a?b\\u003D\\\'c\\\'", "status": 200, "trace": "[t1]", '
                    '"rev": "r-00001"}')
    assert js_escape('<a href="x">') == '\\u003Ca href\\u003D\\"x\\"\\u003E'


def _route(traffic: list[dict]) -> dict:
    return {"status": {"url": "http://svc.ns.example.com", "address": {"url": "http://svc.ns.svc.cluster.local"},
                       "traffic": traffic}}


def _revision(name: str, cc: int = 0) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "labels": {}}, "spec": {"containerConcurrency": cc,
                                                                                   "timeoutSeconds": 30}}


def _pod(name: str, revision: str, ready: bool, port: int) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "uid": name,
                         "labels": {"serving.knative.dev/revision": revision}},
            "spec": {"containers": [{"name": "user-container", "ports": [{"containerPort": port}]}]},
            "status": {"podIP": "127.0.0.1",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_routing_by_host_split_and_tags() -> None:
    table = RoutingTable()
    table.set_revision(_revision("blue"), ("ns", "blue"))
    table.set_revision(_revision("green"), ("ns", "green"))
    for name in ("svc", "b-svc", "g-svc"):  # the Route's Kubernetes Services, its tags' too
        table.set_route_service({"metadata": {"name": name, "namespace": "ns",
                                              "labels": {"serving.knative.dev/route": "svc"}}}, deleted=False)
    table.set_route(_route([{"revisionName": "blue", "percent": 100, "tag": "b",
                             "url": "http://b-svc.ns.example.com"},
                            {"revisionName": "green", "percent": 0, "tag": "g", "url": "http://g-svc.ns.example.com"}]),
                    ("ns", "svc"))
    for host in ("svc.ns.example.com", "svc.ns.example.com:80", "svc.ns.svc.cluster.local", "svc.ns.svc", "svc.ns"):
        assert table.lookup(host).name == "blue"
    assert table.lookup("g-svc.ns.example.com").name == "green"
    assert table.lookup("other.ns.example.com") is None
    assert table.served_traffic(("ns", "svc")) == [{"revisionName": "blue", "percent": 100}]
    table.set_route(None, ("ns", "svc"))
    assert table.lookup("svc.ns.example.com") is None


def test_pods_become_endpoints_when_ready() -> None:
    table = RoutingTable()
    table.set_pod(_pod("p1", "r", True, 9001), deleted=False)  # before its revision arrives
    table.set_revision(_revision("r", cc=2), ("ns", "r"))
    throttler = table.revisions[("ns", "r")].throttler
    assert throttler.concurrency == 2 and list(throttler.endpoints) == ["p1"]
    assert throttler.endpoints["p1"].address == "127.0.0.1:9001"
    table.set_pod(_pod("p1", "r", False, 9001), deleted=False)
    assert throttler.ready == 0


def test_a_weighted_split_gives_each_target_exactly_its_share_interleaved() -> None:
    from reference.dataplane.serving.routing import SmoothWeighted

    picker = SmoothWeighted()
    picks = [picker.pick(("a", "b"), {"a": 50, "b": 50}.__getitem__) for _ in range(100)]
    assert picks.count("a") == 50 and "aa" not in "".join(picks) and "bb" not in "".join(picks)
    thirds = [picker.pick(("x", "y", "z"), {"x": 20, "y": 30, "z": 50}.__getitem__) for _ in range(100)]
    assert (thirds.count("x"), thirds.count("y"), thirds.count("z")) == (20, 30, 50)
    assert {picker.pick(("on", "off"), {"on": 100, "off": 0}.__getitem__) for _ in range(10)} == {"on"}
