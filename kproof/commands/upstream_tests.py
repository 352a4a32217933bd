"""`kproof upstream-tests`: Knative's own conformance tests, built from their modules, against a target."""

from __future__ import annotations

import argparse
from pathlib import Path

from kproof.commands.common import console


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from kproof.upstream.suites import SUITES

    parser = subparsers.add_parser(
        "upstream-tests", help="run Knative's own conformance tests (built from its Go modules) against a target",
        description="Builds Knative's conformance test binaries and test images from the modules `kproof cluster` "
        "pins (Go's caches and kproof's build cache are reused), starts a reference (or uses --kubeconfig), runs "
        "the tests unmodified and writes JUnit and a summary to --reports.")
    parser.add_argument("--suite", action="append", choices=[s.name for s in SUITES],
                        help="run only this suite (repeatable; default: all)")
    parser.add_argument("--run", default="", help="a -test.run pattern for every suite selected")
    parser.add_argument("--reports", type=Path, default=Path("reports/upstream"),
                        help="where the JUnit files, go test -json output and summary go (default reports/upstream)")
    parser.add_argument("--kubeconfig", type=Path, help="run against this cluster instead of a new reference")
    parser.add_argument("--ingress-endpoint", default="127.0.0.1",
                        help="with --kubeconfig: the address the tests dial for the ingress (--ingressendpoint)")
    parser.add_argument("--gateway", default="kproof-system/kproof-ingress",
                        help="with --kubeconfig: NAMESPACE/NAME of the Service whose node port for port 80 the "
                        "tests dial (default kproof-system/kproof-ingress)")
    parser.add_argument("--state-dir", type=Path, default=Path(".kproof-upstream"),
                        help="the state directory of the reference started for the tests (default .kproof-upstream)")
    parser.add_argument("--build-only", action="store_true", help="build the binaries and images, run nothing")
    parser.add_argument("--jobs", type=int, default=1, help="packages Go builds at once (go build -p; default 1)")
    parser.set_defaults(func=handle)
    return parser


def handle(args: argparse.Namespace) -> int:
    from kproof.cluster.build import BuildError
    from kproof.upstream.session import Options, run

    namespace, _, name = args.gateway.partition("/")
    options = Options(reports=args.reports, suites=tuple(args.suite or ()), run=args.run,
                      kubeconfig=args.kubeconfig, ingress_endpoint=args.ingress_endpoint,
                      gateway=(namespace, name), state_dir=args.state_dir, build_only=args.build_only,
                      jobs=args.jobs)
    try:
        return run(options, say=console.print)
    except (BuildError, ValueError, RuntimeError) as err:
        console.print(f"[red]{err}[/red]")
        return 2
