"""Replicas run code their users did not write: a replica is contained like a pod's container.

A probe app (Python's http.server, run by the python image) looks around from inside a real replica
and answers what it found: its user and capabilities, whether it can reach the platform's state (the
API token, the store), the project's files, /etc/shadow, raw sockets, the API server without a token,
what the kernel lets it do (new namespaces, mounts, the keyring, bpf) and how big its scratch space is.
Others allocate past their memory limit (OOMKilled), fill an emptyDir past its sizeLimit (Evicted), and
swap the directory behind a subPath for a symlink to `/` between restarts (the host's root never shows).
"""

from __future__ import annotations

import ipaddress
import json
import shutil
from pathlib import Path

import pytest

from conformance.api.test_kubectl import kubectl
from conformance.helpers import eventually
from conformance.serving.support import containment, deploy, reference_state_dir, service
from kproof.embedded import ReferenceProcess
from kproof.target import REFERENCE, Target

PYTHON = "docker.io/library/python:3.11-slim"
ONE_REPLICA = {"autoscaling.knative.dev/min-scale": "1", "autoscaling.knative.dev/max-scale": "1"}

# Whether an address:port takes connections, for both probe apps.
REACHABLE = """
import socket

def reachable(address):
    host, _, port = address.rpartition(':')
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        return True
    except OSError:
        return False
"""

PROBE = REACHABLE + """
import http.server, json, os, urllib.request, urllib.error

def readable(path):
    try:
        with open(path, 'rb') as f:
            f.read(1)
        return True
    except OSError:
        return False

def status_field(name):
    for line in open('/proc/self/status'):
        if line.startswith(name + ':'):
            return line.split()[1]

def raw_socket():
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
        return True
    except OSError:
        return False

def writable(directory):
    try:
        with open(os.path.join(directory, '.kproof-probe'), 'w') as f:
            f.write('x')
        return True
    except OSError:
        return False

def errno_of(call):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    ctypes.set_errno(0)
    return ctypes.get_errno() if call(libc) == -1 else 0

def kernel():
    # x86-64 numbers: keyctl 250 (KEYCTL_GET_KEYRING_ID of the thread keyring), bpf 321 (BPF_MAP_CREATE)
    return {'unshare_user': errno_of(lambda c: c.unshare(0x10000000)),
            'mount': errno_of(lambda c: c.mount(b'none', b'/tmp', b'tmpfs', 0, None)),
            'keyctl': errno_of(lambda c: c.syscall(250, 0, -1, 0)),
            'bpf': errno_of(lambda c: c.syscall(321, 0, None, 0)),
            'seccomp': status_field('Seccomp'), 'no_new_privs': status_field('NoNewPrivs'),
            'host_uid_of_root': open('/proc/self/uid_map').read().split()[1:2],
            'max_user_namespaces': open('/proc/sys/user/max_user_namespaces').read().strip()}

def size(path):
    stats = os.statvfs(path)
    return stats.f_blocks * stats.f_frsize

def api_without_token(url):
    import ssl
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        return urllib.request.urlopen(url + '/api/v1/secrets', context=context, timeout=5).status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError as err:
        return str(err)

def findings():
    state, project = os.environ['STATE_DIR'], os.environ['PROJECT_DIR']
    return {'uid': os.getuid(), 'cap_eff': status_field('CapEff'), 'cap_bnd': status_field('CapBnd'),
            'state_dir_visible': os.path.exists(state),
            'token_readable': readable(os.path.join(state, 'token')),
            'store_readable': readable(os.path.join(state, 'state.db')),
            'project_readme_visible': os.path.exists(os.path.join(project, 'README.md')),
            'shadow_readable': readable('/etc/shadow'), 'raw_socket': raw_socket(),
            'usr_writable': writable('/usr'), 'etc_writable': writable('/etc'),
            'api_without_token': api_without_token(os.environ['API_URL']),
            'kafka_reachable': reachable(os.environ['KAFKA']) if os.environ.get('KAFKA') else None,
            'gid': os.getgid(), 'shadow_exists': any(os.path.exists('/etc/' + n) for n in
                                                     ('shadow', 'shadow-', 'gshadow', 'gshadow-')),
            'host_services_config': [n for n in ('postgresql', 'redis', 'ssh', 'sudoers')
                                     if os.path.exists('/etc/' + n)],
            'passwd': sorted(line.split(':')[0] for line in open('/etc/passwd')),
            'scratch': {p: size(p) for p in ('/tmp', '/run', '/dev/shm')}, **kernel()}

class Probe(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(findings()).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

http.server.HTTPServer(('', int(os.environ.get('PORT', '8080'))), Probe).serve_forever()
"""

