"""Each process of the cluster: its command line, its configuration files and how to tell it is healthy.

The node agent's and the ingress's command lines are here too (node_agent_command, ingress_command), the one
place that knows them: kproof's runtime registers the Node and runs its Pods (`python -m reference.node`),
kproof's data plane implements KIngress (`python -m reference.dataplane --kubeconfig ...`).
KPROOF_CLUSTER_NODE_AGENT and KPROOF_CLUSTER_INGRESS replace the program (not the flags) with another.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import shlex
import socket
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3
import yaml

from kproof.cluster.build import BuildCache
from kproof.cluster.kube import Admin
from kproof.cluster.state import (
    API_PORT,
    CLUSTER_DOMAIN,
    CONTROLLER_MANAGER_PORT,
    COREDNS_HEALTH_PORT,
    COREDNS_READY_PORT,
    DNS_SERVICE_IP,
    ETCD_CLIENT_PORT,
    ETCD_METRICS_PORT,
    ETCD_PEER_PORT,
    INGRESS_ADMIN_PORT,
    INGRESS_CLASS,
    INGRESS_PORT,
    INGRESS_PRIVATE_PORT,
    KUBELET_PORT,
    KUBERNETES_SERVICE_IP,
    NODE_NAME,
    PROXY_HEALTH_PORT,
    PROXY_METRICS_PORT,
    SCHEDULER_PORT,
    SERVICE_CIDR,
    SYSTEM_NAMESPACE,
    Layout,
)
from kproof.cluster.versions import COREDNS, ETCD, KUBERNETES

NODE_AGENT_ENV = "KPROOF_CLUSTER_NODE_AGENT"
INGRESS_ENV = "KPROOF_CLUSTER_INGRESS"
NODE_AGENT_MODULE = "reference.node"
INGRESS_MODULE = "reference.dataplane"


@dataclass
class Component:
    name: str
    argv: list[str]
    check: Callable[[], str | None]  # None when healthy, else what is wrong
    ready_within: float = 60.0
    stop_within: float = 10.0
    environment: dict[str, str] | None = None


def _http(url: str, verify: bool | str = True, cert: tuple[str, str] | None = None) -> str | None:
    try:
        with warnings.catch_warnings():  # kcm's and the scheduler's serving certificates are their own
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            response = requests.get(url, timeout=3, verify=verify, cert=cert)
    except requests.RequestException as err:
        return f"no answer: {type(err).__name__}"
    return None if response.status_code == 200 else f"{response.status_code} {response.text.strip()[:200]}"


class Components:
    def __init__(self, layout: Layout, cache: BuildCache, cidr: ipaddress.IPv4Network, gateway: str,
                 bridge: str) -> None:
        self.layout = layout
        self.cache = cache
        self.cidr = cidr
        self.gateway = gateway
        self.bridge = bridge
        self.admin = Admin(layout)
        self.pki = layout.pki

    def _pki(self, name: str) -> str:
        return str(self.pki / name)

    def _kube(self, name: str) -> str:
        return str(self.cache.binary(KUBERNETES, name))

    def etcd(self) -> Component:
        client, peer = f"http://127.0.0.1:{ETCD_CLIENT_PORT}", f"http://127.0.0.1:{ETCD_PEER_PORT}"
        argv = [str(self.cache.binary(ETCD, "etcd")), "--name=kproof", f"--data-dir={self.layout.etcd}",
                f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=kproof={peer}", f"--listen-metrics-urls=http://127.0.0.1:{ETCD_METRICS_PORT}",
                "--auto-compaction-mode=periodic", "--auto-compaction-retention=1h",
                "--quota-backend-bytes=2147483648",
                "--unsafe-no-fsync=true",  # a throw-away cluster: speed over durability
                "--log-level=warn"]
        return Component("etcd", argv, lambda: _http(f"http://127.0.0.1:{ETCD_METRICS_PORT}/health"), 30)

    def apiserver(self) -> Component:
        p = self._pki
        argv = [self._kube("kube-apiserver"),
                # every address, so that pods reach it at the gateway (the `kubernetes` Service's endpoint);
                # a host rule (network.py) keeps out all but the host and the pods
                "--bind-address=0.0.0.0", f"--advertise-address={self.gateway}", f"--secure-port={API_PORT}",
                f"--etcd-servers=http://127.0.0.1:{ETCD_CLIENT_PORT}",
                f"--tls-cert-file={p('apiserver.crt')}", f"--tls-private-key-file={p('apiserver.key')}",
                f"--client-ca-file={p('ca.crt')}",
                f"--service-account-issuer=https://kubernetes.default.svc.{CLUSTER_DOMAIN}",
                f"--service-account-key-file={p('sa.pub')}", f"--service-account-signing-key-file={p('sa.key')}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC", "--allow-privileged=true",
                "--enable-admission-plugins=NodeRestriction",
                f"--requestheader-client-ca-file={p('front-proxy-ca.crt')}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={p('front-proxy-client.crt')}",
                f"--proxy-client-key-file={p('front-proxy-client.key')}",
                f"--kubelet-client-certificate={p('apiserver-kubelet-client.crt')}",
                f"--kubelet-client-key={p('apiserver-kubelet-client.key')}",
                # the node agent's kubelet endpoint (kubectl logs): at its InternalIP, its certificate ours
                f"--kubelet-certificate-authority={p('ca.crt')}", "--kubelet-preferred-address-types=InternalIP",
                # admission webhooks are dialled at their pods' addresses, with or without kube-proxy
                "--enable-aggregator-routing=true",
                "--profiling=false", "--v=1"]
        cert = (p("admin.crt"), p("admin.key"))
        return Component("kube-apiserver", argv,
                         lambda: _http(f"https://127.0.0.1:{API_PORT}/readyz", p("ca.crt"), cert), 90, 15)

    def controller_manager(self) -> Component:
        p, kubeconfig = self._pki, str(self.layout.component_kubeconfig("controller-manager"))
        argv = [self._kube("kube-controller-manager"), f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1", f"--secure-port={CONTROLLER_MANAGER_PORT}", "--leader-elect=false",
                "--use-service-account-credentials=true", f"--service-account-private-key-file={p('sa.key')}",
                f"--root-ca-file={p('ca.crt')}", f"--cluster-signing-cert-file={p('ca.crt')}",
                f"--cluster-signing-key-file={p('ca.key')}", f"--service-cluster-ip-range={SERVICE_CIDR}",
                # the pod network is the one node's podCIDR: known before the node registers
                f"--cluster-cidr={self.cidr}", "--allocate-node-cidrs=true",
                f"--node-cidr-mask-size={self.cidr.prefixlen}",
                "--controllers=*,bootstrapsigner,tokencleaner", "--profiling=false", "--v=1"]
        return Component("kube-controller-manager", argv,
                         lambda: _http(f"https://127.0.0.1:{CONTROLLER_MANAGER_PORT}/healthz", False))

    def scheduler(self) -> Component:
        kubeconfig = str(self.layout.component_kubeconfig("scheduler"))
        argv = [self._kube("kube-scheduler"), f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1", f"--secure-port={SCHEDULER_PORT}", "--leader-elect=false",
                "--profiling=false", "--v=1"]
        return Component("kube-scheduler", argv,
                         lambda: _http(f"https://127.0.0.1:{SCHEDULER_PORT}/healthz", False))

    def write_configs(self) -> None:
        """CoreDNS's Corefile and kube-proxy's configuration file."""
        self.corefile.parent.mkdir(exist_ok=True)
        self.corefile.write_text(f""".:53 {{
    bind {self.gateway}
    errors
    health 127.0.0.1:{COREDNS_HEALTH_PORT}
    ready 127.0.0.1:{COREDNS_READY_PORT}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {self.layout.component_kubeconfig("coredns")} kproof-cluster
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    forward . /etc/resolv.conf
    cache 30
    loop
}}
""")
        self.proxy_config.write_text(yaml.safe_dump({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.layout.component_kubeconfig("kube-proxy"))},
            "hostnameOverride": NODE_NAME, "mode": "iptables", "clusterCIDR": str(self.cidr),
            "bindAddress": "127.0.0.1", "healthzBindAddress": f"127.0.0.1:{PROXY_HEALTH_PORT}",
            "metricsBindAddress": f"127.0.0.1:{PROXY_METRICS_PORT}",
            "nodePortAddresses": [f"{self.gateway}/32"],
            # zeros: kube-proxy leaves the host's conntrack sysctls alone
            "conntrack": {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
            # no localhost NodePorts: no route_localnet sysctl
            "iptables": {"masqueradeAll": False, "localhostNodePorts": False}}))

    @property
    def corefile(self) -> Path:
        return self.layout.root / "coredns" / "Corefile"

    @property
    def proxy_config(self) -> Path:
        return self.layout.root / "kube-proxy.yaml"

    def coredns(self) -> Component:
        argv = [str(self.cache.binary(COREDNS, "coredns")), "-conf", str(self.corefile)]
        return Component("coredns", argv, lambda: _http(f"http://127.0.0.1:{COREDNS_READY_PORT}/ready"), 30)

    def kube_proxy(self) -> Component:
        argv = [self._kube("kube-proxy"), f"--config={self.proxy_config}", "--v=1"]
        return Component("kube-proxy", argv, lambda: _http(f"http://127.0.0.1:{PROXY_HEALTH_PORT}/livez"), 30)

    def checks(self) -> dict[str, Callable[[], str | None]]:
        """Each component's health check by name (for `status`), without starting anything."""
        found: dict[str, Callable[[], str | None]] = {
            c.name: c.check for c in (self.etcd(), self.apiserver(), self.controller_manager(), self.scheduler(),
                                      self.coredns(), self.kube_proxy())}
        found["node-agent"] = self._node_ready
        found["ingress"] = self._ingress_healthy
        return found

    def node_agent(self) -> Component | None:
        argv = node_agent_command(self.layout, self.bridge, self.cidr, self.gateway)
        if argv is None:
            return None
        return Component("node-agent", argv, self._node_ready, 60, 40)

    def node_registered(self) -> str | None:
        code, _ = self.admin.get(f"/api/v1/nodes/{NODE_NAME}")
        return None if code == 200 else f"Node {NODE_NAME} not registered ({code or 'no answer'})"

    def _node_ready(self) -> str | None:
        code, node = self.admin.get(f"/api/v1/nodes/{NODE_NAME}")
        if code != 200:
            return f"Node {NODE_NAME}: {code or 'no answer'}"
        for condition in (node.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "Ready":
                return None if condition.get("status") == "True" else \
                    f"Node {NODE_NAME} Ready={condition.get('status')}: {condition.get('message', '')}"
        return f"Node {NODE_NAME} reports no Ready condition"

    def ingress(self) -> Component | None:
        argv = ingress_command(self.layout, self.gateway)
        if argv is None:
            return None
        return Component("ingress", argv, self._ingress_healthy, 30)

    @staticmethod
    def _ingress_healthy() -> str | None:
        return _http(f"http://127.0.0.1:{INGRESS_ADMIN_PORT}/healthz")


def _program(environment: str, module: str, accepts: str | None = None) -> list[str] | None:
    """The program to run: $environment's command, else `python -m module` where that module exists (and,
    with `accepts`, its --help names that flag)."""
    if os.environ.get(environment):
        return shlex.split(os.environ[environment])
    if importlib.util.find_spec(module) is None:
        return None
    program = [sys.executable, "-m", module]
    if accepts is not None:
        try:
            helped = subprocess.run([*program, "--help"], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        if accepts not in helped:
            return None
    return program


def node_agent_command(layout: Layout, bridge: str, cidr: ipaddress.IPv4Network, gateway: str) -> list[str] | None:
    """The node agent's command line, None while there is none: it registers Node kproof-node as
    system:node:kproof-node, runs the Pods bound to it, each in a network namespace on `bridge`, and
    serves the kubelet endpoint (logs) on the gateway with a certificate of the cluster's CA."""
    program = _program(NODE_AGENT_ENV, NODE_AGENT_MODULE)
    if program is None:
        return None
    pki = layout.pki
    return [*program, "--kubeconfig", str(layout.component_kubeconfig("node")), "--node-name", NODE_NAME,
            "--node-ip", gateway, "--state-dir", str(layout.node), "--images", str(layout.catalog),
            "--bridge", bridge, "--pod-cidr", str(cidr), "--cluster-dns", DNS_SERVICE_IP,
            "--cluster-domain", CLUSTER_DOMAIN, "--kubernetes-service", KUBERNETES_SERVICE_IP,
            "--serving-cert", str(pki / "kubelet.crt"), "--serving-key", str(pki / "kubelet.key"),
            "--client-ca", str(pki / "ca.crt"), "--port", str(KUBELET_PORT)]


def ingress_command(layout: Layout, gateway: str) -> list[str] | None:
    """The KIngress implementation's command line, None while kproof's data plane has no such mode: it
    serves the Ingresses of class kproof.ingress.networking.knative.dev on the gateway and publishes the
    Services that front it (kproof-system/kproof-ingress and kproof-ingress-internal) at that address."""
    program = _program(INGRESS_ENV, INGRESS_MODULE, accepts="--kingress-class")
    if program is None:
        return None
    return [*program, "--kubeconfig", str(layout.component_kubeconfig("ingress")), "--kingress-class", INGRESS_CLASS,
            "--listen", f"{gateway}:{INGRESS_PORT}", "--private-listen", f"{gateway}:{INGRESS_PRIVATE_PORT}",
            "--admin-listen", f"127.0.0.1:{INGRESS_ADMIN_PORT}", "--publish-address", gateway,
            "--service-namespace", SYSTEM_NAMESPACE, "--cluster-domain", CLUSTER_DOMAIN,
            "--state-dir", str(layout.ingress)]


def port_problems(gateway_ports: tuple[int, ...], local_ports: tuple[int, ...]) -> list[str]:
    """The ports the cluster needs that something else holds."""
    problems = []
    for host, ports in (("0.0.0.0", gateway_ports), ("127.0.0.1", local_ports)):
        for port in ports:
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((host, port))
                except OSError:
                    problems.append(f"port {port} on {host} is in use")
    return problems

