"""``pyengine config check FILE``: validate a configuration file, resolve its secrets and
compile its strategies with the live engine's checks (partial exits are refused), naming the
``strategy.exit`` legs each one runs engine-side."""
from __future__ import annotations

import argparse

from pyengine.config import Config, load_config
from pyengine.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="configuration tools")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate a TOML config file (exit 0 when valid, "
                                             "2 with every problem listed)")
    check.add_argument("file", help="the TOML configuration file")
    check.add_argument("--no-secrets", action="store_true",
                       help="check the structure only; do not read environment variables or "
                            "AWS Secrets Manager")
    check.set_defaults(func=run_check)


def check_strategies(cfg: Config, label: str) -> dict[str, list[str]]:
    """Compile every enabled strategy with its inputs as the live engine loads it; all
    diagnostics in one UserError. Returns each strategy's exit legs (``live_exit_legs``)."""
    from dsl import DslError, compile_file
    from pyengine.engine.strategies import live_exit_legs

    problems, legs = [], {}
    for i, s in enumerate(cfg.strategies):
        if not s.enabled:
            continue
        try:
            legs[s.id] = live_exit_legs(compile_file(s.pine, inputs=s.inputs or None,
                                                     symbol=s.symbols[0]))
        except (DslError, UserError) as exc:
            problems.append(f"{label}:strategies[{i}] ({s.id}): {exc}")
    if problems:
        raise UserError("\n".join(problems))
    return legs


def run_check(args: argparse.Namespace) -> int:
    cfg = load_config(args.file, resolve_secrets=not args.no_secrets)
    legs = check_strategies(cfg, args.file)
    endpoints = cfg.venue.endpoints()
    print(f"{args.file}: valid")
    print(f"  venue: {cfg.venue.kind}" + (f" (REST {endpoints.rest}, WS API {endpoints.ws_api}, "
                                          f"streams {endpoints.streams})" if endpoints else
                                          " (built-in simulator)"))
    print(f"  universe: {', '.join(cfg.universe.symbols)}")
    for s in cfg.strategies:
        state = "" if s.enabled else " (disabled)"
        print(f"  strategy {s.id}{state}: {s.pine} on {', '.join(s.symbols)} every {s.interval}")
        if legs.get(s.id):
            print(f"    strategy.exit legs: {', '.join(legs[s.id])} (engine-side: checked on "
                  f"every trade of the symbol, a market sell when one is reached)")
    print(f"  journal: {cfg.journal.path} (synchronous={cfg.journal.synchronous})")
    for key, secret in cfg.secret_fields():
        state = "resolved" if secret.resolved else "not checked"
        print(f"  {key}: {secret.ref} ({state})")
    return 0
