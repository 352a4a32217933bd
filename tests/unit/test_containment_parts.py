"""The parts that contain a replica, below the conformance tests: the subPath walk and its staging, the
seccomp filter and the pod's user namespace (run for real where the machine allows), the bounded log,
the pod's own /etc, and a namespace's LimitRanges and ResourceQuotas at admission."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reference.apiserver import errors
from reference.apiserver.admission.podspec import value_from_error
from reference.apiserver.bootstrap import bootstrap
from reference.apiserver.kinds import Kind
from reference.apiserver.registry import Registry
from reference.apiserver.selectors import SelectorError, field_selector, label_selector
from reference.apiserver.store import Store
from reference.core.resourcequota import quota_status
from reference.runtime import etc, sandbox, subpath
from reference.runtime.container import BoundedLog
from reference.runtime.seccomp import default_profile

ROOT = os.geteuid() == 0
EPERM = 1


# subPath --------------------------------------------------------------------------------------------

def test_a_subpath_is_opened_without_following_symlinks(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    fd = subpath.open_beneath(str(volume), "a/b")
    os.close(fd)
    assert (volume / "a" / "b").is_dir() and (volume / "a" / "b").stat().st_mode & 0o777 == 0o777
    (volume / "file").write_text("x")
    os.close(subpath.open_beneath(str(volume), "file"))  # a file at the end: mounted as a file
    (volume / "link").symlink_to("/")
    (volume / "a" / "inner").symlink_to(volume / "a" / "b")
    for escape, why in (("link", "symlink"), ("link/etc", "symlink"), ("a/inner", "symlink"),
                        ("file/x", "not a directory"), ("../x", "leaves its volume"), ("/etc", "leaves")):
        with pytest.raises(subpath.SubPathError, match=why):
            subpath.open_beneath(str(volume), escape)
    assert not (Path("/") / "etc").stat().st_mode & 0o002, "nothing was made or changed through a link"


@pytest.mark.skipif(not ROOT, reason="staging binds in a mount namespace of its own: root only")
def test_the_staged_subpath_is_the_inode_that_was_opened(tmp_path: Path) -> None:
    volume, staging = tmp_path / "volume", tmp_path / "staging" / "c-0"
    (volume / "data").mkdir(parents=True)
    (volume / "data" / "mine").write_text("the pod's own")
    helper = [sys.executable, "-I", "-S", str(sandbox.SUBPATH), str(volume), "data", str(staging), "--"]
    shown = subprocess.run([*helper, "/bin/ls", str(staging)], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and shown.stdout.split() == ["mine"], shown.stderr
    assert not os.path.ismount(staging), "the bind lives and dies in the start's own mount namespace"
    shutil.rmtree(volume / "data")
    (volume / "data").symlink_to("/")
    refused = subprocess.run([*helper, "/bin/ls", str(staging)], capture_output=True, text=True, timeout=30)
    assert refused.returncode == subpath.EXIT_SUBPATH_FAILED and "symlink" in refused.stderr


# The filter and the user namespace --------------------------------------------------------------------

PROBE = """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
def errno_of(result):
    return ctypes.get_errno() if result == -1 else 0
print(json.dumps({'unshare': errno_of(libc.unshare(0x10000000)), 'keyctl': errno_of(libc.syscall(250, 0, -1, 0)),
                  'mount': errno_of(libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)),
                  'uid_map': open('/proc/self/uid_map').read().split()}))
