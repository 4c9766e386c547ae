"""``pyengine run``: the main job.

Without arguments: paper trading on the built-in simulator with the bundled real data,
accelerated (see ``pyengine/engine/paper.py``), until the data is exhausted or Ctrl-C;
``--strategy FILE.pine`` trades that file (say, a ``pyengine ft-export``) instead of the
library strategies.
``--config FILE``: the venue, universe, strategies, risk and telemetry of a TOML file
(Binance testnet/production, or an external ``pyengine sim`` given by its URLs).
"""
from __future__ import annotations

import argparse
import logging
import os
import pathlib
import socket
import sys
import tempfile

from pyengine.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="the main job: paper trading on the simulator with bundled "
                                   "real data (or --config FILE for testnet/production)")
    p.add_argument("--config", type=pathlib.Path, help="TOML configuration (see "
                   "deploy/pyengine.example.toml); default: paper trading on the simulator")
    p.add_argument("--strategy", type=pathlib.Path, action="append", metavar="FILE.pine",
                   help="paper mode: trade this .pine file (e.g. from `pyengine ft-export`) "
                        "instead of the library strategies; repeatable")
    p.add_argument("--speed", default="20",
                   help="paper mode: replay speed, N x real time (default 20)")
    p.add_argument("--state-dir", type=pathlib.Path,
                   help="paper mode: where the journal and telemetry go (default: a new "
                        "temporary directory)")
    p.add_argument("--feed", metavar="redis://HOST:PORT/DB",
                   help="with --config: market data from the Redis Streams `pyengine collect` "
                        "writes (rediss:// for TLS; password from $PYENGINE_REDIS_PASSWORD) "
                        "instead of the venue's market streams; orders still go to the venue")
    p.add_argument("--feed-prefix", default="pe",
                   help="the collectors' key prefix in Redis (their --prefix; default pe)")
    p.add_argument("--no-status", action="store_true", help="no live terminal status")
    p.add_argument("--quiet-logs", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def _free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return 0


def _speed(text: str) -> float:
    try:
        speed = float(text)
    except ValueError:
        raise UserError(f"--speed: expected a number, got {text!r}") from None
    if not 0 < speed <= 1000:
        raise UserError(f"--speed: must be above 0 and at most 1000, got {text}")
    return speed


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.feed is not None:
        from pyengine.scaleout.feed import SCHEMES
        if args.config is None:
            raise UserError("--feed needs --config: paper trading reads the built-in "
                            "simulator's streams")
        if not args.feed.startswith(SCHEMES):
            raise UserError(f"--feed {args.feed}: expected a Redis URL ({', '.join(SCHEMES)})")
    if args.config is not None:
        if args.strategy:
            raise UserError("--strategy is for paper mode; with --config, name the .pine files "
                            "in the config's [[strategies]] (pine = \"FILE.pine\")")
        return _run_config(args)
    return _run_paper(args)


def _summary(engine, out=print) -> None:
    from pyengine.engine.status import print_status
    out("")
    print_status(engine, out)
    pnl = engine.state.portfolio.pnl()
    out(f"pyengine: stopped ({engine.stop_reason or 'done'}); {engine.execution.counts['sent']} "
        f"orders, {engine.userdata.fills} fills, net PnL {pnl.net:+.4f} USDT "
        f"(realised {pnl.realised:+.4f}, fees {pnl.fees:.4f})")
    if engine.risk.refusals:
        out(f"pyengine: risk refusals: {dict(engine.risk.refusals)}")
    out(f"pyengine: journal {engine.cfg.journal.path}  (pyengine journal show "
        f"{engine.cfg.journal.path})")


def _run_paper(args: argparse.Namespace) -> int:
    import trio

    from pyengine.config import default_config
    from pyengine.engine import Engine, EngineOptions
    from pyengine.engine.paper import PAPER_BALANCES, paper_data, paper_strategies
    from pyengine.sim.testing import running_sim
    from pyengine.sim.server import SimConfig
    from pyengine.venue.binance import Endpoints, signer_from_pem

    speed = _speed(args.speed)
    state = args.state_dir or pathlib.Path(tempfile.mkdtemp(prefix="pyengine-paper-"))
    state.mkdir(parents=True, exist_ok=True)
    if (state / "journal.sqlite").exists():
        raise UserError(f"--state-dir {state}: holds the journal of an earlier paper session; "
                        "paper trading starts a fresh simulator, so give an empty directory")
    data, span_ms = paper_data(state)
    cfg = default_config()
    cfg.journal.path = state / "journal.sqlite"
    cfg.telemetry.sqlite.path = str(state / "telemetry.sqlite")
    cfg.telemetry.dashboard.port = _free_port(cfg.telemetry.dashboard.port)
    for f in args.strategy or ():
        if not f.is_file():
            raise UserError(f"--strategy {f}: file not found")
    stems = [f.stem for f in args.strategy or ()]
    if len(set(stems)) < len(stems):
        raise UserError("--strategy: two files with the same name; the name is the strategy id")
    strategies = paper_strategies(args.strategy)
    symbols = sorted({s for spec in strategies for s in spec.symbols})
    print(f"pyengine: paper trading on the built-in simulator at {speed:g}x: "
          f"{', '.join(symbols)} (real data, {span_ms / 60000:.1f} min of market), "
          f"{len(strategies)} strategies, 10,000 USDT", flush=True)

    async def main() -> int:
        async with running_sim(SimConfig(data=data, speed=speed, balances=dict(PAPER_BALANCES),
                                     pace_to_readers=True)) as sim:
            endpoints = Endpoints.local(sim.rest_url, sim.ws_api_url, sim.stream_url, "sim")
            signer = signer_from_pem(sim.ed25519_key.key, sim.ed25519_key.private_pem)
            start = sim.market_now()
            engine = Engine(cfg, endpoints, signer, strategies, symbols,
                            options=EngineOptions(mode=f"paper {speed:g}x",
                                                  status_every_s=0 if args.no_status else 1.0),
                            data_done=sim.replay_done.wait,
                            progress=lambda: min(1.0, (sim.market_now() - start) / span_ms))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sim.hold_market_until, engine.ready.wait)
                code = await engine.run()
                nursery.cancel_scope.cancel()
            _summary(engine)
            return code

    try:
        return trio.run(main)
    except KeyboardInterrupt:       # before the engine installed its signal handlers
        print("pyengine: interrupted during start-up", file=sys.stderr)
        return 130


