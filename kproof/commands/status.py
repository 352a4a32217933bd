"""`kproof status`: the reference platform's endpoints and the health of its components."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kproof.commands.common import add_state_dir, console
from kproof.embedded import read_endpoints, readiness
from kproof.postgres import LocalPostgres

FIELDS = ("api", "ingress", "kafka", "postgres", "kubeconfig")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_state_dir(subparsers.add_parser("status", help="show the reference platform's endpoints and health"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--field", choices=FIELDS,
                        help="print only this endpoint (for scripts: INGRESS=$(kproof status --field ingress))")
    parser.set_defaults(func=handle)
    return parser


def handle(args: argparse.Namespace) -> int:
    status = status_of(args.state_dir.resolve())
    if args.field:
        print(status.get(args.field) or "")
        return 0 if status["running"] else 1
    if args.json:
        print(json.dumps(status, indent=2))
    elif not status["running"]:
        console.print(f"no reference runs on {status['state_dir']}")
    else:
        console.print(f"running (pid {status['pid']})")
        for key in ("api", "ingress", "kafka", "postgres", "kubeconfig", "sandbox", "limits", "network"):
            console.print(f"{key + ':':12} {status.get(key) or '-'}")
        for name, health in status["components"].items():
            color = "green" if health == "ok" else "red"
            console.print(f"  {name:26} [{color}]{health}[/{color}]")
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
