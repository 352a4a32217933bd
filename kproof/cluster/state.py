"""The cluster's fixed addresses and its state directory's files.

State directory (default .kproof-cluster, 0700; what is written there is 0600):
  kubeconfig          the admin's (kubectl); *.kubeconfig: one per component, the node's and the ingress's
  pki/                the cluster CA, the front-proxy CA, every certificate and key, the service-account keys
  etcd/               the cluster's data (a new cluster on every `up`)
  images.yaml         the image catalog the node agent runs Knative's ko:// images from
  knative/            the install YAML as applied
  cluster.json        where the running cluster listens (removed on a clean stop)
  progress.jsonl      what `up` is doing, step by step (the display reads it)
  host.json           the host settings `up` changed, to restore on `down`
  processes/          every process the supervisor started (reference/host/processes.py)
  logs/               one log per component, and the builds'
  node/, ingress/     the node agent's and the ingress's own state
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

NODE_NAME = "kproof-node"
CLUSTER_DOMAIN = "cluster.local"
SERVICE_CIDR = "10.96.0.0/12"
KUBERNETES_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
# The pods' network: the first of these no route of this machine overlaps. It is the whole cluster CIDR and
# the node's podCIDR at once (--node-cidr-mask-size 24), so it is known before the Node registers.
POD_CIDRS = tuple(f"10.{second}.{third}.0/24" for second in (244, 245, 246) for third in (0, 64, 128, 192))
INGRESS_CLASS = "kproof.ingress.networking.knative.dev"
DOMAIN = "example.com"  # kproof's default domain (the reference's too)
SYSTEM_NAMESPACE = "kproof-system"  # the ingress publishes its Services here (kproof-ingress, -internal)
INGRESS_USER = "kproof-ingress"
COREDNS_USER = "kproof:coredns"

# Fixed ports: one cluster per machine. `up` checks each is free before it starts anything.
API_PORT = 6443  # every address (pods reach it at the gateway); a host rule keeps others out
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
ETCD_METRICS_PORT = 2381
CONTROLLER_MANAGER_PORT = 10257
SCHEDULER_PORT = 10259
PROXY_HEALTH_PORT = 10256
PROXY_METRICS_PORT = 10249
COREDNS_HEALTH_PORT = 10281
COREDNS_READY_PORT = 10282
KUBELET_PORT = 10250  # the node agent's kubelet endpoint, on the gateway
INGRESS_PORT = 10080  # the ingress's public listener, on the gateway
INGRESS_PRIVATE_PORT = 10081  # its cluster-local listener, on the gateway
INGRESS_ADMIN_PORT = 10082  # its /healthz and /metrics, on 127.0.0.1
# checked on every address: the gateway is new, but a listener on 0.0.0.0 would take these there too
GATEWAY_PORTS = (API_PORT, KUBELET_PORT, INGRESS_PORT, INGRESS_PRIVATE_PORT)
LOCAL_PORTS = (ETCD_CLIENT_PORT, ETCD_PEER_PORT, ETCD_METRICS_PORT, CONTROLLER_MANAGER_PORT, SCHEDULER_PORT,
               PROXY_HEALTH_PORT, PROXY_METRICS_PORT, COREDNS_HEALTH_PORT, COREDNS_READY_PORT, INGRESS_ADMIN_PORT)

DEFAULT_STATE_DIR = Path(".kproof-cluster")


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def component_kubeconfig(self, name: str) -> Path:
        return self.root / f"{name}.kubeconfig"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def etcd(self) -> Path:
        return self.root / "etcd"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    @property
    def catalog(self) -> Path:
        return self.root / "images.yaml"

    @property
    def knative(self) -> Path:
        return self.root / "knative"

    @property
    def cluster_json(self) -> Path:
        return self.root / "cluster.json"

    @property
    def progress(self) -> Path:
        return self.root / "progress.jsonl"

    @property
    def host_json(self) -> Path:
        return self.root / "host.json"

    @property
    def node(self) -> Path:
        return self.root / "node"

    @property
    def ingress(self) -> Path:
        return self.root / "ingress"


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
