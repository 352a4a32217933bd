"""`kproof upstream-tests`' parts that need no Go build: the test images' catalog, the test binaries' flags and
the KIngress data plane it runs for networking's ingress conformance tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from kproof.cluster.build import BuildCache
from kproof.upstream import runner
from kproof.upstream.kingress import INGRESS_CLASS, KIngressLayer
from kproof.upstream.runner import Target, flags
from kproof.upstream.suites import IMAGE_TAG, SUITES
from kproof.upstream.target import KO_USER, PASSTHROUGH, image_catalog
from reference.runtime.catalog import Catalog

SUITE = {s.name: s for s in SUITES}


def test_the_catalog_runs_each_test_image_as_ko_lays_it_out(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "cache")
    text = image_catalog(SUITES, cache)
    entries = {e["image"]: e for e in yaml.safe_load(text)["images"]}
    runtime = entries["kproof.dev/upstream-tests/serving/runtime"]
    assert runtime["command"] == ["/ko-app/runtime"] and runtime["user"] == KO_USER
    assert runtime["files"] == {"/ko-app/runtime": str(cache.binary(SUITE["serving-api-v1"].images, "runtime"))}
    assert "kproof.dev/upstream-tests/eventing/eventshub" in entries
    assert all(entries[image]["passthrough"] for image in PASSTHROUGH)
    path = tmp_path / "images.yaml"
    path.write_text(text)
    # the reference reads it: the image as the tests' flags name it runs the built binary, as the image's user
    launch = Catalog.load(path).launch({"name": "c", "image": f"kproof.dev/upstream-tests/serving/runtime:{IMAGE_TAG}"})
    assert launch.argv == ["/ko-app/runtime"] and (launch.uid, launch.gid) == (65532, 65532)


def test_each_framework_gets_its_own_flags(tmp_path: Path) -> None:
    target = Target(tmp_path / "kubeconfig", "127.0.0.1", ("kproof-system", "kproof-ingress"))
    serving = flags(SUITE["serving-runtime"], target, tmp_path, "")
    assert "--dockerrepo=kproof.dev/upstream-tests/serving" in serving and f"--tag={IMAGE_TAG}" in serving
    assert "--enable-alpha" in serving and "-test.parallel=2" in serving
    ingress = flags(SUITE["networking-ingress"], target, tmp_path, "^TestIngressConformance$")
    assert f"--ingressClass={INGRESS_CLASS}" in ingress and "-test.run=^TestIngressConformance$" in ingress
    rekt = flags(SUITE["eventing-rekt"], target, tmp_path, "")
    assert "--kubeconfig" not in " ".join(rekt) and "-test.parallel=4" in rekt  # rekt reads $KUBECONFIG
    images = (tmp_path / "images.yaml").read_text()
    assert "knative.dev/reconciler-test/cmd/eventshub: kproof.dev/upstream-tests/eventing/eventshub:upstream" in images


def test_a_relative_reports_folder_reaches_the_binary_as_absolute_paths(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # the binary runs in reports/work/<suite>: a relative images.yaml or JUnit path would name nothing there
    ran: dict = {}

    def run(command: list[str], cwd: Path, **_: object) -> subprocess.CompletedProcess:
        ran.update(command=command, cwd=cwd)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(runner.subprocess, "run", run)
    monkeypatch.chdir(tmp_path)
    target = Target(tmp_path / "kubeconfig", "127.0.0.1", ("kproof-system", "kproof-ingress"))
    done = runner.run_suite(SUITE["eventing-rekt"], target, BuildCache(tmp_path / "cache"), Path("reports/upstream"))
    assert ran["cwd"] == tmp_path / "reports/upstream/work/eventing-rekt"
    command = ran["command"]
    paths = [command[command.index(flag) + 1] for flag in ("--junitfile", "--jsonfile")]
    paths += [a.split("=", 1)[1] for a in command if a.startswith("--images.producer.file=")]
    assert len(paths) == 3 and all(Path(p).is_absolute() for p in paths), paths
    assert (tmp_path / "reports/upstream/work/eventing-rekt/images.yaml").is_file()
    assert done.json_path.is_absolute() and done.junit_path.is_absolute()


def test_the_kingress_layer_publishes_its_listeners_as_node_ports(tmp_path: Path) -> None:
    argv = KIngressLayer(tmp_path / "kubeconfig", tmp_path).command(30080, 8081, 30443, 8093)
    assert argv[1:3] == ["-m", "reference.dataplane"] and "--node-ports" in argv
    assert argv[argv.index("--listen") + 1] == "127.0.0.1:30080"
    assert argv[argv.index("--kingress-class") + 1] == INGRESS_CLASS
