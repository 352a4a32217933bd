"""A container's resource limits, enforced the way the kubelet has the runtime enforce them.

`resources.limits.memory` and `cpu` and a per-container process cap go into a cgroup of the
container's own when this machine lets the platform make one (cgroup v2, else the v1 memory, cpu and
pids hierarchies); the container's first process joins it before it execs anything, so everything it
starts is inside. A container over its memory limit is killed by the kernel's OOM killer, which the
cgroup counts: that is how `OOMKilled` is told from any other SIGKILL.

Where no cgroup can be made (no root, a read-only /sys/fs/cgroup) the limits become rlimits through
prlimit: address space for memory (an allocation past it fails instead of the process being killed)
and a process count for the whole replica user; CPU is not limited. `mode()` says which, and
`kproof status` shows it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from reference.scheduler.resources import CPU, MEMORY, QuantityError, quantity

log = logging.getLogger("kproof.kubelet")

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP = "kproof"  # every container's cgroup lives below this one
MAX_PROCESSES = 1024  # per container: a fork bomb stops here (Kubernetes' podPidsLimit, set)
CPU_PERIOD_US = 100_000  # the CFS period the kubelet uses
V1_CONTROLLERS = ("memory", "cpu", "pids")


@dataclass(frozen=True)
class Limits:
    memory_bytes: int | None = None
    cpu_millis: int | None = None
    processes: int = MAX_PROCESSES


def limits_of(container: dict) -> Limits:
    """The container's `resources.limits` (admission has checked them; a bad one counts as unset)."""
    limits = (container.get("resources") or {}).get("limits") or {}

    def read(name: str, scale: int) -> int | None:
        if name not in limits:
            return None
        with contextlib.suppress(QuantityError):
            return max(1, int(quantity(limits[name]) * Decimal(scale)))
        return None

    return Limits(memory_bytes=read(MEMORY, 1), cpu_millis=read(CPU, 1000))


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def mode() -> str:
    """How limits are enforced here: `cgroup v2`, `cgroup v1`, `rlimit` or `none`."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        if _writable(CGROUP_ROOT) or _writable(CGROUP_ROOT / GROUP):
            return "cgroup v2"
    elif all(_writable(CGROUP_ROOT / c) for c in V1_CONTROLLERS):
        return "cgroup v1"
    return "rlimit" if shutil.which("prlimit") else "none"


class Cgroup:
    """The cgroup(s) of one container: made before it starts, removed after it ended."""

    def __init__(self, name: str, limits: Limits, enforcement: str | None = None) -> None:
        self.name = name
        self.limits = limits
        self.mode = enforcement or mode()
        self._made: list[Path] = []

    def _directories(self) -> dict[str, Path]:
        if self.mode == "cgroup v2":
            return {"": CGROUP_ROOT / GROUP / self.name}
        if self.mode == "cgroup v1":
            return {c: CGROUP_ROOT / c / GROUP / self.name for c in V1_CONTROLLERS}
        return {}

    def create(self) -> None:
        """Makes the cgroup(s) and writes the limits (no-op under rlimits). A cgroup the kernel refuses
        leaves the container to rlimits, logged."""
        try:
            if self.mode == "cgroup v2":
                self._create_v2()
            elif self.mode == "cgroup v1":
                self._create_v1()
        except OSError as err:
            log.warning("cgroup %s: %s; limits fall back to rlimits", self.name, err)
            self.remove()
            self.mode = "rlimit" if shutil.which("prlimit") else "none"

    def _create_v2(self) -> None:
        parent = CGROUP_ROOT / GROUP
        parent.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):  # the controllers the parent hands down to its children
            (CGROUP_ROOT / "cgroup.subtree_control").write_text("+memory +cpu +pids")
        with contextlib.suppress(OSError):
            (parent / "cgroup.subtree_control").write_text("+memory +cpu +pids")
        group = self._directories()[""]
        group.mkdir(exist_ok=True)
        self._made = [group]
        if self.limits.memory_bytes:
            (group / "memory.max").write_text(str(self.limits.memory_bytes))
            with contextlib.suppress(OSError):
                (group / "memory.swap.max").write_text("0")
        if self.limits.cpu_millis:
            (group / "cpu.max").write_text(f"{self.limits.cpu_millis * CPU_PERIOD_US // 1000} {CPU_PERIOD_US}")
        (group / "pids.max").write_text(str(self.limits.processes))

    def _create_v1(self) -> None:
        for controller, group in self._directories().items():
            group.parent.mkdir(exist_ok=True)
            group.mkdir(exist_ok=True)
            self._made.append(group)
            if controller == "memory" and self.limits.memory_bytes:
                (group / "memory.limit_in_bytes").write_text(str(self.limits.memory_bytes))
                with contextlib.suppress(OSError):  # only where swap accounting is on
                    (group / "memory.memsw.limit_in_bytes").write_text(str(self.limits.memory_bytes))
            if controller == "cpu" and self.limits.cpu_millis:
                (group / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(self.limits.cpu_millis * CPU_PERIOD_US // 1000))
            if controller == "pids":
                (group / "pids.max").write_text(str(self.limits.processes))

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv` started inside the limits: a shell joins the cgroups, then execs it (so nothing the
        container starts is ever outside); under rlimits, prlimit sets them."""
        if self._made:
            procs = [str(group / "cgroup.procs") for group in self._made]
            join = 'for p; do [ "$p" = -- ] && break; echo $$ > "$p" || exit 125; shift; done; shift; exec "$@"'
            return ["/bin/sh", "-c", join, "sh", *procs, "--", *argv]
        if self.mode == "rlimit":
            prlimit = shutil.which("prlimit") or "prlimit"
            # RLIMIT_NPROC counts every process of the replica user, all replicas together
            options = [f"--nproc={self.limits.processes * 8}"]
            if self.limits.memory_bytes:
                options.append(f"--as={self.limits.memory_bytes}")
            return [prlimit, *options, "--", *argv]
        return argv

    def oom_kills(self) -> int:
        """How many processes of the container the kernel's OOM killer took (0 without a cgroup)."""
        if self.mode == "cgroup v2":
            events = self._read(self._directories()[""] / "memory.events")
        elif self.mode == "cgroup v1":
            events = self._read(self._directories()["memory"] / "memory.oom_control")
        else:
            return 0
        for line in events.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    @staticmethod
    def _read(path: Path) -> str:
        try:
            return path.read_text()
        except OSError:
            return ""

    def remove(self) -> None:
        """Removes the cgroup(s) once the container's processes are gone (a leftover is kept)."""
        for group in self._made:
            with contextlib.suppress(OSError):
                group.rmdir()
        self._made = []
