"""`python -m reference.dataplane`: the data plane process (started by the platform)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from reference.dataplane.server import DataPlane
from reference.informer import ApiAccess


def main() -> None:
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
    asyncio.run(_run(DataPlane(access, args.state_dir), args.host, args.port, args.admin_port))


async def _run(plane: DataPlane, host: str, port: int, admin_port: int) -> None:
    task = asyncio.create_task(plane.run(host, port, admin_port))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


if __name__ == "__main__":
    main()
