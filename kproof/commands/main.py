"""The `kproof` command: the top-level parser, built from one module per sub-command in kproof/commands/."""

from __future__ import annotations

import argparse
import sys

from kproof import __version__
from kproof.commands import (
    cleanup,
    cluster,
    down,
    images,
    lint,
    load,
    models,
    pipeline,
    produce,
    report,
    results,
    run,
    simulate,
    status,
    tweets,
    up,
    upstream_tests,
)

# In the order `kproof --help` lists them. A new sub-command is a module with `register(subparsers)` that sets
# `func` (the handler: args -> exit status) and, for rules across arguments, `check` (parser, args -> None).
COMMANDS = (up, down, status, cluster, run, results, cleanup, images, load, produce, models, pipeline, tweets,
            simulate, lint, report, upstream_tests)


def _parsers() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    root = argparse.ArgumentParser(prog="kproof", description="Prove a Knative platform correct and fast.")
    root.add_argument("--version", action="version", version=f"kproof {__version__}")
    subparsers = root.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return root, subparsers


def parser() -> argparse.ArgumentParser:
    """The whole command line; `parse_args` also applies the sub-commands' rules across arguments."""
    return _parsers()[0]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The arguments, checked: a bad one ends the process with the sub-command's usage and exit status 2."""
    root, subparsers = _parsers()
    args = root.parse_args(argv)
    check = getattr(args, "check", None)
    if check is not None:
        check(subparsers.choices[args.command], args)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sys.exit(args.func(args))
