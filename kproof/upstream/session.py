"""One `kproof upstream-tests` run: build, find or start the target, run each suite, write the reports."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from kproof.cluster.build import BuildCache
from kproof.upstream import results as verdicts
from kproof.upstream.build import build_all
from kproof.upstream.kingress import KIngressLayer
from kproof.upstream.runner import Target, ingress_cases, module_dir, rekt_not_run, rekt_tests, run_suite
from kproof.upstream.suites import SUITES, Suite
from kproof.upstream.target import (
    apply_config_maps,
    apply_files,
    create,
    image_catalog,
    served_resources,
    start_reference,
)

KINGRESS = "ingresses.networking.internal.knative.dev"
# the tests the reference fails by design, each with the reason (a failure listed there does not fail a run)
KNOWN = Path(__file__).with_name("known.yaml")
CERT_MANAGER = "certificates.cert-manager.io"
NETWORKING_NAMESPACE = "serving-tests"  # knative.dev/networking/test.ServingNamespace


@dataclass
class Options:
    reports: Path = Path("reports/upstream")
    suites: tuple[str, ...] = ()  # names of SUITES to run (empty: all)
    run: str = ""  # -test.run for every suite (empty: each suite's own selection)
    kubeconfig: Path | None = None  # a target of one's own; else a reference is started
    ingress_endpoint: str = "127.0.0.1"
    gateway: tuple[str, str] = ("kproof-system", "kproof-ingress")
    state_dir: Path = Path(".kproof-upstream")
    build_only: bool = False
    jobs: int = 1  # go build -p
    cache: BuildCache = field(default_factory=BuildCache)


def selected(names: tuple[str, ...]) -> tuple[Suite, ...]:
    if not names:
        return SUITES
    unknown = set(names) - {s.name for s in SUITES}
    if unknown:
        raise ValueError(f"unknown suite(s) {', '.join(sorted(unknown))}; known: {', '.join(s.name for s in SUITES)}")
    return tuple(s for s in SUITES if s.name in names)


def skip_reason(suite: Suite, target: Target) -> str:
    if "kingress" in suite.needs and KINGRESS not in target.serves:
        return f"the target serves no {KINGRESS} (KIngress), which this suite drives directly"
    return ""


def run(options: Options, say: Callable[[str], None] = print) -> int:
    """Exit status: 0 when every test that ran passed (against a reference: or failed as known.yaml lists),
    1 otherwise, 2 when nothing could run."""
    suites = selected(options.suites)
    # absolute: the test binaries run in a work folder of their own, and read these paths from there
    options = replace(options, reports=options.reports.resolve(), state_dir=options.state_dir.resolve())
    reports = options.reports
    reports.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    timings = build_all(suites, options.cache, reports / "build.log", say=say, jobs=options.jobs)
    say(f"builds ready in {time.monotonic() - started:.0f} s")
    if options.build_only:
        return 0
    catalog = reports / "images.yaml"
    catalog.write_text(image_catalog(suites, options.cache))
    platform = None
    layer: KIngressLayer | None = None
    try:
        if options.kubeconfig is None:
            shutil.rmtree(options.state_dir, ignore_errors=True)
            platform, target = start_reference(options.state_dir, catalog)
            say(f"reference started on {options.state_dir} (kubeconfig {target.kubeconfig})")
        else:
            target = Target(kubeconfig=options.kubeconfig, ingress_endpoint=options.ingress_endpoint,
                            gateway=options.gateway, serves=served_resources(options.kubeconfig))
        prepare(target, suites)
        runs = []
        for suite in suites:
            reason = skip_reason(suite, target)
            if reason:
                say(f"{suite.name}: not run: {reason}")
                continue
            suite_target = target
            if "kingress" in suite.needs and platform is not None:
                # the reference's own routes need no KIngress: its data plane in KIngress mode serves them
                layer = KIngressLayer(target.kubeconfig, options.state_dir / "kingress-layer")
                suite_target = replace(target, gateway=layer.start())
                say(f"{suite.name}: KIngress data plane started (log {layer.log_path})")
            pattern, left_out = selection(suite, CERT_MANAGER in target.serves)
            for test, why in left_out.items():
                say(f"{suite.name}: {test}: {why}")
            say(f"{suite.name}: running {suite.package}")
            done = run_suite(suite, suite_target, options.cache, reports, options.run or pattern, log=say)
            runs.append(replace(done, cases=cases(suite), not_run=left_out))
            if layer is not None:
                layer.stop()
                layer = None
    finally:
        if layer is not None:
            layer.stop()
        if platform is not None:
            platform.stop()
    return report(runs, reports, timings, say, known_failures() if options.kubeconfig is None else {})


def selection(suite: Suite, target_has_cert_manager: bool = False) -> tuple[str, dict[str, str]]:
    """-test.run for a suite (its own pattern, or for rekt the test functions of the covered kinds), and the
    tests left out with why."""
    if suite.name == "eventing-rekt":
        eventing = module_dir("knative.dev/eventing", suite.tests.directory)
        names = rekt_tests(eventing)
        left_out = {} if target_has_cert_manager else rekt_not_run(eventing, names)
        return "^(" + "|".join(n for n in names if n not in left_out) + ")$", left_out
    return suite.run, {}


def cases(suite: Suite) -> tuple[str, ...]:
    """The subtests that are the suite's cases, where one test runs them (networking's ingress conformance)."""
    if suite.name == "networking-ingress":
        return ingress_cases(module_dir("knative.dev/networking", suite.tests.directory))
    return ()


def prepare(target: Target, suites: tuple[Suite, ...]) -> None:
    """What Knative's e2e scripts apply before the tests: serving's test namespaces and their config, eventing's
    feature flags."""
    if any(s.name.startswith("serving") for s in suites):
        serving = module_dir("knative.dev/serving", suites[0].tests.directory) / "test" / "config"
        apply_files(target.kubeconfig, [serving / "cluster-resources.yaml", serving / "test-resources.yaml"])
    eventing = [s for s in suites if s.name.startswith("eventing")]
    if eventing:  # the features eventing's e2e tests run with (new-apiserversource-filters, delivery-timeout...)
        config = module_dir("knative.dev/eventing", eventing[0].tests.directory) / "test" / "config"
        apply_config_maps(target.kubeconfig, [config / "config-features.yaml"])
    if any(s.name.startswith("networking") for s in suites):  # its tests run in serving's test namespace
        create(target.kubeconfig, [{"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": NETWORKING_NAMESPACE}}])


def known_failures(path: Path = KNOWN) -> dict[str, dict[str, str]]:
    """package -> test -> why the reference fails it (kproof/upstream/known.yaml)."""
    data = yaml.safe_load(path.read_text()) or {}
    return {package: {str(t): str(why).strip() for t, why in (tests or {}).items()} for package, tests in data.items()}


def report(runs: list, reports: Path, timings: dict[str, float], say: Callable[[str], None],
           known: dict[str, dict[str, str]] | None = None) -> int:
    """Prints the table, writes summary.json and summary.md beside the JUnit files; the exit status: 1 when a
    test failed that `known` does not list (with its reason), or a binary failed."""
    found: dict[str, verdicts.PackageResult] = {}
    for done in runs:
        if done.json_path.exists():
            read = verdicts.read_json(done.json_path)
            if done.suite.package in read:
                result = read[done.suite.package]
                result.cases = done.cases
                for test, why in done.not_run.items():  # skipped by us, not by the test: told as such
                    result.tests.setdefault(test, "skip")
                    result.output.setdefault(test, [why])
            found.update(read)
    rows = verdicts.table(found.values())
    say("\n" + verdicts.markdown(rows))
    (reports / "summary.md").write_text(verdicts.markdown(rows))
    (reports / "summary.json").write_text(json.dumps(
        {"packages": verdicts.summary(found.values()), "build_seconds": timings}, indent=1))
    if not found:
        return 2
    known = known or {}
    unexpected = []
    for result in found.values():
        listed = known.get(result.package, {})
        for test, verdict in sorted(result.verdicts.items()):
            if verdict == "fail" and test not in listed:
                unexpected.append(f"{result.package}.{test}")
            elif verdict == "fail":
                say(f"known: {result.package}.{test}: {listed[test]}")
            elif verdict == "pass" and test in listed:
                say(f"passes now (remove it from {KNOWN.name}): {result.package}.{test}")
    for name in unexpected:
        say(f"FAILED: {name}")
    return 1 if unexpected or any(r.binary_failed for r in found.values()) else 0


