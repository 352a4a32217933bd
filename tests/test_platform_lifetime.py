"""One platform per state directory: a killed platform leaves nothing running that the next `kproof up`
or `kproof down` does not stop, and what the state directory holds is its owner's alone."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kproof.embedded import ReferenceProcess
from kproof.target import Target
from reference.host.processes import RECORDS_DIR, process_alive, record, recorded

ROOT = Path(__file__).resolve().parents[1]
SLEEPER = "example.com/kproof/sleeper"
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper", "namespace": "default"},
       "spec": {"containers": [{"name": "sleeper", "image": SLEEPER}]}}


def eventually(check: Callable[[], object], seconds: float, what: str) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds}s: {what}")


def sleeper_catalog(tmp_path: Path, *args: str) -> Path:
    """A catalog (for `kproof up --images`) whose sleeper image sleeps 300 s with `args` on its command line."""
    catalog = tmp_path / "images.yaml"
    extra = "".join(f', "{arg}"' for arg in args)
    catalog.write_text(f"images:\n  - image: {SLEEPER}\n"
                       f"    command: [\"{{python}}\", \"-c\", \"import time; time.sleep(300)\"{extra}]\n")
    return catalog


def kproof(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "kproof", *args], capture_output=True, text=True, timeout=120,
                            cwd=ROOT, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[ReferenceProcess]:
    process = ReferenceProcess(tmp_path / "state")
    yield process
    process.stop()


def test_a_killed_platform_takes_its_data_plane_along(platform: ReferenceProcess) -> None:
    endpoints = platform.start()
    dataplane = int((platform.state_dir / "dataplane.pid").read_text())
    assert {entry.name for entry in recorded(platform.state_dir)} == {"reference", "dataplane"}

    os.kill(endpoints.pid, signal.SIGKILL)
    assert platform.process is not None
    platform.process.wait(10)
    eventually(lambda: not process_alive(dataplane), 10, f"the data plane (pid {dataplane}) gone")

    again = platform.start()  # finds the records of the killed one, nothing running
    assert again.ingress == endpoints.ingress and again.api == endpoints.api


def test_the_next_start_stops_what_a_killed_platform_left(platform: ReferenceProcess) -> None:
    platform.state_dir.mkdir(parents=True)
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        record(platform.state_dir, f"pod-uid-user-{orphan.pid}", orphan.pid, group=True)
        platform.start()
        assert orphan.wait(10) is not None
        assert {entry.name for entry in recorded(platform.state_dir)} == {"reference", "dataplane"}
    finally:
        if orphan.poll() is None:
            orphan.kill()
        orphan.wait(10)


def test_a_second_platform_on_the_state_directory_is_refused(platform: ReferenceProcess) -> None:
    endpoints = platform.start()
    second = subprocess.run([sys.executable, "-m", "reference", "--state-dir", str(platform.state_dir)],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert second.returncode == 2 and f"pid {endpoints.pid}" in second.stderr, second.stderr[-2000:]


def test_the_state_directory_is_private(platform: ReferenceProcess) -> None:
    platform.start()
    state = platform.state_dir
    for directory in (state, state / "pki", state / RECORDS_DIR):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    private = ["token", "state.db", "state.db-wal", "state.db-shm", "kubeconfig", "endpoints.json", "ports.json",
               "pki/ca.key", "pki/apiserver.key", "dataplane.pid", "reference.log", "dataplane.log",
               *(f"{RECORDS_DIR}/{path.name}" for path in (state / RECORDS_DIR).iterdir())]
    for name in private:
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name


def test_down_stops_the_replicas_a_killed_platform_left(tmp_path: Path) -> None:
    """Without bubblewrap a replica is a plain process in a session of its own: it outlives a killed
    platform, and `kproof down` stops it. Its image comes from a catalog given to `kproof up --images`."""
    catalog = sleeper_catalog(tmp_path)
    state = tmp_path / "state"
    env = {"KPROOF_SANDBOX": "none"}
    kproof("up", "--detach", "--state-dir", str(state), "--images", str(catalog), env=env)
    try:
        target = Target(kubeconfig=state / "kubeconfig")
        target.create(POD)

        def replica_pid() -> int | None:
            pod = target.get("v1", "Pod", "sleeper", "default") or {}
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                scheme, _, pid = str(status.get("containerID") or "").partition("://")
                if scheme == "process":
                    return int(pid)
            return None

        replica = eventually(replica_pid, 60, "the sleeper Pod running")
        uid = target.get("v1", "Pod", "sleeper", "default")["metadata"]["uid"]
        eventually((state / RECORDS_DIR / f"pod-{uid}-sleeper-{replica}.json").exists, 10, "the replica recorded")
        main = int(json.loads((state / "endpoints.json").read_text())["pid"])
        os.kill(main, signal.SIGKILL)
        eventually(lambda: not process_alive(main), 10, "the platform gone")
        assert process_alive(replica)  # an orphan now: what `kproof down` is for

        stopped = kproof("down", "--state-dir", str(state))
        assert f"pid {replica}" in stopped.stdout
        eventually(lambda: not process_alive(replica), 10, f"the replica (pid {replica}) gone")
    finally:
        subprocess.run([sys.executable, "-m", "kproof", "down", "--state-dir", str(state)], capture_output=True,
                       timeout=120, cwd=ROOT)


def _marked(marker: str) -> list[int]:
    """Processes whose command line carries `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _sleepers(target: Target, count: int) -> list[str]:
    """Creates `count` sleeper Pods at once; returns their uids."""
    return [target.create({**POD, "metadata": {"name": f"sleeper-{i}", "namespace": "default"}})["metadata"]["uid"]
            for i in range(count)]


def _pod_cgroups(uid: str) -> list[Path]:
    return [p for p in Path("/sys/fs/cgroup").glob("**/kproof/**/*") if p.is_dir() and uid in p.name]


def test_a_clean_down_leaves_no_replica_and_no_cgroup(tmp_path: Path) -> None:
    """Pods that start while the platform goes down (plain processes, KPROOF_SANDBOX=none) are stopped with it,
    and no container's cgroup is left in any hierarchy."""
    marker = f"kproof-leak-{os.getpid()}-{time.monotonic_ns()}"
    catalog = sleeper_catalog(tmp_path, marker)
    state = tmp_path / "state"
    kproof("up", "--detach", "--state-dir", str(state), "--images", str(catalog), env={"KPROOF_SANDBOX": "none"})
    uids = []
    try:
        uids += _sleepers(Target(kubeconfig=state / "kubeconfig"), 30)
        eventually(lambda: _marked(marker), 60, "the first sleeper running")
    finally:
        kproof("down", "--state-dir", str(state))
    eventually(lambda: not _marked(marker), 10, "every sleeper gone after down")
    assert not [p for uid in uids for p in _pod_cgroups(uid)], "no container's cgroup is left"


def test_down_removes_every_cgroup_of_the_platforms_pods(tmp_path: Path) -> None:
    """In the sandbox (bubblewrap's own processes between the platform and the app) the containers' cgroups
    are emptied and removed when the platform goes down, in every hierarchy."""
    if not Path("/sys/fs/cgroup/memory").is_dir() and not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        pytest.skip("no cgroup hierarchy here")
    catalog = sleeper_catalog(tmp_path)
    state = tmp_path / "state"
    kproof("up", "--detach", "--state-dir", str(state), "--images", str(catalog))
    uids = []
    try:
        uids += _sleepers(Target(kubeconfig=state / "kubeconfig"), 3)
        eventually(lambda: all(_pod_cgroups(uid) for uid in uids), 60, "each sleeper in its cgroups")
    finally:
        kproof("down", "--state-dir", str(state))
    assert not [p for uid in uids for p in _pod_cgroups(uid)], "no container's cgroup is left"
