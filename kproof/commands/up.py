"""`kproof up`: start the reference platform, in the foreground or detached."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from kproof.commands.common import add_state_dir, console
from kproof.embedded import PlatformError, ReferenceProcess, read_endpoints
from reference.host.processes import StateDirBusy, describe, private_dir, stop_leftovers


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_state_dir(subparsers.add_parser("up", help="start the reference platform"))
    parser.add_argument("--detach", action="store_true", help="run in the background")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--api-port", type=int, default=0, help="API port (default: the last one, else free)")
    parser.add_argument("--kafka-bootstrap", help="a Kafka to use (default $KPROOF_KAFKA_BOOTSTRAP, else a "
                        "Testcontainers Kafka when Docker answers, else the embedded Tansu broker)")
    parser.add_argument("--postgres", action="store_true", help="also start a private PostgreSQL (seed 002's "
                        "pipeline; `kproof status --field postgres` gives its DSN)")
    parser.add_argument("--ceph", action="store_true", help="also start a single-node Ceph with an object gateway "
                        "(RGW) and seed 003's S3 user, bucket and topic (`kproof status --field ceph` gives its S3 "
                        "endpoint); `kproof down` stops it")
    parser.add_argument("--nodes", type=Path, help="a node file: more nodes, with virtual GPUs (kept for later "
                        "starts; see fixtures/nodes/)")
    parser.add_argument("--images", type=Path, action="append",
                        help="an image catalog of your own (YAML like fixtures/images.yaml; repeat; kept for later "
                        "starts)")
    parser.add_argument("--upstream-strict", action="store_true",
                        help="refuse ACK's forms where upstream Knative does (the xpa autoscaler class: 422); without "
                        "it they are accepted with a warning (config-kproof's upstream-strict)")
    parser.set_defaults(func=handle)
    return parser


def handle(args: argparse.Namespace) -> int:
    state_dir = args.state_dir.resolve()
    running = read_endpoints(state_dir)
    if running:
        console.print(f"a reference already runs on {state_dir} (pid {running.pid})")
        if args.images or args.nodes or args.upstream_strict:
            console.print("[yellow]--images, --nodes and --upstream-strict apply from the next start: `kproof down` "
                          "first[/yellow]")
        _print_access(state_dir, running.api, running.ingress)
        return _start_ceph(state_dir) if args.ceph else 0
    # The files' contents are checked here, not by argparse: a running platform ignores them (above).
    problem = _node_file_problem(args.nodes)
    if problem:
        console.print(f"[red]node file: {problem}[/red]")
        return 2
    problem = _images_problem(args.images)
    if problem:
        console.print(f"[red]image catalog: {problem}[/red]")
        return 2
    private_dir(state_dir)  # before PostgreSQL chooses where its data goes
    if not _stop_leftovers(state_dir):
        return 1
    if args.detach:
        return _start_detached(state_dir, args)
    if args.postgres and _start_postgres(state_dir):
        return 1
    return _run_foreground(state_dir, args)


def _print_access(state_dir: Path, api: str, ingress: str | None) -> None:
    kubeconfig = state_dir / "kubeconfig"
    console.print(f"API server:  {api}")
    console.print(f"ingress:     {ingress or '(not running)'}")
    console.print(f"kubeconfig:  {kubeconfig}")
    console.print(f"\nPoint kubectl at it:\n  export KUBECONFIG={kubeconfig}\n  kubectl get ksvc")


def _node_file_problem(path: Path | None) -> str | None:
    """What is wrong with a node file, checked before anything starts."""
    if path is None:
        return None
    from reference.runtime.devices import discover
    from reference.runtime.nodes import NodeFileError, load_node_file

    try:
        load_node_file(path, discover())
    except NodeFileError as err:
        return str(err)
    return None


def _images_problem(paths: list[Path] | None) -> str | None:
    """What is wrong with an image catalog given to `--images`, checked before anything starts."""
    from reference.runtime.catalog import Catalog, CatalogError

    try:
        Catalog.load(*(paths or []))
    except CatalogError as err:
        return str(err)
    return None


def _stop_leftovers(state_dir: Path) -> bool:
    """Stops what a killed platform left running on `state_dir`; False while that platform still runs."""
    try:
        stopped = stop_leftovers(state_dir)
    except StateDirBusy as err:
        console.print(f"[red]{err}[/red]")
        return False
    if stopped:
        console.print(f"stopped what a killed platform left running on {state_dir}: {describe(stopped)}")
    return True


def _start_detached(state_dir: Path, args: argparse.Namespace) -> int:
    process = ReferenceProcess(state_dir, args.host, args.api_port, args.kafka_bootstrap, args.nodes,
                               tuple(args.images or ()), upstream_strict=args.upstream_strict)
    with console.status("starting the reference platform"):
        try:
            endpoints = process.start()
        except PlatformError as err:
            console.print(f"[red]{err}[/red]")
            return 1
    console.print(f"reference platform running (pid {endpoints.pid}); stop it with "
                  f"`kproof down --state-dir {args.state_dir}`; log: {process.log_path}")
    _print_access(state_dir, endpoints.api, endpoints.ingress)
    if args.postgres and _start_postgres(state_dir):
        return 1
    return _start_ceph(state_dir) if args.ceph else 0


def _start_postgres(state_dir: Path) -> int:
    """The private PostgreSQL of `--postgres` (seed 002's pipeline), beside the platform."""
    from kproof.postgres import LocalPostgres, PostgresUnavailable

    try:
        with console.status("starting PostgreSQL"):
            dsn = LocalPostgres(state_dir).ensure()
    except PostgresUnavailable as err:
        console.print(f"[red]{err}[/red]")
        return 1
    console.print(f"PostgreSQL:  {dsn}")
    return 0


def _start_ceph(state_dir: Path) -> int:
    """`--ceph`: a single-node Ceph beside the platform (reference.ceph), its gateway reachable from the
    platform's pods, with seed 003's bucket `buck` notifying topic `sub1` (the seed's source points the topic
    at itself when it starts). Already running, it is only shown."""
    from kproof.embedded import CEPH_DIR
    from reference.ceph import notifications
    from reference.ceph.cluster import CephUnavailable, LocalCeph, pod_address

    ceph = LocalCeph(state_dir / CEPH_DIR)
    gateway = ceph.running()
    try:
        if gateway is None:
            with console.status("starting Ceph (a monitor, an OSD on memstore, an object gateway)"):
                gateway = ceph.start(pod_address(state_dir))
        s3, sns = notifications.clients(gateway.endpoint, gateway.access_key, gateway.secret_key)
        notifications.prepare(s3, sns, "buck", "sub1")
    except CephUnavailable as err:
        console.print(f"[red]Ceph: {err}[/red]")
        return 1
    steps = ", ".join(f"{step} {seconds:g}s" for step, seconds in gateway.seconds.items())
    console.print(f"Ceph:        {gateway.version}" + (f" (started: {steps})" if steps else ""))
    console.print(f"S3 endpoint: {gateway.endpoint} (from pods: {gateway.pod_endpoint})")
    console.print(f"S3 user:     {gateway.user}: S3_ACCESS_KEY_ID={gateway.access_key} "
                  f"S3_SECRET_ACCESS_KEY={gateway.secret_key}")
    console.print("seed 003:    bucket buck notifies topic sub1 of created objects")
    return 0


def _run_foreground(state_dir: Path, args: argparse.Namespace) -> int:
    from reference.platform import Platform, PlatformConfig

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        platform = Platform(PlatformConfig(state_dir, args.host, args.api_port, images=list(args.images or []),
                                           kafka_bootstrap=args.kafka_bootstrap, nodes=args.nodes,
                                           upstream_strict=args.upstream_strict))
        await platform.start()
        _print_access(state_dir, platform.endpoints["api"], platform.endpoints.get("ingress"))
        if args.ceph and await asyncio.to_thread(_start_ceph, state_dir):
            stop.set()
        console.print("\nrunning in the foreground; Ctrl-C stops it")
        try:
            await stop.wait()
        finally:
            await platform.stop()
            if args.ceph:
                from kproof.embedded import CEPH_DIR
                from reference.ceph.cluster import LocalCeph

                await asyncio.to_thread(LocalCeph(state_dir / CEPH_DIR).stop)

    asyncio.run(main())
    return 0
