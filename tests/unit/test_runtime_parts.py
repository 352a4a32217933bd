import sys
from pathlib import Path

import pytest

from reference.runtime import sandbox
from reference.runtime.catalog import Catalog, Entry, ImageNotFound, ImageUnavailable, parse_reference
from reference.runtime.volumes import VolumeError, mounts, prepare
from reference.serving.revision import pod_for, static_scale


@pytest.mark.parametrize(("image", "host", "path", "tag"), [
    ("busybox", "docker.io", "library/busybox", "latest"),
    ("mihaitodor/benthos-vader:1.0", "docker.io", "mihaitodor/benthos-vader", "1.0"),
    ("gcr.io/knative-samples/helloworld-go", "gcr.io", "knative-samples/helloworld-go", "latest"),
    ("localhost:5000/a/b:v2@sha256:abc", "localhost:5000", "a/b", "v2"),
])
def test_image_references(image: str, host: str, path: str, tag: str) -> None:
    ref = parse_reference(image)
    assert (ref.host, ref.path, ref.tag) == (host, path, tag)


def test_catalog_matches_any_registry_and_tag() -> None:
    catalog = Catalog([Entry("gcr.io/knative-samples/helloworld-go", command=("{python}", "-m", "app")),
                       Entry("example.com/x", unavailable="later"), Entry("docker.io/library/busybox",
                                                                           passthrough=True)])
    launch = catalog.launch({"image": "mirror.example/knative-samples/helloworld-go:v9", "args": ["--x"]})
    assert launch.argv[1:] == ["-m", "app", "--x"]
    with pytest.raises(ImageUnavailable):
        catalog.launch({"image": "example.com/x"})
    with pytest.raises(ImageNotFound):
        catalog.launch({"image": "nobody/nothing"})
    assert catalog.launch({"image": "busybox", "command": ["sh", "-c"], "args": ["true"]}).argv == ["sh", "-c",
                                                                                                     "true"]


def test_the_shipped_catalog_covers_the_seed_images() -> None:
    catalog = Catalog.load()
    for image in ("ghcr.io/knative/helloworld-go", "gcr.io/knative-samples/helloworld-go",
                  "gcr.io/knative-samples/autoscale-go",
                  "gcr.io/knative-releases/knative.dev/eventing/cmd/event_display",
                  "registry.cn-hangzhou.aliyuncs.com/knative-sample/event-display",
                  "registry-vpc.cn-hangzhou.aliyuncs.com/demo-test/test:helloworld-go"):
        assert catalog.find(image)
    assert catalog.launch({"image": "mihaitodor/benthos-vader:latest"}).argv[-2:] == ["-m", "reference.apps.sentiment"]
    intent = catalog.launch({"image": "registry.cn-hangzhou.aliyuncs.com/ai-samples/bert-intent-detection:1.0.1"})
    assert intent.argv[-2:] == ["-m", "reference.apps.intent"] and intent.env == {"MODEL_DIR": "/data/models"}
    assert intent.annotations["internal.serving.kserve.io/batcher-max-batchsize"] == "BATCHER_MAX_BATCH_SIZE"
    with pytest.raises(ImageUnavailable):
        catalog.find("docker.io/rootfs/rgwpubsub-knative-source")
    python = catalog.launch({"image": "python:3.11-slim", "command": ["python", "-c", "print(1)"]})
    assert python.argv == [sys.executable, "-c", "print(1)"], "the python image's python is this Python"


def test_volumes_materialise_config_maps_and_secrets(tmp_path: Path) -> None:
    objects = {("ns", "ConfigMap", "cm"): {"data": {"a": "1", "b": "2"}},
               ("ns", "Secret", "s"): {"data": {"token": "c2VjcmV0"}}}
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"volumes": [
        {"name": "c", "configMap": {"name": "cm", "items": [{"key": "b", "path": "sub/b.txt"}]}},
        {"name": "s", "secret": {"secretName": "s"}}, {"name": "e", "emptyDir": {}}]}}
    made = prepare(pod, tmp_path / "pod", tmp_path, lambda ns, kind, name: objects.get((ns, kind, name)))
    assert (made["c"] / "sub" / "b.txt").read_text() == "2" and not (made["c"] / "a").exists()
    assert (made["s"] / "token").read_text() == "secret"
    bound = mounts({"volumeMounts": [{"name": "c", "mountPath": "/etc/conf"}]}, made, set())
    assert bound[0].target == "/etc/conf" and bound[0].source == made["c"]
    missing = {"metadata": {"name": "p", "namespace": "ns"},
               "spec": {"volumes": [{"name": "x", "configMap": {"name": "absent"}}]}}
    with pytest.raises(VolumeError, match='configmap "absent" not found'):
        prepare(missing, tmp_path / "p2", tmp_path, lambda *_: None)


