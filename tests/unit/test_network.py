"""Pod networks: a bridge per platform, a namespace and an address per pod, released with the pod."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reference.runtime import network
from reference.runtime.network import Bridge


def test_bridges_are_named_after_their_state_directory(tmp_path: Path) -> None:
    first, again, other = Bridge(tmp_path / "a"), Bridge(tmp_path / "a"), Bridge(tmp_path / "b")
    assert first.name == again.name != other.name and len(first.name) <= 15
    assert first.prefix == again.prefix != other.prefix
    pod = network.PodNetwork("10.88.1.2", "kproof-x-pod")
    assert Bridge.wrap(["app", "--flag"], pod) == ["nsenter", "--net=/run/netns/kproof-x-pod", "--", "app", "--flag"]


def test_host_networking_can_be_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPROOF_NETWORK", "host")
    assert network.unavailable() == "KPROOF_NETWORK=host"


@pytest.mark.skipif(network.unavailable() is not None, reason=f"no pod networks here: {network.unavailable()}")
def test_a_pod_listens_on_its_address_and_cannot_reach_the_hosts_loopback(tmp_path: Path) -> None:
    bridge = Bridge(tmp_path)
    bridge.start()
    try:
        with socket.socket() as private:  # a listener of the host's own, on loopback only
            private.bind(("127.0.0.1", 0))
            private.listen()
            port = private.getsockname()[1]
            pod = bridge.add("a-pod-uid")
            assert bridge.add("a-pod-uid") == pod, "the same pod keeps its network"
            probe = (f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                     f"    print('reached')\nexcept OSError:\n    print('unreachable')")
            inside = subprocess.run(Bridge.wrap([sys.executable, "-c", probe], pod), capture_output=True,
                                    text=True, timeout=30)
            assert inside.stdout.strip() == "unreachable", inside
            gateway = subprocess.run(Bridge.wrap(["ip", "route"], pod), capture_output=True, text=True, timeout=30)
            assert f"default via {bridge.gateway}" in gateway.stdout
        bridge.remove("a-pod-uid")
        assert not (network.NETNS_DIR / pod.netns).exists()
    finally:
        bridge.stop()
