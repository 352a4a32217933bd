"""What `kproof cluster down` removes, whether the cluster stopped cleanly, was killed, or is still running:
the supervisor (asked to stop, then killed), every recorded process, whatever is left in the cluster's
cgroup, the pods' network namespaces, the bridge, the tagged host rules, kube-proxy's chains, the mounts
under the state directory, and the host settings `up` changed."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from kproof.cluster.build import BuildCache
from kproof.cluster.cgroup import ClusterGroup
from kproof.cluster.network import ClusterNetwork, unmount_under
from kproof.cluster.state import Layout
from kproof.cluster.versions import KUBERNETES
from reference.host.processes import MAIN, forget, pids_of, recorded, stop

SUPERVISOR_STOP = 90.0  # the supervisor stops the node agent (its pods' grace) before the control plane


def stop_supervisor(layout: Layout, timeout: float = SUPERVISOR_STOP) -> str | None:
    """SIGTERM to a running supervisor, SIGKILL after `timeout`; what was stopped, or None."""
    for entry in recorded(layout.root):
        if entry.name == MAIN and pids_of(entry):
            stop([entry], timeout)
            return f"pid {entry.pid}"
    return None


def teardown(layout: Layout, cache: BuildCache) -> list[str]:
    """Removes what is left of the cluster on this state directory (nothing running is spared but the
    caller); returns what it removed, for the report."""
    removed = []
    entries = [entry for entry in recorded(layout.root) if entry.pid != os.getpid()]
    stopped = stop(entries, 5.0)
    for entry in entries:
        forget(layout.root, entry.name, entry.pid)
    removed += [f"process {entry.name} (pid {entry.pid})" for entry in stopped]
    removed += [f"process pid {pid} (in the cluster's cgroup)" for pid in ClusterGroup(layout.root).kill()]
    kube_proxy = cache.binary(KUBERNETES, "kube-proxy")
    removed += ClusterNetwork(layout).remove(kube_proxy if kube_proxy.exists() else None)
    removed += unmount_under(layout.root)
    removed += _runtime_leftovers(layout.node)
    with contextlib.suppress(FileNotFoundError):
        layout.cluster_json.unlink()
    return removed


def _runtime_leftovers(node_state: Path) -> list[str]:
    """The cgroups kproof's runtime made for the node agent's containers."""
    from reference.runtime.limits import platform_group, remove_tree

    with contextlib.suppress(OSError):
        remove_tree(platform_group(node_state))
    return []

