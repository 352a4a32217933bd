"""The kproof command as a user runs it: up --detach, status, down, and up again on the same state."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kproof.commands.main import main, parse_args
from kproof.target import Target

ROOT = Path(__file__).resolve().parents[1]
SERVICE = {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
           "metadata": {"name": "kept", "namespace": "default"},
           "spec": {"template": {"spec": {"containers": [{"image": "gcr.io/knative-samples/helloworld-go"}]}}}}


def kproof(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "kproof", *args], capture_output=True, text=True, timeout=120,
                            cwd=ROOT)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "state"
    yield path
    kproof("down", "--state-dir", str(path), check=False)


def test_up_status_down_up_keeps_objects(state_dir: Path) -> None:
    started = kproof("up", "--detach", "--state-dir", str(state_dir))
    assert "export KUBECONFIG=" in started.stdout
    status = json.loads(kproof("status", "--json", "--state-dir", str(state_dir)).stdout)
    assert status["running"] and status["api"].startswith("https://127.0.0.1:")
    assert status["kubeconfig"] == str(state_dir.resolve() / "kubeconfig")
    assert status["components"]["apiserver"] == "ok"
    assert {"api", "ingress", "kubeconfig", "components"} <= set(status)
    ingress = kproof("status", "--field", "ingress", "--state-dir", str(state_dir)).stdout.strip()
    assert ingress == status["ingress"] and ingress.startswith("http://127.0.0.1:")

    target = Target(kubeconfig=state_dir / "kubeconfig")
    uid = target.create(SERVICE)["metadata"]["uid"]
    kproof("down", "--state-dir", str(state_dir))
    stopped = kproof("status", "--json", "--state-dir", str(state_dir), check=False)
    assert stopped.returncode == 1 and json.loads(stopped.stdout)["running"] is False

    kproof("up", "--detach", "--state-dir", str(state_dir))
    target.reconnect()
    kept = target.get("serving.knative.dev/v1", "Service", "kept", "default")
    assert kept is not None and kept["metadata"]["uid"] == uid


def test_up_upstream_strict_refuses_the_xpa_class(state_dir: Path) -> None:
    """`kproof up --upstream-strict`: seed 000's xpa Service is refused as upstream Knative refuses it."""
    import yaml
    from kubernetes.dynamic.exceptions import DynamicApiError

    kproof("up", "--detach", "--upstream-strict", "--state-dir", str(state_dir))
    target = Target(kubeconfig=state_dir / "kubeconfig")
    config = target.get("v1", "ConfigMap", "config-kproof", "knative-serving")
    assert config is not None and config["data"]["upstream-strict"] == "true"
    service = yaml.safe_load((ROOT / "fixtures/manifests/seed-000/event-display-xpa.yaml").read_text())
    service["metadata"]["namespace"] = "default"
    with pytest.raises(DynamicApiError) as refused:
        target.create(service)
    assert refused.value.status == 422 and "autoscaling.knative.dev/class" in str(refused.value.body)


def test_up_twice_reports_the_running_platform(state_dir: Path) -> None:
    kproof("up", "--detach", "--state-dir", str(state_dir))
    again = kproof("up", "--detach", "--state-dir", str(state_dir))
    assert "already runs" in again.stdout


