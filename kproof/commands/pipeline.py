"""`kproof pipeline -c CONFIG`: run a Benthos-style stream config (seed 002's jobs) to its end."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from kproof.commands.common import console


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("pipeline", help="run a Benthos-style stream config (seed 002's jobs)")
    parser.add_argument("-c", "--config", type=Path, required=True, help="the config (YAML; ${ENV} interpolated)")
    parser.set_defaults(func=handle)
    return parser


def handle(args: argparse.Namespace) -> int:
    """Runs the stream; exit 1 when a row was not written, 2 when the config cannot be read."""
    from kproof.pipeline.config import ConfigError, load
    from kproof.pipeline.runner import run as run_stream

    try:
        config = load(args.config)
    except ConfigError as err:  # its contents, with ${ENV} filled in: checked once the command runs
        console.print(f"[red]{args.config}: {err}[/red]")
        return 2

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await run_stream(config, progress=console.print, stop=stop)

    try:
        report = asyncio.run(main())
    except OSError as err:  # the database or the service cannot be reached at all
        console.print(f"[red]{args.config}: {err}[/red]")
        return 1
    console.print(report.summary())
    for reason in report.reasons:
        console.print(f"[red]  {reason}[/red]")
    return 0 if report.ok else 1