HOG = """
import http.server, os
hog = bytearray(256 * 1024 * 1024)  # four times the limit: the kernel's OOM killer ends it
for i in range(0, len(hog), 4096):
    hog[i] = 1
http.server.HTTPServer(('', int(os.environ.get('PORT', '8080'))), http.server.BaseHTTPRequestHandler
                       ).serve_forever()
"""


@pytest.fixture
def reference_only(target: Target) -> None:
    if not target.has(REFERENCE):
        pytest.skip("what a replica can reach of the platform is the reference's own promise")


@pytest.mark.spec("SHOULD", "stable", source="kproof")
def test_a_replica_cannot_reach_the_platform_or_the_host(target: Target, namespace: str,
                                                          reference_only: None) -> None:
    state_dir = reference_state_dir(target)
    assert (state_dir / "token").exists(), "the probe looks for the platform's real token"
    project = Path(__file__).resolve().parents[2]
    env = {"STATE_DIR": str(state_dir), "PROJECT_DIR": str(project), "API_URL": target.api_url,
           "KAFKA": target.kafka_bootstrap or ""}
    network = containment(target).get("network", "")
    deploy(target, service("probe", namespace, PYTHON, env=env, annotations=ONE_REPLICA,
                           command=["python", "-c", PROBE]))
    found = target.http("probe", "/", namespace=namespace).json()
    print(f"\nfrom inside a replica: {json.dumps(found)}")
    assert found["uid"] != 0, "a replica never runs as root"
    assert int(found["cap_eff"], 16) == 0 and int(found["cap_bnd"], 16) == 0, "no capabilities, none to regain"
    assert not found["state_dir_visible"] and not found["token_readable"] and not found["store_readable"]
    assert not found["project_readme_visible"], "only the parts of the project that replicas run are there"
    assert not found["shadow_readable"] and not found["raw_socket"]
    assert not found["usr_writable"] and not found["etc_writable"]
    if network.startswith("pod"):  # a network namespace of its own: the host's loopback is not its own
        assert not isinstance(found["api_without_token"], int), "the API server is out of reach"
        assert found["kafka_reachable"] is False, "the embedded Kafka is out of reach"
    else:  # the host's network: the API server refuses it, the embedded Kafka does not (README)
        assert found["api_without_token"] in (401, 403), "the API server wants credentials the replica has not"


@pytest.mark.spec("MUST", "stable", source="knative/specs serving/runtime-contract.md#control-groups: cgroup "
                  "controllers \"MUST be selected and configured\"; Kubernetes: a container over its memory limit is "
                  "OOM-killed")
def test_a_replica_over_its_memory_limit_is_oom_killed(target: Target, namespace: str) -> None:
    if target.has(REFERENCE):
        from reference.runtime.limits import mode
        if not mode().startswith("cgroup"):
            pytest.skip(f"memory limits here are {mode()}s: an allocation past one fails instead of a kill")
    manifest = service("hog", namespace, PYTHON, annotations=ONE_REPLICA, command=["python", "-c", HOG],
                       resources={"limits": {"memory": "64Mi"}})
    target.apply(manifest)

    def oom_killed() -> dict | None:
        for pod in target.list("v1", "Pod", namespace, label_selector="serving.knative.dev/service=hog"):
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                for state in (status.get("state") or {}, status.get("lastState") or {}):
                    if (state.get("terminated") or {}).get("reason") == "OOMKilled":
                        return pod
        return None

    pod = eventually(oom_killed, 120, "the hog's container terminated with reason OOMKilled", interval=0.5)
    terminated = next(s for c in pod["status"]["containerStatuses"] if c["name"] == "user-container"
                      for s in (c.get("state") or {}, c.get("lastState") or {}) if "terminated" in s)["terminated"]
    assert terminated["exitCode"] == 137, terminated
    assert target.get("v1", "Namespace", namespace) is not None, "the platform keeps running"


