"""pytest options and fixtures that give tests a target: a cluster named on the command line, or an
embedded reference started for the session. A failed test's Allure result gets the target's logs."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from kproof import failure_logs
from kproof.allure_attach import attach_text, reporting
from kproof.embedded import ReferenceProcess
from kproof.postgres import DSN_ENV, LocalPostgres, PostgresUnavailable
from kproof.target import CLUSTER_CAPABILITIES, KAFKA, Target

# The embedded reference's nodes: this machine's and two with virtual GPUs (whole, and shared by memory).
DEFAULT_NODES = Path(__file__).resolve().parents[1] / "fixtures" / "nodes" / "two-gpu-nodes.yaml"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kproof", "kproof target")
    group.addoption("--kubeconfig", help="kubeconfig of the target (default: start an embedded reference)")
    group.addoption("--ingress", help="the target's ingress URL, e.g. http://127.0.0.1:8080")
    group.addoption("--domain", help="the target's domain (default: read from status.url)")
    group.addoption("--capability", action="append", default=[],
                    help="a capability the target has: restart, kill-pod, gpu (repeat)")
    group.addoption("--kafka-bootstrap", help="a Kafka the tests and the target both reach (host:port)")
    group.addoption("--reports", default="reports", help="where load scenarios write their reports")
    group.addoption("--postgres-dsn", default=os.environ.get(DSN_ENV),
                    help=f"a PostgreSQL the tests may create databases in (default ${DSN_ENV}, else a private "
                         f"cluster started for the session)")
    group.addoption("--nodes", type=Path, default=DEFAULT_NODES,
                    help="the embedded reference's node file (default: fixtures/nodes/two-gpu-nodes.yaml)")
    group.addoption("--app-registry", default="ghcr.io/kproof",
                    help="where the kproof apps' images are (image = <registry>/<app>); see reference/apps")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(capability): skip unless the target declares it")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's Allure result gets the platform's logs about its namespaces (see kproof.failure_logs)."""
    report = yield
    if report.failed and report.when in ("setup", "call") and reporting():
        with contextlib.suppress(Exception):  # the report of a failure must not fail
            _attach_failure_logs(item)
    return report


def _attach_failure_logs(item: pytest.Item) -> None:
    funcargs = getattr(item, "funcargs", {})
    target = funcargs.get("target")
    # the test's namespaces: what its fixtures named *namespace gave it (namespace, in_models_namespace, ...)
    namespaces = [value for name, value in funcargs.items() if name.endswith("namespace") and isinstance(value, str)]
    if not isinstance(target, Target) or not namespaces:
        return
    try:
        found = failure_logs.collect(target, namespaces)
    except Exception as err:
        found = {"platform logs could not be collected": f"{type(err).__name__}: {err}"}
    for name, text in found.items():
        attach_text(text, name)


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    kubeconfig = request.config.getoption("--kubeconfig")
    if kubeconfig:
        kafka = request.config.getoption("--kafka-bootstrap")
        yield Target(kubeconfig=Path(kubeconfig), ingress=request.config.getoption("--ingress"),
                     domain=request.config.getoption("--domain"),
                     capabilities=CLUSTER_CAPABILITIES | frozenset(request.config.getoption("--capability"))
                     | ({KAFKA} if kafka else set()), kafka_bootstrap=kafka)
        return
    reference = ReferenceProcess(tmp_path_factory.mktemp("reference"), nodes=request.config.getoption("--nodes"))
    reference.start()
    try:
        yield reference.target()
    finally:
        reference.stop()


@pytest.fixture(autouse=True)
def _required_capabilities(request: pytest.FixtureRequest) -> None:
    markers = list(request.node.iter_markers("requires"))
    if not markers:
        return
    target: Target = request.getfixturevalue("target")
    for marker in markers:
        for capability in marker.args:
            if not target.has(capability):
                pytest.skip(f"the target does not declare the {capability!r} capability")


@pytest.fixture(scope="session")
def app_image(request: pytest.FixtureRequest):
    """The image of a kproof app (helloworld, autoscale, recorder, event-display) on this target."""
    registry = request.config.getoption("--app-registry").rstrip("/")
    return lambda app: f"{registry}/{app}"


@pytest.fixture(scope="session")
def reports(request: pytest.FixtureRequest) -> Path:
    return Path(request.config.getoption("--reports"))


@contextlib.contextmanager
def fresh_namespace(target: Target) -> Iterator[str]:
    """A namespace of its own, deleted afterwards (without waiting)."""
    name = f"kproof-{uuid.uuid4().hex[:8]}"
    target.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        target.delete("v1", "Namespace", name, wait=False)


@pytest.fixture
def namespace(target: Target) -> Iterator[str]:
    """A fresh namespace for one test."""
    with fresh_namespace(target) as name:
        yield name


@pytest.fixture(scope="session")
def postgres_dsn(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server for seed 002's pipeline: --postgres-dsn, else a private cluster (skips with the
    reason when neither can be had)."""
    given = request.config.getoption("--postgres-dsn")
    if given:
        yield given
        return
    cluster = LocalPostgres(tmp_path_factory.mktemp("postgres"))
    try:
        dsn = cluster.ensure()
    except PostgresUnavailable as err:
        pytest.skip(f"no PostgreSQL: {err}")
    try:
        yield dsn
    finally:
        cluster.stop()
