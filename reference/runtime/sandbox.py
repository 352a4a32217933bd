"""The sandbox a replica runs in, contained like a pod's container.

bubblewrap gives it its own mount, PID, IPC and UTS namespaces. When the platform runs as root,
bubblewrap (as root, so that it can bind what only root may read, like the state directory's volumes)
starts the replica through setpriv, which drops it to an ordinary user of the host (`REPLICA_UID`,
nobody) with no capabilities, none inheritable and an empty bounding set: a user namespace would map
the replica to the platform's own uid 0 on the host, which owns /etc/shadow and the state directory.
When the platform is an ordinary user, bubblewrap's user namespace holds the replica, with every
capability dropped. Its root is built
from read-only binds of the system (/usr, /etc, /opt and their /bin, /lib links), this Python and the
two parts of the project replicas run (`reference/`, the apps and models, and `fixtures/`, their data);
never the state directory (the API token, the store, other pods' volumes) or the project's other files.
Volumes are bound at their mountPath, /tmp and /run are private, /dev is minimal (plus a GPU's device
files when it has one). Its network is a namespace of its own where the platform can wire one
(reference.runtime.network), else the host's: it then listens on 127.0.0.1 at the port the platform
gave it ($PORT) and can connect to what listens there (see the README's security model).

Without bubblewrap (documented fallback) a replica runs as a plain child process, still as the
unprivileged user when the platform is root: no private /tmp, PID namespace or hidden files, and
containers with volume mounts cannot start (there is nowhere to mount them).

A pod's `securityContext.runAsUser` / `runAsGroup` (the container's over the pod's) replace nobody: setpriv
takes them when the platform is root, bubblewrap's user namespace maps them otherwise. A replica that
asks for uid 0 gets it, still without capabilities, and the host's password hashes are hidden from it.
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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reference.runtime.network import Bridge

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REPLICA_PARTS = ("reference", "fixtures")  # what replicas of kproof's images run and read
REPLICA_UID = REPLICA_GID = 65534  # nobody: the user a replica runs as when the platform is root
REPLICA_HOME = "/tmp"  # the replica's own, private /tmp: somewhere it may write
_SYSTEM_DIRS = ("/usr", "/etc", "/opt", "/srv")
_LINK_DIRS = ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")


class SandboxUnavailable(RuntimeError):
    """What the container needs cannot be provided without bubblewrap."""


@dataclass(frozen=True)
class Identity:
    """The uid and gid a replica runs as; None: the sandbox's default (nobody, or the platform's user)."""

    uid: int | None = None
    gid: int | None = None


_HIDDEN_FROM_ROOT = ("/etc/shadow", "/etc/gshadow")  # readable by uid 0 even without capabilities


def identity_of(pod_spec: dict, container: dict) -> Identity:
    """runAsUser and runAsGroup, the container's securityContext over the pod's (as the kubelet reads them)."""
    pod_context = pod_spec.get("securityContext") or {}
    own = container.get("securityContext") or {}

    def pick(field: str) -> int | None:
        value = own.get(field, pod_context.get(field))
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

    return Identity(pick("runAsUser"), pick("runAsGroup"))


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
            devices: tuple[str, ...] = (), user: Identity | None = None) -> list[str]:
    """The argv that runs `argv` in the sandbox (or as it is, without bubblewrap) as `user`; `devices` are
    the device files (a GPU's /dev/nvidia*) bound into its otherwise minimal /dev."""
    user = user or Identity()
    bwrap = bubblewrap()
    if bwrap is None:
        if mounts:
            raise SandboxUnavailable("volume mounts need bubblewrap (apt-get install bubblewrap)")
        if os.geteuid() != 0 and _changes_identity(user):
            raise SandboxUnavailable("runAsUser / runAsGroup need bubblewrap or a platform running as root")
        return [*unprivileged(user), *argv]
    out = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    if os.geteuid() != 0:  # bubblewrap's user namespace; a root platform drops the user inside instead
        out += ["--unshare-user", "--cap-drop", "ALL"]
        out += _namespace_ids(user)
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
    # /tmp as a pod's: anyone may write, each their own files (the replica's user is not root)
    out += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm", "--perms", "1777",
            "--tmpfs", "/tmp", "--tmpfs", "/run"]
    for device in devices:
        out += ["--dev-bind", device, device]
    if devices and os.path.isdir("/sys"):
        out += ["--ro-bind", "/sys", "/sys"]  # the CUDA runtime reads the PCI topology, as in a container
    bound: set[str] = set()
    made: set[str] = set()
    for directory in [*_python_dirs(), *(str(PROJECT_ROOT / part) for part in REPLICA_PARTS)]:
        if not any(directory == b or directory.startswith(b + "/") for b in bound):
            out += _traversable(directory, made)
            out += ["--ro-bind", directory, directory]
            bound.add(directory)
    for mount in mounts:
        out += _traversable(mount.target, made)
        out += ["--ro-bind" if mount.read_only else "--bind", str(mount.source), mount.target]
    if os.geteuid() == 0 and user.uid == 0:
        out += [arg for path in _HIDDEN_FROM_ROOT if os.path.exists(path) for arg in ("--ro-bind", "/dev/null", path)]
    if working_dir:
        out += ["--chdir", working_dir]
    return [*out, "--", *unprivileged(user), *argv]


def containment(bridge: Bridge | None = None) -> dict[str, str]:
    """How replicas are contained here, for `kproof status`."""
    from reference.runtime.limits import mode
    from reference.runtime.network import unavailable

    user = f"uid {REPLICA_UID}" if os.geteuid() == 0 else f"uid {os.geteuid()} in a user namespace"
    sandbox = f"bubblewrap ({user}, no capabilities)" if bubblewrap() else (
        f"none (plain processes as uid {REPLICA_UID if os.geteuid() == 0 else os.geteuid()})")
    network = (f"pod (a namespace each on {bridge.name}, {bridge.subnet})" if bridge is not None
               else f"host ({unavailable() or 'no bridge'}: replicas listen on 127.0.0.1)")
    return {"sandbox": sandbox, "limits": mode(), "network": network}


def _changes_identity(user: Identity) -> bool:
    return (user.uid is not None and user.uid != os.geteuid()) or (user.gid is not None and user.gid != os.getegid())


def _namespace_ids(user: Identity) -> list[str]:
    """bubblewrap's --uid / --gid: the ids the replica has inside its user namespace."""
    out = []
    if user.uid is not None:
        out += ["--uid", str(user.uid)]
    if user.gid is not None:
        out += ["--gid", str(user.gid)]
    return out


def unprivileged(user: Identity | None = None) -> list[str]:
    """The prefix that drops a root platform's replica to `user` (REPLICA_UID by default), with no
    capabilities to inherit or regain, even as uid 0; nothing when the platform is not root (the replica
    is then the platform's own user)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise SandboxUnavailable("replicas of a root platform need setpriv (apt-get install util-linux)")
    user = user or Identity()
    uid = REPLICA_UID if user.uid is None else user.uid
    gid = REPLICA_GID if user.gid is None else user.gid
    return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all"]


def _traversable(directory: str, made: set[str]) -> list[str]:
    """Directories on the way to `directory` that the replica's user may pass through: bubblewrap copies
    the host's modes (/root is 0700: Python, under /root/.pyenv, could not find itself) and makes the
    ones it creates 0700 (a volume at /data/models would be out of the replica's reach)."""
    out = []
    for parent in reversed(Path(directory).parents[:-1]):
        name = str(parent)
        if name not in made and not name.startswith(_SYSTEM_DIRS):
            out += ["--perms", "0755", "--dir", name]
            made.add(name)
    return out


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
