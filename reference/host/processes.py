"""The processes a platform starts, and the private files of its state directory.

Every process a platform starts (itself, the data plane, each replica) is recorded in `processes/` under
its state directory with its start time from /proc/<pid>/stat, so that a later process given the same
pid is never taken for it. A platform that stops cleanly removes its records; one that was killed leaves
them, and the next start (or `kproof down`) stops what they name. The embedded Kafka is not recorded
here: it outlives a restart on purpose (`kafka.json`), and `kproof down` stops it.

The state directory holds Secrets (state.db), the API token, TLS keys and the kubeconfig: it is 0700 and
what the platform writes there is 0600.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

RECORDS_DIR = "processes"
LOCK_FILE = "platform.lock"  # held by the running platform's main process: the kernel drops it when it dies
MAIN = "reference"  # the record of the platform's main process
PLATFORM_PID_ENV = "KPROOF_PLATFORM_PID"  # set by the platform for its children: the pid they die with
STOP_TIMEOUT = 20.0
_PR_SET_PDEATHSIG = 1


def process_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not count)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    return True


# Private files ----------------------------------------------------------------------------------------


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter (made so if it already existed)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def create_private(path: Path) -> Path:
    """Creates `path` (if missing) readable by its owner only, before another library writes it."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    path.chmod(0o600)
    return path


def write_private(path: Path, text: str) -> None:
    """Writes `path` as mode 0600 in one step: readers never see it half written or readable by others."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


# /proc ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stat:
    state: str
    ppid: int
    pgid: int
    start: int  # clock ticks after boot: with the pid, names one process for the machine's uptime


def stat(pid: int) -> Stat | None:
    """What /proc/<pid>/stat says, or None when no such process exists."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text.rpartition(")")[2].split()  # the command name may hold spaces and parentheses
    try:
        return Stat(fields[0], int(fields[1]), int(fields[2]), int(fields[19]))
    except (IndexError, ValueError):
        return None


def start_time(pid: int) -> int | None:
    found = stat(pid)
    return found.start if found else None


def snapshot() -> dict[int, Stat]:
    """Every process of the machine, read once (to test many records against)."""
    found: dict[int, Stat] = {}
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if name.isdigit() and (entry := stat(int(name))) is not None:
                found[int(name)] = entry
    return found


# Records ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    name: str
    pid: int
    start: int
    group: bool = False  # it leads a process group of its own: stopping it stops the group


def record(state_dir: Path, name: str, pid: int, group: bool = False) -> Record | None:
    """Records a process the platform started (None when it is already gone)."""
    found = stat(pid)
    if found is None or found.state == "Z":
        return None
    entry = Record(name, pid, found.start, group)
    directory = private_dir(state_dir / RECORDS_DIR)
    write_private(directory / f"{name}.json", json.dumps(asdict(entry)))
    return entry


def forget(state_dir: Path, name: str, pid: int | None = None) -> None:
    """Removes a record; with `pid`, only while it still names that process (not its successor)."""
    path = state_dir / RECORDS_DIR / f"{name}.json"
    if pid is not None:
        current = _read(path)
        if current is None or current.pid != pid:
            return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _read(path: Path) -> Record | None:
    try:
        data = json.loads(path.read_text())
        return Record(str(data["name"]), int(data["pid"]), int(data["start"]), bool(data.get("group")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def recorded(state_dir: Path) -> list[Record]:
    """Every process recorded on this state directory, running or not."""
    directory = state_dir / RECORDS_DIR
    if not directory.is_dir():
        return []
    return [entry for path in sorted(directory.glob("*.json")) if (entry := _read(path)) is not None]


def pids_of(entry: Record, processes: dict[int, Stat] | None = None) -> list[int]:
    """The live processes a record stands for: its own process, or every member of its group (read
    from `processes`, a snapshot(), when given)."""
    leader = processes.get(entry.pid) if processes is not None else stat(entry.pid)
    if leader is not None and leader.start != entry.start:
        return []  # the pid was given to another process: the recorded one, and its group, are gone
    if not entry.group:
        return [entry.pid] if leader is not None and leader.state != "Z" else []
    members = processes if processes is not None else snapshot()
    return [pid for pid, found in members.items()
            if found.pgid == entry.pid and found.start >= entry.start and found.state != "Z"]


def _live(entries: Iterable[Record]) -> list[Record]:
    processes = snapshot()
    return [entry for entry in entries if pids_of(entry, processes)]


def _signal(entry: Record, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if entry.group:
            os.killpg(entry.pid, sig)
        else:
            os.kill(entry.pid, sig)


def stop(entries: Iterable[Record], timeout: float = STOP_TIMEOUT) -> list[Record]:
    """SIGTERM to what still runs of `entries`, SIGKILL after `timeout`; returns those that ran."""
    running = _live(entries)
    for entry in running:
        _signal(entry, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    left = running
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = _live(left)
    for entry in left:
        _signal(entry, signal.SIGKILL)
    return running


class StateDirBusy(RuntimeError):
    """Another platform's main process still runs on the state directory."""


def main_elsewhere(state_dir: Path) -> Record | None:
    """The recorded main process of another platform on this state directory, if it still runs."""
    for entry in recorded(state_dir):
        if entry.name == MAIN and entry.pid != os.getpid() and pids_of(entry):
            return entry
    return None


def lock_state_dir(state_dir: Path) -> int:
    """Takes the state directory's lock for as long as this process lives (however it ends); StateDirBusy
    while another platform holds it. Returns the descriptor that holds it."""
    descriptor = os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(descriptor)
        holder = [entry for entry in recorded(state_dir) if entry.name == MAIN]
        raise StateDirBusy(f"a platform already runs on {state_dir}"
                           f"{': ' + describe(holder) if holder else ''}") from err
    return descriptor


def describe(entries: Iterable[Record]) -> str:
    return ", ".join(f"{entry.name} (pid {entry.pid})" for entry in entries)


def stop_leftovers(state_dir: Path, timeout: float = STOP_TIMEOUT) -> list[Record]:
    """Stops what a platform that is gone left running on `state_dir` and forgets its records; refuses
    (StateDirBusy) while that platform's main process still runs."""
    busy = main_elsewhere(state_dir)
    if busy is not None:
        raise StateDirBusy(f"a platform still runs on {state_dir}: {describe([busy])}; `kproof down` stops it")
    entries = [entry for entry in recorded(state_dir) if entry.pid != os.getpid()]
    stopped = stop(entries, timeout)
    for entry in entries:
        forget(state_dir, entry.name, entry.pid)
    return stopped


def stop_recorded(state_dir: Path, timeout: float = STOP_TIMEOUT) -> list[Record]:
    """Stops everything recorded on `state_dir` (`kproof down`): the main process first, so that it
    stops its own children cleanly, then whatever is left, orphans included."""
    main = [entry for entry in recorded(state_dir) if entry.name == MAIN]
    stopped = stop(main, timeout)
    rest = [entry for entry in recorded(state_dir) if entry.name != MAIN]
    stopped += stop(rest, timeout)
    for entry in main + rest:
        forget(state_dir, entry.name, entry.pid)
    return stopped


# Dying with the platform ------------------------------------------------------------------------------


def die_with_platform(sig: signal.Signals = signal.SIGTERM) -> None:
    """Asks Linux for `sig` when the parent (the platform) exits, so a killed platform leaves no child
    behind; exits at once if the platform is already gone (it died before the request was made)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return
    expected = os.environ.get(PLATFORM_PID_ENV, "")
    if expected.isdigit() and os.getppid() != int(expected):
        os.kill(os.getpid(), sig)
