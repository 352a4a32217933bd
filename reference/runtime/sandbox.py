"""The sandbox a replica runs in, contained like a pod's container.

bubblewrap gives it its own mount, PID, IPC and UTS namespaces, and its root is built from read-only
binds of the system (/usr, /opt and their /bin, /lib links), this Python and the two parts of the project
replicas run (`reference/`, the apps and models, and `fixtures/`, their data); never the state directory
(the API token, the store, other pods' volumes) or the project's other files. /etc is the pod's own
(reference.runtime.etc): its passwd, group, hosts and resolv.conf, and only the host files programs need.
Volumes are bound at their mountPath (a subPath through reference.runtime.subpath, resolved again at every
start without following symlinks); /tmp, /run and /dev/shm are private tmpfs sized by the container's
memory limit (tmpfs pages count against it), /dev is minimal (plus a GPU's device files when it has one).
Its network is a namespace of its own where the platform can wire one (reference.runtime.network), else the
host's: it then listens on 127.0.0.1 at the port the platform gave it ($PORT).

Inside, before the app, reference.runtime.confine takes the last steps: when the platform is root, the
pod's user namespace (the pod's ids 0..65535 are the host's `ids`..`ids`+65535, an unprivileged range of
this platform's own: a replica that runs as uid 0 is root of nothing on the host) with nested user
namespaces capped at 0; then the seccomp filter of reference.runtime.seccomp (the runtimes' default
profile). setpriv then drops to the container's user (`runAsUser`/`runAsGroup`, nobody by default) with no
capabilities, none inheritable, an empty bounding set and no_new_privs. When the platform is an ordinary
user, bubblewrap's own user namespace holds the replica (as the platform's user), with every capability
dropped and nested namespaces disabled; the filter applies the same.

Without bubblewrap (documented fallback) a replica runs as a plain child process, under the filter and
as the unprivileged user when the platform is root: no private /tmp, PID namespace or hidden files, and
containers with volume mounts cannot start (there is nowhere to mount them).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import signal
import site
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reference.runtime import etc, subpath
from reference.runtime.seccomp import SeccompUnavailable, encoded_profile

if TYPE_CHECKING:
    from reference.runtime.network import Bridge

log = logging.getLogger("kproof.kubelet")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REPLICA_PARTS = ("reference", "fixtures")  # what replicas of kproof's images run and read
REPLICA_UID = REPLICA_GID = 65534  # nobody: a replica's user when its pod names none
REPLICA_HOME = "/tmp"  # the replica's own, private /tmp: somewhere it may write
CONFINE = Path(__file__).with_name("confine.py")
SUBPATH = Path(__file__).with_name("subpath.py")
ID_COUNT = 65536  # a pod's user namespace maps this many ids, as Kubernetes gives each pod
FIRST_IDS = 1 << 20  # platforms' ranges start here, above the host's users and /etc/subuid's usual ranges
ID_RANGES = 4096  # distinct ranges a state directory's hash picks from
MiB = 1024 * 1024
DEFAULT_SCRATCH = 256 * MiB  # /tmp and /run of a container without a memory limit
SHM = 64 * MiB  # /dev/shm, as containerd sizes it (or the memory limit, when smaller)
_SYSTEM_DIRS = ("/usr", "/opt", "/srv")
_LINK_DIRS = ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")


class SandboxUnavailable(RuntimeError):
    """What the container needs cannot be provided without bubblewrap."""


@dataclass(frozen=True)
class Identity:
    """The uid and gid a replica runs as; None: the sandbox's default (nobody, or the platform's user)."""

    uid: int | None = None
    gid: int | None = None


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
    """A volume at `target`: `source` bound there (its `subpath` inside it, staged at `staging` first), or a
    tmpfs of `memory` bytes (an emptyDir of medium Memory)."""

    source: Path
    target: str
    read_only: bool
    subpath: str = ""
    staging: Path | None = None
    memory: int | None = None


@dataclass(frozen=True)
class Box:
    """What a container's sandbox is made of besides its mounts."""

    hostname: str = ""
    devices: tuple[str, ...] = ()  # device files (a GPU's /dev/nvidia*) bound into the minimal /dev
    user: Identity = field(default_factory=Identity)
    etc: Path | None = None  # the pod's own /etc files (reference.runtime.etc); None: the host files only
    memory: int | None = None  # the container's memory limit: the size of its /tmp, /run and /dev/shm
    ids: int | None = None  # the first host id of the pod's user namespace (a root platform's)
    cgroups: tuple[tuple[str, str], ...] = ()  # (its cgroup's directory, where it sees it), read-only
    files: tuple[tuple[str, str], ...] = ()  # the image's files: (path in the container, file here), read-only


