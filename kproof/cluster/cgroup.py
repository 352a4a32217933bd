"""One cgroup (v2) holding every process of the cluster: the supervisor joins it first, so each component,
the node agent and whatever they start are in it, whichever other cgroups they join on the v1 hierarchies
(the runtime's per-container limits). `down` kills what is left in it in one write (cgroup.kill), even
processes in sessions and PID namespaces of their own that no record names."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from kproof.cluster.network import bridge_name


def _cgroup2_mount() -> Path | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return Path(fields[1])
    return None


class ClusterGroup:
    def __init__(self, state_dir: Path) -> None:
        mount = _cgroup2_mount()
        self.mount = mount
        self.path = mount / f"kproof-cluster-{bridge_name(state_dir)[2:]}" if mount else None

    def join(self) -> bool:
        """Moves this process into the group (made if missing); False where there is no writable cgroup2."""
        if self.path is None:
            return False
        try:
            self.path.mkdir(exist_ok=True)
            (self.path / "cgroup.procs").write_text(f"{os.getpid()}\n")
        except OSError:
            return False
        return True

    def pids(self) -> list[int]:
        if self.path is None:
            return []
        with contextlib.suppress(OSError, ValueError):
            return [int(line) for line in (self.path / "cgroup.procs").read_text().split()]
        return []

    def leave(self) -> None:
        """Moves this process back to the root group (a group it is in cannot be removed)."""
        if self.mount is not None:
            with contextlib.suppress(OSError):
                (self.mount / "cgroup.procs").write_text(f"{os.getpid()}\n")

    def kill(self, timeout: float = 10.0) -> list[int]:
        """SIGKILL to every process left in the group (but this one), then removes the group; returns the pids."""
        if self.path is None or not self.path.exists():
            return []
        if os.getpid() in self.pids():
            self.leave()
        left = self.pids()
        if left:
            try:
                (self.path / "cgroup.kill").write_text("1\n")
            except OSError:  # a kernel before 5.14
                for pid in left:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(OSError):
            self.path.rmdir()
        return left
