"""Replicas run code their users did not write: a replica is contained like a pod's container.

A probe app (Python's http.server, run by the python image) looks around from inside a real replica
and answers what it found: its user and capabilities, whether it can reach the platform's state (the
API token, the store), the project's files, /etc/shadow, raw sockets, and the API server without a
token. A second Service allocates past its memory limit and must be reported as OOMKilled.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.helpers import eventually
from conformance.serving.support import containment, deploy, reference_state_dir, service
from kproof.target import REFERENCE, Target

PYTHON = "docker.io/library/python:3.11-slim"
ONE_REPLICA = {"autoscaling.knative.dev/min-scale": "1", "autoscaling.knative.dev/max-scale": "1"}

PROBE = """
import http.server, json, os, socket, urllib.request, urllib.error

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

def reachable(address):
    host, _, port = address.rpartition(':')
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        return True
    except OSError:
        return False

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
            'kafka_reachable': reachable(os.environ['KAFKA']) if os.environ.get('KAFKA') else None}

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
