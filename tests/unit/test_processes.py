"""Process records on the state directory, dying with the platform, and the state directory's private files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kproof.commands.main import parser
from reference.host.processes import (
    MAIN,
    RECORDS_DIR,
    Record,
    StateDirBusy,
    lock_state_dir,
    pids_of,
    private_dir,
    process_alive,
    record,
    recorded,
    start_time,
    stop_leftovers,
    stop_recorded,
    write_private,
)
from reference.platform import PlatformConfig, ReplicaRecords, read_or_create_token

SLEEP = [sys.executable, "-c", "import time; time.sleep(120)"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(process_alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts sleeping processes (each leads a session, as a replica does) and kills what is left of them."""
    started: list[subprocess.Popen] = []

    def start(argv: list[str] = SLEEP) -> subprocess.Popen:
        process = subprocess.Popen(argv, start_new_session=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def run_cli(*argv: str) -> int:
    args = parser().parse_args(list(argv))
    return args.func(args)


# Records --------------------------------------------------------------------------------------------


def test_a_record_names_its_process_by_pid_and_start_time(tmp_path: Path, spawn) -> None:
    process = spawn()
    entry = record(tmp_path, "pod-a-user-1", process.pid, group=True)
    assert entry == Record("pod-a-user-1", process.pid, start_time(process.pid), True)
    assert recorded(tmp_path) == [entry]
    assert pids_of(entry) == [process.pid]
    stranger = Record("dataplane", process.pid, entry.start + 1)  # the same pid, a later process
    assert pids_of(stranger) == []


def test_a_group_record_stands_for_the_children_its_leader_left(tmp_path: Path, spawn) -> None:
    leader = spawn([sys.executable, "-c", "import subprocess, sys, time; "
                    "print(subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']).pid, "
                    "flush=True); time.sleep(120)"])
    entry = record(tmp_path, "pod-b-user-2", leader.pid, group=True)
    deadline = time.monotonic() + 20
    while len(pids_of(entry)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    members = pids_of(entry)
    assert leader.pid in members and len(members) == 2
    leader.kill()
    leader.wait(10)
    assert len(pids_of(entry)) == 1  # the child still runs in the group
    assert stop_recorded(tmp_path, timeout=5) == [entry]
    assert gone_within(members, 10) and recorded(tmp_path) == []


def test_down_stops_what_a_killed_platform_left(tmp_path: Path, spawn) -> None:
    replica, dataplane = spawn(), spawn()
    record(tmp_path, "pod-c-user-3", replica.pid, group=True)
    record(tmp_path, "dataplane", dataplane.pid)
    assert run_cli("down", "--state-dir", str(tmp_path)) == 0
    assert gone_within([replica.pid, dataplane.pid], 10)
    assert recorded(tmp_path) == []


def test_up_stops_leftovers_but_refuses_while_their_platform_runs(tmp_path: Path, spawn, capsys) -> None:
    main, replica = spawn(), spawn()
    record(tmp_path, MAIN, main.pid)
    record(tmp_path, "pod-d-user-4", replica.pid, group=True)
    with pytest.raises(StateDirBusy, match=f"pid {main.pid}"):
        stop_leftovers(tmp_path)
    assert run_cli("up", "--detach", "--state-dir", str(tmp_path)) == 1
    assert f"pid {main.pid}" in capsys.readouterr().out
    assert process_alive(replica.pid)  # nothing is touched while the platform may still be using it

    main.kill()
    main.wait(10)
    stopped = stop_leftovers(tmp_path, timeout=5)
    assert [entry.pid for entry in stopped] == [replica.pid]
    assert gone_within([replica.pid], 10) and recorded(tmp_path) == []


def test_a_record_of_an_exited_process_stops_nothing(tmp_path: Path, spawn) -> None:
    process = spawn([sys.executable, "-c", "pass"])
    entry = record(tmp_path, "dataplane", process.pid)
    process.wait(10)
    assert entry is None or pids_of(entry) == []
    assert stop_leftovers(tmp_path) == []


def test_replicas_are_recorded_from_their_pod_status_when_they_are_our_children(tmp_path: Path, spawn) -> None:
    child = spawn()
    replicas = ReplicaRecords(tmp_path)

    def pod(*pids: int) -> dict:
        return {"metadata": {"uid": "u1"}, "status": {"containerStatuses": [
            {"name": f"c{i}", "containerID": f"process://{pid}"} for i, pid in enumerate(pids)]}}

    replicas.observe(pod(child.pid, 1))  # pid 1 is no child of ours: a status an earlier run wrote
    assert [(entry.pid, entry.group) for entry in recorded(tmp_path)] == [(child.pid, True)]
    child.kill()
    child.wait(10)
    replicas.prune()
    assert recorded(tmp_path) == []


def test_one_platform_holds_the_state_directory_until_it_dies(tmp_path: Path, spawn) -> None:
    holder = spawn([sys.executable, "-c", "import os, sys, time; from pathlib import Path; "
                    "from reference.host.processes import MAIN, lock_state_dir, record; "
                    f"lock_state_dir(Path({str(tmp_path)!r})); record(Path({str(tmp_path)!r}), MAIN, os.getpid()); "
                    "time.sleep(120)"])
    deadline = time.monotonic() + 30
    while not recorded(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(StateDirBusy, match=f"pid {holder.pid}"):
        lock_state_dir(tmp_path)
    holder.kill()  # as kill -9 would: the kernel drops the lock
    holder.wait(10)
    os.close(lock_state_dir(tmp_path))


# Dying with the platform ----------------------------------------------------------------------------


def test_a_child_dies_with_its_platform(tmp_path: Path, spawn) -> None:
    """What the data plane does first: a kill -9 of its parent then takes it along."""
    pid_file = tmp_path / "child.pid"
    parent = spawn([sys.executable, "-c", f"""
import os, subprocess, sys, time
os.environ["KPROOF_PLATFORM_PID"] = str(os.getpid())
child = subprocess.Popen([sys.executable, "-c", "from reference.host.processes import die_with_platform; "
                          "import time, sys; die_with_platform(); print('asked', flush=True); time.sleep(120)"],
                         stdout=subprocess.PIPE, text=True)
child.stdout.readline()
open({str(pid_file)!r}, "w").write(str(child.pid))
time.sleep(120)
"""])
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    try:
        assert process_alive(child)
        parent.kill()
        parent.wait(10)
        assert gone_within([child], 10)
    finally:
        if process_alive(child):
            os.kill(child, 9)


def test_a_child_whose_platform_died_before_it_asked_exits() -> None:
    late = subprocess.run([sys.executable, "-c", "from reference.host.processes import die_with_platform; "
                           "die_with_platform(); print('still here')"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "KPROOF_PLATFORM_PID": "1"})  # its platform: not its parent, so gone
    assert "still here" not in late.stdout and late.returncode == -15


# Private files ----------------------------------------------------------------------------------------


def test_state_files_are_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    private_dir(state)
    assert mode(state) == 0o700
    write_private(state / "endpoints.json", "{}")
    assert mode(state / "endpoints.json") == 0o600
    read_or_create_token(state)
    assert mode(state / "token") == 0o600
    (state / "catalog.yaml").write_text("images: []\n")
    PlatformConfig(state, images=[state / "catalog.yaml"]).saved_images()
    assert mode(state / "config.yaml") == 0o600
    record(state, MAIN, os.getpid())
    assert mode(state / RECORDS_DIR) == 0o700 and mode(state / RECORDS_DIR / f"{MAIN}.json") == 0o600
    assert json.loads((state / RECORDS_DIR / f"{MAIN}.json").read_text())["pid"] == os.getpid()


def test_an_old_token_is_made_private(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("secret\n")
    (tmp_path / "token").chmod(0o644)
    assert read_or_create_token(tmp_path) == "secret"
    assert mode(tmp_path / "token") == 0o600
