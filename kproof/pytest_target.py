"""pytest options and fixtures that give tests a target: a cluster named on the command line, or an
embedded reference started for the session. Every conformance test says what it checks with
`@pytest.mark.spec(level, state, source=...)` (kproof.spec); a test without it fails collection. The
selection options (profile, level, state, focus, skip) deselect what a run leaves out. What a run creates
carries its run id (kproof.dev/run) and is removed at the end unless `--keep`. A failed test's Allure result,
and its folder under `--failures-dir`, get what the target said about its namespaces."""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from kproof import cleanup, failure_logs, spec
from kproof.allure_attach import attach_text, reporting
from kproof.embedded import ReferenceProcess
from kproof.postgres import DSN_ENV, LocalPostgres, PostgresUnavailable
from kproof.profiles import DEFAULT_PROFILE, PROFILES, Selection, area_of
from kproof.target import CEPH, CLUSTER_CAPABILITIES, KAFKA, Target
from reference.ceph.cluster import CephUnavailable, Gateway, LocalCeph, pod_address

SUITE_ROOT = Path(__file__).resolve().parents[1]  # the folder of conformance/, load/ and fixtures/
CONFORMANCE = SUITE_ROOT / "conformance"
# The embedded reference's nodes: this machine's and two with virtual GPUs (whole, and shared by memory).
DEFAULT_NODES = SUITE_ROOT / "fixtures" / "nodes" / "two-gpu-nodes.yaml"
# What --break-services puts in a Service's container: it prints, then exits at start.
BROKEN_COMMAND = ["sh", "-c", "echo kproof broke this Service on purpose; exit 3"]
BROKEN_IMAGE = "docker.io/library/busybox"
ALLURE_SEVERITY = {"MUST": "critical", "SHOULD": "normal", "MAY": "minor"}


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
    group.addoption("--run-id", help="the run's id, the value of the kproof.dev/run label on what it creates "
                                     "(default: a new one)")
    group.addoption("--keep", action="store_true", help="keep what the run created on the target")
    group.addoption("--failures-dir", type=Path,
                    help="write each failed test's namespace objects, pod logs and events under this folder")
    group.addoption("--break-services", metavar="REGEX",
                    help="break, on purpose, the Knative Services that tests whose node id matches REGEX create "
                         "(their container prints and exits), to see what a failed test leaves in the bundle")
    select = parser.getgroup("kproof selection", "which conformance tests run (kproof run's options)")
    select.addoption("--kproof-profile", choices=tuple(PROFILES), default=DEFAULT_PROFILE,
                     help=f"{', '.join(PROFILES)} (default {DEFAULT_PROFILE}): which tests of the given paths run")
    select.addoption("--kproof-level", type=_levels, help="only these levels: must, should, may (comma-separated)")
    select.addoption("--kproof-state", type=_states, help="only these states: stable, beta, alpha (comma-separated)")
    select.addoption("--kproof-focus", action="append", default=[], metavar="REGEX",
                     help="only tests whose node id matches REGEX (repeat: any)")
    select.addoption("--kproof-skip", action="append", default=[], metavar="REGEX",
                     help="leave out tests whose node id matches REGEX (repeat)")
    select.addoption("--kproof-list", type=Path, metavar="FILE",
                     help="write the selected tests (node id, area, level, state, source, capabilities) as JSON")


def _levels(text: str) -> tuple[str, ...]:
    try:
        return spec.level_names(text)
    except spec.SpecError as err:
        raise pytest.UsageError(str(err)) from err


def _states(text: str) -> tuple[str, ...]:
    try:
        return spec.state_names(text)
    except spec.SpecError as err:
        raise pytest.UsageError(str(err)) from err


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(capability): skip unless the target declares it")
    config.addinivalue_line("markers", spec.MARKER_HELP)
    config.addinivalue_line("markers", spec.QUICK_HELP)


