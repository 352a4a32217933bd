"""A private PostgreSQL cluster for seed 002's pipeline: initdb and pg_ctl from Debian's postgresql, a
free port on 127.0.0.1, trust authentication for its one user.

It lives in the state directory (run as root, where the postgres user can reach it: the server
refuses to run as root, so it runs as `postgres`), runs detached and is recorded in `postgres.json`, so
later commands find it; `kproof down` stops it.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

from reference.host.processes import write_private

STATE_FILE = "postgres.json"
START_TIMEOUT = 60.0
DSN_ENV = "KPROOF_POSTGRES_DSN"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL can be started here; the message says what is missing."""


def binaries() -> Path | None:
    """The directory of initdb and pg_ctl: Debian's newest /usr/lib/postgresql/<version>/bin, else PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reachable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents] if p.exists())


class LocalPostgres:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir.resolve()

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE

    def _data_dir(self) -> Path:
        inside = self.state_dir / "postgres"
        if os.geteuid() != 0 or _reachable_by_others(self.state_dir):
            return inside
        digest = hashlib.sha1(str(self.state_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"kproof-postgres-{digest}"

    def _as_owner(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def running(self) -> dict | None:
        """{"dsn", "data", "port"} of the cluster of this state directory, when it answers."""
        try:
            info = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", int(info["port"])), timeout=0.5):
            return info
        return None

    def ensure(self) -> str:
        """The DSN of the running cluster, initialised and started now if none runs."""
        info = self.running()
        if info:
            return info["dsn"]
        bin_dir = binaries()
        if bin_dir is None:
            raise PostgresUnavailable("no initdb/pg_ctl: install Debian's postgresql (scripts/setup.sh does), "
                                      f"or give a DSN in ${DSN_ENV}")
        data = self._data_dir()
        if not (data / "PG_VERSION").exists():
            data.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(data, "postgres", "postgres")
            self._call([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--no-locale", "--no-sync"], data)
        port = _free_port()
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._call([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(data / "server.log"),
                    "-w", "-t", str(int(START_TIMEOUT)), "start"], data)
        dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=disable"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        write_private(self.state_file, json.dumps({"dsn": dsn, "data": str(data), "port": port, "bin": str(bin_dir)}))
        return dsn

    def _call(self, command: list[str], data: Path) -> None:
        result = subprocess.run(self._as_owner(command), capture_output=True, text=True, timeout=START_TIMEOUT + 30,
                                cwd=data, stdin=subprocess.DEVNULL, start_new_session=True)
        if result.returncode != 0:
            raise PostgresUnavailable(f"{Path(command[0]).name} failed: {(result.stderr or result.stdout).strip()}")

    def stop(self) -> None:
        info = self.running()
        if info is None:
            return
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(self._as_owner([str(Path(info["bin"]) / "pg_ctl"), "-D", info["data"], "-m", "fast",
                                           "-w", "stop"]), capture_output=True, timeout=60, cwd=info["data"])
