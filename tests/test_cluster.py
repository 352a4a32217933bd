"""`kproof cluster`: what it builds and installs, and that `down` leaves nothing behind on this machine, even
after the supervisor was killed with SIGKILL.

The end-to-end test is CI's smoke test against upstream Knative: it starts the real cluster (~1.6 GB of
memory), runs a subset of the suite against it (a Knative Service answering, a scale from zero, Triggers
delivering), kills the supervisor with SIGKILL and checks what `down` leaves. It needs root, iproute2,
iptables, kubectl and the build cache filled; where the cache is cold it builds it first when Go is
installed (~15 min on two cores the first time; KPROOF_CLUSTER_BUILD=0 skips instead), and it skips while
another cluster holds the ports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from kproof.cluster import knative
from kproof.cluster.build import BuildCache, go_command
from kproof.cluster.network import bridge_name
from kproof.cluster.pki import Pki
from kproof.cluster.state import GATEWAY_PORTS, INGRESS_CLASS, LOCAL_PORTS, NODE_NAME, Layout
from kproof.cluster.versions import COREDNS, ETCD, EVENTING, KNATIVE, KUBERNETES, MODULES, SERVING, pinned_version
from reference.runtime.network import Bridge

ROOT = Path(__file__).resolve().parents[1]
BUILD_ENV = "KPROOF_CLUSTER_BUILD"
SMOKE = ("conformance/serving/test_seeds.py::test_docs_helloworld_sample",
         "conformance/autoscaling/test_scaling.py::test_idle_scales_to_zero_and_the_next_request_wakes_it",
         "conformance/eventing/test_demo.py::test_kubectl_broker_triggers_and_a_curl")
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns")


def kproof(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "kproof", *args], capture_output=True, text=True,
                            timeout=timeout, cwd=ROOT)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_wrapper_modules_pin_the_versions_kproof_documents() -> None:
    assert [(m.path, m.version) for m in (KUBERNETES, ETCD, COREDNS, SERVING, EVENTING)] == [
        ("k8s.io/kubernetes", "v1.35.4"), ("go.etcd.io/etcd/server/v3", "v3.6.17"),
        ("github.com/coredns/coredns", "v1.14.7"), ("knative.dev/serving", "v0.50.0"),
        ("knative.dev/eventing", "v0.50.0")]
    # k8s.io/kubernetes builds only with each staging module replaced by its published tag of the same release
    go_mod = KUBERNETES.directory / "go.mod"
    replaces = re.findall(r"^\s*(k8s\.io/\S+) => (\S+) (v\S+)$", go_mod.read_text(), re.MULTILINE)
    assert len(replaces) >= 30 and all(old == new and version == "v0.35.4" for old, new, version in replaces)
    for module in MODULES:
        assert (module.directory / "go.sum").exists() and (module.directory / "tools.go").exists()
        tools = (module.directory / "tools.go").read_text()
        assert all(f'"{package}"' in tools for package in module.binaries.values()), module.key
    with pytest.raises(LookupError):
        pinned_version(go_mod, "example.com/absent")


def test_certificates_name_the_users_rbac_and_the_node_authorizer_expect(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    pki = Pki(layout)
    pki.make("10.245.0.1")
    pki.kubeconfigs()

    def subject(name: str) -> tuple[str, list[str]]:
        cert = x509.load_pem_x509_certificate((layout.pki / f"{name}.crt").read_bytes())
        return (cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value,
                [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)])

    assert subject("node") == (f"system:node:{NODE_NAME}", ["system:nodes"])
    assert subject("ingress") == ("kproof-ingress", [])
    assert subject("admin") == ("kubernetes-admin", ["system:masters"])
    served = x509.load_pem_x509_certificate((layout.pki / "apiserver.crt").read_bytes())
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"127.0.0.1", "10.245.0.1", "10.96.0.1"} <= {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    assert "kubernetes.default.svc.cluster.local" in names.get_values_for_type(x509.DNSName)
    node_config = yaml.safe_load(layout.component_kubeconfig("node").read_text())
    assert node_config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert oct(layout.pki.stat().st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in layout.pki.iterdir())


@pytest.mark.skipif(go_command() is None, reason="no Go toolchain: Knative's YAML is read from Go's module cache")
def test_knative_yaml_is_the_modules_own_with_kproofs_three_settings() -> None:
    dirs = knative.module_dirs(go_command() or "go")
    docs = knative.documents([*knative.serving_files(dirs), *knative.eventing_files(dirs)])
    knative.configure(docs, knative.skip_registries(["ghcr.io/kproof/recorder", "villardl/filter-nodejs"]))
    config = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "ConfigMap"}
    assert config["config-network"]["ingress-class"] == INGRESS_CLASS
    assert "example.com" in config["config-domain"]
    skipped = config["config-deployment"]["registries-skipping-tag-resolving"].split(",")
    assert {"ko.local", "ghcr.io", "index.docker.io"} <= set(skipped)
    serving_observability = next(d["data"] for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] ==
                                 "config-observability" and d["metadata"]["namespace"] == "knative-serving")
    assert serving_observability["metrics-protocol"] == "prometheus"
    kinds = {d["kind"] for d in docs}
    crds = {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"}
    # serving (with the networking/caching files module zips drop), eventing core and its sources, IMC, broker
    assert {"ingresses.networking.internal.knative.dev", "images.caching.internal.knative.dev",
            "services.serving.knative.dev", "pingsources.sources.knative.dev", "apiserversources.sources.knative.dev",
            "containersources.sources.knative.dev", "sinkbindings.sources.knative.dev",
            "inmemorychannels.messaging.knative.dev", "brokers.eventing.knative.dev"} <= crds
    # what the Deployments read exists (module zips drop the symlinked files that provide some of it)
    config_maps = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs if d["kind"] == "ConfigMap"}
    read = {(d["metadata"]["namespace"], ref["name"]) for d in docs if d["kind"] in ("Deployment", "StatefulSet")
            for ref in _config_map_refs(d["spec"]["template"]["spec"])}
    assert read <= config_maps, read - config_maps
    first, rest, last = knative.phases(docs)
    assert {d["kind"] for d in first} == {"Namespace", "CustomResourceDefinition"}
    assert {d["kind"] for d in last} == {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}
    assert len(first) + len(rest) + len(last) == len(docs) and "Deployment" in kinds
    # images stay ko://; every one the YAML names is in the catalog, built or said to be unavailable
    images = knative.ko_images(docs)
    assert "ko://knative.dev/serving/cmd/queue" in images
    cache = BuildCache()
    built = {(m.path, name): cache.binary(m, name) for m in KNATIVE for name in m.binaries}
    entries = {e.image: e for e in knative.catalog(KNATIVE, built, images)}
    assert images <= set(entries)
    assert entries["ko://knative.dev/eventing/cmd/broker/ingress"].binary == cache.binary(EVENTING, "broker-ingress")


def _config_map_refs(value: object) -> list[dict]:
    if isinstance(value, list):
        return [ref for item in value for ref in _config_map_refs(item)]
    if not isinstance(value, dict):
        return []
    here = [value["configMapKeyRef"]] if "configMapKeyRef" in value else []
    return here + [ref for item in value.values() for ref in _config_map_refs(item)]


def test_status_without_a_cluster(tmp_path: Path) -> None:
    result = kproof("cluster", "status", "--json", "--state-dir", str(tmp_path / "none"), check=False)
    assert result.returncode == 1 and json.loads(result.stdout)["running"] is False
    assert "no cluster" in kproof("cluster", "down", "--state-dir", str(tmp_path / "none")).stdout


def _reports(folder: Path, target: dict, outcomes: dict[str, str]) -> Path:
    """A reports folder as a run writes it: the record of each test and the target's facts."""
    (folder / "meta").mkdir(parents=True)
    (folder / "meta" / "target.json").write_text(json.dumps(target))
    (folder / "tests.jsonl").write_text("".join(json.dumps({"nodeid": nodeid, "outcome": outcome}) + "\n"
                                                for nodeid, outcome in outcomes.items()))
    return folder


