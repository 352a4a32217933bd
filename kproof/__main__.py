"""`python -m kproof` runs the kproof command."""

from kproof.cli import main

main()
