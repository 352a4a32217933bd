import os
import signal
import sys
from pathlib import Path

import pytest

from reference.runtime import limits, sandbox, volumes
from reference.runtime.catalog import Catalog, Entry, ImageNotFound, ImageUnavailable, parse_reference
from reference.runtime.volumes import VolumeError, mounts, prepare
from reference.serving.resources.pod import make_pod
from reference.serving.revision import static_scale


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
    assert intent.argv[-2:] == ["-m", "reference.apps.intent"]
    assert intent.env == {"MODEL_DIR": "/data/models", "MODEL_IN_IMAGE": "intent"}, "seed 001's image carries its model"
    assert intent.annotations["internal.serving.kserve.io/batcher-max-batchsize"] == "BATCHER_MAX_BATCH_SIZE"
    for image, module in (("docker.io/rootfs/rgwpubsub-knative-source", "rgw_source"),
                          ("docker.io/rootfs/rgwpubsub-knative-receiver", "rgw_receiver"),
                          ("docker.io/rootfs/rgwpubsub-knative-resnet", "rgw_classifier")):
        assert catalog.launch({"image": image}).argv[-2:] == ["-m", f"reference.apps.{module}"], image
    resnet, vision = (catalog.launch({"image": f"docker.io/rootfs/rgwpubsub-knative-{name}"}).env
                      for name in ("resnet", "vision"))
    assert (resnet["DIGITS_MODEL"], vision["DIGITS_MODEL"]) == ("mlp", "linear"), "seed 003's two classifiers"
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
    argv = sandbox.command(["app"], [sandbox.Mount(Path("/v"), "/data/models", True)], "/work",
                           sandbox.Box(hostname="pod-1"))
    assert argv[:5] == ["/usr/bin/bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    pairs = [argv[i:i + 2] for i in range(len(argv) - 1)]
    assert ["--tmpfs", "/tmp"] in pairs and ["--hostname", "pod-1"] in pairs and ["--chdir", "/work"] in pairs
    assert argv[argv.index("/data/models") - 2:argv.index("/data/models") + 1] == ["--ro-bind", "/v", "/data/models"]
    inner = argv[argv.index("--") + 1:]
    assert inner[-1] == "app"
    if sandbox.seccomp_program():  # confine loads the runtimes' default filter first
        assert inner[3].endswith("confine.py") and "--seccomp" in inner
        inner = inner[inner.index("--") + 1:]
    if os.geteuid() == 0:  # dropped to nobody with no capabilities, inside the sandbox
        assert inner[1:-1] == ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                               "--bounding-set=-all", "--no-new-privs"]
    else:
        assert "--unshare-user" in argv and ["--cap-drop", "ALL"] in pairs and inner == ["app"]
    bound = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "--ro-bind"]
    assert str(sandbox.PROJECT_ROOT / "reference") in bound
    assert str(sandbox.PROJECT_ROOT) not in bound, "the project's other files (and a state dir in it) stay out"
    made = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "--dir" and argv[i - 1] == "0755"]
    for directory in bound:  # the way there is open to the replica's user (bwrap would copy /root's 0700)
        for parent in Path(directory).parents[:-1]:
            assert str(parent).startswith(("/usr", "/etc", "/opt", "/srv")) or str(parent) in made, parent
    monkeypatch.setattr(sandbox, "bubblewrap", lambda: None)
    assert sandbox.command(["app"], [], None)[-1] == "app"
    with pytest.raises(sandbox.SandboxUnavailable):
        sandbox.command(["app"], [sandbox.Mount(Path("/v"), "/data", False)], None)


def test_volume_paths_stay_inside_their_volume(tmp_path: Path) -> None:
    volume = tmp_path / "v"
    volume.mkdir()
    assert volumes.inside(volume, "a/b") == volume / "a" / "b"
    for escape in ("../../..", "/", "/etc", "a/../../x"):
        with pytest.raises(volumes.VolumeError, match="leaves its volume"):
            volumes.inside(volume, escape)
    (volume / "link").symlink_to("/")
    with pytest.raises(volumes.VolumeError):
        volumes.inside(volume, "link/etc")


def test_limits_come_from_resources_limits() -> None:
    container = {"resources": {"limits": {"memory": "64Mi", "cpu": "250m"}}}
    assert limits.limits_of(container) == limits.Limits(memory_bytes=64 * 1024 * 1024, cpu_millis=250,
                                                        cpu_request_millis=250)  # the request defaults to the limit
    assert limits.limits_of({}) == limits.Limits()
    assert limits.limits_of({"resources": {"limits": {"memory": "lots"}}}).memory_bytes is None


