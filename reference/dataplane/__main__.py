"""`python -m reference.dataplane`: the data plane process, in one of two modes.

Embedded (started by the platform, `--api ... --port ...`): it dies with the platform (a killed platform
must not leave it holding the ingress port) and records itself in the state directory, so that
`kproof down` and the next start can stop it should it not.

KIngress (`--kubeconfig ... --kingress-class ...`): the networking layer of a real cluster running Knative
(reference.dataplane.kingress), a daemon of its own:

    python3 -m reference.dataplane --kubeconfig FILE --kingress-class kproof.ingress.networking.knative.dev \\
        --listen 10.244.0.1:8091 --private-listen 10.244.0.1:8092 [--tls-listen 10.244.0.1:8443] \\
        [--admin-listen 127.0.0.1:8093] [--publish-address 10.244.0.1] [--state-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from reference.dataplane.informer import ApiAccess
from reference.dataplane.kingress import Address, KIngressPlane, Options
from reference.dataplane.server import DataPlane
from reference.host.processes import die_with_platform, forget, private_dir, record

RECORD = "dataplane"
KINGRESS_RECORD = "kingress"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reference.dataplane")
    embedded = parser.add_argument_group("embedded mode (started by the platform)")
    embedded.add_argument("--api")
    embedded.add_argument("--ca", type=Path)
    embedded.add_argument("--token-file", type=Path)
    embedded.add_argument("--host", default="127.0.0.1")
    embedded.add_argument("--port", type=int)
    embedded.add_argument("--admin-port", type=int)
    parser.add_argument("--state-dir", type=Path, help="required in embedded mode; in KIngress mode, where it "
                        "records itself and keeps its private files")
    cluster = parser.add_argument_group("KIngress mode (the networking layer of a Knative cluster)")
    cluster.add_argument("--kubeconfig", type=Path, help="the cluster's API server and credentials")
    cluster.add_argument("--kingress-class", help="the networking.knative.dev/ingress.class it serves")
    cluster.add_argument("--listen", type=Address.parse, help="HOST:PORT of the public listener")
    cluster.add_argument("--private-listen", type=Address.parse, help="HOST:PORT of the cluster-local listener")
    cluster.add_argument("--tls-listen", type=Address.parse, help="HOST:PORT of the public TLS listener")
    cluster.add_argument("--admin-listen", type=Address.parse, default=Address("127.0.0.1", 8093),
                         help="HOST:PORT of /healthz and /metrics (default 127.0.0.1:8093)")
    cluster.add_argument("--publish-address", help="publish the Services that front the ingress, their "
                         "endpoints and load balancer at this (non-loopback) address")
    cluster.add_argument("--node-ports", action="store_true", help="give the public Service the listeners' ports "
                         "as its node ports (they must be in the node-port range), where nothing forwards node ports")
    cluster.add_argument("--service-namespace", default="kproof-system")
    cluster.add_argument("--public-service", default="kproof-ingress")
    cluster.add_argument("--private-service", default="kproof-ingress-internal")
    cluster.add_argument("--cluster-domain", default="cluster.local")
    return parser


def main() -> None:
    parser = _parser()
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.kubeconfig is None:
        missing = [f"--{n.replace('_', '-')}" for n in ("api", "ca", "token_file", "state_dir", "port", "admin_port")
                   if getattr(args, n) is None]
        if missing:
            parser.error(f"embedded mode needs {', '.join(missing)} (or --kubeconfig for KIngress mode)")
        die_with_platform()
        _install_uvloop()
        access = ApiAccess(args.api, args.token_file.read_text().strip(), args.ca)
        _run_recorded(args.state_dir, RECORD, DataPlane(access, args.state_dir).run(args.host, args.port,
                                                                                  args.admin_port))
        return
    missing = [f"--{n.replace('_', '-')}" for n in ("kingress_class", "listen", "private_listen")
               if getattr(args, n) is None]
    if missing:
        parser.error(f"KIngress mode needs {', '.join(missing)}")
    _install_uvloop()
    scratch = private_dir(args.state_dir / "kingress") if args.state_dir else Path(tempfile.mkdtemp(prefix="kingress-"))
    try:
        access = ApiAccess.from_kubeconfig(args.kubeconfig, scratch / "kubeconfig")
        options = Options(args.kingress_class, args.listen, args.private_listen, args.admin_listen, scratch,
                          tls_listen=args.tls_listen, namespace=args.service_namespace,
                          public_service=args.public_service, private_service=args.private_service,
                          cluster_domain=args.cluster_domain, publish_address=args.publish_address,
                          node_ports=args.node_ports)
        plane = KIngressPlane(access, options)
        if args.state_dir:
            _run_recorded(args.state_dir, KINGRESS_RECORD, plane.run())
        else:
            asyncio.run(_until_signalled(plane.run()))
    finally:
        if not args.state_dir:
            shutil.rmtree(scratch, ignore_errors=True)


def _install_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass


def _run_recorded(state_dir: Path, name: str, work: Coroutine[Any, Any, None]) -> None:
    me = record(state_dir, name, os.getpid())
    try:
        asyncio.run(_until_signalled(work))
    finally:
        if me is not None:
            forget(state_dir, name, me.pid)


async def _until_signalled(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


if __name__ == "__main__":
    main()
