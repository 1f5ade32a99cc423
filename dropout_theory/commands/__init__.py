"""CLI subcommands. Each module defines ``register(subparsers)``; ``__main__`` finds them all."""