@pytest.mark.spec("SHOULD", "stable", source="kproof")
def test_root_in_a_replica_is_root_of_nothing(target: Target, namespace: str, reference_only: None) -> None:
    """runAsUser 0 and runAsGroup 42 (shadow's group on Debian) give the pod's own root: an unprivileged id of
    the host through the pod's user namespace, /etc of the pod's own, the runtimes' seccomp filter, and
    /tmp, /run and /dev/shm sized by the memory limit."""
    state_dir = reference_state_dir(target)
    env = {"STATE_DIR": str(state_dir), "PROJECT_DIR": str(Path(__file__).resolve().parents[2]),
           "API_URL": target.api_url}
    manifest = service("root", namespace, PYTHON, env=env, annotations=ONE_REPLICA, command=["python", "-c", PROBE],
                       resources={"limits": {"memory": "200Mi"}})
    manifest["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"runAsUser": 0, "runAsGroup": 42}
    deploy(target, manifest)
    found = target.http("root", "/", namespace=namespace).json()
    print(f"\nroot in a replica: {json.dumps(found)}")
    assert (found["uid"], found["gid"]) == (0, 42)
    assert found["host_uid_of_root"] and found["host_uid_of_root"][0] != "0", "the pod's 0 is not the host's"
    assert int(found["cap_eff"], 16) == 0 and int(found["cap_bnd"], 16) == 0
    assert not found["shadow_exists"] and not found["shadow_readable"], "no password hashes in the pod's /etc"
    assert found["host_services_config"] == [] and "postgres" not in found["passwd"], "the pod's /etc is its own"
    assert not found["etc_writable"] and not found["usr_writable"]
    assert not found["state_dir_visible"] and not found["token_readable"]
    assert found["seccomp"] == "2" and found["no_new_privs"] == "1", "the runtimes' default filter, no_new_privs"
    eperm = 1
    assert found["mount"] == eperm and found["keyctl"] == eperm and found["bpf"] == eperm, found
    assert found["unshare_user"] != 0 and found["max_user_namespaces"] == "0", "no namespaces of its own"
    assert all(0 < size <= 200 * 1024 * 1024 for size in found["scratch"].values()), found["scratch"]


# The app swaps the directory behind its subPath for a symlink to / and exits, so that the next start
# (which must resolve the subPath again) would bind the host's root; a second container puts a directory
# back a moment later, so that the app runs again, swaps again, and so on. Every run says what it saw.
SWAPPER = """
import os, sys, time
seen = os.listdir('/data')
host_root = {'etc', 'usr', 'proc'} <= set(seen)
with open('/vol/findings', 'a') as f:
    f.write(f'run: host root visible={host_root} saw={sorted(seen)[:8]}\\n')
if os.path.isdir('/vol/data') and not os.path.islink('/vol/data'):
    os.rename('/vol/data', f'/vol/old-{time.time_ns()}')
    os.symlink('/', '/vol/data')
time.sleep(0.2)
sys.exit(1)
"""
RESTORER = """
import os, time
shown = 0
while True:
    if os.path.islink('/vol/data'):
        time.sleep(2.5)
        os.remove('/vol/data')
        os.mkdir('/vol/data')
    try:
        lines = open('/vol/findings').read().splitlines()
    except OSError:
        lines = []
    for line in lines[shown:]:
        print(line, flush=True)
    shown = len(lines)
    time.sleep(0.1)
"""


@pytest.mark.spec("SHOULD", "stable", source="Kubernetes (CVE-2017-1002101): a subPath resolves inside its volume")
def test_a_subpath_swapped_for_a_symlink_never_shows_the_host_root(target: Target, namespace: str) -> None:
    volume_mounts = [{"name": "scratch", "mountPath": "/vol"},
                     {"name": "scratch", "mountPath": "/data", "subPath": "data"}]
    target.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "swapper", "namespace": namespace},
                  "spec": {"volumes": [{"name": "scratch", "emptyDir": {}}],
                           "containers": [
                               {"name": "swapper", "image": PYTHON, "command": ["python", "-c", SWAPPER],
                                "volumeMounts": volume_mounts},
                               {"name": "restorer", "image": PYTHON, "command": ["python", "-c", RESTORER],
                                "volumeMounts": volume_mounts[:1]}]}})

    def runs() -> list[str]:
        logs = kubectl(target, "logs", "-n", namespace, "swapper", "-c", "restorer", check=False).stdout
        return [line for line in logs.splitlines() if line.startswith("run:")]

    def swapper_restarts() -> int:
        pod = target.get("v1", "Pod", "swapper", namespace) or {}
        return next((c.get("restartCount", 0) for c in (pod.get("status") or {}).get("containerStatuses") or []
                     if c["name"] == "swapper"), 0)

    eventually(lambda: len(runs()) >= 4 and swapper_restarts() >= 3, 120,
               "the app restarted three times with the directory behind its subPath swapped", interval=1)
    print(f"\nsubPath swap: {swapper_restarts()} restarts; " + " | ".join(runs()))
    assert all("host root visible=False" in line for line in runs()), runs()


