"""The host side of the cluster's network: one bridge for the pods (named after the state directory, so a
killed cluster's is found again), forwarding while the cluster runs, and a few iptables rules, each tagged
with a comment naming the bridge so that `down` deletes exactly those.

The node agent puts each pod in a network namespace with a veth on the bridge (hairpin on, per veth);
kube-proxy (iptables mode) DNATs ClusterIPs; CoreDNS and the API server listen on the bridge's address,
the gateway. What `down` removes: the namespaces whose veths hang on the bridge (and their processes),
the veths, the bridge, the tagged rules, kube-proxy's chains and the nftables chains and tables that
were not there before `up`; then it restores the sysctls `up` changed (host.json).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import shlex
import signal
import socket
import subprocess
from pathlib import Path

from kproof.cluster.state import API_PORT, POD_CIDRS, PROXY_HEALTH_PORT, Layout, read_json
from reference.host.processes import write_private

log = logging.getLogger("kproof.cluster")

TIMEOUT = 20.0
NETNS_CONFIG = Path("/etc/netns")
SYSCTLS = {"ip_forward": Path("/proc/sys/net/ipv4/ip_forward"),
           # bridged pod-to-pod replies must pass conntrack, or a ClusterIP's DNAT is never undone
           "bridge_nf_call_iptables": Path("/proc/sys/net/bridge/bridge-nf-call-iptables")}
IPTABLES = ("iptables", "ip6tables")


class NetworkError(RuntimeError):
    pass


def run(command: list[str], check: bool = True) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise NetworkError(f"{' '.join(command)}: {err}") from err
    if check and done.returncode != 0:
        raise NetworkError(f"{' '.join(command)}: {done.stderr.strip()}")
    return done.stdout


def _json(command: list[str]) -> list:
    with contextlib.suppress(NetworkError, ValueError):
        found = json.loads(run(command) or "[]")
        return found if isinstance(found, list) else []
    return []


def bridge_name(state_dir: Path) -> str:
    return "kc" + hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:8]


class ClusterNetwork:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.bridge = bridge_name(layout.root)
        self.tag = f"kproof-cluster:{self.bridge}"

    # Up ---------------------------------------------------------------------------------------------

    def choose_cidr(self) -> ipaddress.IPv4Network:
        """The first candidate /24 that no route of this machine overlaps (call after removing leftovers)."""
        used = []
        for line in run(["ip", "-4", "route"]).splitlines():
            with contextlib.suppress(ValueError, IndexError):
                used.append(ipaddress.ip_network(line.split()[0], strict=False))
        for text in POD_CIDRS:
            candidate = ipaddress.IPv4Network(text)
            if not any(candidate.overlaps(net) for net in used if net.prefixlen > 0):
                return candidate
        raise NetworkError(f"every pod network kproof tries ({', '.join(POD_CIDRS)}) overlaps a route here")

    def up(self, cidr: ipaddress.IPv4Network) -> str:
        """Makes the bridge on `cidr` (its first address is the gateway), turns forwarding on and adds the
        rules; returns the gateway."""
        self._save_host()
        gateway = str(next(cidr.hosts()))
        run(["ip", "link", "add", self.bridge, "type", "bridge"])
        run(["ip", "addr", "add", f"{gateway}/{cidr.prefixlen}", "dev", self.bridge])
        run(["ip", "link", "set", self.bridge, "up"])
        for path in SYSCTLS.values():
            if path.exists():
                path.write_text("1\n")
        for command, chain, rule in reversed(self.rules(gateway)):
            run([command, "-w", "5", "-I", chain, *rule, "-m", "comment", "--comment", self.tag])
        return gateway

    def rules(self, gateway: str) -> list[tuple[str, str, list[str]]]:
        """(command, chain, rule) of the filter table, in the order they apply: pods reach the gateway (API
        server, CoreDNS, the ingress) and each other through a ClusterIP (routed back onto the bridge); the
        API server, bound to every address (IPv6 too), answers only the host and the pods."""
        api = ["-p", "tcp", "--dport", str(API_PORT)]
        return [("iptables", "INPUT", ["-i", self.bridge, "-d", gateway, "-j", "ACCEPT"]),
                ("iptables", "FORWARD", ["-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT"]),
                *((command, "INPUT", ["-i", "lo", *api, "-j", "ACCEPT"]) for command in IPTABLES),
                *((command, "INPUT", [*api, "-j", "DROP"]) for command in IPTABLES)]

    def _save_host(self) -> None:
        """What `up` is about to change, saved once: a killed cluster's next `up` must not take its own
        settings for the host's."""
        if self.layout.host_json.exists():
            return
        saved: dict = {name: path.read_text().strip() for name, path in SYSCTLS.items() if path.exists()}
        saved["nft_chains"] = sorted(self._nft_chains())
        saved["nft_tables"] = sorted(self._nft_tables())
        write_private(self.layout.host_json, json.dumps(saved, indent=2))

    @staticmethod
    def _nft_chains() -> set[str]:
        return {f"{c['family']} {c['table']} {c['name']}" for entry in _nft("chains") if (c := entry.get("chain"))}

    @staticmethod
    def _nft_tables() -> set[str]:
        return {f"{t['family']} {t['name']}" for entry in _nft("tables") if (t := entry.get("table"))}

    # Down -------------------------------------------------------------------------------------------

    def pod_namespaces(self) -> list[str]:
        """The pods' network namespaces: those whose veths hang on the bridge, and those named as the node
        agent names its pods' (a node agent killed mid-way leaves some without a veth)."""
        from reference.runtime.network import Bridge

        prefix = Bridge(self.layout.node).prefix
        ids = {entry.get("link_netnsid") for entry in _json(["ip", "-j", "link", "show", "master", self.bridge])}
        return [entry["name"] for entry in _json(["ip", "-j", "netns", "list"])
                if "name" in entry and (entry.get("id") in ids or entry["name"].startswith(prefix))]

    def remove(self, kube_proxy: Path | None) -> list[str]:
        """Everything of the cluster's network that is left (idempotent); returns what it removed."""
        removed = []
        for namespace in self.pod_namespaces():
            for pid in run(["ip", "netns", "pids", namespace], check=False).split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            run(["ip", "netns", "delete", namespace], check=False)
            with contextlib.suppress(OSError):
                for item in (NETNS_CONFIG / namespace).iterdir():
                    item.unlink()
                (NETNS_CONFIG / namespace).rmdir()
            removed.append(f"netns {namespace}")
        for entry in _json(["ip", "-j", "link", "show", "master", self.bridge]):
            run(["ip", "link", "delete", entry["ifname"]], check=False)
            removed.append(f"veth {entry['ifname']}")
        if run(["ip", "link", "show", self.bridge], check=False):
            run(["ip", "link", "delete", self.bridge], check=False)
            removed.append(f"bridge {self.bridge}")
        removed += self._remove_rules()
        saved = read_json(self.layout.host_json)
        if saved:  # kube-proxy ran (or may have): its chains are this cluster's
            removed += _remove_kube_proxy_rules(kube_proxy)
            removed += self._restore_host(saved)
        return removed

    def _remove_rules(self) -> list[str]:
        removed = []
        for command in IPTABLES:
            for table in ("filter", "nat", "mangle"):
                for line in run([f"{command}-save", "-t", table], check=False).splitlines():
                    words = shlex.split(line)
                    if words[:1] == ["-A"] and self.tag in words:
                        run([command, "-w", "5", "-t", table, "-D", *words[1:]], check=False)
                        removed.append(f"{command} rule {' '.join(words[1:])}")
        return removed

    def _restore_host(self, saved: dict) -> list[str]:
        restored = []
        for name, path in SYSCTLS.items():
            if name in saved and path.exists() and path.read_text().strip() != saved[name]:
                path.write_text(f"{saved[name]}\n")
                restored.append(f"{path} = {saved[name]}")
        restored += _remove_empty_nft(set(saved.get("nft_chains", [])), set(saved.get("nft_tables", [])))
        with contextlib.suppress(FileNotFoundError):
            self.layout.host_json.unlink()
        return restored


