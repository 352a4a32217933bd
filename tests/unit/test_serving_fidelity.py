"""Knative fidelity of the serving controllers and the runtime: what the Service hands down, image
digests, the user a replica runs as, projected volumes."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import pytest

from reference.runtime import sandbox
from reference.runtime.volumes import UnsupportedVolume, VolumeError, prepare
from reference.serving.resources.children import make_configuration, make_route
from reference.serving.resources.revision import make_revision
from reference.serving.status.revision import image_digest

CREATOR = "serving.knative.dev/creator"
MODIFIER = "serving.knative.dev/lastModifier"


def _service() -> dict:
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": "s", "namespace": "ns", "uid": "u1", "labels": {"team": "a"},
                         "annotations": {CREATOR: "alice", MODIFIER: "bob", "note": "x",
                                         "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"template": {"spec": {"containers": [{"image": "i"}]}}, "traffic": []}}


def test_service_annotations_and_labels_reach_route_and_configuration() -> None:
    for child in (make_route(_service()), make_configuration(_service())):
        meta = child["metadata"]
        assert meta["annotations"] == {CREATOR: "alice", MODIFIER: "bob", "note": "x"}
        assert meta["labels"]["team"] == "a" and meta["labels"]["serving.knative.dev/service"] == "s"


def test_revision_creator_is_the_configurations_last_modifier() -> None:
    config = {"metadata": {"name": "s", "namespace": "ns", "uid": "u2", "generation": 2,
                           "annotations": {CREATOR: "alice", MODIFIER: "bob"}, "labels": {}},
              "apiVersion": "serving.knative.dev/v1", "kind": "Configuration",
              "spec": {"template": {"metadata": {"annotations": {"a": "b"}}, "spec": {}}}}
    revision = make_revision(config)
    assert revision["metadata"]["annotations"] == {"a": "b", CREATOR: "bob"}


@pytest.mark.parametrize("image", ["nginx", "gcr.io/knative-samples/helloworld-go:v1", "localhost:5000/a/b"])
def test_image_digest_has_the_form_of_a_digest(image: str) -> None:
    digest = image_digest(image)
    assert re.fullmatch(r"[^@]+@sha256:[0-9a-f]{64}", digest)
    assert digest == image_digest(image), "stable"
    assert image_digest("nginx") == image_digest("docker.io/library/nginx:latest")
    pinned = "gcr.io/x/y@sha256:" + "a" * 64
    assert image_digest(pinned) == pinned


def test_identity_prefers_the_containers_security_context() -> None:
    pod = {"securityContext": {"runAsUser": 1000, "runAsGroup": 2000}}
    assert sandbox.identity_of(pod, {"securityContext": {"runAsUser": 1001}}) == sandbox.Identity(1001, 2000)
    assert sandbox.identity_of({}, {}) == sandbox.Identity()
    assert sandbox.identity_of({}, {"securityContext": {"runAsUser": -1}}) == sandbox.Identity()


def _setpriv_and_after(argv: list[str]) -> list[str]:
    """What runs after confine (the user namespace and the filter): setpriv, then the app."""
    return argv[next(i for i, a in enumerate(argv) if a.endswith("setpriv")):]


def test_sandbox_runs_as_the_requested_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "bubblewrap", lambda: "/usr/bin/bwrap")
    argv = sandbox.command(["app"], [], None, sandbox.Box(user=sandbox.Identity(1001, 1002)))
    inner = argv[argv.index("--") + 1:]
    if os.geteuid() == 0:
        inner = _setpriv_and_after(inner)
        assert inner[1:3] == ["--reuid=1001", "--regid=1002"] and "--bounding-set=-all" in inner
    else:
        pairs = [argv[i:i + 2] for i in range(len(argv) - 1)]
        assert ["--uid", "1001"] in pairs and ["--gid", "1002"] in pairs and ["--cap-drop", "ALL"] in pairs


def test_root_in_the_sandbox_keeps_no_capabilities_and_no_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 0)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(sandbox, "bubblewrap", lambda: "/usr/bin/bwrap")
    argv = sandbox.command(["app"], [], None, sandbox.Box(user=sandbox.Identity(0, 0), ids=1 << 20))
    inner = _setpriv_and_after(argv[argv.index("--") + 1:])
    assert inner[1:] == ["--reuid=0", "--regid=0", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                         "--no-new-privs", "app"]
    confine = argv[argv.index("--") + 1:]
    assert confine[3].endswith("confine.py") and confine[4:6] == ["--ids", str(1 << 20)], "uid 0 is the pod's own"
    assert not any(a.startswith("/etc/shadow") or a.startswith("/etc/gshadow") for a in argv), "an /etc of its own"


def test_without_bubblewrap_an_ordinary_platform_cannot_change_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "bubblewrap", lambda: None)
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 4242)
    argv = sandbox.command(["app"], [], None)
    assert argv[argv.index("--") + 1:] == ["app"] if "--" in argv else argv == ["app"], "only the filter comes first"
    with pytest.raises(sandbox.SandboxUnavailable, match="runAsUser"):
        sandbox.command(["app"], [], None, sandbox.Box(user=sandbox.Identity(1001, None)))


def _pod(*volumes: dict) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "x"}},
            "spec": {"serviceAccountName": "robot", "volumes": list(volumes)}}


def test_projected_volume_holds_every_sources_files(tmp_path: Path) -> None:
    objects = {("ns", "ConfigMap", "cm"): {"data": {"a": "1", "b": "2"}},
               ("ns", "Secret", "s"): {"data": {"key": base64.b64encode(b"secret").decode()}}}
    projected = {"name": "all", "projected": {"sources": [
        {"configMap": {"name": "cm", "items": [{"key": "a", "path": "conf/a"}]}},
        {"secret": {"name": "s"}},
        {"secret": {"name": "absent", "optional": True}},
        {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
        {"serviceAccountToken": {"path": "sa/token", "audience": "vault", "expirationSeconds": 600}}]}}
    made = prepare(_pod(projected), tmp_path / "pod", tmp_path, lambda ns, kind, name: objects.get((ns, kind, name)))
    root = made["all"]
    assert (root / "conf" / "a").read_text() == "1" and not (root / "b").exists()
    assert (root / "key").read_text() == "secret"
    assert (root / "labels").read_text() == 'app="x"'
    _header, claims, signature = (root / "sa" / "token").read_text().split(".")
    payload = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert payload["sub"] == "system:serviceaccount:ns:robot" and payload["aud"] == ["vault"]
    assert signature == "", "unsigned: it grants nothing"


def test_projected_sources_the_reference_cannot_provide_fail_for_good(tmp_path: Path) -> None:
    bundle = {"name": "b", "projected": {"sources": [{"clusterTrustBundle": {"path": "ca.pem"}}]}}
    with pytest.raises(UnsupportedVolume, match="clusterTrustBundle"):
        prepare(_pod(bundle), tmp_path / "pod", tmp_path, lambda *_: None)
    limits = {"name": "r", "projected": {"sources": [{"downwardAPI": {"items": [
        {"path": "cpu", "resourceFieldRef": {"resource": "limits.cpu"}}]}}]}}
    with pytest.raises(UnsupportedVolume):
        prepare(_pod(limits), tmp_path / "pod2", tmp_path, lambda *_: None)
    with pytest.raises(UnsupportedVolume):
        prepare(_pod({"name": "h", "hostPath": {"path": "/"}}), tmp_path / "pod3", tmp_path, lambda *_: None)
    missing = {"name": "m", "projected": {"sources": [{"configMap": {"name": "absent"}}]}}
    with pytest.raises(VolumeError) as err:  # may appear later: retried, not failed
        prepare(_pod(missing), tmp_path / "pod4", tmp_path, lambda *_: None)
    assert not isinstance(err.value, UnsupportedVolume)


def test_admission_refuses_negative_ids_and_names_rfc_1123_for_service_accounts() -> None:
    from reference.apiserver.admission.podspec import RFC1123_SUBDOMAIN, validate_pod_spec

    error = validate_pod_spec({"containers": [{"image": "x", "securityContext": {"runAsUser": -1, "runAsGroup": 0}}],
                               "serviceAccountName": "Not_Valid"}, {})
    assert "expected 0 <= -1 <= 2147483647: containers[0].securityContext.runAsUser" in str(error)
    assert "runAsGroup" not in str(error), "0 is a valid group"
    details = [child.details for child in error.children if child.paths == ["serviceAccountName"]]
    assert details == [RFC1123_SUBDOMAIN] and RFC1123_SUBDOMAIN.startswith("a lowercase RFC 1123 subdomain")
    assert validate_pod_spec({"containers": [{"image": "x", "securityContext": {"runAsUser": 1000}}]}, {}) is None
