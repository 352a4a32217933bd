"""The cluster's supervisor: brings everything up in order, restarts what dies, and stops it all again.

It holds the state directory's lock for as long as it lives and records itself (as the state directory's
main process) and every process it starts, each in a session of its own that dies with it (setpriv
--pdeathsig): a killed supervisor takes its components along, and `kproof cluster down` removes the rest.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from kproof.cluster import knative
from kproof.cluster.build import BuildCache, BuildError, go_command
from kproof.cluster.cgroup import ClusterGroup
from kproof.cluster.components import Component, Components, port_problems
from kproof.cluster.kube import Admin, KubeError
from kproof.cluster.network import ClusterNetwork, NetworkError
from kproof.cluster.objects import cluster_objects
from kproof.cluster.pki import Pki
from kproof.cluster.progress import Reporter
from kproof.cluster.state import (
    API_PORT,
    DNS_SERVICE_IP,
    GATEWAY_PORTS,
    INGRESS_PORT,
    LOCAL_PORTS,
    Layout,
)
from kproof.cluster.teardown import teardown
from kproof.cluster.versions import KNATIVE, MODULES, Module
from reference.host.processes import (
    MAIN,
    Record,
    StateDirBusy,
    create_private,
    forget,
    lock_state_dir,
    private_dir,
    record,
    start_time,
    stop,
    write_private,
)

log = logging.getLogger("kproof.cluster")

KNATIVE_NAMESPACES = ("knative-serving", "knative-eventing")
KNATIVE_READY_WITHIN = 300.0
CHECK_EVERY = 2.0
RESTART_BACKOFF = (1, 2, 5, 10, 30)
TOOLS = ("ip", "iptables", "iptables-save", "nft", "kubectl")


class ClusterError(RuntimeError):
    """`up` cannot go on; the message says why and what to do."""


class Interrupted(Exception):
    """SIGTERM or SIGINT during bring-up."""


@dataclass
class Running:
    component: Component
    process: subprocess.Popen
    entry: Record | None
    restarts: int = 0
    next_start: float = 0.0


def build_message(module: Module) -> str:
    names = ", ".join(module.binaries)
    return f"building {names} ({module.path} {module.version}), first time only ~{module.cold_minutes:g} min"


class Supervisor:
    def __init__(self, layout: Layout, cache: BuildCache, reporter: Reporter, build: bool = True) -> None:
        self.layout = layout
        self.cache = cache
        self.reporter = reporter
        self.may_build = build
        self.network = ClusterNetwork(layout)
        self.group = ClusterGroup(layout.root)
        self.running: dict[str, Running] = {}
        self.order: list[str] = []
        self.stopping = False
        self.ready = False
        self._lock = -1
        self.components: Components | None = None
        self.summary: dict = {}

    # Lifetime ---------------------------------------------------------------------------------------

    def run(self) -> int:
        """Brings the cluster up, supervises it until SIGTERM/SIGINT, stops it; the exit status."""
        private_dir(self.layout.root)
        try:
            self._claim()
        except StateDirBusy as err:  # another supervisor runs here: leave it and its files alone
            self.reporter.failed(str(err))  # its pid tells this run's followers from the other's
            return 2
        signal.signal(signal.SIGTERM, self._interrupt)
        signal.signal(signal.SIGINT, self._interrupt)
        status = 0
        try:
            self.start()
            while not self.stopping:
                self._watch()
                time.sleep(CHECK_EVERY)
        except Interrupted:
            pass
        except Exception as err:  # report it, then leave nothing behind
            log.exception("cluster up failed")
            if not isinstance(err, ClusterError | BuildError | knative.KnativeError | KubeError | NetworkError):
                self.reporter.failed(f"{type(err).__name__}: {err}")
            status = 1
        finally:
            signal.signal(signal.SIGTERM, self._flag)
            signal.signal(signal.SIGINT, self._flag)
            self.stop()
        return status

    def _interrupt(self, *_: object) -> None:
        self.stopping = True
        if not self.ready:
            raise Interrupted()

    def _flag(self, *_: object) -> None:
        self.stopping = True

    def start(self) -> None:
        layout = self.layout
        with self.reporter.step("preflight", "checking this machine"):
            self._preflight()
        self._build()
        with self.reporter.step("network", "making the pods' bridge and host rules"):
            cidr = self.network.choose_cidr()
            gateway = self.network.up(cidr)
        with self.reporter.step("pki", "making the cluster's certificates and kubeconfigs"):
            shutil.rmtree(layout.pki, ignore_errors=True)
            pki = Pki(layout)
            pki.make(gateway)
            pki.kubeconfigs()
        self.summary = {"bridge": self.network.bridge, "pod_cidr": str(cidr), "gateway": gateway}
        self._write_endpoints("starting")
        components = self.components = Components(layout, self.cache, cidr, gateway, self.network.bridge)
        shutil.rmtree(layout.etcd, ignore_errors=True)  # a new cluster on every `up`
        self._up(components.etcd())
        self._up(components.apiserver())
        self._up(components.controller_manager(), components.scheduler())
        admin = Admin(layout)
        with self.reporter.step("objects", "adding kube-dns, kproof-system and the RBAC of CoreDNS and the ingress"):
            admin.apply(knative.write_yaml(layout.root / "cluster-objects.yaml", cluster_objects(gateway)))
        docs = self._knative_yaml()
        components.write_configs()
        self._up(components.coredns())
        # kube-proxy waits (30 s) for its Node before it serves: the node agent registers it first
        agent = components.node_agent()
        if agent is None:
            self.reporter.note("no node agent (python -m reference.node): Knative's pods stay Pending")
            self._up(components.kube_proxy())
        else:
            with self.reporter.step("start node-agent", "starting the node agent", "node agent running, Node Ready"):
                self._start(agent)
                self._wait_for(agent, components.node_registered)
                self._start(components.kube_proxy())
                self._wait_healthy(agent)
            with self.reporter.step("start kube-proxy", "starting kube-proxy", "kube-proxy running"):
                self._wait_healthy(self.running["kube-proxy"].component)
        self._install_knative(admin, docs)
        ingress = components.ingress()
        if ingress is None:
            self.reporter.note("no KIngress implementation yet (python -m reference.dataplane --kubeconfig): "
                               "Knative Services will not become Ready")
        else:
            self._up(ingress)
        if agent is not None:
            self._wait_knative(admin)
        self.ready = True
        self._write_endpoints("ready")
        self.reporter.ready(f"cluster running: API https://127.0.0.1:{API_PORT}, kubeconfig {layout.kubeconfig}")

    def _claim(self) -> None:
        """The state directory's lock, then what a killed cluster left there goes, then this process is
        recorded and joins the cluster's cgroup (everything it starts then does too)."""
        self._lock = lock_state_dir(self.layout.root)  # StateDirBusy while another supervisor runs
        self.reporter.reset()
        left = teardown(self.layout, self.cache)
        if left:
            self.reporter.note(f"removed what a killed cluster left: {', '.join(left[:6])}"
                               f"{f' and {len(left) - 6} more' if len(left) > 6 else ''}")
        record(self.layout.root, MAIN, os.getpid())
        self.group.join()
        private_dir(self.layout.logs)

    def _preflight(self) -> None:
        problems = []
        if os.geteuid() != 0:
            problems.append("not root: the cluster needs a bridge, network namespaces and iptables rules")
        problems += [f"{tool} is not installed" for tool in TOOLS if shutil.which(tool) is None]
        if shutil.which("setpriv") is None:
            self.reporter.note("no setpriv: components will outlive a killed supervisor until `down`")
        problems += port_problems(GATEWAY_PORTS, LOCAL_PORTS)
        missing = self.cache.missing(MODULES)
        if missing and go_command() is None:
            problems.append("no Go toolchain to build " + ", ".join(m.key for m in missing) +
                            " (install Go, or put `go` on PATH)")
        if missing and not self.may_build:
            problems.append("not built yet and --no-build given: " + ", ".join(m.key for m in missing))
        if problems:
            raise ClusterError("; ".join(problems))

    def _build(self) -> None:
        for module in MODULES:
            if self.cache.cached(module):
                self.reporter.note(f"{', '.join(module.binaries)} ({module.path} {module.version}): built before, "
                                   f"in {self.cache.entry(module)}")
                continue
            with self.reporter.step(f"build {module.key}", build_message(module),
                                    f"built {', '.join(module.binaries)} ({module.path} {module.version})"):
                self.cache.build(module, self.layout.log(f"build-{module.path.replace('/', '_')}"))

    # Components -------------------------------------------------------------------------------------

    def _spawn(self, component: Component) -> Running:
        output = create_private(self.layout.log(component.name)).open("ab")
        argv = component.argv
        if shutil.which("setpriv"):  # dies with the supervisor, however it ends
            argv = ["setpriv", "--pdeathsig", "TERM", "--", *argv]
        try:
            process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True,
                                       env={**os.environ, **(component.environment or {})})
        finally:
            output.close()
        entry = record(self.layout.root, component.name, process.pid, group=True)
        return Running(component, process, entry)

    def _up(self, *components: Component) -> None:
        """Starts the components, then waits until each is healthy."""
        names = ", ".join(c.name for c in components)
        with self.reporter.step(f"start {names}", f"starting {names}", f"{names} running"):
            for component in components:
                self._start(component)
            for component in components:
                self._wait_healthy(component)

    def _start(self, component: Component) -> None:
        self.running[component.name] = self._spawn(component)
        self.order.append(component.name)

    def _wait_healthy(self, component: Component) -> None:
        self._wait_for(component, component.check)

    def _wait_for(self, component: Component, check: Callable[[], str | None]) -> None:
        """Until `check` passes (ClusterError if the component exits, or after its ready_within)."""
        deadline = time.monotonic() + component.ready_within
        problem: str | None = "not checked"
        while time.monotonic() < deadline:
            running = self.running[component.name]
            if running.process.poll() is not None:
                raise ClusterError(f"{component.name} exited with {running.process.returncode}; "
                                   f"{self.layout.log(component.name)}:\n{self._tail(component.name)}")
            problem = check()
            if problem is None:
                return
            time.sleep(0.2)
        raise ClusterError(f"{component.name} not healthy within {component.ready_within:.0f}s ({problem}); "
                           f"see {self.layout.log(component.name)}")

    def _tail(self, name: str, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.layout.log(name).read_text(errors="replace").splitlines()[-lines:])
        return ""

    def _watch(self) -> None:
        """Restarts a component that exited, with backoff (its log says why it did)."""
        now = time.monotonic()
        for name, running in self.running.items():
            if running.process.poll() is None:
                continue
            if not running.next_start:
                delay = RESTART_BACKOFF[min(running.restarts, len(RESTART_BACKOFF) - 1)]
                running.next_start = now + delay
                self.reporter.note(f"{name} exited with {running.process.returncode}; restarting in {delay}s "
                                   f"(see {self.layout.log(name)})")
                if running.entry is not None:
                    forget(self.layout.root, name, running.entry.pid)
            elif now >= running.next_start:
                fresh = self._spawn(running.component)
                fresh.restarts = running.restarts + 1
                self.running[name] = fresh
                self._write_endpoints("ready")  # its new pid and restart count

    # Knative ----------------------------------------------------------------------------------------

    def _knative_yaml(self) -> list[dict]:
        """Knative's YAML from the module cache, configured; and the image catalog for its ko:// images."""
        go = go_command()
        if go is None:
            raise ClusterError("no Go toolchain: Knative's YAML is read from Go's module cache")
        with self.reporter.step("knative yaml", "reading Knative's YAML from the module cache"):
            dirs = knative.module_dirs(go)
            docs = knative.documents([*knative.serving_files(dirs), *knative.eventing_files(dirs)])
            from reference.runtime.catalog import Catalog

            knative.configure(docs, knative.skip_registries(entry.image for entry in Catalog.load().entries))
            built = {(module.path, name): self.cache.binary(module, name)
                     for module in KNATIVE for name in module.binaries}
            knative.write_catalog(self.layout.catalog, knative.catalog(KNATIVE, built, knative.ko_images(docs)))
        return docs

    def _install_knative(self, admin: Admin, docs: list[dict]) -> None:
        folder = private_dir(self.layout.knative)
        first, rest, last = knative.phases(docs)
        crds = [f"crd/{d['metadata']['name']}" for d in first if d["kind"] == "CustomResourceDefinition"]
        with self.reporter.step("knative crds", f"applying Knative's namespaces and {len(crds)} CRDs, "
                                "waiting until they are Established"):
            admin.apply(knative.write_yaml(folder / "1-namespaces-crds.yaml", first))
            admin.kubectl("wait", "--for=condition=Established", "--timeout=120s", *crds)
        with self.reporter.step("knative apply", f"applying Knative Serving and Eventing ({len(rest) + len(last)} "
                                "objects)"):
            admin.apply(knative.write_yaml(folder / "2-resources.yaml", rest))
            admin.apply(knative.write_yaml(folder / "3-webhooks.yaml", last))

    def _wait_knative(self, admin: Admin) -> None:
        """Until Knative's Deployments are available (a note, not a failure, when some are not in time)."""
        text = "waiting for Knative's pods (run by the node agent)"
        with self.reporter.step("knative pods", text, "Knative's Deployments available") as outcome:
            deadline = time.monotonic() + KNATIVE_READY_WITHIN
            waiting = unavailable_deployments(admin)
            while waiting and time.monotonic() < deadline and not self.stopping:
                time.sleep(1)
                waiting = unavailable_deployments(admin)
            if waiting:
                outcome.text = f"Knative's Deployments: not available after {KNATIVE_READY_WITHIN:.0f}s: " \
                               f"{', '.join(waiting)} (see `kubectl get pods -A`)"

    # Stop -------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stops the components in the reverse order of their start (the node agent, which ends its pods,
        while the API server still answers), then removes the network and what else `up` made."""
        for name in reversed(self.order):
            running = self.running.get(name)
            if running is not None and running.entry is not None:
                stop([running.entry], running.component.stop_within)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    running.process.wait(1)
                forget(self.layout.root, name, running.entry.pid)
        self.running.clear()
        forget(self.layout.root, MAIN, os.getpid())
        removed = teardown(self.layout, self.cache)
        log.info("removed %s", removed)
        self.reporter.stopped("cluster stopped")
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1

    def _write_endpoints(self, phase: str) -> None:
        data = {"phase": phase, "pid": os.getpid(), "pid_start": start_time(os.getpid()),
                "api": f"https://127.0.0.1:{API_PORT}", "kubeconfig": str(self.layout.kubeconfig),
                "ingress": f"http://{self.summary['gateway']}:{INGRESS_PORT}" if "ingress" in self.running else None,
                "dns": DNS_SERVICE_IP, "catalog": str(self.layout.catalog),
                "components": {name: {"pid": r.process.pid, "restarts": r.restarts}
                               for name, r in self.running.items()},
                **self.summary}
        write_private(self.layout.cluster_json, json.dumps(data, indent=2))


def unavailable_deployments(admin: Admin) -> list[str]:
    """namespace/name of each of Knative's Deployments with fewer available replicas than it wants."""
    waiting = []
    for namespace in KNATIVE_NAMESPACES:
        code, listing = admin.get(f"/apis/apps/v1/namespaces/{namespace}/deployments")
        if code != 200:
            return [f"{namespace} (API: {code or 'no answer'})"]
        for deployment in listing.get("items") or []:
            wanted = (deployment.get("spec") or {}).get("replicas", 1)
            available = (deployment.get("status") or {}).get("availableReplicas", 0)
            if wanted and available < wanted:
                waiting.append(f"{namespace}/{deployment['metadata']['name']}")
    return waiting