def id_range(state_dir: Path) -> int:
    """The first host id of the range this platform's pods map their ids 0..65535 to."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).digest()
    return FIRST_IDS + int.from_bytes(digest[:4], "big") % ID_RANGES * ID_COUNT


def bubblewrap() -> str | None:
    if os.environ.get("KPROOF_SANDBOX", "").lower() in ("none", "off", "0"):
        return None
    return shutil.which("bwrap")


def seccomp_program() -> str | None:
    """The filter for confine (base64), None where libseccomp is missing (`kproof status` says so)."""
    try:
        return encoded_profile()
    except SeccompUnavailable:
        return None


def _python_dirs() -> list[str]:
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()}
    user_site = site.getusersitepackages()
    if isinstance(user_site, str) and os.path.isdir(user_site):
        dirs.add(user_site)
    return sorted(d for d in dirs if os.path.isdir(d) and not d.startswith(_SYSTEM_DIRS))


def command(argv: list[str], mounts: list[Mount], working_dir: str | None, box: Box | None = None) -> list[str]:
    """The argv that runs `argv` in the sandbox `box` describes, with `mounts` (or as it is, without
    bubblewrap, under the filter and as the unprivileged user)."""
    box = box or Box()
    bwrap = bubblewrap()
    if bwrap is None:
        if mounts:
            raise SandboxUnavailable("volume mounts need bubblewrap (apt-get install bubblewrap)")
        if os.geteuid() != 0 and _changes_identity(box.user):
            raise SandboxUnavailable("runAsUser / runAsGroup need bubblewrap or a platform running as root")
        own = dict(box.files)  # no image file system here: its programs run from where they are
        return [*_confine(None), *unprivileged(box.user), *(own.get(a, a) for a in argv[:1]), *argv[1:]]
    root = os.geteuid() == 0
    out = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    if not root:  # bubblewrap's user namespace; a root platform's is made by confine, mapped to `ids`
        out += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL", *_namespace_ids(box.user)]
    if box.hostname:
        out += ["--hostname", box.hostname[:63]]
    targets = [m.target for m in mounts]
    for directory in _SYSTEM_DIRS:
        if os.path.isdir(directory):
            out += _bind_tree(directory, targets)
    out += _etc(box.etc, targets)
    for link in _LINK_DIRS:
        if os.path.islink(link):
            out += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            out += ["--ro-bind", link, link]
    # The private /tmp first: Python or the project may live below /tmp and are bound over it.
    # /tmp as a pod's: anyone may write, each their own files (the replica's user is not root)
    scratch = box.memory or DEFAULT_SCRATCH
    out += ["--proc", "/proc", "--dev", "/dev",
            *_tmpfs("/dev/shm", min(SHM, scratch), "1777"), *_tmpfs("/tmp", scratch, "1777"),
            *_tmpfs("/run", scratch, "0755")]
    if root and box.ids is not None:  # for confine to cap the pod's user namespaces (its own sysctls only)
        out += ["--bind", "/proc/sys/user", "/proc/sys/user"]
    for device in box.devices:
        out += ["--dev-bind", device, device]
    if box.devices and os.path.isdir("/sys"):
        out += ["--ro-bind", "/sys", "/sys"]  # the CUDA runtime reads the PCI topology, as in a container
    v1 = any(target.startswith("/sys/fs/cgroup/") for _, target in box.cgroups)
    if v1:  # a tmpfs holds the hierarchies, as runc mounts cgroup v1 (a container sees /sys/fs/cgroup as tmpfs)
        out += ["--tmpfs", "/sys/fs/cgroup"]
    for source, target in box.cgroups:  # -try: where no cgroup could be made, the limits are rlimits
        out += ["--ro-bind-try", source, target]
    if v1:
        out += ["--remount-ro", "/sys/fs/cgroup"]
    bound: set[str] = set()
    made: set[str] = set()
    for directory in [*_python_dirs(), *(str(PROJECT_ROOT / part) for part in REPLICA_PARTS)]:
        if not any(directory == b or directory.startswith(b + "/") for b in bound):
            out += _traversable(directory, made)
            out += ["--ro-bind", directory, directory]
            bound.add(directory)
    program = argv[0] if argv else ""
    if os.path.isabs(program) and os.path.isfile(program) and not program.startswith((*_SYSTEM_DIRS, *bound)):
        # a catalog's own program (a Go binary in a build cache): it alone, read-only, where it is
        out += [*_traversable(program, made), "--ro-bind", program, program]
    for target, source in box.files:
        out += [*_traversable(target, made), "--ro-bind", source, target]
    staged: list[str] = []
    for mount in mounts:
        out += _traversable(mount.target, made)
        if mount.memory is not None:
            out += _tmpfs(mount.target, mount.memory, "0777")
            continue
        source = str(mount.source)
        if mount.subpath:
            source, stage = _subpath_source(mount, root)
            staged += stage
        out += ["--ro-bind" if mount.read_only else "--bind", source, mount.target]
    out += ["--remount-ro", "/etc"]
    if working_dir:
        out += ["--chdir", working_dir]
    prefix = [sys.executable, "-I", "-S", str(SUBPATH), *staged, "--"] if staged else []
    inner = [*_confine(box.ids if root else None), *unprivileged(box.user)]
    return [*prefix, *out, "--", *inner, *argv]


def _tmpfs(target: str, size: int, mode: str) -> list[str]:
    return ["--size", str(size), "--perms", mode, "--tmpfs", target]


def _etc(own: Path | None, targets: list[str]) -> list[str]:
    """/etc of the pod's own: a tmpfs with its files and the host entries programs need (etc.HOST_ENTRIES)."""
    out = ["--perms", "0755", "--tmpfs", "/etc"]
    inside = [t for t in targets if t.startswith("/etc/")]
    for name in etc.HOST_ENTRIES:
        path = os.path.join("/etc", name)
        if os.path.islink(path):
            out += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            out += _bind_tree(path, inside)
        elif os.path.exists(path):
            out += ["--ro-bind", path, path]
    out += ["--symlink", "../proc/self/mounts", "/etc/mtab"]
    if own is not None:
        for entry in sorted(own.iterdir()):
            out += ["--ro-bind", str(entry), f"/etc/{entry.name}"]
    return out


