"""Ports for replicas that share the host's network: each listens on 127.0.0.1 at a port of its own ($PORT)."""

from __future__ import annotations

import socket


def free_port(taken: set[int]) -> int:
    """A port nothing listens on and no Pod claims yet."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in taken:
            return port
    raise RuntimeError("no free port found")


def claimed_ports(pods: list[dict]) -> set[int]:
    return {int(p["containerPort"]) for pod in pods for c in (pod.get("spec") or {}).get("containers") or []
            for p in c.get("ports") or [] if p.get("containerPort")}
