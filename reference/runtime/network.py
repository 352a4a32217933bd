"""Pod networking the way CNI's bridge plugin wires it: each Pod gets a network namespace of its own, a
veth pair into a bridge of this platform, an address of the platform's /24 and a default route through
the bridge's address (the gateway).

A replica then listens on its own address, reaches the data plane's ingress at the gateway (its
HTTP proxy, so cluster-local names work), the other pods of its platform, and what on the host listens
on its gateway's address (or on all addresses). It cannot reach what listens on the host's 127.0.0.1
only: the API server, the data plane's admin port, the embedded Kafka, PostgreSQL. Where iptables is
there, the host drops what a platform's pods send to any host address but their own gateway (another
platform's gateway, the machine's own addresses) and anything routed in or out of the bridge, so two
platforms on one machine never meet. It needs root and iproute2; elsewhere replicas share the host's
network (`kproof status` says which).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import os
import shlex
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("kproof.kubelet")

NETNS_DIR = Path("/run/netns")
SUBNET_BASE = ipaddress.IPv4Network("10.88.0.0/16")  # one /24 of it per platform
TIMEOUT = 10.0


class NetworkError(RuntimeError):
    """A pod's network could not be set up; the message says which step failed."""


@dataclass(frozen=True)
class PodNetwork:
    ip: str
    netns: str


def _ip(*args: str, namespace: str | None = None) -> str:
    return _run(["ip", *(["-n", namespace] if namespace else []), *args])