def _subpath_source(mount: Mount, root: bool) -> tuple[str, list[str]]:
    """What bubblewrap binds for a subPath mount, and the triple that stages it (reference.runtime.subpath).
    A root platform stages the subPath's own inode at every start; an ordinary user's platform, which
    cannot mount, checks the path the same way and binds it (a replica racing that check wins only what
    the platform's own user can reach)."""
    if root and mount.staging is not None:
        return str(mount.staging), [str(mount.source), mount.subpath, str(mount.staging)]
    os.close(subpath.open_beneath(str(mount.source), mount.subpath))
    return str(mount.source / mount.subpath), []


def _confine(ids: int | None) -> list[str]:
    """reference.runtime.confine's argv: the user namespace at `ids` (when given), then the filter."""
    program = seccomp_program()
    options = [*(["--ids", str(ids)] if ids is not None else []), *(["--seccomp", program] if program else [])]
    return [sys.executable, "-I", "-S", str(CONFINE), *options, "--"] if options else []


def containment(bridge: Bridge | None = None, ids: int | None = None) -> dict[str, str]:
    """How replicas are contained here, for `kproof status`."""
    from reference.runtime.limits import mode
    from reference.runtime.network import unavailable

    if os.geteuid() == 0:
        user = (f"a user namespace each, pod ids 0-65535 = host {ids}-{ids + ID_COUNT - 1}" if ids is not None
                else f"uid {REPLICA_UID}")
    else:
        user = f"uid {os.geteuid()} in a user namespace"
    sandbox = f"bubblewrap ({user}, no capabilities)" if bubblewrap() else (
        f"none (plain processes as uid {REPLICA_UID if os.geteuid() == 0 else os.geteuid()})")
    apart = ", kept from other platforms" if bridge is not None and bridge.isolated else ""
    network = (f"pod (a namespace each on {bridge.name}, {bridge.subnet}{apart})" if bridge is not None
               else f"host ({unavailable() or 'no bridge'}: replicas listen on 127.0.0.1)")
    filtered = "RuntimeDefault (libseccomp)" if seccomp_program() else "none (libseccomp is missing)"
    return {"sandbox": sandbox, "limits": mode(), "network": network, "seccomp": filtered}


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
    capabilities to inherit or regain and no_new_privs, even as uid 0; nothing when the platform is not
    root (the replica is then the platform's own user)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise SandboxUnavailable("replicas of a root platform need setpriv (apt-get install util-linux)")
    user = user or Identity()
    uid = REPLICA_UID if user.uid is None else user.uid
    gid = REPLICA_GID if user.gid is None else user.gid
    return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs"]


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


def start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot, /proc/PID/stat's 22nd field); None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text.rpartition(")")[2].split()[19])


def signal_app(pid: int, sig: signal.Signals, started: int | None = None) -> None:
    """Sends `sig` to the container's own processes. bubblewrap does not forward signals: the app is
    the child of bwrap's init inside the PID namespace (bwrap -> bwrap -> app). With `started` (the
    process's start_ticks), nothing is sent unless `pid` is still that process: a reaped container's pid
    may be another program's by now."""
    if started is not None and start_ticks(pid) != started:
        return
    targets = [pid]
    if bubblewrap() is not None:
        for inner in _children(pid):
            targets = _children(inner) or [inner]
    for target in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, sig)