def _nft(what: str) -> list[dict]:
    found = []
    with contextlib.suppress(NetworkError, ValueError):
        found = json.loads(run(["nft", "-j", "list", what])).get("nftables", [])
    return [entry for entry in found if isinstance(entry, dict)]


def _remove_kube_proxy_rules(kube_proxy: Path | None) -> list[str]:
    """kube-proxy's own cleanup, then what it leaves (KUBE-FIREWALL and the jumps to it). Its chains are
    global: while another kube-proxy runs (ours are stopped by now), they are that one's, and stay."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", PROXY_HEALTH_PORT))
        except OSError:
            log.warning("another kube-proxy runs here: its KUBE-* chains stay")
            return []
    removed = []
    if kube_proxy is not None and kube_proxy.exists():
        subprocess.run([str(kube_proxy), "--cleanup", "--v=0"], capture_output=True, timeout=60)
    for command in IPTABLES:
        for table in ("filter", "nat", "mangle"):
            lines = run([f"{command}-save", "-t", table], check=False).splitlines()
            chains = [line[1:].split()[0] for line in lines if line.startswith(":KUBE-")]
            for line in lines:
                words = shlex.split(line)
                if words[:1] == ["-A"] and not words[1].startswith("KUBE-") and "-j" in words \
                        and words[words.index("-j") + 1].startswith("KUBE-"):
                    run([command, "-w", "5", "-t", table, "-D", *words[1:]], check=False)
            for flag in ("-F", "-X"):
                for chain in chains:
                    run([command, "-w", "5", "-t", table, flag, chain], check=False)
            removed += [f"{command} {table} chain {chain}" for chain in chains]
    return removed


def _remove_empty_nft(chains_before: set[str], tables_before: set[str]) -> list[str]:
    """The nftables chains and tables iptables-nft made for the cluster (absent before `up`), once empty."""
    removed = []
    for chain in sorted(ClusterNetwork._nft_chains() - chains_before):
        family, table, name = chain.split(" ", 2)
        rules = [e for e in _nft_list(["chain", family, table, name]) if "rule" in e]
        if not rules:
            run(["nft", "delete", "chain", family, table, name], check=False)
            removed.append(f"nft chain {chain}")
    for table in sorted(ClusterNetwork._nft_tables() - tables_before):
        family, name = table.split(" ", 1)
        if not [e for e in _nft_list(["table", family, name]) if "chain" in e or "rule" in e]:
            run(["nft", "delete", "table", family, name], check=False)
            removed.append(f"nft table {table}")
    return removed


def _nft_list(what: list[str]) -> list[dict]:
    with contextlib.suppress(NetworkError, ValueError):
        return [e for e in json.loads(run(["nft", "-j", "list", *what])).get("nftables", []) if isinstance(e, dict)]
    return []


def unmount_under(root: Path) -> list[str]:
    """Unmounts (lazily, deepest first) whatever is mounted below `root`: the node agent's volumes."""
    prefix = str(root.resolve()) + "/"
    points = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].encode().decode("unicode_escape")  # \040 and the like
            if point.startswith(prefix):
                points.append(point)
    for point in sorted(set(points), key=len, reverse=True):
        run(["umount", "-l", point], check=False)
    return [f"mount {point}" for point in points]