def test_compare_prints_both_runs_verdicts_per_area_and_per_test(tmp_path: Path) -> None:
    reference = _reports(tmp_path / "ref", {"capabilities": ["reference"]}, {
        "conformance/serving/test_a.py::test_one": "passed", "conformance/serving/test_a.py::test_two": "passed",
        "conformance/eventing/test_b.py::test_three": "skipped"})
    upstream = _reports(tmp_path / "up", {"capabilities": [], "versions": {"kubernetes": "v1.35.4"}}, {
        "conformance/serving/test_a.py::test_one": "passed", "conformance/serving/test_a.py::test_two": "failed",
        "conformance/eventing/test_b.py::test_three": "passed"})
    out = tmp_path / "compare.md"
    result = kproof("run", "--compare", str(reference), str(upstream), "--compare-out", str(out))
    assert "reference" in result.stdout and "upstream v1.35.4" in result.stdout
    table = out.read_text()
    assert "| serving | 2/2 (100%) | 0 | 1/2 (50%) | 0 |" in table
    assert "| eventing | 0/0 | 1 | 1/1 (100%) | 0 |" in table
    assert "| `conformance/serving/test_a.py::test_two` | passed | failed |" in table
    assert "test_one" not in table, "without --compare-all only the tests whose verdicts differ are listed"
    assert kproof("run", "--compare", str(reference), str(tmp_path), check=False).returncode == 2


