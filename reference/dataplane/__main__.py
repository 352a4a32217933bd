"""`python -m reference.dataplane`: the data plane process (started by the platform).

It dies with the platform (a killed platform must not leave it holding the ingress port) and records
itself in the state directory, so that `kproof down` and the next start can stop it should it not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

from reference.dataplane.informer import ApiAccess
from reference.dataplane.server import DataPlane
from reference.host.processes import die_with_platform, forget, record

RECORD = "dataplane"


def main() -> None:
    die_with_platform()
    parser = argparse.ArgumentParser(prog="python -m reference.dataplane")
    parser.add_argument("--api", required=True)
    parser.add_argument("--ca", type=Path, required=True)
    parser.add_argument("--token-file", type=Path, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--admin-port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    access = ApiAccess(args.api, args.token_file.read_text().strip(), args.ca)
    me = record(args.state_dir, RECORD, os.getpid())
    try:
        asyncio.run(_run(DataPlane(access, args.state_dir), args.host, args.port, args.admin_port))
    finally:
        if me is not None:
            forget(args.state_dir, RECORD, me.pid)


async def _run(plane: DataPlane, host: str, port: int, admin_port: int) -> None:
    task = asyncio.create_task(plane.run(host, port, admin_port))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


if __name__ == "__main__":
    main()
