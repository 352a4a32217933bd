"""`kproof status`: the reference platform's endpoints and the health of its components; with `--run`, the
run going on (or the last one) in a reports folder: the test being run, the counts so far, the time left."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kproof.commands.common import add_state_dir, console, print_status
from kproof.embedded import CEPH_DIR, process_alive, read_endpoints, readiness
from kproof.postgres import LocalPostgres
from kproof.run import STATUS, describe_status, read_status
from reference.ceph.cluster import LocalCeph

FIELDS = ("api", "ingress", "kafka", "postgres", "ceph", "kubeconfig")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_state_dir(subparsers.add_parser("status", help="show the reference platform's endpoints and health"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--field", choices=FIELDS,
                        help="print only this endpoint (for scripts: INGRESS=$(kproof status --field ingress))")
    parser.add_argument("--run", action="store_true",
                        help="the kproof run going on in --reports instead: its test, counts and time left")
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="the run's reports folder (--run)")
    parser.set_defaults(func=handle)
    return parser


def run_status(reports: Path) -> tuple[int, str, dict | None]:
    """(exit status, line, status): 0 while a run goes on or after one finished; 1 without one."""
    status = read_status(reports / STATUS)
    if status is None:
        return 1, f"no kproof run has written {reports / STATUS}", None
    if status.get("state") in ("running", "collecting") and not process_alive(int(status.get("pid") or 0)):
        status = {**status, "state": "interrupted"}  # killed: it never wrote its end
    return 0, describe_status(status), status


def handle(args: argparse.Namespace) -> int:
    if args.run:
        code, line, status = run_status(args.reports)
        print(json.dumps(status, indent=2) if args.json and status else line)
        return code
    status = status_of(args.state_dir.resolve())
    if args.field:
        print(status.get(args.field) or "")
        return 0 if status["running"] else 1
    if args.json:
        print(json.dumps(status, indent=2))
    elif not status["running"]:
        console.print(f"no reference runs on {status['state_dir']}")
    else:
        print_status(f"running (pid {status['pid']})", status, ("api", "ingress", "kafka", "postgres", "ceph",
                     "kubeconfig", "sandbox", "limits", "network"), status["components"].items())
    healthy = all(h == "ok" for h in status["components"].values())
    return 0 if status["running"] and healthy else 1


def status_of(state_dir: Path) -> dict:
    endpoints = read_endpoints(state_dir)
    status = {
        "running": endpoints is not None,
        "state_dir": str(state_dir),
        "kubeconfig": str(state_dir / "kubeconfig") if (state_dir / "kubeconfig").exists() else None,
        "api": endpoints.api if endpoints else None,
        "ingress": endpoints.ingress if endpoints else None,
        "kafka": endpoints.kafka if endpoints else None,
        "postgres": (LocalPostgres(state_dir).running() or {}).get("dsn"),
        "ceph": getattr(LocalCeph(state_dir / CEPH_DIR).running(), "endpoint", None),  # its S3 endpoint
        "pid": endpoints.pid if endpoints else None,
        "components": {},
        **(endpoints.containment if endpoints else {}),
    }
    if endpoints:
        try:
            status["components"] = readiness(endpoints)
        except OSError as err:
            status["components"] = {"apiserver": f"unreachable: {err}"}
    return status