def _run(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise NetworkError(f"{' '.join(command)}: {err}") from err
    if done.returncode != 0:
        raise NetworkError(f"{' '.join(command)}: {done.stderr.strip()}")
    return done.stdout


def _unprivileged_ports(netns: str) -> None:
    """Any port for anyone in the pod's namespace, as container runtimes set it: an app that listens on
    its declared port 80 needs no capability for it."""
    _run(["ip", "netns", "exec", netns, "sysctl", "-q", "-w", "net.ipv4.ip_unprivileged_port_start=0"])


def _iptables(*args: str) -> None:
    _run(["iptables", "-w", "5", *args])


def _isolation_rules(bridge: str, gateway: str) -> list[list[str]]:
    """(chain, rule...) for each rule that keeps a platform's pods to their own gateway and bridge."""
    tag = ["-m", "comment", "--comment", f"kproof:{bridge}"]
    return [["INPUT", "-i", bridge, "!", "-d", gateway, *tag, "-j", "DROP"],
            ["FORWARD", "-i", bridge, *tag, "-j", "DROP"],
            ["FORWARD", "-o", bridge, *tag, "-j", "DROP"]]


def isolation_unavailable() -> str | None:
    """Why platforms' pods cannot be kept apart here (None: iptables can)."""
    return None if shutil.which("iptables") else "no iptables"


def unavailable() -> str | None:
    """Why pods cannot have networks of their own here (None: they can)."""
    if os.environ.get("KPROOF_NETWORK", "").lower() == "host":
        return "KPROOF_NETWORK=host"
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "no iproute2"
    return None


class Bridge:
    """This platform's bridge and its pods' namespaces, named after its state directory so that two
    platforms on one machine never meet, and so that what a killed one left is found again."""

    def __init__(self, state_dir: Path) -> None:
        digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()
        self.name = f"kp{digest[:8]}"  # interface names have at most 15 characters
        self.prefix = f"kproof-{digest[:8]}-"
        self._seed = int(digest[8:12], 16)
        self.subnet: ipaddress.IPv4Network | None = None
        self._free: list[str] = []
        self.isolated = False
        self.owned = True  # made and removed by this platform (False: a cluster's bridge it attaches pods to)
        self._pods: dict[str, PodNetwork] = {}
        self._lock = threading.Lock()

    @classmethod
    def attach(cls, state_dir: Path, name: str, subnet: str) -> Bridge:
        """A cluster's existing bridge (its node's podCIDR, the gateway its first address): pods get addresses
        of it, with hairpin on their ports so a pod reaches itself through a Service; nothing keeps them
        apart, as no network policy does on a cluster, and the bridge stays when the node agent goes."""
        bridge = cls(state_dir)
        bridge.name, bridge.owned = name, False
        network = ipaddress.IPv4Network(subnet, strict=False)
        bridge.subnet = network
        bridge._free = [str(host) for host in list(network.hosts())[1:]]
        return bridge

    @property
    def gateway(self) -> str:
        assert self.subnet is not None, "start() first"
        return str(next(self.subnet.hosts()))

    def start(self) -> None:
        """Removes what a killed run left, then makes the bridge on a /24 no other network uses."""
        self.remove_leftovers()
        self.subnet = self._free_subnet()
        _ip("link", "add", self.name, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.name)
        _ip("link", "set", self.name, "up")
        self._free = [str(host) for host in list(self.subnet.hosts())[1:]]
        self.isolated = self._isolate()

    def _isolate(self) -> bool:
        """Adds the rules that keep this platform's pods to their gateway; False where iptables cannot."""
        if isolation_unavailable() is not None:
            log.warning("no iptables: pods of this platform can reach other platforms' gateways")
            return False
        try:
            for rule in _isolation_rules(self.name, self.gateway):
                _iptables("-I", *rule)
            return True
        except NetworkError as err:
            log.warning("pods are not kept from other platforms' gateways: %s", err)
            return False

    def _free_subnet(self) -> ipaddress.IPv4Network:
        used = [ipaddress.ip_network(line.split()[0], strict=False) for line in _ip("-4", "route").splitlines()
                if line and line.split()[0][0].isdigit()]
        subnets = list(SUBNET_BASE.subnets(new_prefix=24))
        for offset in range(len(subnets)):
            candidate = subnets[(self._seed + offset) % len(subnets)]
            if not any(candidate.overlaps(net) for net in used):
                return candidate
        raise NetworkError(f"no free /24 in {SUBNET_BASE}")

    def _remove_rules(self) -> None:
        """Deletes every rule tagged with this bridge (its own, or what a killed platform left)."""
        if isolation_unavailable() is not None:
            return
        with contextlib.suppress(NetworkError):
            for line in _run(["iptables-save", "-t", "filter"]).splitlines():
                words = shlex.split(line)
                if words[:1] == ["-A"] and f"kproof:{self.name}" in words:
                    with contextlib.suppress(NetworkError):
                        _iptables("-D", *words[1:])

    def remove_leftovers(self) -> None:
        """Deletes this state directory's pod namespaces, bridge and rules (what a killed platform left)."""
        self._remove_rules()
        with contextlib.suppress(OSError):
            for entry in NETNS_DIR.iterdir():
                if entry.name.startswith(self.prefix):
                    with contextlib.suppress(NetworkError):
                        _ip("netns", "delete", entry.name)
        with contextlib.suppress(NetworkError):
            _ip("link", "delete", self.name)

    def add(self, uid: str, address: str | None = None) -> PodNetwork:
        """A namespace for the pod `uid`, wired to the bridge (the same one again if it has one); `address` is
        the one the pod had (a restarted node agent keeps it: the API never lets a podIP change)."""
        with self._lock:
            if uid in self._pods:
                return self._pods[uid]
            if address is not None and address in self._free:
                self._free.remove(address)
                chosen = address
            elif not self._free:
                raise NetworkError(f"no free address in {self.subnet}")
            else:
                chosen = self._free.pop(0)
        pod = PodNetwork(chosen, self.prefix + uid[:18])
        short = hashlib.sha256(uid.encode()).hexdigest()[:8]
        host_end, pod_end = f"vh{short}", f"vp{short}"
        try:
            _ip("netns", "add", pod.netns)
            _ip("link", "add", host_end, "type", "veth", "peer", "name", pod_end)
            _ip("link", "set", pod_end, "netns", pod.netns)
            _ip("link", "set", host_end, "master", self.name, "up")
            if not self.owned:
                _ip("link", "set", host_end, "type", "bridge_slave", "hairpin", "on")
            assert self.subnet is not None
            _ip("addr", "add", f"{chosen}/{self.subnet.prefixlen}", "dev", pod_end, namespace=pod.netns)
            _ip("link", "set", pod_end, "name", "eth0", namespace=pod.netns)
            _ip("link", "set", "eth0", "up", namespace=pod.netns)
            _ip("link", "set", "lo", "up", namespace=pod.netns)
            _ip("route", "add", "default", "via", self.gateway, namespace=pod.netns)
            _unprivileged_ports(pod.netns)
        except NetworkError:
            self._release(uid, pod, host_end)
            raise
        with self._lock:
            self._pods[uid] = pod
        return pod

    def remove(self, uid: str) -> None:
        with self._lock:
            pod = self._pods.pop(uid, None)
        if pod is not None:
            self._release(uid, pod, f"vh{hashlib.sha256(uid.encode()).hexdigest()[:8]}")

    def _release(self, uid: str, pod: PodNetwork, host_end: str) -> None:
        for args in (("netns", "delete", pod.netns), ("link", "delete", host_end)):
            with contextlib.suppress(NetworkError):
                _ip(*args)  # deleting the namespace takes its end of the pair, and so the pair, with it
        with self._lock:
            if pod.ip not in self._free:
                self._free.append(pod.ip)

    def stop(self) -> None:
        for uid in list(self._pods):
            self.remove(uid)
        if not self.owned:
            return
        with contextlib.suppress(NetworkError):
            _ip("link", "delete", self.name)
        self._remove_rules()

    @staticmethod
    def wrap(argv: list[str], pod: PodNetwork) -> list[str]:
        """`argv` run inside the pod's network namespace (nsenter enters it and execs: the same process).
        Not `ip netns exec`: it also remounts /sys, which hides the cgroup mounts the sandbox binds."""
        return ["nsenter", f"--net=/run/netns/{pod.netns}", "--", *argv]
