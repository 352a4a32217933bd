"""`kproof cluster up | down | status`: upstream Kubernetes and Knative on this machine (docs/cluster.md)."""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
from pathlib import Path

from kproof.commands.common import console, print_status

DEFAULT_STATE_DIR = Path(".kproof-cluster")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("cluster", help="run upstream Kubernetes and Knative on this machine",
                                   description="Kubernetes and Knative built from their published Go modules, "
                                   "run as processes; kproof's runtime is the node, its data plane the ingress.")
    actions = parser.add_subparsers(dest="action", required=True)
    up = _state_dir(actions.add_parser("up", help="build what is missing, start the cluster, install Knative"))
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.add_argument("--no-build", action="store_true", help="fail instead of building what the cache lacks")
    up.add_argument("--cache-dir", type=Path, help="the build cache (default ~/.cache/kproof/cluster, or "
                    "$KPROOF_CLUSTER_CACHE)")
    build = actions.add_parser("build", help="build what the cache lacks, start nothing (CI does this first)")
    build.add_argument("--cache-dir", type=Path, help="the build cache (default as for up)")
    build.add_argument("--logs", type=Path, default=Path(".kproof-cluster-build"),
                       help="where go's output goes (default .kproof-cluster-build)")
    _state_dir(actions.add_parser("down", help="stop the cluster and remove everything it made on this machine"))
    status = _state_dir(actions.add_parser("status", help="the kubeconfig, the ingress and each component's health"))
    status.add_argument("--json", action="store_true")
    parser.set_defaults(func=handle)
    return parser


def _state_dir(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help="where the cluster keeps its certificates, data and logs (default .kproof-cluster)")
    return parser


def handle(args: argparse.Namespace) -> int:
    return {"up": _up, "build": _build, "down": _down, "status": _status}[args.action](args)


def _print_access(data: dict) -> None:
    console.print(f"API server:  {data.get('api')}")
    console.print(f"ingress:     {data.get('ingress') or '(no KIngress implementation running)'}")
    console.print(f"kubeconfig:  {data.get('kubeconfig')}")
    console.print(f"\nPoint kubectl at it:\n  export KUBECONFIG={data.get('kubeconfig')}\n  kubectl get pods -A")


def _up(args: argparse.Namespace) -> int:
    from kproof.cluster.build import BuildCache
    from kproof.cluster.progress import READY, Display, Reporter, follow
    from kproof.cluster.state import Layout
    from kproof.cluster.status import running
    from kproof.cluster.supervisor import Supervisor
    from reference.host.processes import private_dir

    layout = Layout(args.state_dir.resolve())
    current = running(layout)
    if current:
        console.print(f"a cluster already runs on {layout.root} (pid {current['pid']}, {current.get('phase')})")
        _print_access(current)
        return 0
    private_dir(layout.root)
    display = Display(console)
    if not args.detach:
        def show(event: dict) -> None:
            display(event)
            if event.get("state") == READY:
                display.close()
                _print_access(running(layout) or {})
                console.print("\nrunning in the foreground; Ctrl-C stops it and removes everything it made")

        try:
            return Supervisor(layout, BuildCache(args.cache_dir), Reporter(layout.progress, show),
                              build=not args.no_build).run()
        finally:
            display.close()
    command = [sys.executable, "-m", "kproof.cluster", "--state-dir", str(layout.root)]
    if args.cache_dir:
        command += ["--cache-dir", str(args.cache_dir.resolve())]
    if args.no_build:
        command.append("--no-build")
    with (layout.root / "cluster.log").open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    try:
        final = follow(layout.progress, process.pid, display, lambda: process.poll() is None)
    except KeyboardInterrupt:
        display.close()
        console.print(f"the cluster goes on starting in the background (pid {process.pid}); "
                      f"`kproof cluster status --state-dir {args.state_dir}` says how far it is")
        return 130
    display.close()
    if final is not None and final.get("state") == READY:
        console.print(f"cluster running (supervisor pid {process.pid}); stop it with "
                      f"`kproof cluster down --state-dir {args.state_dir}`; log: {layout.root / 'cluster.log'}")
        _print_access(running(layout) or {})
        return 0
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(120)
    console.print(f"[red]the cluster did not start; see {layout.root / 'cluster.log'} and {layout.logs}/[/red]")
    return 1


def _build(args: argparse.Namespace) -> int:
    from kproof.cluster.build import BuildCache, BuildError, go_command
    from kproof.cluster.supervisor import build_message
    from kproof.cluster.versions import MODULES

    cache = BuildCache(args.cache_dir)
    missing = cache.missing(MODULES)
    if missing and go_command() is None:
        console.print("[red]no Go toolchain: install Go, or put `go` on PATH[/red]")
        return 1
    for module in MODULES:
        if module not in missing:
            console.print(f"{', '.join(module.binaries)} ({module.path} {module.version}): built before, in "
                          f"{cache.entry(module)}")
            continue
        log = args.logs / f"build-{module.path.replace('/', '_')}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with console.status(build_message(module)):
            try:
                cache.build(module, log)
            except BuildError as err:
                console.print(f"[red]{err}[/red] (see {log})")
                return 1
        console.print(f"built {', '.join(module.binaries)} ({module.path} {module.version})")
    return 0


def _down(args: argparse.Namespace) -> int:
    from kproof.cluster.build import BuildCache
    from kproof.cluster.state import Layout
    from kproof.cluster.teardown import stop_supervisor, teardown

    layout = Layout(args.state_dir.resolve())
    if not layout.root.is_dir():
        console.print(f"no cluster on {layout.root}")
        return 0
    with console.status("stopping the cluster (the node agent's pods first, then the control plane)"):
        supervisor = stop_supervisor(layout)
        removed = teardown(layout, BuildCache())
    if supervisor:
        console.print(f"stopped the cluster (its supervisor had {supervisor})")
    if removed:
        console.print(f"removed what was left: {', '.join(removed)}")
    if not supervisor and not removed:
        console.print(f"no cluster runs on {layout.root}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from kproof.cluster.state import Layout
    from kproof.cluster.status import healthy, status_of

    report = status_of(Layout(args.state_dir.resolve()))
    if args.json:
        print(json.dumps(report, indent=2))
    elif not report["running"]:
        console.print(f"no cluster runs on {report['state_dir']}")
    else:
        print_status(f"{report['phase']} (supervisor pid {report['pid']})", report,
                     ("api", "ingress", "kubeconfig", "bridge", "pod_cidr", "dns", "catalog"),
                     [*report["components"].items(), ("knative", report["knative"] or "-")])
    return 0 if healthy(report) else 1
