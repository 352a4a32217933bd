"""The Kubernetes Services (core v1) Knative creates, and plain Services users create.

Knative's route reconciler makes a placeholder ExternalName Service named after the Route, and one per
traffic tag (`<tag>-<route>`), owned by the Route and carrying its labels (pkg/reconciler/route/resources/
service.go); each revision's ServerlessService makes `<rev>` and `<rev>-private` (pkg/reconciler/
serverlessservice/resources/services.go). They go when the Knative Service goes.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from conformance.helpers import eventually
from conformance.serving.support import KSVC, deploy, service
from kproof.target import REFERENCE, Target

CORE = ("v1", "Service")
ROUTE_LABEL = "serving.knative.dev/route"
TEAM = "kproof.dev/team"
TAG = "candidate"
# Who owns a revision's Services: Knative's ServerlessService; the reference has none, and its Revision does.
REVISION_SERVICE_OWNERS = ("ServerlessService", "Revision")


def kubectl(target: Target, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, "KUBECONFIG": str(target.kubeconfig)}
    result = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, f"kubectl {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def controller(obj: dict) -> dict:
    refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")]
    assert len(refs) == 1, f"one controller reference: {refs}"
    return refs[0]


def printed(service: dict) -> list[str]:
    """The TYPE, CLUSTER-IP, EXTERNAL-IP and PORT(S) kubectl prints for a Service, from the object itself."""
    spec = service["spec"]
    cluster_ip = (spec.get("clusterIPs") or [spec.get("clusterIP") or "<none>"])[0]
    external = spec["externalName"] if spec["type"] == "ExternalName" else "<none>"
    ports = ",".join(f"{p['port']}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p['protocol']}"
                     for p in spec.get("ports") or []) or "<none>"
    return [spec["type"], cluster_ip, external, ports]


def deploy_labelled(target: Target, name: str, namespace: str, image: str) -> dict:
    manifest = service(name, namespace, image, env={"TARGET": "services"},
                       traffic=[{"latestRevision": True, "percent": 100},
                                {"latestRevision": True, "percent": 0, "tag": TAG}])
    manifest["metadata"]["labels"] = {TEAM: "blue"}
    return deploy(target, manifest)


@pytest.mark.spec("SHOULD", "stable", source="knative/serving pkg/reconciler/route/resources: a placeholder Service "
                  "per Route and per traffic tag, owned by it")
def test_a_route_and_its_revision_get_their_kubernetes_services(target: Target, namespace: str, app_image) -> None:
    name = "svcs"
    ready = deploy_labelled(target, name, namespace, app_image("helloworld"))
    revision_name = ready["status"]["latestReadyRevisionName"]
    route = target.get("serving.knative.dev/v1", "Route", name, namespace)
    revision = target.get("serving.knative.dev/v1", "Revision", revision_name, namespace)

    placeholder = target.get(*CORE, name, namespace)
    assert placeholder is not None, "the Route's Service, named after it"
    assert placeholder["spec"]["type"] == "ExternalName" and placeholder["spec"]["externalName"]
    assert [(p.get("name"), p["port"]) for p in placeholder["spec"]["ports"]] == [("http2", 80)]
    owner = controller(placeholder)
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Route", name, route["metadata"]["uid"])
    labels = placeholder["metadata"]["labels"]
    assert labels[ROUTE_LABEL] == name and labels[TEAM] == "blue", "the Service's labels reach it"

    tagged = target.get(*CORE, f"{TAG}-{name}", namespace)
    assert tagged is not None and tagged["spec"]["type"] == "ExternalName"
    assert controller(tagged)["uid"] == route["metadata"]["uid"] and tagged["metadata"]["labels"][ROUTE_LABEL] == name
    by_label = {s["metadata"]["name"] for s in target.list(*CORE, namespace, label_selector=f"{ROUTE_LABEL}={name}")}
    assert by_label == {name, f"{TAG}-{name}"}

    private = target.get(*CORE, f"{revision_name}-private", namespace)
    public = target.get(*CORE, revision_name, namespace)
    assert private is not None and public is not None
    uid = revision["metadata"]["uid"]
    for made, kind in ((private, "Private"), (public, "Public")):
        assert made["metadata"]["labels"]["serving.knative.dev/revision"] == revision_name
        assert made["metadata"]["labels"]["networking.internal.knative.dev/serviceType"] == kind
        owner = controller(made)
        assert owner["kind"] in REVISION_SERVICE_OWNERS and owner["name"] == revision_name
        if owner["kind"] == "Revision":
            assert owner["uid"] == uid
        assert made["spec"]["type"] == "ClusterIP" and made["spec"]["clusterIP"] not in ("", "None")
    assert private["spec"]["selector"] == {"serving.knative.dev/revisionUID": uid}
    assert ("http", 80) in [(p.get("name"), p["port"]) for p in private["spec"]["ports"]]
    assert not public["spec"].get("selector")

    # A revision's private Service is no host of the ingress (a cluster reaches it by its cluster IP).
    assert target.http(name, namespace=namespace, host=f"{revision_name}-private.{namespace}.svc.cluster.local",
                       ).status_code == 404
    if target.has(REFERENCE):  # the reference's ingress also answers the Route's cluster-local name
        local = target.http(name, namespace=namespace, host=f"{name}.{namespace}.svc.cluster.local")
        assert local.status_code == 200 and local.text == "Hello services!\n"

    target.delete(*KSVC, name, namespace, timeout=120)
    for gone in (name, f"{TAG}-{name}", revision_name, f"{revision_name}-private"):
        target.wait_until(*CORE, gone, lambda obj: obj is None, namespace, timeout=120, what="garbage-collected")


@pytest.mark.spec("SHOULD", "stable", source="knative/serving pkg/reconciler/route/resources: the Route's Kubernetes "
                  "Service carries its labels")
def test_labels_added_to_the_service_reach_the_routes_kubernetes_service(target: Target, namespace: str,
                                                                        app_image) -> None:
    deploy_labelled(target, "relabel", namespace, app_image("helloworld"))
    target.patch(*KSVC, "relabel", {"metadata": {"labels": {"kproof.dev/stage": "canary"}}}, namespace)
    target.wait_until(*CORE, "relabel", lambda obj: obj is not None and (obj["metadata"].get("labels") or {}).get(
        "kproof.dev/stage") == "canary", namespace, timeout=60, what="relabelled")


@pytest.mark.spec("SHOULD", "stable", source="knative/serving: the Kubernetes Services it makes show in `kubectl get "
                  "svc`")
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_svc_prints_knatives_services(target: Target, namespace: str, app_image) -> None:
    ready = deploy_labelled(target, "listed", namespace, app_image("helloworld"))
    revision_name = ready["status"]["latestReadyRevisionName"]
    lines = kubectl(target, "get", "svc", "-n", namespace).splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    rows = {line.split()[0]: line.split()[1:5] for line in lines[1:]}
    for name in ("listed", f"{TAG}-listed", revision_name, f"{revision_name}-private"):
        assert rows.get(name) == printed(target.get(*CORE, name, namespace)), f"{name}: {rows.get(name)}"
    assert rows["listed"][0] == "ExternalName"


@pytest.mark.spec("MUST", "stable", source="Kubernetes core v1 Service: created, read and deleted through the API "
                  "like any object")
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_apply_of_a_plain_service(target: Target, namespace: str) -> None:
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "plain", "namespace": namespace},
                "spec": {"selector": {"app": "plain"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080},
                                                                 {"name": "metrics", "port": 9090}]}}
    assert "service/plain created" in kubectl(target, "apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    created = target.get(*CORE, "plain", namespace)
    spec = created["spec"]
    assert spec["type"] == "ClusterIP" and spec["clusterIP"] not in ("", "None")
    assert [(p["name"], p["protocol"], p["targetPort"]) for p in spec["ports"]] == [("http", "TCP", 8080),
                                                                                   ("metrics", "TCP", 9090)]

    manifest["spec"]["ports"][0]["targetPort"] = 8081
    assert "service/plain configured" in kubectl(target, "apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    updated = target.get(*CORE, "plain", namespace)["spec"]
    assert updated["clusterIP"] == spec["clusterIP"], "the cluster IP stays"
    assert [(p["name"], p["port"], p["targetPort"]) for p in updated["ports"]] == [("http", 80, 8081),
                                                                                  ("metrics", 9090, 9090)]
    row = kubectl(target, "get", "svc", "plain", "-n", namespace, "-o", "wide").splitlines()
    assert row[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    cells = row[1].split()
    assert cells[1:5] == printed(target.get(*CORE, "plain", namespace)) and cells[-1] == "app=plain"

    refused = subprocess.run(["kubectl", "apply", "-f", "-"], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "KUBECONFIG": str(target.kubeconfig)},
                             input=yaml.safe_dump({**manifest, "metadata": {"name": "bad", "namespace": namespace},
                                                   "spec": {"ports": [{"port": 0}]}}))
    assert refused.returncode != 0 and "spec.ports[0].port" in refused.stderr
    assert 'service "plain" deleted' in kubectl(target, "delete", "svc", "plain", "-n", namespace)
    eventually(lambda: target.get(*CORE, "plain", namespace) is None, 60, "deleted")
