"""The first step inside a replica's sandbox, once bubblewrap has built its file system (run as a script:
`python -I -S confine.py [--ids BASE] [--seccomp PROGRAM] -- COMMAND...`; standard library only).

`--ids BASE`: the pod's user namespace, as Kubernetes' user namespaces (`hostUsers: false`) and rootless
runtimes make it. The pod's ids 0..65535 are the host's BASE..BASE+65535, so the pod's root is an ordinary
user of the host: it owns no host file, and its capabilities (none, once setpriv has dropped them) would
count only in its own namespace. A root platform's bubblewrap cannot make this namespace itself: its
`--unshare-user` maps the sandbox onto the caller, host root. So this step forks; the child, still in the
host's namespace, writes the maps of its parent once the parent has unshared; the parent becomes the
namespace's root and, since it holds CAP_SYS_RESOURCE there, sets `user.max_user_namespaces` to 0 so
nothing in the pod makes a namespace of its own (where /proc/sys/user is writable; the filter refuses it
anyway).

`--seccomp PROGRAM`: the BPF program (base64) of reference.runtime.seccomp, loaded with no_new_privs.
It comes last, because it refuses `unshare`. Then COMMAND is exec'd (setpriv, which drops to the
container's user with no capabilities, then the app).
"""

from __future__ import annotations

import base64
import ctypes
import os
import sys

CLONE_NEWUSER = 0x10000000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
ID_COUNT = 65536  # ids a pod's namespace maps, as Kubernetes gives each pod
EXIT_CONFINE_FAILED = 125


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def enter_user_namespace(base: int) -> None:
    """Moves this process into a new user namespace mapping 0..ID_COUNT-1 to base.. on the host, as its root."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the host's root, in the host's namespace: the one that may write any map
        os.close(write_end)
        os.read(read_end, 1)
        try:
            for name in ("uid_map", "gid_map"):
                with open(f"/proc/{os.getppid()}/{name}", "w") as ids:
                    ids.write(f"0 {base} {ID_COUNT}\n")
        except OSError as err:
            print(f"kproof: confine: writing the pod's {name}: {err}", file=sys.stderr)
            os._exit(1)
        os._exit(0)
    os.close(read_end)
    _check(_libc().unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
    os.write(write_end, b"x")
    os.close(write_end)
    _, status = os.waitpid(child, 0)
    if status != 0:
        raise OSError("the pod's user namespace could not be mapped")
    os.setgroups([])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    try:
        with open("/proc/sys/user/max_user_namespaces", "w") as limit:
            limit.write("0")
    except OSError:
        pass  # a read-only /proc/sys: the seccomp filter still refuses new namespaces


def load_seccomp(program: bytes) -> None:
    """Loads a BPF program (struct sock_filter[], 8 bytes an instruction) for this process and its children."""
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = _libc()
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    _check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


def main(argv: list[str]) -> int:
    options, command = argv[: argv.index("--")], argv[argv.index("--") + 1:]
    settings = dict(zip(options[::2], options[1::2], strict=True))
    try:
        if "--ids" in settings:
            enter_user_namespace(int(settings["--ids"]))
        if "--seccomp" in settings:
            load_seccomp(base64.b64decode(settings["--seccomp"]))
        os.execv(command[0], command)
    except OSError as err:
        print(f"kproof: confine: {err}", file=sys.stderr)
    return EXIT_CONFINE_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
