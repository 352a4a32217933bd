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

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from reference.apis.resources import CPU, MEMORY, QuantityError, quantity

log = logging.getLogger("kproof.kubelet")

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP = "kproof"  # every platform's cgroup lives below this one, every container's below its platform's
MIN_SHARES = 2  # the kernel's least cpu.shares, what the kubelet gives a container that requests no CPU
MAX_PROCESSES = 1024  # per container: a fork bomb stops here (Kubernetes' podPidsLimit, set)
CPU_PERIOD_US = 100_000  # the CFS period the kubelet uses
V1_CONTROLLERS = ("memory", "cpu", "pids")
EMPTY_TRIES = 50  # a container's cgroup is emptied (SIGKILL) for at most 50 x 0.1 s before it is removed


@dataclass(frozen=True)
class Limits:
    memory_bytes: int | None = None
    cpu_millis: int | None = None
    processes: int = MAX_PROCESSES
    cpu_request_millis: int | None = None  # the CPU request: the cgroup's share of CPU time under contention

    @property
    def cpu_shares(self) -> int:
        """cgroup v1 cpu.shares as the kubelet computes them: 1024 per CPU requested, at least 2."""
        return max(MIN_SHARES, (self.cpu_request_millis or 0) * 1024 // 1000)

    @property
    def cpu_weight(self) -> int:
        """cgroup v2 cpu.weight: the kubelet's conversion of the shares."""
        return 1 + (self.cpu_shares - MIN_SHARES) * 9999 // 262142


def limits_of(container: dict) -> Limits:
    """The container's `resources.limits` and CPU request (admission has checked them; a bad one counts as
    unset). A CPU limit without a request requests the limit, as Kubernetes defaults it."""
    resources = container.get("resources") or {}
    limits = resources.get("limits") or {}

    def read(values: dict, name: str, scale: int) -> int | None:
        if name not in values:
            return None
        with contextlib.suppress(QuantityError):
            return max(1, int(quantity(values[name]) * Decimal(scale)))
        return None

    cpu = read(limits, CPU, 1000)
    requested = read(resources.get("requests") or {}, CPU, 1000)
    return Limits(memory_bytes=read(limits, MEMORY, 1), cpu_millis=cpu,
                  cpu_request_millis=requested if requested is not None else cpu)


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


def platform_group(state_dir: Path) -> str:
    """The cgroup below which a platform's containers have theirs, named after its state directory so
    that `kproof down` finds what a killed platform left."""
    return f"{GROUP}/{hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:8]}"


def _group_dirs(relative: str, enforcement: str) -> dict[str, Path]:
    if enforcement == "cgroup v2":
        return {"": CGROUP_ROOT / relative}
    if enforcement == "cgroup v1":
        return {c: CGROUP_ROOT / c / relative for c in V1_CONTROLLERS}
    return {}


def _pids(group: Path) -> list[int]:
    try:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _kill_all(group: Path) -> bool:
    """SIGKILLs what is left in `group`; True when nothing was."""
    pids = _pids(group)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return not pids


def remove_tree(relative: str) -> None:
    """Empties and removes a platform's cgroups (every container's below it) in every hierarchy."""
    for top in _group_dirs(relative, mode()).values():
        if not top.is_dir():
            continue
        for directory in [*sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)), top]:
            for _ in range(EMPTY_TRIES):
                if _kill_all(directory):
                    break
                time.sleep(0.1)
            with contextlib.suppress(OSError):
                directory.rmdir()


class Cgroup:
    """The cgroup(s) of one container: made before it starts, emptied and removed after it ended."""

    def __init__(self, name: str, limits: Limits, enforcement: str | None = None, parent: str = GROUP) -> None:
        self.name = name
        self.limits = limits
        self.mode = enforcement or mode()
        self.parent = parent
        self._made: list[Path] = []

    def _directories(self) -> dict[str, Path]:
        return _group_dirs(f"{self.parent}/{self.name}", self.mode)

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
            for group in self._made:  # nothing runs in them yet
                with contextlib.suppress(OSError):
                    group.rmdir()
            self._made = []
            self.mode = "rlimit" if shutil.which("prlimit") else "none"

    def _create_v2(self) -> None:
        level = CGROUP_ROOT
        for part in ["", *self.parent.split("/")]:
            level = level / part if part else level
            level.mkdir(exist_ok=True)
            with contextlib.suppress(OSError):  # the controllers each level hands down to its children
                (level / "cgroup.subtree_control").write_text("+memory +cpu +pids")
        group = self._directories()[""]
        group.mkdir(exist_ok=True)
        self._made = [group]
        if self.limits.memory_bytes:
            (group / "memory.max").write_text(str(self.limits.memory_bytes))
            with contextlib.suppress(OSError):
                (group / "memory.swap.max").write_text("0")
        if self.limits.cpu_millis:
            (group / "cpu.max").write_text(f"{self.limits.cpu_millis * CPU_PERIOD_US // 1000} {CPU_PERIOD_US}")
        with contextlib.suppress(OSError):
            (group / "cpu.weight").write_text(str(self.limits.cpu_weight))
        (group / "pids.max").write_text(str(self.limits.processes))

    def _create_v1(self) -> None:
        for controller, group in self._directories().items():
            group.parent.mkdir(parents=True, exist_ok=True)
            group.mkdir(exist_ok=True)
            self._made.append(group)
            if controller == "memory" and self.limits.memory_bytes:
                (group / "memory.limit_in_bytes").write_text(str(self.limits.memory_bytes))
                with contextlib.suppress(OSError):  # only where swap accounting is on
                    (group / "memory.memsw.limit_in_bytes").write_text(str(self.limits.memory_bytes))
            if controller == "cpu":
                (group / "cpu.shares").write_text(str(self.limits.cpu_shares))
            if controller == "cpu" and self.limits.cpu_millis:
                (group / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(self.limits.cpu_millis * CPU_PERIOD_US // 1000))
            if controller == "pids":
                (group / "pids.max").write_text(str(self.limits.processes))

    def mounts(self) -> list[tuple[str, str]]:
        """(host directory, where the container sees it): its own cgroup at /sys/fs/cgroup, read-only, as a
        runtime with a cgroup namespace shows it (programs size themselves by its cpu quota and memory limit)."""
        if self.mode == "cgroup v2":
            return [(str(self._directories()[""]), "/sys/fs/cgroup")]
        return [(str(path), f"/sys/fs/cgroup/{controller}") for controller, path in self._directories().items()]

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

    async def remove(self) -> None:
        """Removes the cgroup(s) once the container has ended: what it left running there (a child that
        outlived it) is killed first, as the runtime kills a container's whole cgroup."""
        for group in self._made:
            for _ in range(EMPTY_TRIES):
                if _kill_all(group):
                    break
                await asyncio.sleep(0.1)
            with contextlib.suppress(OSError):
                group.rmdir()
        self._made = []
