"""A single-node Ceph for tests, made as Ceph's developer setup (src/vstart.sh) makes one, from Debian's
packages: a keyring and a monmap, one monitor (`ceph-mon --mkfs`), one OSD on memstore (`ceph osd new`,
`ceph-osd --mkfs`), one radosgw on 127.0.0.1, and an S3 user made with `radosgw-admin user create`.

Everything lives in one directory (ceph.conf, keyring, dev/ for the daemons' data, out/ for their logs)
and the daemons run in the foreground of processes of their own, recorded in `processes/` there (as the
platform records its own), so `stop()` finds them even after the process that started them died. The OSD
keeps its objects in memory (memstore, 1 GiB at most): nothing is mounted and nothing outlives `stop()`.

Pods reach the gateway at their platform's bridge address when they have networks of their own (they
cannot reach the host's 127.0.0.1), so radosgw also listens there when given `pod_address`.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from reference.host.processes import forget, pids_of, private_dir, record, recorded, stop, write_private

BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "ceph-authtool", "monmaptool")
PACKAGES = "ceph-mon ceph-osd radosgw ceph-common"
STATE_FILE = "ceph.json"
DEFAULT_USER = "rgwtest"  # seed 003's source runs as --username=rgwtest
RGW_NAME = "client.rgw.gateway"
OSD_BYTES = 1 << 30  # what memstore may hold: a small OSD, kept in memory
COMMAND_TIMEOUT = 60.0
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
# stopped in this order: the gateway before the OSD it writes to, the monitor last
DAEMONS = ("rgw", "osd.0", "mon.a")


class CephUnavailable(RuntimeError):
    """No Ceph can be started here; the message says what is missing or which step failed."""


def unavailable() -> str | None:
    """Why no Ceph can be started on this machine (None: it can)."""
    missing = [name for name in BINARIES if shutil.which(name) is None]
    if missing:
        return f"no {', '.join(missing)}: install Debian's {PACKAGES} (scripts/setup.sh does)"
    return None


def version() -> str:
    """`ceph --version`'s words after "ceph version", e.g. 16.2.15 (618f...) pacific (stable)."""
    done = subprocess.run(["ceph", "--version"], capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    return done.stdout.strip().removeprefix("ceph version ").strip()


@dataclass(frozen=True)
class Gateway:
    """The object gateway of a running Ceph and its S3 user."""

    endpoint: str  # from this machine: http://127.0.0.1:<port>
    pod_endpoint: str  # from the platform's pods: its bridge address, or 127.0.0.1 where they share the host's
    user: str
    access_key: str
    secret_key: str
    version: str
    seconds: dict[str, float] = field(default_factory=dict)  # how long each start step took

    @classmethod
    def from_json(cls, data: dict) -> Gateway:
        return cls(**{key: data[key] for key in ("endpoint", "pod_endpoint", "user", "access_key", "secret_key",
                                                 "version")}, seconds=dict(data.get("seconds") or {}))


def _free_port(addresses: list[str]) -> int:
    """A port free on every address in `addresses` (radosgw binds it on each)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind((addresses[0], 0))
            port = sock.getsockname()[1]
        if all(_bindable(address, port) for address in addresses[1:]):
            return port
    raise CephUnavailable(f"no port free on all of {', '.join(addresses)}")


def _bindable(address: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def config(directory: Path, fsid: str, mon_port: int, rgw_endpoints: list[str]) -> str:
    """ceph.conf: vstart's single-host settings (pools of one replica, failure domain the OSD, small
    placement groups), memstore for the OSD, msgr2 on 127.0.0.1 only, and no manager (nothing here needs
    one: radosgw creates its pools through the monitor)."""
    beast = " ".join(f"endpoint={endpoint}" for endpoint in rgw_endpoints)
    return f"""[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{mon_port}
public addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = {directory / "keyring"}
log file = {directory / "out"}/$name.log
admin socket =
run dir = {directory / "run"}
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1

[mon]
mon data = {directory / "dev"}/mon.$id

[osd]
osd data = {directory / "dev"}/osd$id
osd objectstore = memstore
memstore device bytes = {OSD_BYTES}
osd class load list = *
osd class default list = *
osd check max object name len on startup = false

[{RGW_NAME}]
rgw frontends = beast {beast}
rgw thread pool size = 64
"""


class LocalCeph:
    """A Ceph in `directory`: started fresh by `start()`, found by `running()`, gone after `stop()`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self._children: list[subprocess.Popen] = []  # the daemons this object started, reaped by stop()
        self._die_with_parent = False

    @property
    def state_file(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def conf(self) -> Path:
        return self.directory / "ceph.conf"

    def running(self) -> Gateway | None:
        """The gateway of the Ceph in this directory while its daemons run and radosgw answers."""
        try:
            gateway = Gateway.from_json(json.loads(self.state_file.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        alive = {entry.name for entry in recorded(self.directory) if pids_of(entry)}
        if not set(DAEMONS) <= alive or not _answers(gateway.endpoint):
            return None
        return gateway

    def start(self, pod_address: str | None = None, user: str = DEFAULT_USER, die_with_parent: bool = False,
              timeout: float = START_TIMEOUT) -> Gateway:
        """A fresh cluster and its S3 user `user`; radosgw also on `pod_address` when given. With
        `die_with_parent`, the daemons stop when the calling process exits, however it ends."""
        problem = unavailable()
        if problem:
            raise CephUnavailable(problem)
        self.stop()
        if self.directory.exists():
            shutil.rmtree(self.directory)
        for sub in ("dev", "out", "run"):
            private_dir(self.directory / sub)
        self._die_with_parent = die_with_parent
        deadline = time.monotonic() + timeout
        seconds: dict[str, float] = {}
        try:
            with _timed(seconds, "monitor"):
                mon_port = _free_port(["127.0.0.1"])
                listen = ["127.0.0.1", *([pod_address] if pod_address and pod_address != "127.0.0.1" else [])]
                rgw_port = _free_port(listen)
                write_private(self.conf, config(self.directory, str(uuid.uuid4()), mon_port,
                                                [f"{address}:{rgw_port}" for address in listen]))
                self._make_monitor(mon_port)
            with _timed(seconds, "osd"):
                self._make_osd(deadline)
            with _timed(seconds, "radosgw"):
                self._spawn("rgw", ["radosgw", "-f", "-c", str(self.conf), "-n", RGW_NAME])
                endpoint = f"http://127.0.0.1:{rgw_port}"
                self._wait(lambda: _answers(endpoint), deadline, "radosgw to answer on " + endpoint)
            with _timed(seconds, "user"):
                access_key, secret_key = secrets.token_hex(10).upper(), secrets.token_urlsafe(30)
                self._run(["radosgw-admin", "-c", str(self.conf), "user", "create", f"--uid={user}",
                           f"--display-name={user}", f"--access-key={access_key}", f"--secret={secret_key}"])
        except BaseException:
            self.stop()
            raise
        gateway = Gateway(endpoint, f"http://{listen[-1]}:{rgw_port}", user, access_key, secret_key, version(),
                          seconds)
        write_private(self.state_file, json.dumps(asdict(gateway), indent=1))
        return gateway

    def stop(self, timeout: float = STOP_TIMEOUT) -> list[str]:
        """Stops the daemons recorded here (radosgw, the OSD, the monitor, in that order); returns the names
        of those that still ran."""
        entries = {entry.name: entry for entry in recorded(self.directory)}
        stopped: list[str] = []
        for name in (*DAEMONS, *sorted(set(entries) - set(DAEMONS))):
            entry = entries.get(name)
            if entry is None:
                continue
            stopped += [e.name for e in stop([entry], timeout)]  # SIGTERM, SIGKILL after `timeout`
            forget(self.directory, entry.name, entry.pid)
        for child in self._children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout)
        self._children = []
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()
        return stopped

    # Steps -------------------------------------------------------------------------------------------

    def _make_monitor(self, port: int) -> None:
        keyring, conf = str(self.directory / "keyring"), str(self.conf)
        monmap = str(self.directory / "run" / "monmap")
        self._run(["ceph-authtool", "--create-keyring", "--gen-key", "--name=mon.", keyring, "--cap", "mon",
                   "allow *"])
        self._run(["ceph-authtool", "--gen-key", "--name=client.admin", keyring, "--cap", "mon", "allow *",
                   "--cap", "osd", "allow *", "--cap", "mgr", "allow *"])
        # radosgw's own key, as vstart gives it one (ceph-mon --mkfs imports every key of the keyring)
        self._run(["ceph-authtool", "--gen-key", f"--name={RGW_NAME}", keyring, "--cap", "mon", "allow rw",
                   "--cap", "osd", "allow rwx"])
        fsid = next(line.split("=", 1)[1].strip() for line in self.conf.read_text().splitlines()
                    if line.startswith("fsid"))
        self._run(["monmaptool", "--create", "--clobber", "--fsid", fsid, "--addv", "a",
                   f"[v2:127.0.0.1:{port}]", monmap])
        self._run(["ceph-mon", "--mkfs", "-c", conf, "-i", "a", f"--monmap={monmap}", f"--keyring={keyring}"])
        self._spawn("mon.a", ["ceph-mon", "-f", "-c", conf, "-i", "a"])

    def _make_osd(self, deadline: float) -> None:
        conf = str(self.conf)
        osd_uuid, key = str(uuid.uuid4()), self._run(["ceph-authtool", "--gen-print-key"]).strip()
        secret = self.directory / "run" / "osd-secret.json"
        write_private(secret, json.dumps({"cephx_secret": key}))
        # the first command waits for the monitor to form its quorum of one
        osd_id = self._run(["ceph", "-c", conf, "--connect-timeout", str(int(COMMAND_TIMEOUT)), "osd", "new",
                            osd_uuid, "-i", str(secret)]).strip()
        secret.unlink()
        if osd_id != "0":
            raise CephUnavailable(f"ceph osd new gave id {osd_id!r}, expected 0")
        data = private_dir(self.directory / "dev" / "osd0")
        keyring = str(data / "keyring")
        self._run(["ceph-authtool", "--create-keyring", keyring, "--name", "osd.0", "--add-key", key])
        self._run(["ceph-osd", "-c", conf, "-i", "0", "--mkfs", "--osd-uuid", osd_uuid, "--keyring", keyring])
        self._spawn("osd.0", ["ceph-osd", "-f", "-c", conf, "-i", "0", "--keyring", keyring])

        def up() -> bool:
            out = self._run(["ceph", "-c", conf, "osd", "stat", "--format=json"], check=False)
            with contextlib.suppress(ValueError):
                return int(json.loads(out).get("num_up_osds", 0)) >= 1
            return False

        self._wait(up, deadline, "the OSD to be up")

    # Processes ---------------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> None:
        if self._die_with_parent and shutil.which("setpriv"):
            # SIGTERM when the process that started it exits, however it ends (a killed test session leaves no
            # daemon behind); util-linux's setpriv sets it and execs the daemon, which keeps it
            argv = ["setpriv", "--pdeathsig", "TERM", "--", *argv]
        log = (self.directory / "out" / f"{name}.stderr").open("ab")
        try:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=self.directory, start_new_session=True)
        finally:
            log.close()
        self._children.append(process)
        time.sleep(0.05)
        if process.poll() is not None or record(self.directory, name, process.pid) is None:
            raise CephUnavailable(f"{name} exited at once ({process.returncode}); see "
                                  f"{self.directory / 'out'}/{name}.stderr and out/*.log")

    def _run(self, argv: list[str], check: bool = True) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                                  cwd=self.directory, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as err:
            raise CephUnavailable(f"{' '.join(argv[:3])}... did not finish within {COMMAND_TIMEOUT:g}s") from err
        if check and done.returncode != 0:
            raise CephUnavailable(f"{' '.join(argv[:4])}... failed ({done.returncode}): "
                                  f"{(done.stderr or done.stdout).strip()[-2000:]}")
        return done.stdout

    def _wait(self, ready: Callable[[], bool], deadline: float, what: str) -> None:
        while not ready():
            dead = [entry.name for entry in recorded(self.directory) if not pids_of(entry)]
            if dead:
                raise CephUnavailable(f"{', '.join(dead)} exited while waiting for {what}; see "
                                      f"{self.directory / 'out'}")
            if time.monotonic() > deadline:
                raise CephUnavailable(f"timed out waiting for {what}; see {self.directory / 'out'}")
            time.sleep(0.2)


def _answers(endpoint: str) -> bool:
    try:
        requests.get(endpoint, timeout=2, proxies={"http": "", "https": ""})
    except requests.RequestException:
        return False
    return True


@contextlib.contextmanager
def _timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        seconds[step] = round(time.monotonic() - started, 2)


def pod_address(state_dir: Path) -> str | None:
    """The address of the platform's bridge on `state_dir` (its pods' gateway), None where pods share the
    host's network."""
    from reference.runtime.network import Bridge

    name = Bridge(state_dir).name
    with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError):
        done = subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", name], capture_output=True, text=True,
                              timeout=10)
        if done.returncode == 0:
            return str(json.loads(done.stdout)[0]["addr_info"][0]["local"])
    return None

