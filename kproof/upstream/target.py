"""The target the upstream tests run against: a reference started for them, or a kubeconfig given.

Knative's spoofing client (knative.dev/pkg/test/ingress) dials --ingressendpoint at the node port that the
gateway Service (GATEWAY_NAMESPACE_OVERRIDE/GATEWAY_OVERRIDE, istio-system/istio-ingressgateway by default)
gives port 80, as on a kind cluster. For a reference we start its ingress on a port of the node-port range and
publish it as the NodePort Service kproof-system/kproof-ingress.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from kproof.cluster.build import BuildCache
from kproof.embedded import ReferenceProcess
from kproof.upstream.runner import Target
from kproof.upstream.suites import Suite

GATEWAY = ("kproof-system", "kproof-ingress")
NODE_PORTS = range(30000, 32768)


def free_node_port(host: str = "127.0.0.1") -> int:
    """A port of Kubernetes' node-port range that nothing listens on."""
    candidates = list(NODE_PORTS)
    random.shuffle(candidates)
    for port in candidates[:200]:
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 30000-32767 for the reference's ingress")


# What `ko build` makes of a Go main package: the binary at /ko-app/<name> as the entrypoint, on a base image
# whose user is 65532 (nonroot); serving's runtime tests check both (cmd_args_test.go, user_test.go).
KO_APP = "/ko-app"
KO_USER = "65532:65532"
# general images the frameworks run their own commands in (a shell and curl, which this machine has)
PASSTHROUGH = ("registry.access.redhat.com/ubi8/ubi",)


def image_catalog(suites: tuple[Suite, ...], cache: BuildCache) -> str:
    """An image catalog (fixtures/images.yaml's format) running each test image as the binary built from
    its package, laid out as ko lays it out: <repository>/<name> runs /ko-app/<name>, which is the binary
    in the build cache."""
    entries: list[dict] = []
    seen: set[str] = set()
    for suite in suites:
        for name in suite.images.binaries:
            image = f"{suite.repository}/{name}"
            if image not in seen:
                seen.add(image)
                program = f"{KO_APP}/{name}"
                entries.append({"image": image, "command": [program],
                                "files": {program: str(cache.binary(suite.images, name))}, "user": KO_USER})
    # reconciler-test's readiness check: a Job running `curl` in a UBI image (k8s.WaitForServiceReady)
    entries += [{"image": image, "passthrough": True} for image in PASSTHROUGH]
    header = "# Knative's test images as the binaries `kproof upstream-tests` built from their packages.\n"
    return header + yaml.safe_dump({"images": entries}, sort_keys=False)


def start_reference(state_dir: Path, catalog: Path) -> tuple[ReferenceProcess, Target]:
    """Starts a reference on `state_dir` with the test images' catalog and a node-port ingress."""
    port = free_node_port()
    platform = ReferenceProcess(state_dir, images=(catalog,), ingress_port=port)
    platform.start()
    kubeconfig = state_dir.resolve() / "kubeconfig"
    publish_gateway(kubeconfig, port)
    return platform, Target(kubeconfig=kubeconfig, ingress_endpoint="127.0.0.1", gateway=GATEWAY,
                            serves=served_resources(kubeconfig))


def api(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


def publish_gateway(kubeconfig: Path, node_port: int) -> None:
    """The NodePort Service through which the tests' spoofing client finds the reference's ingress."""
    namespace, name = GATEWAY
    create(kubeconfig, [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
         "spec": {"type": "NodePort", "ports": [{"name": "http2", "port": 80, "nodePort": node_port}]}}])


def apply_files(kubeconfig: Path, files: list[Path]) -> None:
    """Creates the objects of these YAML files, unchanged (an object that exists is left as it is)."""
    create(kubeconfig, [d for path in files for d in yaml.safe_load_all(path.read_text()) if d])


def apply_config_maps(kubeconfig: Path, files: list[Path]) -> None:
    """Sets the data of the ConfigMaps in these YAML files, unchanged (made when missing): Knative's e2e
    configuration of its features."""
    core = client.CoreV1Api(api(kubeconfig))
    for document in (d for path in files for d in yaml.safe_load_all(path.read_text()) if d):
        meta = document["metadata"]
        try:
            core.patch_namespaced_config_map(meta["name"], meta["namespace"], {"data": document.get("data") or {}})
        except ApiException as err:
            if err.status != 404:
                raise
            create(kubeconfig, [document])


def create(kubeconfig: Path, objects: list[dict]) -> None:
    """Creates each object; one that exists already stays as it is."""
    from kubernetes import utils

    api_client = api(kubeconfig)
    for document in objects:
        try:
            utils.create_from_dict(api_client, document)
        except utils.FailToCreateError as err:
            if not all(isinstance(e, ApiException) and e.status == 409 for e in err.api_exceptions):
                raise


def served_resources(kubeconfig: Path) -> frozenset[str]:
    """`<resource>.<group>` of every API resource the target serves (discovery)."""
    api_client = api(kubeconfig)
    found: set[str] = set()
    for group in client.ApisApi(api_client).get_api_versions().groups:
        if group.preferred_version is None:
            continue
        version = group.preferred_version.group_version
        try:
            group_name, _, group_version = version.partition("/")
            resources = client.CustomObjectsApi(api_client).get_api_resources(group_name, group_version)
        except (ApiException, ValueError):
            continue
        found.update(f"{r.name}.{group.name}" for r in resources.resources if "/" not in r.name)
    return frozenset(found)
