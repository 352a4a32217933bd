"""The `kproof` sub-commands, one module each: `register(subparsers)` declares its arguments next to the
handler that carries them out. kproof/commands/main.py lists the modules in the order `kproof --help` shows them."""
