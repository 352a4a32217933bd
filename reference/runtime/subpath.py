"""subPath mounts that a replica cannot turn into a way out (Kubernetes' fix for CVE-2017-1002101).

A subPath lies inside a volume the replica may write (an emptyDir, a claim), so between two starts of a
container the replica can replace a directory on the way with a symlink to `/`. A path resolved once and
bound again later would then bind the host's root. So the subPath is resolved at every start (and for
every exec probe) by `open_beneath`: one component at a time from the volume's own directory, each opened
with O_NOFOLLOW, missing directories made with mkdirat, any symlink refused. The descriptor it ends with is
the exact directory or file; it is bound (`/proc/self/fd/N` is a link to that very inode, not to a path)
onto a staging path inside the pod's directory, which only the platform can reach, in a mount namespace
of the container's own start; bubblewrap then binds the staging path, which nothing of the replica's can
change. The mount dies with that namespace: nothing is left on the host.

Run as a script before bubblewrap (standard library only):
`python -I -S subpath.py VOLUME_DIR SUBPATH STAGING [VOLUME_DIR SUBPATH STAGING ...] -- bwrap ...`
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import sys

CLONE_NEWNS = 0x00020000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
WRITABLE = 0o777  # a subPath directory the kubelet makes: the replica's user writes in it
EXIT_SUBPATH_FAILED = 125
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class SubPathError(OSError):
    """The subPath cannot be mounted safely (a symlink on the way, `..`, not a directory)."""


def components(subpath: str) -> list[str]:
    parts = [p for p in subpath.split("/") if p not in ("", ".")]
    if subpath.startswith("/") or ".." in parts:
        raise SubPathError(f"subPath {subpath!r} leaves its volume")
    return parts


def open_beneath(volume_dir: str, subpath: str) -> int:
    """A descriptor of `volume_dir/subpath`, never through a symlink; missing directories are made
    (WRITABLE). The caller closes it."""
    names = components(subpath)
    fd = os.open(volume_dir, _DIRECTORY)
    try:
        for index, name in enumerate(names):
            child = _step(fd, name, subpath, last=index == len(names) - 1)
            os.close(fd)
            fd = child
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.fchmod(fd, WRITABLE)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _step(parent: int, name: str, subpath: str, last: bool) -> int:
    """The next component below `parent`: a directory (made when missing), or a regular file at the end."""
    try:
        return os.open(name, _DIRECTORY, dir_fd=parent)
    except FileNotFoundError:
        os.mkdir(name, WRITABLE, dir_fd=parent)
        return _open_directory(parent, name, subpath)
    except OSError as err:
        if err.errno not in (errno.ENOTDIR, errno.ELOOP):  # not a file or a symlink in the way
            raise
        return _open_leaf(parent, name, subpath, last)


def _open_directory(parent: int, name: str, subpath: str) -> int:
    """The directory just made, made WRITABLE (mkdir's mode passes through the umask)."""
    try:
        fd = os.open(name, _DIRECTORY, dir_fd=parent)
    except OSError as err:
        raise SubPathError(f"subPath {subpath!r}: {name!r} was replaced while it was made") from err
    os.fchmod(fd, WRITABLE)
    return fd


def _open_leaf(parent: int, name: str, subpath: str, last: bool) -> int:
    """A component that is not a directory: refused unless it is the last one and a regular file."""
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    mode = os.fstat(fd).st_mode
    if stat.S_ISLNK(mode):
        os.close(fd)
        raise SubPathError(f"subPath {subpath!r}: {name!r} is a symlink, which a subPath may not follow")
    if not last or not stat.S_ISREG(mode):
        os.close(fd)
        raise SubPathError(f"subPath {subpath!r}: {name!r} is not a directory")
    return fd


def stage(volume_dir: str, subpath: str, staging: str, libc: ctypes.CDLL) -> None:
    """Binds the subPath's own inode onto `staging` (made as a directory or an empty file to match)."""
    fd = open_beneath(volume_dir, subpath)
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.makedirs(staging, exist_ok=True)
        elif not os.path.isfile(staging):
            os.makedirs(os.path.dirname(staging), exist_ok=True)
            with open(staging, "ab"):
                pass
        if libc.mount(f"/proc/self/fd/{fd}".encode(), staging.encode(), None, MS_BIND, None) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"binding subPath {subpath!r}: {os.strerror(code)}")
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    split = argv.index("--")
    triples, command = argv[:split], argv[split + 1:]
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        if libc.unshare(CLONE_NEWNS) != 0 or libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"a private mount namespace: {os.strerror(code)}")
        for i in range(0, len(triples), 3):
            volume_dir, subpath, staging = triples[i:i + 3]
            stage(volume_dir, subpath, staging, libc)
        os.execv(command[0], command)
    except OSError as err:
        print(f"kproof: subPath: {err}", file=sys.stderr)
    return EXIT_SUBPATH_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
