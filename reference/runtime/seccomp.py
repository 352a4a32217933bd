"""The seccomp filter every replica runs under: the container runtimes' default profile, as a BPF program.

Docker's and containerd's RuntimeDefault profile allows the ordinary system calls and refuses those that
reach past a container: making namespaces (`unshare`, `clone` with a CLONE_NEW* flag, `setns`), mounting
(`mount`, `umount2`, the new mount API, `pivot_root`), the kernel keyring, `bpf`, tracing and reading other
processes (`ptrace`, `process_vm_readv`/`writev`, `kcmp`, `perf_event_open`), kernel modules, clocks,
reboot, swap, quotas, NUMA policies, `userfaultfd`, `io_uring` and handles that open files by inode. This is
that list ("Significant syscalls blocked by the default profile" in Docker's documentation, plus what
containerd 2 adds), refused with EPERM as the runtimes refuse them; `clone3` answers ENOSYS, as in those
profiles, so that the C library falls back to `clone`, whose flags a filter can read.

libseccomp compiles the rules (through pyseccomp, its ctypes binding) into a program for this machine's
architecture: a system call of another one (32-bit `int 0x80` on x86-64) kills the caller.
The program is built once per platform and handed to `reference.runtime.confine`, which loads it inside
the sandbox after the pod's user namespace exists (the filter refuses making one).
"""

from __future__ import annotations

import base64
import errno
import functools
import tempfile

# Refused outright (EPERM). Names the running kernel or architecture lacks are skipped.
BLOCKED = (
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module",
    "finit_module", "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "get_mempolicy",
    "init_module", "io_uring_enter", "io_uring_register", "io_uring_setup", "ioperm", "iopl", "kcmp",
    "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount", "mount_setattr",
    "move_mount", "move_pages", "name_to_handle_at", "nfsservctl", "open_by_handle_at", "open_tree",
    "perf_event_open", "pivot_root", "process_vm_readv", "process_vm_writev", "ptrace", "query_module",
    "quotactl", "quotactl_fd", "reboot", "request_key", "set_mempolicy", "setns", "settimeofday", "stime",
    "swapoff", "swapon", "sysfs", "_sysctl", "umount", "umount2", "unshare", "uselib", "userfaultfd",
    "ustat", "vm86", "vm86old",
)
# clone's first argument on x86-64 and arm64: refused when it asks for any new namespace
NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000, "CLONE_NEWTIME": 0x00000080,
}
ADDR_NO_RANDOMIZE = 0x0040000  # personality(2): turning address randomisation off is refused too


class SeccompUnavailable(RuntimeError):
    """libseccomp (or its binding) is missing: replicas cannot get a filter here."""


@functools.cache
def default_profile() -> bytes:
    """The RuntimeDefault-equivalent program, as the raw `struct sock_filter` array the kernel loads."""
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError) as err:  # the binding, or libseccomp.so.2 under it
        raise SeccompUnavailable(f"no libseccomp here ({err})") from err
    refuse = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in BLOCKED:
        try:
            rules.add_rule(refuse, name)
        except (RuntimeError, ValueError, OSError):
            continue  # not a system call of this architecture
    for flag in NAMESPACE_FLAGS.values():
        rules.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    rules.add_rule(refuse, "personality", seccomp.Arg(0, seccomp.MASKED_EQ, ADDR_NO_RANDOMIZE, ADDR_NO_RANDOMIZE))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as program:
        rules.export_bpf(program)
        program.seek(0)
        return program.read()


def encoded_profile() -> str:
    """default_profile() as one argument for reference.runtime.confine (`--seccomp`)."""
    return base64.b64encode(default_profile()).decode()
