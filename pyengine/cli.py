"""The ``pyengine`` command. Each subcommand lives in ``pyengine/commands/<name>.py`` and
exposes ``register(subparsers)``; this module only discovers and dispatches them."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from pyengine import __version__, commands
from pyengine.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyengine", description="Low-latency Binance spot trading engine. "
        "Without a command: paper trading on the built-in simulator (pyengine run).")
    parser.add_argument("--version", action="version", version=f"pyengine {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"pyengine.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv or ["run"])
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"pyengine: error: {exc}", file=sys.stderr)
        return 2
    except BaseExceptionGroup as group:     # raised inside a trio nursery
        if group.split(KeyboardInterrupt)[0] is not None:
            return 130      # a second Ctrl-C after the supervisor stopped listening
        user, _ = group.split(UserError)
        if user is None:
            raise
        while isinstance(user, BaseExceptionGroup):
            user = user.exceptions[0]
        print(f"pyengine: error: {user}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
