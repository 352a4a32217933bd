"""`kproof run`: run the conformance suite against the embedded reference or a cluster, write reports/ and a
results bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kproof import bundle
from kproof.commands.argtypes import existing_path
from kproof.commands.common import console
from kproof.profiles import DEFAULT_PROFILE, PROFILES
from kproof.run import RunOptions, list_tests, run
from kproof.spec import SpecError, level_names, state_names


def _levels(text: str) -> str:
    try:
        return ",".join(level_names(text))
    except SpecError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _states(text: str) -> str:
    try:
        return ",".join(state_names(text))
    except SpecError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def add_selection(parser: argparse.ArgumentParser) -> None:
    """The options that choose the tests: `kproof run` and `kproof images` share them."""
    profiles = "; ".join(f"{p.name}: {p.help}" for p in PROFILES.values())
    parser.add_argument("--profile", choices=tuple(PROFILES), default=DEFAULT_PROFILE,
                        help=f"{profiles} (default {DEFAULT_PROFILE})")
    parser.add_argument("--level", type=_levels, metavar="LEVELS",
                        help="only these requirement levels: must, should, may (comma-separated)")
    parser.add_argument("--state", type=_states, metavar="STATES",
                        help="only these feature states: stable, beta, alpha (comma-separated)")
    parser.add_argument("--focus", action="append", metavar="REGEX", help="only tests whose id matches (repeat: any)")
    parser.add_argument("--skip", action="append", metavar="REGEX", help="leave out tests whose id matches (repeat)")
    parser.add_argument("--area", action="append", help="only this conformance area (repeat); no load tests then")
    parser.add_argument("-k", dest="select", help="only tests matching this pytest -k expression")
    parser.add_argument("--no-load", dest="load", action="store_false", help="leave out the profile's load tests")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("run", help="run the conformance suite, write reports/ and a results bundle")
    parser.add_argument("--kubeconfig", type=Path, help="a target cluster's kubeconfig (default: embedded)")
    parser.add_argument("--ingress", help="the target's ingress URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--cluster", nargs="?", type=Path, const=Path(".kproof-cluster"), metavar="STATE_DIR",
                        help="the cluster `kproof cluster up` runs (its kubeconfig and ingress; default state "
                             "directory .kproof-cluster)")
    parser.add_argument("--compare", nargs=2, type=existing_path, metavar=("REFERENCE", "UPSTREAM"),
                        help="run nothing: print two runs' verdicts side by side, per area and per test (each a "
                             "results bundle or a reports folder)")
    parser.add_argument("--compare-out", type=Path, metavar="FILE", help="with --compare, also write the tables "
                        "there as Markdown")
    parser.add_argument("--compare-all", action="store_true",
                        help="with --compare, list every test, not only those whose verdicts differ")
    parser.add_argument("--domain", help="the target's domain (default: from config-domain)")
    parser.add_argument("--capability", action="append", help="a capability the target has (repeat)")
    parser.add_argument("--kafka-bootstrap", help="a Kafka the tests and the cluster both reach")
    parser.add_argument("--app-registry", help="where kproof's apps' images are (image = <registry>/<app>; default "
                                               "ghcr.io/kproof): a mirror's, see kproof images")
    add_selection(parser)
    parser.add_argument("--list", action="store_true",
                        help="print what would run, with its level, state and required capabilities; run nothing")
    parser.add_argument("--rerun-failed", type=existing_path, metavar="BUNDLE",
                        help="run only the tests that failed in this results bundle")
    parser.add_argument("--keep", action="store_true",
                        help="keep what the run created on the target (kproof cleanup removes it later)")
    parser.add_argument("--slo", type=existing_path, metavar="FILE",
                        help="SLO thresholds to check the measurements against (default fixtures/slo/knative.yaml)")
    parser.add_argument("--break-services", metavar="REGEX",
                        help="break, on purpose, the Knative Services of the tests whose id matches (their container "
                             "exits at start): to see what a failure leaves in the bundle")
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.set_defaults(func=handle, check=check)
    return parser


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.cluster is not None:
        if args.kubeconfig or args.ingress:
            parser.error("--cluster names the target itself: leave out --kubeconfig and --ingress")
        from kproof.cluster.status import target_of

        try:
            args.kubeconfig, args.ingress = target_of(args.cluster)
        except LookupError as err:
            parser.error(str(err))
    if bool(args.kubeconfig) != bool(args.ingress):
        parser.error("name a target with both --kubeconfig and --ingress (or neither for the embedded reference)")
    if args.rerun_failed and args.list:
        parser.error("--rerun-failed runs the failed tests; --list lists a selection: give one")


def handle(args: argparse.Namespace) -> int:
    if args.compare:
        return compare(args.compare, args.compare_out, args.compare_all)
    options = RunOptions(reports=args.reports, kubeconfig=args.kubeconfig, ingress=args.ingress,
                         domain=args.domain, capabilities=args.capability or [], select=args.select,
                         kafka_bootstrap=args.kafka_bootstrap, areas=args.area or [], load=args.load,
                         profile=args.profile, levels=args.level, states=args.state, focus=args.focus or [],
                         skip=args.skip or [], keep=args.keep, break_services=args.break_services,
                         thresholds=args.slo, app_registry=args.app_registry,
                         command_line=["kproof", *sys.argv[1:]])
    if args.list:
        return list_tests(options, console)
    if args.rerun_failed:
        try:
            failed = bundle.open_bundle(args.rerun_failed).failed()
        except bundle.BundleError as err:
            console.print(f"[red]{err}[/red]")
            return 2
        if not failed:
            console.print(f"no test failed in {args.rerun_failed}: nothing to rerun")
            return 0
        console.print(f"rerunning {len(failed)} test(s) that failed in {args.rerun_failed}")
        options.nodeids = failed
    return run(options, console)


def compare(paths: list[Path], out: Path | None, every_test: bool) -> int:
    """`--compare A B`: the side-by-side table of two runs."""
    from rich.table import Table

    from kproof.cluster.compare import by_area, markdown, pass_rate, per_test, read_side

    try:
        sides = [read_side(path) for path in paths]
    except bundle.BundleError as err:
        console.print(f"[red]{err}[/red]")
        return 2
    if len({side.name for side in sides}) < len(sides):
        for side, label in zip(sides, ("A", "B"), strict=True):
            side.name = f"{label}: {side.name}"
    areas = Table(title="per area: passed/applicable (skipped)")
    areas.add_column("area")
    for side in sides:
        areas.add_column(side.name)
    for row in by_area(sides):
        areas.add_row(row.area, *(f"{pass_rate(c)} ({c['skipped']})" for c in row.counts))
    console.print(areas)
    tests = Table(title="per test" if every_test else "tests whose verdicts differ")
    tests.add_column("test", overflow="fold")
    for side in sides:
        tests.add_column(side.name)
    for nodeid, verdicts in per_test(sides, not every_test):
        tests.add_row(nodeid, *verdicts)
    console.print(tests)
    if out is not None:
        out.write_text(markdown(sides, not every_test))
        console.print(f"wrote {out}")
    return 0