def test_sandbox_binds_volumes_and_isolates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "bubblewrap", lambda: "/usr/bin/bwrap")
    argv = sandbox.command(["app"], [sandbox.Mount(Path("/v"), "/data/models", True)], "/work", "pod-1")
    assert argv[:5] == ["/usr/bin/bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    pairs = [argv[i:i + 2] for i in range(len(argv) - 1)]
    assert ["--tmpfs", "/tmp"] in pairs and ["--hostname", "pod-1"] in pairs and ["--chdir", "/work"] in pairs
    assert argv[argv.index("/data/models") - 2:argv.index("/data/models") + 1] == ["--ro-bind", "/v", "/data/models"]
    assert argv[-2:] == ["--", "app"]
    monkeypatch.setattr(sandbox, "bubblewrap", lambda: None)
    assert sandbox.command(["app"], [], None) == ["app"]
    with pytest.raises(sandbox.SandboxUnavailable):
        sandbox.command(["app"], [sandbox.Mount(Path("/v"), "/data", False)], None)


def _revision(annotations: dict | None = None, **labels: str) -> dict:
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Revision",
            "metadata": {"name": "hello-00001", "namespace": "ns", "uid": "u1", "annotations": annotations or {},
                         "labels": {"serving.knative.dev/configuration": "hello",
                                    "serving.knative.dev/service": "hello", **labels}},
            "spec": {"containerConcurrency": 1, "timeoutSeconds": 42, "containers": [{
                "name": "user-container", "image": "img", "ports": [{"containerPort": 8080}],
                "readinessProbe": {"tcpSocket": {"port": 0}},
                "livenessProbe": {"httpGet": {"path": "/h", "port": 8080}}}]}}


def test_pods_follow_the_runtime_contract() -> None:
    pod = pod_for(_revision(), 45678)
    user, queue = pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in user["env"]}
    assert env == {"PORT": "45678", "K_REVISION": "hello-00001", "K_CONFIGURATION": "hello", "K_SERVICE": "hello"}
    assert user["ports"] == [{"name": "user-port", "containerPort": 45678, "protocol": "TCP"}]
    assert user["readinessProbe"]["tcpSocket"]["port"] == 45678
    assert user["livenessProbe"]["httpGet"]["port"] == 45678
    assert queue["name"] == "queue-proxy"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 42
    assert "containerConcurrency" not in pod["spec"]
    assert pod["metadata"]["labels"]["serving.knative.dev/revision"] == "hello-00001"
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "u1"


@pytest.mark.parametrize(("annotations", "labels", "config", "replicas"), [
    ({}, {}, {"initial-scale": "1"}, 1),
    ({"autoscaling.knative.dev/initial-scale": "5"}, {}, {}, 5),
    ({"autoscaling.knative.dev/min-scale": "3"}, {}, {"initial-scale": "1"}, 3),
    ({"autoscaling.knative.dev/min-scale": "3", "autoscaling.knative.dev/max-scale": "2"}, {}, {}, 2),
])
def test_static_scale(annotations: dict, labels: dict, config: dict, replicas: int) -> None:
    assert static_scale(_revision(annotations, **labels), config) == replicas


def test_user_catalogs_come_first(tmp_path: Path) -> None:
    mine = tmp_path / "images.yaml"
    mine.write_text("images:\n  - image: gcr.io/knative-samples/helloworld-go\n    command: [my-own-server]\n"
                    "  - image: example.com/team/model\n    command: [serve, --model]\n")
    catalog = Catalog.load(mine)
    assert catalog.launch({"image": "gcr.io/knative-samples/helloworld-go"}).argv == ["my-own-server"]
    assert catalog.launch({"image": "example.com/team/model:v3"}).argv == ["serve", "--model"]
    assert catalog.find("ghcr.io/kproof/recorder")