def is_conformance(item: pytest.Item) -> bool:
    """Whether the test must carry a spec marker: every test under conformance/. Elsewhere (load/) a test that
    carries one is counted as a conformance test, and one without is a test of kproof's own tools."""
    return Path(item.path).resolve().is_relative_to(CONFORMANCE)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuses a conformance test without a well-formed spec marker; keeps what the selection keeps."""
    selection = Selection(PROFILES[config.getoption("--kproof-profile")], config.getoption("--kproof-level") or (),
                          config.getoption("--kproof-state") or (), tuple(config.getoption("--kproof-focus")),
                          tuple(config.getoption("--kproof-skip")))
    problems: list[str] = []
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        try:
            found = spec.closest(item.iter_markers(spec.MARKER))
        except spec.SpecError as err:
            problems.append(f"{item.nodeid}: @pytest.mark.spec: {err}")
            continue
        if found is None and is_conformance(item):
            problems.append(f"{item.nodeid}: a conformance test needs @pytest.mark.spec(level, state, source=...)")
            continue
        if found is not None:
            item.user_properties.extend(found.properties())
            # Allure's report filters by severity and tag: a MUST is critical there
            item.add_marker(pytest.mark.allure_label(ALLURE_SEVERITY[found.level], label_type="severity"))
            item.add_marker(pytest.mark.allure_label(found.level, found.state, label_type="tag"))
        quick = item.get_closest_marker(spec.QUICK) is not None
        (kept if selection.keeps(item.nodeid, found, quick) else dropped).append(item)
    if problems:
        raise pytest.UsageError("conformance tests without a valid spec marker (see kproof/spec.py):\n  "
                                + "\n  ".join(problems))
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_collection_finish(session: pytest.Session) -> None:
    listing = session.config.getoption("--kproof-list")
    if listing is not None:
        listing.parent.mkdir(parents=True, exist_ok=True)
        listing.write_text(json.dumps([describe(item) for item in session.items], indent=1))


def describe(item: pytest.Item) -> dict:
    """What --list shows of a test, and what `kproof images` reads (its file)."""
    found = spec.closest(item.iter_markers(spec.MARKER))
    return {"nodeid": item.nodeid, "area": area_of(item.nodeid), "file": str(item.path),
            "level": found.level if found else None, "state": found.state if found else None,
            "source": found.source if found else None,
            "requires": sorted({str(c) for m in item.iter_markers("requires") for c in m.args}),
            "quick": item.get_closest_marker(spec.QUICK) is not None}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's Allure result gets the platform's logs about its namespaces (see kproof.failure_logs)."""
    report = yield
    wanted = reporting() or item.config.getoption("--failures-dir") is not None
    if report.failed and report.when in ("setup", "call") and wanted:
        with contextlib.suppress(Exception):  # the report of a failure must not fail
            _failure_logs(item)
    return report


def _failure_logs(item: pytest.Item) -> None:
    funcargs = getattr(item, "funcargs", {})
    target = funcargs.get("target")
    # the test's namespaces: what its fixtures named *namespace gave it (namespace, in_models_namespace, ...),
    # and the bench of the eventing tests
    namespaces = [value for name, value in funcargs.items() if name.endswith("namespace") and isinstance(value, str)]
    bench = getattr(funcargs.get("bench"), "namespace", None)
    namespaces += [bench] if isinstance(bench, str) else []
    if not isinstance(target, Target) or not namespaces:
        return
    try:
        found = failure_logs.collect(target, namespaces)
    except Exception as err:
        found = {"platform logs could not be collected": f"{type(err).__name__}: {err}"}
    if reporting():
        for name, text in found.items():
            attach_text(text, name)
    directory = item.config.getoption("--failures-dir")
    if directory is not None:
        failure_logs.write(found, Path(directory) / failure_logs.folder_name(item.nodeid))