def test_run_cluster_needs_a_ready_cluster(tmp_path: Path) -> None:
    result = kproof("run", "--cluster", str(tmp_path / "none"), "--list", check=False)
    assert result.returncode == 2 and "no cluster runs on" in result.stderr


def test_a_detached_up_follows_its_supervisor_after_an_earlier_runs_longer_progress(tmp_path: Path) -> None:
    from kproof.cluster.progress import follow
    from reference.host.processes import write_private

    progress = tmp_path / "progress.jsonl"
    write_private(progress, "".join(json.dumps({"pid": 1, "state": "note", "text": "x" * 200}) + "\n"
                                    for _ in range(20)))
    shown: list[dict] = []

    def alive() -> bool:  # the new supervisor starts the file afresh once the old one was read
        write_private(progress, json.dumps({"pid": 2, "state": "ready", "text": "ready"}) + "\n")
        return True

    final = follow(progress, 2, shown.append, alive, poll=0)
    assert final is not None and final["state"] == "ready" and shown == [final]


def test_the_node_agent_asks_again_while_the_node_authorizer_catches_up(tmp_path: Path) -> None:
    """A Pod's ConfigMap read right after the Pod is bound: 403 "no relationship found" until the Node
    authorizer's graph has the edge, then 200; any other 403 is final."""
    import asyncio

    from aiohttp import web

    from reference.dataplane.informer import ApiAccess
    from reference.node.cluster_api import NO_RELATIONSHIP, ApiCallError, ClusterApi

    Pki(Layout(tmp_path)).make("10.245.0.1")
    asked: list[str] = []

    async def config_map(request: web.Request) -> web.Response:
        asked.append(request.match_info["name"])
        if request.match_info["name"] == "denied" or len(asked) < 3:
            reason = "forbidden" if request.match_info["name"] == "denied" else f"{NO_RELATIONSHIP} 'kproof-node'"
            return web.json_response({"kind": "Status", "message": reason}, status=403)
        return web.json_response({"kind": "ConfigMap", "data": {"k": "v"}})

    async def scenario() -> tuple[dict | None, str]:
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/n/configmaps/{name}", config_map)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        api = ClusterApi(ApiAccess(f"http://127.0.0.1:{port}", "", tmp_path / "pki" / "ca.crt"), NODE_NAME)
        try:
            found = await api.lookup("n", "ConfigMap", "cfg")
            with pytest.raises(ApiCallError) as refused:
                await api.lookup("n", "ConfigMap", "denied")
            return found, str(refused.value)
        finally:
            await api.close()
            await runner.cleanup()

    found, refused = asyncio.run(scenario())
    assert found == {"kind": "ConfigMap", "data": {"k": "v"}} and asked[:3] == ["cfg"] * 3
    assert refused == "403: forbidden" and asked[3:] == ["denied"]


# End to end ------------------------------------------------------------------------------------------