def test_run_writes_reports(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    result = kproof("run", "--reports", str(reports), "-k", "test_short_names")
    assert "all conformance tests passed" in result.stdout
    for name in ("junit.xml", "summary.md", "summary.json", "badges/api.svg", "badges/conformance.svg"):
        assert (reports / name).exists(), name
    assert any((reports / "allure-results").iterdir())


def test_run_fails_when_the_target_fails(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: "
                          "https://127.0.0.1:9\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\n"
                          "current-context: c\nusers:\n- name: u\n  user: {token: t}\n")
    result = kproof("run", "--reports", str(tmp_path / "reports"), "--kubeconfig", str(kubeconfig),
                    "--ingress", "http://127.0.0.1:9", "-k", "test_short_names", check=False)
    assert result.returncode != 0


def test_simulate_charts_the_seed_001_burst(tmp_path: Path) -> None:
    out = tmp_path / "burst.png"
    result = kproof("simulate", "fixtures/traces/seed-001-burst.csv", "--service",
                    "fixtures/manifests/seed-001/test-ai-process.yaml", "--startup", "3", "--out", str(out))
    assert "peak ready replicas 8" in result.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = out.with_suffix(".csv").read_text().splitlines()
    assert rows[0] == "second,offered,desired,replicas,ready,queued,panicking" and len(rows) > 100


def test_up_with_a_node_file_registers_its_nodes_and_keeps_them(state_dir: Path) -> None:
    kproof("up", "--detach", "--state-dir", str(state_dir), "--nodes", "fixtures/nodes/two-gpu-nodes.yaml")
    target = Target(kubeconfig=state_dir / "kubeconfig")
    nodes = {n["metadata"]["name"]: n for n in target.list("v1", "Node")}
    assert set(nodes) == {"kproof-local", "gpu-node-a", "gpu-node-b"}
    assert nodes["gpu-node-a"]["status"]["allocatable"]["nvidia.com/gpu"] == "4"
    kproof("down", "--state-dir", str(state_dir))
    kproof("up", "--detach", "--state-dir", str(state_dir))  # the node file is kept for later starts
    target.reconnect()
    assert {n["metadata"]["name"] for n in target.list("v1", "Node")} == set(nodes)


def test_a_bad_node_file_is_refused_before_anything_starts(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text("nodes:\n  - name: a\n    gpus: [{memory: lots}]\n")
    result = kproof("up", "--detach", "--state-dir", str(tmp_path / "state"), "--nodes", str(nodes), check=False)
    assert result.returncode == 2 and "nodes[0].gpus[0].memory" in result.stdout
    assert not (tmp_path / "state").exists()


def test_models_prepare_needs_a_place(tmp_path: Path) -> None:
    result = kproof("models", "prepare", check=False)
    assert result.returncode == 2 and result.stderr.startswith("usage: kproof models ")
    assert "kproof models: error: give a DIRECTORY or --claim NAMESPACE/NAME" in result.stderr


@pytest.mark.parametrize(("argv", "problem"), [
    (["run", "--kubeconfig", "kubeconfig"], "name a target with both --kubeconfig and --ingress"),
    (["load", "steady"], "--service names the Knative Service to load"),
    (["load", "steady", "--service", "web", "--workers", "0"],
     "argument --workers: counts Locust processes: 1 or more, not 0"),
    (["load", "burst", "--service", "web", "--users", "many"], "argument --users: invalid int value: 'many'"),
    (["produce", "--topic", "t", "--count", "-1"], "argument --count: must be 0 or more, not -1"),
    (["produce", "--topic", "t", "--rate", "0"], "argument --rate: must be above 0, not 0"),
    (["produce", "--topic", "t", "--header", "novalue"], "argument --header: a header is NAME=VALUE"),
    (["models", "prepare", "--claim", "models"], "argument --claim: takes NAMESPACE/NAME, not 'models'"),
    (["status", "--field", "dsn"], "argument --field: invalid choice: 'dsn'"),
    (["lint", "no/such.yaml"], "argument PATH: no such file or folder: no/such.yaml"),
])
def test_a_bad_argument_is_an_argparse_usage_error(capsys: pytest.CaptureFixture, argv: list[str],
                                                   problem: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)  # argparse stops it before any handler runs
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.startswith(f"usage: kproof {argv[0]} ") and f"kproof {argv[0]}: error: {problem}" in err


def test_good_arguments_pass_the_checks() -> None:
    assert parse_args(["models", "prepare", "--claim", "ns/models"]).claim == ("ns", "models")
    assert parse_args(["load", "kafka_producer"]).service is None, "the producer loads no Service"
    assert parse_args(["run", "--kubeconfig", "k", "--ingress", "http://127.0.0.1:9"]).ingress
    assert parse_args(["produce", "--topic", "t", "--count", "0"]).count == 0


def test_the_module_entry_point_exits_2_on_a_usage_error() -> None:
    result = kproof("produce", "--topic", "t", "--partitions", "0", check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert "kproof produce: error: argument --partitions: must be above 0, not 0" in result.stderr


def test_up_with_postgres_shows_its_dsn_and_down_stops_it(state_dir: Path) -> None:
    import psycopg

    started = kproof("up", "--detach", "--postgres", "--state-dir", str(state_dir))
    dsn = kproof("status", "--field", "postgres", "--state-dir", str(state_dir)).stdout.strip()
    assert dsn.startswith("postgresql://postgres@127.0.0.1:") and dsn in started.stdout
    with psycopg.connect(dsn) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
    kproof("down", "--state-dir", str(state_dir))
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=3)