@pytest.fixture(scope="session")
def run_id(request: pytest.FixtureRequest) -> str:
    """The value of the kproof.dev/run label on everything this run creates."""
    return request.config.getoption("--run-id") or cleanup.new_run_id()


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, run_id: str
           ) -> Iterator[Target]:
    kubeconfig = request.config.getoption("--kubeconfig")
    if kubeconfig:
        kafka = request.config.getoption("--kafka-bootstrap")
        cluster = Target(kubeconfig=Path(kubeconfig), ingress=request.config.getoption("--ingress"),
                         domain=request.config.getoption("--domain"),
                         capabilities=CLUSTER_CAPABILITIES | frozenset(request.config.getoption("--capability"))
                         | ({KAFKA} if kafka else set()), kafka_bootstrap=kafka, run_id=run_id,
                         keep=request.config.getoption("--keep"))
        yield cluster
        if not request.config.getoption("--keep"):
            with contextlib.suppress(Exception):  # `kproof cleanup` removes what an unreachable target kept
                cleanup.remove(cluster, run_id)
        return
    # the embedded reference goes with everything on it when the session ends
    reference = ReferenceProcess(tmp_path_factory.mktemp("reference"), nodes=request.config.getoption("--nodes"))
    reference.start()
    try:
        embedded = reference.target()
        embedded.run_id, embedded.keep = run_id, request.config.getoption("--keep")
        yield embedded
    finally:
        reference.stop()


@pytest.fixture(autouse=True)
def _images_noted(request: pytest.FixtureRequest) -> Iterator[None]:
    """The images the test's objects named, as its `kproof.images` property (`kproof images` is checked
    against it)."""
    if "target" not in request.fixturenames:
        yield
        return
    target = request.getfixturevalue("target")
    if not isinstance(target, Target):  # a unit test's own parameter named `target`
        yield
        return
    earlier, target.images = target.images, set()
    try:
        yield
    finally:
        used, target.images = target.images, earlier | target.images
        if used:
            request.node.user_properties.append(("kproof.images", json.dumps(sorted(used))))


@pytest.fixture(autouse=True)
def _broken_on_purpose(request: pytest.FixtureRequest) -> Iterator[None]:
    """--break-services REGEX: the Knative Services of the matching tests get a container that exits at start."""
    pattern = request.config.getoption("--break-services")
    if not pattern or not re.search(pattern, request.node.nodeid):
        yield
        return
    target: Target = request.getfixturevalue("target")
    target.transforms.append(break_service)
    try:
        yield
    finally:
        target.transforms.remove(break_service)


def break_service(obj: dict) -> dict:
    """A Knative Service whose container prints a line and exits 3 (other objects unchanged)."""
    if obj.get("kind") == "Service" and str(obj.get("apiVersion", "")).startswith("serving.knative.dev/"):
        for container in ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
            container.update({"image": BROKEN_IMAGE, "command": BROKEN_COMMAND[:2], "args": BROKEN_COMMAND[2:]})
    return obj


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
    """A namespace of its own, deleted afterwards (without waiting) unless the run keeps what it made."""
    name = f"kproof-{uuid.uuid4().hex[:8]}"
    target.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        target.release_namespace(name)


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


@pytest.fixture(scope="session")
def _ceph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The session's Ceph (started by `rgw` on first use), stopped at the end: no daemon outlives it."""
    held: dict = {"ceph": LocalCeph(tmp_path_factory.mktemp("ceph")), "gateway": None, "address": None}
    yield held
    held["ceph"].stop()


@pytest.fixture
def rgw(target: Target, _ceph: dict) -> Gateway:
    """A Ceph object gateway the target's pods reach, and its S3 user (seed 003): a single-node Ceph beside
    the embedded reference, started once a session (again if the platform's pods moved to another bridge
    address); skips where the target does not declare the `ceph` capability."""
    if not target.has(CEPH):
        pytest.skip(f"the target does not declare the {CEPH!r} capability")
    state_dir = getattr(target.platform, "state_dir", None)
    if not isinstance(state_dir, Path):
        pytest.skip("the Ceph of the `rgw` fixture runs beside the embedded reference; a cluster's pods need a "
                    "gateway they reach")
    address = pod_address(state_dir)
    if _ceph["gateway"] is None or _ceph["address"] != address or _ceph["ceph"].running() is None:
        try:
            _ceph["gateway"] = _ceph["ceph"].start(address, die_with_parent=True)
        except CephUnavailable as err:
            pytest.fail(f"Ceph did not start: {err}")
        _ceph["address"] = address
    return _ceph["gateway"]
