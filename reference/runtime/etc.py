"""A pod's own /etc, as a container image brings one: the files a pod needs of its own (passwd, group,
hosts, hostname, resolv.conf, nsswitch.conf) written for it, and the few host files that the programs
replicas run read (the dynamic linker's cache, CA certificates, time zone, MIME types, protocols), bound
read-only. Nothing else of the host's /etc is there: no password hashes, no other services' settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

# Host entries a replica's programs need: ld.so (libraries), Python (ssl, mimetypes, socket), fonts.
HOST_ENTRIES = (
    "alternatives", "ca-certificates", "ca-certificates.conf", "debian_version", "fonts", "gai.conf",
    "host.conf", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "mime.types", "networks",
    "os-release", "protocols", "rpc", "services", "ssl", "timezone",
)
ROOT, NOBODY = 0, 65534


def _passwd(users: Iterable[tuple[int | None, int | None]]) -> str:
    lines = ["root:x:0:0:root:/root:/bin/sh", "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin"]
    for uid, gid in sorted({(u, g) for u, g in users if u not in (None, ROOT, NOBODY)}, key=str):
        lines.append(f"user{uid}:x:{uid}:{gid if gid is not None else uid}::/tmp:/bin/sh")
    return "\n".join(lines) + "\n"


def _group(users: Iterable[tuple[int | None, int | None]]) -> str:
    lines = ["root:x:0:", "nogroup:x:65534:"]
    for gid in sorted({g for _, g in users if g not in (None, ROOT, NOBODY)}):
        lines.append(f"group{gid}:x:{gid}:")
    return "\n".join(lines) + "\n"


def _hosts(ip: str, hostname: str) -> str:
    """As the kubelet manages a pod's /etc/hosts."""
    return ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
            f"{ip}\t{hostname}\n")


def cluster_resolv_conf(namespace: str, nameserver: str, domain: str) -> str:
    """A pod's resolver on a cluster (dnsPolicy ClusterFirst): the cluster DNS, its namespace's names first."""
    return (f"search {namespace}.svc.{domain} svc.{domain} {domain}\nnameserver {nameserver}\n"
            "options ndots:5\n")


def _resolv_conf() -> str:
    """The host's resolver settings, as the kubelet gives pods with dnsPolicy Default."""
    try:
        return Path("/etc/resolv.conf").read_text()
    except OSError:
        return ""


def write(directory: Path, hostname: str, ip: str, users: Iterable[tuple[int | None, int | None]] = (),
          resolv_conf: str | None = None) -> Path:
    """Writes a pod's own /etc files into `directory` (0755, files 0644) and returns it; `users` are the
    (runAsUser, runAsGroup) of its containers, named in passwd and group beside root and nobody."""
    users = list(users)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    files = {"passwd": _passwd(users), "group": _group(users), "hosts": _hosts(ip, hostname),
             "hostname": hostname + "\n", "resolv.conf": resolv_conf if resolv_conf is not None else _resolv_conf(),
             "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\n"
                              "protocols: files\nservices: files\n"}
    for name, text in files.items():
        path = directory / name
        path.write_text(text)
        path.chmod(0o644)
    return directory
