"""`kproof models prepare`: write the intent model into a directory, or into a claim of the running reference."""

from __future__ import annotations

import argparse
from pathlib import Path

from kproof.commands.common import add_state_dir, console


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_state_dir(subparsers.add_parser("models", help="prepare the intent model for MODEL_DIR"))
    parser.add_argument("action", choices=["prepare"])
    parser.add_argument("directory", nargs="?", type=Path, help="where to write it (MODEL_DIR of a replica)")
    parser.add_argument("--claim", type=claim, help="NAMESPACE/NAME: into that claim of the running reference "
                        "instead")
    parser.set_defaults(func=handle, check=check)
    return parser


def claim(text: str) -> tuple[str, str]:
    """A `--claim NAMESPACE/NAME` as (namespace, name)."""
    namespace, _, name = text.partition("/")
    if not name:
        raise argparse.ArgumentTypeError(f"takes NAMESPACE/NAME, not {text!r}")
    return namespace, name


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if bool(args.directory) == bool(args.claim):
        parser.error("give a DIRECTORY or --claim NAMESPACE/NAME")


def handle(args: argparse.Namespace) -> int:
    from reference.apps.models.loader import prepare
    from reference.runtime.volumes import claim_directory

    directory = args.directory
    if args.claim:
        namespace, name = args.claim
        directory = claim_directory(args.state_dir.resolve(), namespace, name)
    with console.status(f"preparing the intent model in {directory}"):
        about = prepare(directory)
    console.print(f"intent model in {directory / 'intent'}: held-out accuracy {about['accuracy']:.3f} "
                  f"({about['held_out']} utterances; trained on {about['trained_on']})")
    return 0