def test_cpu_shares_and_weight_follow_the_request_as_the_kubelet_converts_them() -> None:
    requested = limits.limits_of({"resources": {"requests": {"cpu": "125m"}, "limits": {"cpu": "1"}}})
    assert (requested.cpu_request_millis, requested.cpu_shares, requested.cpu_weight) == (125, 128, 5)
    assert limits.Limits().cpu_shares == 2 and limits.Limits().cpu_weight == 1


def test_a_cgroup_wraps_the_command_and_counts_oom_kills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "CGROUP_ROOT", tmp_path)
    for controller in limits.V1_CONTROLLERS:
        (tmp_path / controller).mkdir()
    group = limits.Cgroup("pod-c", limits.Limits(memory_bytes=1024, cpu_millis=500), "cgroup v1")
    group.create()
    memory = tmp_path / "memory" / "kproof" / "pod-c"
    assert (memory / "memory.limit_in_bytes").read_text() == "1024"
    assert (tmp_path / "cpu" / "kproof" / "pod-c" / "cpu.cfs_quota_us").read_text() == "50000"
    assert (tmp_path / "cpu" / "kproof" / "pod-c" / "cpu.shares").read_text() == "2"  # nothing requested
    assert (tmp_path / "pids" / "kproof" / "pod-c" / "pids.max").read_text() == str(limits.MAX_PROCESSES)
    argv = group.wrap(["app", "x"])
    assert argv[0] == "/bin/sh" and argv[-3:] == ["--", "app", "x"] and str(memory / "cgroup.procs") in argv
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert group.oom_kills() == 2
    assert limits.Cgroup("r", limits.Limits(memory_bytes=1024), "rlimit").wrap(["app"])[-2:] == ["--", "app"]


def test_the_platform_caps_replicas(monkeypatch: pytest.MonkeyPatch) -> None:
    from reference.serving import revision
    monkeypatch.setenv(revision.MAX_REPLICAS_ENV, "7")
    assert revision.max_replicas() == 7
    monkeypatch.setenv(revision.MAX_REPLICAS_ENV, "lots")
    assert revision.max_replicas() == revision.DEFAULT_MAX_REPLICAS


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
    pod = make_pod(_revision(), 45678)
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
    digest = pod["metadata"]["labels"]["pod-template-hash"]
    assert pod["metadata"]["generateName"] == f"hello-00001-deployment-{digest}-", "the API server completes it"


@pytest.mark.parametrize(("annotations", "labels", "config", "replicas"), [
    ({}, {}, {"initial-scale": "1"}, 1),
    ({"autoscaling.knative.dev/initial-scale": "5"}, {}, {}, 5),
    ({"autoscaling.knative.dev/min-scale": "3"}, {}, {"initial-scale": "1"}, 3),
    ({"autoscaling.knative.dev/min-scale": "3", "autoscaling.knative.dev/max-scale": "2"}, {}, {}, 2),
    # an initial scale of 0 only where config-autoscaler allows it, as the KPA reads it
    ({"autoscaling.knative.dev/initial-scale": "0"}, {}, {}, 1),
    ({"autoscaling.knative.dev/initial-scale": "0"}, {}, {"allow-zero-initial-scale": "true"}, 0),
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


def test_the_declared_port_is_the_user_containers_first_container_port() -> None:
    from reference.apis.objects import declared_port
    assert declared_port(_revision()) == 8080
    revision = _revision()
    revision["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    assert declared_port(revision) == 80
    revision["spec"]["containers"][0].pop("ports")
    assert declared_port(revision) == 8080, "Knative's default"


def test_a_pid_is_signalled_only_while_it_is_still_the_container_s_process() -> None:
    import subprocess

    from reference.runtime.sandbox import signal_app, start_ticks

    child = subprocess.Popen(["sleep", "30"])
    try:
        started = start_ticks(child.pid)
        assert started is not None
        signal_app(child.pid, signal.SIGTERM, started + 1)  # another process that got the pid: left alone
        assert child.poll() is None
        signal_app(child.pid, signal.SIGTERM, started)
        assert child.wait(10) == -signal.SIGTERM
    finally:
        child.kill()
        child.wait()
