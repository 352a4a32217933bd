"""Details Knative Serving clients rely on: what a Service hands down to its Route and Configuration,
image digests on Revisions, the user a container runs as, projected volumes, and a Revision that cannot
get its volumes failing rather than waiting for ever."""

from __future__ import annotations

import re

import pytest

from conformance.serving.support import containment, deploy, service
from kproof.target import VOLUMES, Target

SERVING = "serving.knative.dev/v1"
CREATOR = "serving.knative.dev/creator"
MODIFIER = "serving.knative.dev/lastModifier"
DIGEST = re.compile(r"[^@\s]+@sha256:[0-9a-f]{64}")


def _ready(obj: dict | None) -> dict:
    return next((c for c in ((obj or {}).get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"),
                {})


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/knative-api-specification-1.0.md#service: "
                  "\"metadata changes MUST be copied to both Configuration and Route\"")
def test_service_labels_and_annotations_reach_route_and_configuration(target: Target, namespace: str,
                                                                      app_image) -> None:
    manifest = service("handed", namespace, app_image("helloworld"))
    manifest["metadata"]["labels"] = {"example.com/team": "fidelity"}
    manifest["metadata"]["annotations"] = {"example.com/owner": "serving"}
    ready = deploy(target, manifest)
    own = ready["metadata"]["annotations"]
    assert own.get(CREATOR) and own.get(MODIFIER), "the webhook records who made the Service"
    for kind in ("Route", "Configuration"):
        child = target.get(SERVING, kind, "handed", namespace)
        annotations, labels = child["metadata"].get("annotations") or {}, child["metadata"].get("labels") or {}
        assert annotations.get("example.com/owner") == "serving", kind
        assert (annotations.get(CREATOR), annotations.get(MODIFIER)) == (own[CREATOR], own[MODIFIER]), kind
        assert labels.get("example.com/team") == "fidelity", kind
        assert labels.get("serving.knative.dev/service") == "handed", kind


@pytest.mark.spec("SHOULD", "stable", source="knative/specs serving/knative-api-specification-1.0.md, "
                  "ContainerStatuses: imageDigest, the digest the image tag was resolved to")
def test_revision_reports_image_digests(target: Target, namespace: str, app_image) -> None:
    # Knative resolves no tag in the registries config-deployment lists (a cluster without a registry)
    config = target.get("v1", "ConfigMap", "config-deployment", "knative-serving") or {}
    skipped = (config.get("data") or {}).get("registries-skipping-tag-resolving", "").split(",")
    registry = app_image("helloworld").split("/")[0]
    if registry in {name.strip() for name in skipped}:
        pytest.skip(f"the target skips tag resolution for {registry} (config-deployment "
                    "registries-skipping-tag-resolving): no digest to report")
    ready = deploy(target, service("digest", namespace, app_image("helloworld")))
    revision = target.get(SERVING, "Revision", ready["status"]["latestReadyRevisionName"], namespace)
    statuses = revision["status"]["containerStatuses"]
    assert statuses and all(DIGEST.fullmatch(s.get("imageDigest", "")) for s in statuses), statuses


def _ids(status: str, field: str) -> list[int]:
    line = next(line for line in status.splitlines() if line.startswith(f"{field}:"))
    return [int(v) for v in line.split()[1:]]


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/runtime-contract.md#user: \"If specified, the "
                  "runtime MUST run the container as the specified user ID\"")
def test_container_runs_as_its_run_as_user_and_group(target: Target, namespace: str, app_image) -> None:
    deploy(target, _run_as("runas", namespace, app_image("autoscale")))
    seen = target.http("runas", "/runtime?file=/proc/self/status", namespace=namespace).json()
    status = seen["files"]["/proc/self/status"]
    assert set(_ids(status, "Uid")) == {1001}
    assert set(_ids(status, "Gid")) == {1002}


def _run_as(name: str, namespace: str, image: str) -> dict:
    manifest = service(name, namespace, image)
    manifest["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"runAsUser": 1001,
                                                                                 "runAsGroup": 1002}
    return manifest


@pytest.mark.spec("SHOULD", "stable", source="knative/specs serving/knative-api-specification-1.0.md, "
                  "ProjectedVolumeSource: configMap, secret and serviceAccountToken projections")
@pytest.mark.requires(VOLUMES)
def test_projected_volume_holds_config_secret_and_token(target: Target, namespace: str, app_image) -> None:
    target.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "proj-cm", "namespace": namespace},
                   "data": {"mode": "fast"}})
    target.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "proj-s", "namespace": namespace},
                   "stringData": {"password": "s3cret"}})
    manifest = service("projected", namespace, app_image("autoscale"))
    template = manifest["spec"]["template"]["spec"]
    template["containers"][0]["volumeMounts"] = [{"name": "all", "mountPath": "/etc/projected", "readOnly": True}]
    template["volumes"] = [{"name": "all", "projected": {"sources": [
        {"configMap": {"name": "proj-cm", "items": [{"key": "mode", "path": "config/mode"}]}},
        {"secret": {"name": "proj-s"}},
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}}]
    deploy(target, manifest)
    files = ("/etc/projected/config/mode", "/etc/projected/password", "/etc/projected/token")
    query = "&".join(f"file={f}" for f in files)
    seen = target.http("projected", f"/runtime?{query}", namespace=namespace).json()["files"]
    assert seen.get(files[0]) == "fast" and seen.get(files[1]) == "s3cret"
    assert seen.get(files[2], "").count(".") == 2, "a token in JWT form"


@pytest.mark.spec("SHOULD", "stable", source="knative/serving config-deployment progress-deadline: a Revision not "
                  "ready by then fails")
@pytest.mark.requires(VOLUMES)
def test_revision_without_its_volume_fails_after_its_progress_deadline(target: Target, namespace: str,
                                                                       app_image) -> None:
    manifest = service("novolume", namespace, app_image("autoscale"),
                       annotations={"serving.knative.dev/progress-deadline": "10s"})
    template = manifest["spec"]["template"]["spec"]
    template["containers"][0]["volumeMounts"] = [{"name": "gone", "mountPath": "/etc/gone", "readOnly": True}]
    template["volumes"] = [{"name": "gone", "configMap": {"name": "never-created"}}]
    target.apply(manifest)
    failed = target.wait_until(SERVING, "Revision", "novolume-00001", lambda r: _ready(r).get("status") == "False",
                               namespace, timeout=180, what="failed (its ConfigMap never appears)")
    assert _ready(failed).get("reason"), "a reason says why"


FIXED_PORT_APP = """
import http.server, os
class Port(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ.get('PORT', '').encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(('', 80), Port).serve_forever()
"""


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/runtime-contract.md#protocols-and-ports: \"the "
                  "selected port will be made available in the PORT environment variable\"")
def test_port_is_the_declared_container_port_and_an_app_on_port_80_works(target: Target, namespace: str) -> None:
    network = containment(target).get("network", "pod")
    if not network.startswith("pod"):
        pytest.skip(f"pods share the host's network here ({network}): each gets a port of its own")
    deploy(target, service("port80", namespace, "docker.io/library/python:3.11-slim",
                           command=["python", "-c", FIXED_PORT_APP], ports=[{"containerPort": 80}]))
    assert target.http("port80", "/", namespace=namespace).text == "80", "PORT is the declared containerPort"
