"""`kproof upstream-tests`' parts that need no Go build: the test images' catalog, the test binaries' flags and
the KIngress data plane it runs for networking's ingress conformance tests."""

from __future__ import annotations

from pathlib import Path

import yaml

from kproof.cluster.build import BuildCache
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


def test_the_kingress_layer_publishes_its_listeners_as_node_ports(tmp_path: Path) -> None:
    argv = KIngressLayer(tmp_path / "kubeconfig", tmp_path).command(30080, 8081, 30443, 8093)
    assert argv[1:3] == ["-m", "reference.dataplane"] and "--node-ports" in argv
    assert argv[argv.index("--listen") + 1] == "127.0.0.1:30080"
    assert argv[argv.index("--kingress-class") + 1] == INGRESS_CLASS