def _why_not_end_to_end() -> str | None:
    from kproof.cluster.components import port_problems

    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux (a bridge, network namespaces, iptables)"
    missing = [tool for tool in ("ip", "iptables", "nft", "kubectl", "bwrap") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed"
    cold = BuildCache().missing(MODULES)
    if cold and go_command() is None:
        return f"no Go toolchain to build {', '.join(m.key for m in cold)} (the cluster's binaries)"
    if cold and os.environ.get(BUILD_ENV) == "0":
        return f"the build cache lacks {', '.join(m.key for m in cold)} and {BUILD_ENV}=0 says not to build"
    busy = port_problems(GATEWAY_PORTS, LOCAL_PORTS)
    if busy:
        return f"another cluster runs here ({busy[0]})"
    return None


def _machine() -> dict:
    """What a cluster leaves on the machine, read from the machine itself."""
    def run(*command: str) -> str:
        return subprocess.run(command, capture_output=True, text=True).stdout

    return {"netns": {line.split()[0] for line in run("ip", "netns", "list").splitlines() if line.strip()},
            "links": run("ip", "-o", "link"), "iptables": run("iptables-save") + run("ip6tables-save"),
            "mounts": Path("/proc/self/mountinfo").read_text(),
            "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()}


def _processes_mentioning(*needles: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if any(needle in command for needle in needles):
                found.append(f"{entry.name}: {command[:200]}")
    return found


@pytest.fixture
def cluster_state() -> Iterator[Path]:
    """A state directory outside pytest's tmp_path: concurrent pytest sessions prune old basetemp folders,
    and a cluster runs for minutes."""
    folder = Path(tempfile.mkdtemp(prefix="kproof-cluster-test-"))
    yield folder / "cluster"
    shutil.rmtree(folder, ignore_errors=True)


# exclusive: for minutes the cluster changes what the machine shares (sysctls, iptables and nftables rules,
# kube-proxy's chains), and in one parallel run a reference started meanwhile beside it died
@pytest.mark.exclusive
@pytest.mark.skipif(_why_not_end_to_end() is not None, reason=str(_why_not_end_to_end()))
def test_up_then_kill_then_down_leaves_nothing(cluster_state: Path) -> None:
    state = cluster_state
    layout = Layout(state)
    before = _machine()
    try:
        kproof("cluster", "build", "--logs", str(state.parent / "build"), timeout=3600)  # cold: ~15 min
        started = kproof("cluster", "up", "--detach", "--no-build", "--state-dir", str(state), timeout=900)
        assert "export KUBECONFIG=" in started.stdout
        status = json.loads(kproof("cluster", "status", "--json", "--state-dir", str(state), check=False).stdout)
        assert status["running"] and status["phase"] == "ready", status
        assert all(status["components"][name] == "ok" for name in COMPONENTS), status["components"]
        assert status["kubeconfig"] == str(layout.kubeconfig)

        pods = subprocess.run(["kubectl", "--kubeconfig", str(layout.kubeconfig), "get", "pods", "-A", "-o", "json"],
                              capture_output=True, text=True, timeout=60, check=True)
        items = json.loads(pods.stdout)["items"]
        knative_pods = {p["metadata"]["name"].rsplit("-", 2)[0]: p["status"].get("phase") for p in items
                        if p["metadata"]["namespace"] in ("knative-serving", "knative-eventing")}
        assert {"controller", "webhook", "activator", "autoscaler", "eventing-controller", "imc-dispatcher"} \
            <= set(knative_pods), knative_pods
        if "node-agent" in status["components"]:
            assert all(knative_pods[name] == "Running" for name in ("controller", "webhook", "activator",
                                                                    "autoscaler", "eventing-controller")), knative_pods
        # CI's smoke subset against upstream Knative, through `kproof run --cluster`
        smoke = kproof("run", "--cluster", str(state), "--no-load", "--reports", str(state.parent / "reports"),
                       *(f"--focus={test}$" for test in SMOKE), timeout=1200, check=False)
        assert smoke.returncode == 0, smoke.stdout[-3000:] + smoke.stderr[-2000:]
        record = [json.loads(line) for line in (state.parent / "reports" / "tests.jsonl").read_text().splitlines()]
        assert sorted((r["nodeid"], r["outcome"]) for r in record) == [(test, "passed") for test in sorted(SMOKE)]

        during = _machine()
        # the node agent names its pods' namespaces after its state directory (other platforms on this
        # machine make namespaces of their own meanwhile)
        prefix = Bridge(layout.node).prefix
        pod_namespaces = {name for name in during["netns"] - before["netns"] if name.startswith(prefix)}
        assert pod_namespaces or "node-agent" not in status["components"]
        assert bridge_name(state) in during["links"]

        os.kill(int(status["pid"]), signal.SIGKILL)  # no chance to clean up
        time.sleep(1)
    finally:
        kproof("cluster", "down", "--state-dir", str(state), timeout=300)

    after = _machine()
    cache = BuildCache()
    assert not _processes_mentioning(str(state.resolve()), *(f"{cache.entry(m)}/bin/" for m in MODULES))
    assert not list((state / "processes").glob("*.json"))
    assert not {name for name in after["netns"] if name.startswith(prefix)}
    assert bridge_name(state) not in after["links"]
    assert "kproof-cluster:" not in after["iptables"] and "KUBE-" not in after["iptables"]
    assert str(state.resolve()) not in after["mounts"]
    assert after["ip_forward"] == before["ip_forward"]
    assert not (state / "cluster.json").exists()
