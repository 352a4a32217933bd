"""`kproof tweets OUT`: write a made-up Tweets.csv shaped like seed 002's."""

from __future__ import annotations

import argparse
from pathlib import Path

from kproof.commands.common import console


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("tweets", help="write a made-up Tweets.csv shaped like seed 002's")
    parser.add_argument("out", type=Path, help="where to write it, e.g. Tweets.csv")
    parser.add_argument("--rows", type=int, default=14_640)
    parser.set_defaults(func=handle)
    return parser


def handle(args: argparse.Namespace) -> int:
    from kproof.pipeline.tweets import write

    console.print(f"wrote {args.rows} tweets to {write(args.out, args.rows)}")
    return 0
