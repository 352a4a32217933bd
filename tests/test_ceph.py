"""The single-node Ceph of seed 003 (reference.ceph), started for real: its gateway stores objects and pushes
each one's event to a topic's endpoint, and stopping it leaves no daemon and no mount behind; `kproof up
--ceph` starts it beside the platform with the seed's bucket and topic, and `kproof down` stops it."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reference.ceph import notifications
from reference.ceph.cluster import DAEMONS, LocalCeph, unavailable
from reference.host.processes import pids_of, recorded, snapshot
from tests.test_cli import kproof

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=f"no Ceph here: {unavailable()}")


class Pushed(http.server.BaseHTTPRequestHandler):
    """An endpoint for RGW's pushes: records each object key it is told of."""

    keys: list[str] = []

    def do_POST(self) -> None:  # http.server's name for the handler
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Pushed.keys += [record["s3"]["object"]["key"] for record in json.loads(body)["Records"]]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pushed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Pushed.keys = []
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def ceph_daemons(directory: Path) -> list[int]:
    """Pids of ceph-mon, ceph-osd or radosgw processes that run on `directory`'s configuration."""
    found = []
    for pid in snapshot():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if Path(argv[0].decode()).name in ("ceph-mon", "ceph-osd", "radosgw") and \
                str(directory / "ceph.conf").encode() in argv:
            found.append(pid)
    return found


def test_a_fresh_ceph_stores_objects_pushes_their_events_and_leaves_nothing(tmp_path: Path, endpoint: str) -> None:
    ceph = LocalCeph(tmp_path / "ceph")
    started = time.monotonic()
    gateway = ceph.start(die_with_parent=True)
    try:
        took = time.monotonic() - started
        print(f"\nCeph {gateway.version} started in {took:.1f}s: {gateway.seconds}")
        assert took < 90 and ceph.running() == gateway
        assert {entry.name for entry in recorded(ceph.directory) if pids_of(entry)} == set(DAEMONS)
        s3, sns = notifications.clients(gateway.endpoint, gateway.access_key, gateway.secret_key)
        notifications.prepare(s3, sns, "buck", "sub1")
        assert notifications.point_at(s3, sns, "sub1", endpoint) == ["buck"]
        keys = [f"cat-{i}.jpg" for i in range(1, 11)]
        for key in keys:
            s3.put_object(Bucket="buck", Key=key, Body=key.encode())
        assert s3.get_object(Bucket="buck", Key="cat-7.jpg")["Body"].read() == b"cat-7.jpg"
        deadline = time.monotonic() + 10
        while len(Pushed.keys) < len(keys) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(Pushed.keys) == sorted(keys), "each object's event pushed once"
    finally:
        stopped = ceph.stop()
    assert stopped == list(DAEMONS)
    assert ceph.running() is None and ceph_daemons(ceph.directory) == []
    assert str(ceph.directory) not in Path("/proc/self/mounts").read_text()


def test_up_with_ceph_gives_the_seeds_bucket_and_down_stops_it(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    try:
        started = kproof("up", "--detach", "--ceph", "--state-dir", str(state_dir))
        endpoint = kproof("status", "--field", "ceph", "--state-dir", str(state_dir)).stdout.strip()
        assert endpoint.startswith("http://127.0.0.1:") and endpoint in started.stdout
        info = json.loads((state_dir / "ceph" / "ceph.json").read_text())
        s3, _ = notifications.clients(endpoint, info["access_key"], info["secret_key"])
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["buck"]
        assert s3.get_bucket_notification_configuration(Bucket="buck")["TopicConfigurations"][0]["Id"] == "sub1"
    finally:
        kproof("down", "--state-dir", str(state_dir), check=False)
    assert ceph_daemons((state_dir / "ceph").resolve()) == []
    assert kproof("status", "--field", "ceph", "--state-dir", str(state_dir), check=False).stdout.strip() == ""
