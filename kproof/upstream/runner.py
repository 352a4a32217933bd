"""Runs one upstream test binary against a target with the flags its framework reads, under gotestsum.

The flags are knative.dev/pkg/test's (kubeconfig, --ingressendpoint, --dockerrepo/--tag through the
default image template {{.Repository}}/{{.Name}}:{{.Tag}}), serving's test/e2e_flags.go and
reconciler-test's environment flags (--images.producer.file maps `ko://` packages to image references).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kproof.cluster.build import BuildCache, go_command
from kproof.upstream.suites import GOTESTSUM, IMAGE_TAG, Suite

# eventing's rekt test files that exercise the kinds issue 23 covers, and the smoke tests of those kinds
REKT_FILES = ("broker_test.go", "trigger_test.go", "new_trigger_filters_test.go", "channel_test.go",
              "pingsource_test.go", "container_source_test.go", "sink_binding_test.go", "apiserversource_test.go")
REKT_SMOKE = re.compile(
    r"^TestSmoke_(Broker|Trigger|Channel\w*|PingSource|ContainerSource|ApiServerSource|SinkBinding)$")
TEST_FUNCTION = re.compile(r"^func (Test\w+)\(t \*testing\.T\)", re.MULTILINE)
TLS_ENVIRONMENT = "eventshub.WithTLS("
NEEDS_CERT_MANAGER = ("not run: its environment installs cert-manager's Issuer and Certificate (eventshub.WithTLS) "
                      "and exits the test binary without them; the reference has no cert-manager and no TLS "
                      "addresses")
INGRESS_CASE = re.compile(r'^\s+"([^"]+)":\s+Test\w+,', re.MULTILINE)


@dataclass
class Target:
    """How the tests reach the platform under test."""

    kubeconfig: Path
    ingress_endpoint: str  # the address the spoofing client dials (--ingressendpoint)
    gateway: tuple[str, str]  # namespace, name of the Service whose node port for port 80 the client dials
    serves: frozenset[str] = frozenset()  # API resources it serves, e.g. "ingresses.networking.internal.knative.dev"
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    suite: Suite
    json_path: Path
    junit_path: Path
    returncode: int
    skipped_reason: str = ""
    cases: tuple[str, ...] = ()  # the subtests that are its cases (empty: its top-level tests)
    not_run: dict[str, str] = field(default_factory=dict)  # test -> why it was left out of the run


def module_dir(package_module: str, wrapper: Path) -> Path:
    """Where Go's module cache holds a module required by the wrapper (`go list -m -f {{.Dir}}`)."""
    go = go_command() or "go"
    done = subprocess.run([go, "list", "-m", "-f", "{{.Dir}}", package_module], cwd=wrapper, capture_output=True,
                          text=True, check=True)
    return Path(done.stdout.strip())


def rekt_tests(eventing_dir: Path) -> list[str]:
    """The rekt test functions of the covered kinds, read from eventing's test/rekt in the module cache."""
    names: list[str] = []
    rekt = eventing_dir / "test" / "rekt"
    for name in REKT_FILES:
        names += TEST_FUNCTION.findall((rekt / name).read_text())
    names += [n for n in TEST_FUNCTION.findall((rekt / "smoke_test.go").read_text()) if REKT_SMOKE.match(n)]
    return [n for n in dict.fromkeys(names) if n != "TestMain"]


def rekt_not_run(eventing_dir: Path, names: list[str]) -> dict[str, str]:
    """The rekt tests among `names` that cannot run against a target without cert-manager, with the reason:
    their environment (eventshub.WithTLS) creates cert-manager's Issuer and Certificate first, and exits the
    whole test binary (logging.Fatal) when it cannot."""
    rekt = eventing_dir / "test" / "rekt"
    bodies: dict[str, str] = {}
    for path in sorted(rekt.glob("*_test.go")):
        text = path.read_text()
        starts = [(m.start(), m.group(1)) for m in TEST_FUNCTION.finditer(text)]
        ends = [start for start, _ in starts[1:]] + [len(text)] * bool(starts)
        for (start, name), end in zip(starts, ends, strict=True):
            bodies[name] = text[start:end]
    return {name: NEEDS_CERT_MANAGER for name in names if TLS_ENVIRONMENT in bodies.get(name, "")}


