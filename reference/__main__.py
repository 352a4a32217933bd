"""`python -m reference --state-dir DIR`: run the reference platform in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from reference.host.processes import StateDirBusy
from reference.platform import Platform, PlatformConfig
from reference.runtime.catalog import CatalogError
from reference.runtime.nodes import NodeFileError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reference", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=Path(".kproof"))
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--api-port", type=int, default=0, help="0 picks the last used or a free port")
    parser.add_argument("--ingress-port", type=int, default=0, help="0 picks the last used or a free port")
    parser.add_argument("--images", type=Path, action="append", default=[],
                        help="an extra image catalog (YAML, like fixtures/images.yaml); repeatable")
    parser.add_argument("--kafka-bootstrap", help="a Kafka to use (host:port,...); default $KPROOF_KAFKA_BOOTSTRAP, "
                        "else a Testcontainers Kafka when Docker answers, else the embedded broker")
    parser.add_argument("--nodes", type=Path,
                        help="a node file: more nodes, virtual GPUs (see reference/runtime/nodes.py)")
    parser.add_argument("--upstream-strict", action="store_true",
                        help="refuse ACK's xpa autoscaler class as upstream Knative does "
                             "(config-kproof's upstream-strict)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # the standard loop works too, a little slower
        pass
    config = PlatformConfig(args.state_dir.resolve(), args.host, args.api_port, args.ingress_port, args.images,
                            args.kafka_bootstrap, args.nodes, upstream_strict=args.upstream_strict)
    try:
        asyncio.run(_run(config))
    except (StateDirBusy, CatalogError, NodeFileError) as err:  # said in one line, not as a traceback
        logging.getLogger("kproof.reference").error("%s", err)
        sys.exit(2)


async def _run(config: PlatformConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Platform(config).run_forever(stop)


if __name__ == "__main__":
    main()
