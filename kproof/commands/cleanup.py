"""`kproof cleanup`: remove what kproof runs left on a target (everything labelled kproof.dev/run, or one run's)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kproof import cleanup
from kproof.commands.argtypes import float_above
from kproof.commands.common import add_state_dir, console
from kproof.embedded import read_endpoints
from kproof.target import Target


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_state_dir(subparsers.add_parser(
        "cleanup", help="remove what kproof runs left on a target (objects labelled kproof.dev/run)"))
    parser.add_argument("--run", metavar="ID", help="only what this run made (its id: kproof run prints it)")
    parser.add_argument("--kubeconfig", type=Path,
                        help="the target (default: the reference on --state-dir when one runs there, else "
                             "$KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--timeout", type=float_above(0, "must be above 0"), default=120.0,
                        help="seconds to wait for what was deleted to go (default 120)")
    parser.set_defaults(func=handle)
    return parser


def kubeconfig_of(args: argparse.Namespace) -> Path:
    if args.kubeconfig:
        return args.kubeconfig
    if read_endpoints(args.state_dir.resolve()) is not None:
        return args.state_dir.resolve() / "kubeconfig"
    return Path(os.environ.get("KUBECONFIG") or Path.home() / ".kube" / "config")


def handle(args: argparse.Namespace) -> int:
    kubeconfig = kubeconfig_of(args)
    if not kubeconfig.is_file():
        console.print(f"[red]no kubeconfig at {kubeconfig}: give --kubeconfig, or start the reference[/red]")
        return 2
    target = Target(kubeconfig=kubeconfig)
    removed, left = cleanup.remove(target, args.run, timeout=args.timeout)
    what = f"run {args.run}" if args.run else "every kproof run"
    for found in removed:
        console.print(f"removed {found.describe()}")
    if not removed:
        console.print(f"nothing of {what} was left on {target.api_url}")
    for found in left:
        console.print(f"[red]still there after {args.timeout:g}s:[/red] {found.describe()}")
    return 1 if left else 0
