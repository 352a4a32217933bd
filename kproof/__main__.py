"""`python -m kproof` runs the kproof command."""

from kproof.commands.main import main

main()