"""


def test_the_filter_refuses_what_the_runtimes_default_profile_refuses() -> None:
    program = default_profile()
    assert len(program) % 8 == 0 and len(program) > 8 * 50
    argv = [sys.executable, "-I", "-S", str(sandbox.CONFINE), "--seccomp", sandbox.seccomp_program() or "", "--",
            sys.executable, "-c", PROBE]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    found = json.loads(done.stdout)
    assert (found["unshare"], found["keyctl"], found["mount"]) == (EPERM, EPERM, EPERM), found
    assert subprocess.run([sys.executable, "-c", "print(1)"], capture_output=True).returncode == 0


@pytest.mark.skipif(not ROOT, reason="mapping a range of host ids is a root platform's")
def test_confine_maps_the_pod_into_an_unprivileged_range_of_the_host() -> None:
    base = 1 << 20
    # /bin/sh: the pod's root owns nothing of the host, Python under /root (0700) included
    argv = [sys.executable, "-I", "-S", str(sandbox.CONFINE), "--ids", str(base), "--", "/bin/sh", "-c",
            "id -u; cat /proc/self/uid_map; cat /proc/sys/user/max_user_namespaces; cat /etc/shadow"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    uid, mapping, limit = done.stdout.splitlines()[:3]
    assert uid == "0" and mapping.split() == ["0", str(base), "65536"] and limit == "0", done.stdout + done.stderr
    assert "Permission denied" in done.stderr, "the pod's root cannot read the host's password hashes"


def test_id_ranges_are_per_platform_and_above_the_hosts_users(tmp_path: Path) -> None:
    first, second = sandbox.id_range(tmp_path / "a"), sandbox.id_range(tmp_path / "b")
    assert first == sandbox.id_range(tmp_path / "a") and first >= 1 << 20 and first % sandbox.ID_COUNT == 0
    assert first != second or tmp_path  # a hash: equal only by a 1-in-4096 chance


# The log and /etc -------------------------------------------------------------------------------------

def test_a_log_written_fast_stays_within_its_bound(tmp_path: Path) -> None:
    log = BoundedLog(tmp_path / "c.log", max_bytes=1024 * 1024)
    chunk = b"y" * 65536 + b"\n"
    for _ in range(3200):  # 200 MiB, as fast as it can be written
        log.write(chunk)
    log.close()
    assert (tmp_path / "c.log").stat().st_size <= 1024 * 1024
    assert (tmp_path / "c.log.1").stat().st_size <= 1024 * 1024
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.log", "c.log.1"], "one rotated file is kept"


def test_the_pods_etc_names_its_users_and_nothing_of_the_hosts(tmp_path: Path) -> None:
    own = etc.write(tmp_path / "etc", "pod-1", "10.88.0.7", [(1001, 2000), (None, None)])
    assert (own / "passwd").read_text().splitlines()[2] == "user1001:x:1001:2000::/tmp:/bin/sh"
    assert "10.88.0.7\tpod-1" in (own / "hosts").read_text()
    argv = sandbox.command(["app"], [], None, sandbox.Box(etc=own)) if sandbox.bubblewrap() else []
    for host_file in ("/etc/shadow", "/etc/passwd", "/etc/postgresql", "/etc/sudoers"):
        assert host_file not in [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "--ro-bind"]


# Admission: LimitRange and ResourceQuota ----------------------------------------------------------------

def _registry(*objects: dict) -> tuple[Registry, Kind]:
    """A registry holding `objects` (a "status" in one is written after it), and the Pod kind."""
    registry = Registry(Store())
    bootstrap(registry)
    for namespace in ("ns", "elsewhere"):
        registry.create(registry.kinds.by_path("", "v1", "namespaces"), "", {"metadata": {"name": namespace}})
    for obj in objects:
        kind = registry.kinds.by_kind(obj.get("apiVersion", "v1"), obj["kind"])
        created = registry.create(kind, obj["metadata"]["namespace"], {k: v for k, v in obj.items() if k != "status"})
        if "status" in obj:
            registry.update(kind, obj["metadata"]["namespace"], obj["metadata"]["name"],
                            {**created, "status": obj["status"]}, subresource="status")
    return registry, registry.kinds.by_path("", "v1", "pods")


def _pod(name: str, cpu: str | None = None, namespace: str = "ns") -> dict:
    resources = {"requests": {"cpu": cpu}} if cpu else {}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "app", "image": "x", "resources": resources}]}}


def test_a_limit_range_fills_defaults_and_refuses_past_its_max() -> None:
    limit_range = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr", "namespace": "ns"},
                   "spec": {"limits": [{"type": "Container", "default": {"memory": "128Mi"},
                                        "defaultRequest": {"cpu": "100m"}, "max": {"memory": "1Gi"}}]}}
    registry, pods = _registry(limit_range)
    pod = registry.create(pods, "ns", _pod("p"))
    assert pod["spec"]["containers"][0]["resources"] == {"limits": {"memory": "128Mi"},
                                                        "requests": {"cpu": "100m", "memory": "128Mi"}}
    big = _pod("big")
    big["spec"]["containers"][0]["resources"] = {"limits": {"memory": "2Gi"}}
    with pytest.raises(errors.ApiError) as refused:
        registry.create(pods, "ns", big)
    assert refused.value.code == 403
    assert refused.value.message == ('pods "big" is forbidden: maximum memory usage per Container is 1Gi, '
                                     'but limit is 2Gi')


def test_a_resource_quota_refuses_the_pod_past_it_with_kubernetes_message() -> None:
    hard = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "compute", "namespace": "ns"},
            "spec": {"hard": {"pods": "2", "requests.cpu": "1"}}}
    running = [_pod("a", "400m"), _pod("b", "400m"), {**_pod("gone", "400m"), "status": {"phase": "Failed"}}]
    registry, pods = _registry(running[1], running[2], hard)
    registry.create(pods, "ns", _pod("c", "500m"))  # one pod, 400m used: room for 500m
    registry, pods = _registry(*running, hard)
    with pytest.raises(errors.ApiError) as refused:
        registry.create(pods, "ns", _pod("c", "500m"))
    assert refused.value.code == 403
    assert refused.value.message == ('pods "c" is forbidden: exceeded quota: compute, requested: pods=1,'
                                     'requests.cpu=500m, used: pods=2,requests.cpu=800m, '
                                     'limited: pods=2,requests.cpu=1')
    registry, pods = _registry(running[1], hard)
    with pytest.raises(errors.ApiError, match=r"failed quota: compute: must specify requests\.cpu for: app"):
        registry.create(pods, "ns", _pod("d"))
    registry, pods = _registry(hard, *(_pod(str(i), "1", namespace="elsewhere") for i in range(5)))
    registry.create(pods, "ns", _pod("e", "1"))  # another namespace's pods count against its own quotas only
    assert quota_status(hard, running) == {"hard": {"pods": "2", "requests.cpu": "1"},
                                           "used": {"pods": "2", "requests.cpu": "800m"}}


# Input the API server refuses ----------------------------------------------------------------------------

def test_selectors_refuse_what_kubernetes_refuses() -> None:
    for bad in ("a=(", "a in (x,(y)", "-a=b", "a=b c"):
        with pytest.raises(SelectorError):
            label_selector(bad)
    assert label_selector("app=x,tier in (a,b),!canary") is not None
    for bad, plural in (("bogus", "pods"), ("bogus=x", "pods"), ("spec.nodeName=x", "configmaps"),
                        ("status.phase=Running", "")):
        with pytest.raises(SelectorError):
            field_selector(bad, plural)
    assert field_selector("spec.nodeName=n,status.phase!=Failed", "pods") is not None
    assert field_selector("involvedObject.name=p,involvedObject.uid=u", "events") is not None


def test_value_from_names_exactly_one_source() -> None:
    assert str(value_from_error({})) .startswith("expected exactly one, got neither")
    assert "expected exactly one, got both" in str(value_from_error({"fieldRef": {}, "secretKeyRef": {}}))
    assert value_from_error({"fieldRef": {"fieldPath": "metadata.name"}}) is None