def _run_config(args: argparse.Namespace) -> int:
    import trio

    from pyengine.config import load_config
    from pyengine.engine import Engine, EngineOptions
    from pyengine.engine.strategies import StrategySpec

    cfg = load_config(args.config)
    if not cfg.strategies:
        raise UserError(f"{args.config}: no [[strategies]]: nothing to trade")
    signer = _signer(cfg)
    endpoints = cfg.venue.endpoints()
    if endpoints is None:
        raise UserError(f"{args.config}:venue: kind \"sim\" needs rest_url, ws_api_url and "
                        "stream_url of a running `pyengine sim` (or run without --config)")
    strategies = [StrategySpec(s.id, s.pine, list(s.symbols), s.interval,
                               "trades" if s.interval == "1s" else "kline", dict(s.inputs))
                  for s in cfg.strategies if s.enabled]
    symbols = sorted({s for spec in strategies for s in spec.symbols})

    async def main() -> int:
        engine = Engine(cfg, endpoints, signer, strategies, symbols,
                        options=EngineOptions(mode=cfg.venue.kind,
                                              status_every_s=0 if args.no_status else 1.0,
                                              feed=args.feed, feed_prefix=args.feed_prefix,
                                              feed_password=os.environ.get(
                                                  "PYENGINE_REDIS_PASSWORD") or None))
        code = await engine.run()
        _summary(engine)
        return code

    try:
        return trio.run(main)
    except KeyboardInterrupt:
        print("pyengine: interrupted during start-up", file=sys.stderr)
        return 130


def _signer(cfg):
    from pyengine.venue.binance import HmacSigner, signer_from_pem

    v = cfg.venue
    if v.api_key is None or v.private_key is None:
        raise UserError("venue.api_key and venue.private_key are required (e.g. "
                        "\"env:BINANCE_API_KEY\" and \"env:BINANCE_PRIVATE_KEY\")")
    key, secret = v.api_key.reveal(), v.private_key.reveal()
    if v.key_type == "hmac":
        return HmacSigner(key, secret)
    try:
        return signer_from_pem(key, secret.encode())
    except ValueError as exc:
        raise UserError(f"venue.private_key ({v.private_key.ref}): not a usable {v.key_type} "
                        f"PEM private key: {exc}") from None

