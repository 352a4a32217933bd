"""`python -m reference.node`: kproof's runtime as the node agent of a real Kubernetes cluster (see
reference/node/__init__.py). `kproof cluster up` starts it; it runs until SIGTERM, then stops every Pod it
started and removes their network namespaces (the Pods' objects stay, as a stopped kubelet leaves them)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from reference.dataplane.informer import ApiAccess
from reference.host.processes import private_dir
from reference.node import kubelet_server
from reference.node.cluster_api import ClusterApi
from reference.runtime.catalog import Catalog, CatalogError
from reference.runtime.kubelet import Kubelet
from reference.runtime.network import Bridge
from reference.runtime.nodes import NodeSpec, host_cpus, host_memory

KUBELET_PORT = 10250


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m reference.node", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True, help="the node's (system:node:<name>)")
    parser.add_argument("--node-name", default="kproof-node")
    parser.add_argument("--node-ip", required=True, help="the node's InternalIP: the cluster bridge's gateway")
    parser.add_argument("--state-dir", type=Path, required=True, help="pods' directories, logs and volumes")
    parser.add_argument("--images", type=Path, action="append", default=[],
                        help="an image catalog (ko:// references to binaries, ...); repeatable")
    parser.add_argument("--bridge", required=True, help="the cluster's bridge, made before the node agent starts")
    parser.add_argument("--pod-cidr", required=True, help="the node's pod addresses (its .spec.podCIDR)")
    parser.add_argument("--cluster-dns", default="10.96.0.10")
    parser.add_argument("--cluster-domain", default="cluster.local")
    parser.add_argument("--kubernetes-service", default="10.96.0.1", help="the `kubernetes` Service's address")
    parser.add_argument("--serving-cert", type=Path, required=True, help="the kubelet endpoint's certificate")
    parser.add_argument("--serving-key", type=Path, required=True)
    parser.add_argument("--client-ca", type=Path, required=True, help="the CA of the API server's client cert")
    parser.add_argument("--port", type=int, default=KUBELET_PORT, help="the kubelet endpoint's port")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace, stop: asyncio.Event) -> None:
    state = private_dir(args.state_dir.resolve())
    api = ClusterApi(ApiAccess.from_kubeconfig(args.kubeconfig, state / "pki"), args.node_name)
    node = NodeSpec(args.node_name, host_cpus(), host_memory(), address=args.node_ip, kubelet_port=args.port)
    service_env = {"KUBERNETES_SERVICE_HOST": args.kubernetes_service, "KUBERNETES_SERVICE_PORT": "443",
                   "KUBERNETES_SERVICE_PORT_HTTPS": "443", "KUBERNETES_PORT": f"tcp://{args.kubernetes_service}:443"}
    kubelet = Kubelet(api, state, Catalog.load(*args.images), node_env=service_env, nodes=[node],
                      bridge=Bridge.attach(state, args.bridge, args.pod_cidr),
                      cluster_dns=(args.cluster_dns, args.cluster_domain))
    runner = web.AppRunner(kubelet_server.app(kubelet.log_server))
    await runner.setup()
    await web.TCPSite(runner, args.node_ip, args.port,
                      ssl_context=kubelet_server.ssl_context(args.serving_cert, args.serving_key, args.client_ca)
                      ).start()
    task = asyncio.create_task(kubelet.run())
    try:
        await stop.wait()
    finally:
        await kubelet.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if kubelet.bridge is not None:
            await asyncio.to_thread(kubelet.bridge.stop)
        await runner.cleanup()
        await api.close()


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(args, stop)

    try:
        asyncio.run(serve())
    except CatalogError as err:
        print(f"node agent: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
