"""`python -m kproof.cluster --state-dir DIR`: the cluster's supervisor, as `kproof cluster up --detach` starts
it (in a session of its own, its output in DIR/cluster.log, its progress in DIR/progress.jsonl)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from kproof.cluster.build import BuildCache
from kproof.cluster.progress import Reporter
from kproof.cluster.state import Layout
from kproof.cluster.supervisor import Supervisor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kproof.cluster")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    layout = Layout(args.state_dir.resolve())
    reporter = Reporter(layout.progress, show=lambda event: print(event.get("text"), flush=True))
    return Supervisor(layout, BuildCache(args.cache_dir), reporter, build=not args.no_build).run()


if __name__ == "__main__":
    sys.exit(main())
