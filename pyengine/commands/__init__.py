"""One module per ``pyengine`` subcommand; each defines ``register(subparsers)``."""