def ingress_cases(networking_dir: Path) -> tuple[str, ...]:
    """The cases networking's RunConformance runs (the keys of its stable, beta and alpha maps), as the
    subtests of TestIngressConformance."""
    text = (networking_dir / "test" / "conformance" / "ingress" / "run.go").read_text()
    return tuple(f"TestIngressConformance/{name}" for name in INGRESS_CASE.findall(text))


def images_file(path: Path, suite: Suite) -> Path:
    """reconciler-test's file image producer: each `ko://` package the features name -> our image reference."""
    lines = [f"{package}: {suite.repository}/{name}:{IMAGE_TAG}" for name, package in suite.images.binaries.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def flags(suite: Suite, target: Target, work: Path, run_pattern: str) -> list[str]:
    """The test binary's arguments (testing's own, then the framework's)."""
    arguments = ["-test.v=test2json", "-test.timeout=90m", "-test.count=1", f"-test.parallel={suite.parallel}"]
    if run_pattern:
        arguments.append(f"-test.run={run_pattern}")
    common: list[str] = []
    if suite.name.startswith(("serving", "networking")):  # knative.dev/pkg/test's flags (rekt reads $KUBECONFIG)
        common += [f"--kubeconfig={target.kubeconfig}", f"--ingressendpoint={target.ingress_endpoint}",
                   f"--dockerrepo={suite.repository}", f"--tag={IMAGE_TAG}", "--resolvabledomain=false"]
    if suite.name.startswith("serving"):  # as serving's e2e-tests.sh runs them
        common += ["--disable-logstream"]
    if suite.name.startswith(("serving", "networking")):  # alpha and beta features too
        common += ["--enable-alpha", "--enable-beta"]
    if suite.name.startswith("networking"):
        common += ["--ingressClass=" + target.env.get("INGRESS_CLASS", "kproof.ingress.networking.knative.dev")]
    if suite.name.startswith("eventing"):
        common += [f"--images.producer.file={images_file(work / 'images.yaml', suite)}"]
    return arguments + common


def environment(suite: Suite, target: Target) -> dict[str, str]:
    env = {**os.environ, **target.env, "GATEWAY_NAMESPACE_OVERRIDE": target.gateway[0],
           "GATEWAY_OVERRIDE": target.gateway[1], "KUBECONFIG": str(target.kubeconfig)}
    env["SYSTEM_NAMESPACE"] = "knative-eventing" if suite.name.startswith("eventing") else "knative-serving"
    env.pop("KO_DOCKER_REPO", None)
    return env


def gotestsum_command(gotestsum: Path, junit_path: Path, json_path: Path, raw_command: list[str]) -> list[str]:
    """gotestsum reading `go test -json` from `raw_command`: one line per test on stdout, the events kept in
    `json_path` and converted to JUnit XML in `junit_path` (a testcase per test and subtest)."""
    return [str(gotestsum), "--format", "testname", "--junitfile", str(junit_path), "--jsonfile", str(json_path),
            "--junitfile-testsuite-name", "full", "--junitfile-testcase-classname", "full",
            "--raw-command", "--", *raw_command]


def run_suite(suite: Suite, target: Target, cache: BuildCache, reports: Path, run_pattern: str = "",
              log: Callable[[str], None] | None = None) -> Run:
    """Runs the suite's binary under gotestsum: <reports>/<suite>.json (go test -json) and <suite>.xml (JUnit)."""
    reports = reports.resolve()  # the binary runs in `work`: every path it is given must not depend on that
    work = reports / "work" / suite.name
    work.mkdir(parents=True, exist_ok=True)
    json_path, junit_path = reports / f"{suite.name}.json", reports / f"{suite.name}.xml"
    go = go_command() or "go"
    binary = cache.binary(suite.tests, suite.binary)
    command = gotestsum_command(cache.binary(GOTESTSUM, "gotestsum"), junit_path, json_path, [
        go, "tool", "test2json", "-t", "-p", suite.package, str(binary), *flags(suite, target, work, run_pattern)])
    if log is not None:
        log(f"$ {shlex.join(command)}")
    done = subprocess.run(command, cwd=work, env=environment(suite, target), stdin=subprocess.DEVNULL, check=False)
    return Run(suite, json_path, junit_path, done.returncode)

