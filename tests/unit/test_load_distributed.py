"""Locust's distributed mode as kproof runs it (load/distributed.py): the master's options, the command that
adds a remote worker, and workers that are always stopped and reaped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from load import distributed
from load.distributed import LOOPBACK, PROJECT, master_arguments, remote_worker_command, stop

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
STUBBORN = [sys.executable, "-c", "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                  "print('ready', flush=True); time.sleep(120)"]


def test_a_headless_master_waits_for_its_workers_a_bounded_time() -> None:
    arguments = master_arguments(3, 5600)
    assert arguments[:5] == ["--master", "--master-bind-host", LOOPBACK, "--master-bind-port", "5600"]
    assert arguments[arguments.index("--expect-workers") + 1] == "3"
    assert int(arguments[arguments.index("--expect-workers-max-wait") + 1]) > 0
    assert "--expect-workers" not in master_arguments(3, 5600, "0.0.0.0", headless=False)


def test_the_remote_worker_command_names_the_locustfile_from_the_project_root() -> None:
    command = remote_worker_command(PROJECT / "load" / "locustfiles" / "steady.py", 5600, "10.0.0.5")
    assert command == "locust -f load/locustfiles/steady.py --worker --master-host 10.0.0.5 --master-port 5600"
    assert "--master-host 127.0.0.1" not in remote_worker_command(Path("x.py"), 5600, "0.0.0.0")


def test_stop_terminates_and_reaps_every_process(monkeypatch) -> None:
    monkeypatch.setattr(distributed, "WORKERS_EXIT_SECONDS", 0.2)
    processes = [subprocess.Popen(SLEEPER) for _ in range(2)]
    stop(processes)
    assert [p.returncode for p in processes] == [-15, -15]


def test_a_process_that_ignores_sigterm_is_killed(monkeypatch) -> None:
    monkeypatch.setattr(distributed, "WORKERS_EXIT_SECONDS", 0.1)
    monkeypatch.setattr(distributed, "STOP_SECONDS", 0.5)
    process = subprocess.Popen(STUBBORN, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    stop([process])
    process.stdout.close()
    assert process.returncode == -9