EVICTED_WRITER = """
import time
with open('/scratch/fill', 'wb') as f:
    for _ in range(60):
        f.write(b'x' * 1024 * 1024)
        f.flush()
time.sleep(600)
"""


@pytest.mark.spec("SHOULD", "stable", source="Kubernetes emptyDir.sizeLimit: the kubelet evicts a Pod whose emptyDir "
                  "outgrows it")
def test_an_emptydir_past_its_size_limit_evicts_the_pod(target: Target, namespace: str) -> None:
    target.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "filler", "namespace": namespace},
                  "spec": {"volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "20Mi"}}],
                           "containers": [{"name": "filler", "image": PYTHON,
                                           "command": ["python", "-c", EVICTED_WRITER],
                                           "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}]}})

    def evicted() -> dict | None:
        status = (target.get("v1", "Pod", "filler", namespace) or {}).get("status") or {}
        return status if status.get("reason") == "Evicted" else None

    status = eventually(evicted, 90, "the pod evicted for its emptyDir", interval=1)
    assert status["phase"] == "Failed"
    assert status["message"].startswith('Usage of EmptyDir volume "scratch" exceeds the limit "20Mi".'), status


CONNECTOR = REACHABLE + """
import http.server, json, os

class Probe(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({a: reachable(a) for a in os.environ['ADDRESSES'].split(',')}).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer(('', int(os.environ.get('PORT', '8080'))), Probe).serve_forever()
"""


def _gateway_ingress(state_dir: Path) -> str | None:
    """`<gateway>:<ingress port>` of a reference whose pods have networks of their own, else None."""
    network = json.loads((state_dir / "endpoints.json").read_text())["containment"]["network"]
    subnet = next((w.rstrip(",)") for w in network.split() if w.count(".") == 3 and "/" in w), None)
    if not network.startswith("pod") or subnet is None:
        return None
    port = json.loads((state_dir / "ports.json").read_text())["ingress"]
    return f"{next(ipaddress.ip_network(subnet).hosts())}:{port}"


@pytest.mark.spec("SHOULD", "stable", source="kproof")
def test_a_replica_cannot_reach_another_platform_on_the_machine(target: Target, namespace: str, tmp_path: Path,
                                                                reference_only: None) -> None:
    own = _gateway_ingress(reference_state_dir(target))
    if own is None or shutil.which("iptables") is None:
        pytest.skip(f"pods share the host's network, or no iptables keeps platforms apart: {containment(target)}")
    other_platform = ReferenceProcess(tmp_path / "other")
    try:
        other_platform.start()
        other = _gateway_ingress(other_platform.state_dir)
        assert other is not None and other != own
        deploy(target, service("connector", namespace, PYTHON, env={"ADDRESSES": f"{own},{other}"},
                               annotations=ONE_REPLICA, command=["python", "-c", CONNECTOR]))
        found = target.http("connector", "/", namespace=namespace).json()
    finally:
        other_platform.stop()
    print(f"\nfrom a replica: {found}")
    assert found == {own: True, other: False}, "its own platform's ingress, never another's"
