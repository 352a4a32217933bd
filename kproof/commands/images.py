"""`kproof images`: every image the selected tests need, one a line, for mirroring into an air-gapped registry."""

from __future__ import annotations

import argparse
import json
import sys

from kproof.commands.common import console
from kproof.commands.run import add_selection
from kproof.images import images_of
from kproof.run import RunOptions, collect


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("images", help="list every image the selected tests need (for mirroring)")
    add_selection(parser)
    parser.add_argument("--app-registry", default="ghcr.io/kproof",
                        help="where the kproof apps' images are (image = <registry>/<app>; default ghcr.io/kproof)")
    parser.add_argument("--json", action="store_true", help="each image with the test files that need it")
    parser.set_defaults(func=handle)
    return parser


def handle(args: argparse.Namespace) -> int:
    options = RunOptions(areas=args.area or [], load=args.load, profile=args.profile, levels=args.level,
                         states=args.state, focus=args.focus or [], skip=args.skip or [], select=args.select)
    try:
        tests = collect(options)
    except RuntimeError as err:
        console.print(f"[red]{err}[/red]")
        return 2
    found = images_of((t["file"] for t in tests), args.app_registry)
    if args.json:
        print(json.dumps({image: sorted(files) for image, files in sorted(found.items())}, indent=1))
    else:
        for image in sorted(found):
            print(image)
    sys.stderr.write(f"{len(found)} images for {len(tests)} tests (kproof run --profile {args.profile})\n")
    return 0
