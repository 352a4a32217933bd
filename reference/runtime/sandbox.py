"""The sandbox a replica runs in: bubblewrap with its own mount and PID namespace and a private /tmp.

The root is built from read-only binds of the system (/usr, /etc, /opt and their /bin, /lib links),
this Python and the project; volumes are bound at their mountPath. The network is the host's: a
replica listens on 127.0.0.1 at the port the platform gave it ($PORT).

Without bubblewrap (documented fallback) a replica runs as a plain child process: no private /tmp or
PID namespace, and containers with volume mounts cannot start (there is nowhere to mount them).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import site
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_SYSTEM_DIRS = ("/usr", "/etc", "/opt", "/srv")
_LINK_DIRS = ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")


class SandboxUnavailable(RuntimeError):
    """What the container needs cannot be provided without bubblewrap."""


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool


def bubblewrap() -> str | None:
    if os.environ.get("KPROOF_SANDBOX", "").lower() in ("none", "off", "0"):
        return None
    return shutil.which("bwrap")


def _python_dirs() -> list[str]:
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()}
    user_site = site.getusersitepackages()
    if isinstance(user_site, str) and os.path.isdir(user_site):
        dirs.add(user_site)
    return sorted(d for d in dirs if os.path.isdir(d) and not d.startswith(_SYSTEM_DIRS))


def command(argv: list[str], mounts: list[Mount], working_dir: str | None, hostname: str = "",
            devices: tuple[str, ...] = ()) -> list[str]:
    """The argv that runs `argv` in the sandbox (or as it is, without bubblewrap); `devices` are the
    device files (a GPU's /dev/nvidia*) bound into its otherwise minimal /dev."""
    bwrap = bubblewrap()
    if bwrap is None:
        if mounts:
            raise SandboxUnavailable("volume mounts need bubblewrap (apt-get install bubblewrap)")
        return argv
    out = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    if hostname:
        out += ["--hostname", hostname[:63]]
    targets = [m.target for m in mounts]
    for directory in _SYSTEM_DIRS:
        if os.path.isdir(directory):
            out += _bind_tree(directory, targets)
    for link in _LINK_DIRS:
        if os.path.islink(link):
            out += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            out += ["--ro-bind", link, link]
    # The private /tmp first: Python or the project may live below /tmp and are bound over it.
    out += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run"]
    for device in devices:
        out += ["--dev-bind", device, device]
    if devices and os.path.isdir("/sys"):
        out += ["--ro-bind", "/sys", "/sys"]  # the CUDA runtime reads the PCI topology, as in a container
    bound: set[str] = set()
    for directory in [*_python_dirs(), str(PROJECT_ROOT)]:
        if not any(directory == b or directory.startswith(b + "/") for b in bound):
            out += ["--ro-bind", directory, directory]
            bound.add(directory)
    for mount in mounts:
        out += ["--ro-bind" if mount.read_only else "--bind", str(mount.source), mount.target]
    if working_dir:
        out += ["--chdir", working_dir]
    return [*out, "--", *argv]


def _bind_tree(directory: str, targets: list[str]) -> list[str]:
    """Read-only binds of `directory`; where a mount target lies inside it, the directories on the way
    become tmpfs with their entries bound one by one, so bubblewrap can create the mount point."""
    inside = [t for t in targets if t.startswith(directory.rstrip("/") + "/")]
    if not inside:
        return ["--ro-bind", directory, directory]
    out = ["--tmpfs", directory]
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if os.path.islink(path):
            out += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            out += _bind_tree(path, inside)
        elif path not in inside:
            out += ["--ro-bind", path, path]
    return out


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def signal_app(pid: int, sig: signal.Signals) -> None:
    """Sends `sig` to the container's own processes. bubblewrap does not forward signals: the app is
    the child of bwrap's init inside the PID namespace (bwrap -> bwrap -> app)."""
    targets = [pid]
    if bubblewrap() is not None:
        for inner in _children(pid):
            targets = _children(inner) or [inner]
    for target in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, sig)
