"""``pyengine sim``: run the local Binance-spot-compatible exchange standalone on localhost."""
from __future__ import annotations

import argparse
import pathlib
import sys

from pyengine.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="run the Binance-compatible simulator on 127.0.0.1")
    p.add_argument("--port", type=int, default=9000, help="TCP port (0 = any free port; default 9000)")
    p.add_argument("--data", action="append", default=[], metavar="SYMBOL=PATH",
                   help="market data for a symbol: a recording (.jsonl[.gz]) or 1m klines (.csv[.gz]); "
                        "repeatable (default: the bundled BTCUSDT/ETHUSDT recordings and ZECUSDT klines)")
    p.add_argument("--speed", default="1", help="replay speed: N x real time, or 'max' (default 1)")
    p.add_argument("--no-rebase", action="store_true",
                   help="keep the data's own timestamps (frames byte for byte) instead of starting now")
    p.add_argument("--commission", default="0.001", help="maker/taker commission rate (default 0.001)")
    p.add_argument("--balance", action="append", default=[], metavar="ASSET=AMOUNT",
                   help="starting balance, repeatable (default USDT=100000 BTC=1 ETH=10 ZEC=100 ...)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="mean extra order latency in ms")
    p.set_defaults(func=run)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise UserError(f"--{what} expects NAME=VALUE, got {item!r}")
        out[name.upper() if what == "balance" else name.upper()] = value
    return out


def build_config(args: argparse.Namespace):
    from pyengine.sim.numbers import NotDecimal, parse_scaled
    from pyengine.sim.server import DEFAULT_BALANCES, SimConfig

    speed: float | str = args.speed
    if speed != "max":
        try:
            speed = float(speed)
        except ValueError:
            raise UserError(f"--speed must be a number or 'max', got {args.speed!r}") from None
        if not speed > 0:
            raise UserError(f"--speed must be positive, got {args.speed!r}")
    cfg = SimConfig(port=args.port, speed=speed, rebase=not args.no_rebase, latency_ms=args.latency_ms)
    if args.data:
        cfg.data = {}
        for sym, path in _pairs(args.data, "data").items():
            p = pathlib.Path(path)
            if not p.is_file():
                raise UserError(f"--data {sym}={path}: no such file")
            cfg.data[sym] = p
    balances = dict(DEFAULT_BALANCES)
    balances.update(_pairs(args.balance, "balance"))
    for asset, amount in balances.items():
        try:
            parse_scaled(amount, 8)
        except NotDecimal:
            raise UserError(f"--balance {asset}={amount}: not a decimal amount") from None
    cfg.balances = balances
    try:
        parse_scaled(args.commission, 8)
    except NotDecimal:
        raise UserError(f"--commission {args.commission!r}: not a decimal rate") from None
    cfg.commission = args.commission
    return cfg


def run(args: argparse.Namespace) -> int:
    import trio

    from pyengine.sim.server import Simulator

    cfg = build_config(args)
    try:
        sim = Simulator(cfg)
    except (ValueError, OSError) as exc:
        raise UserError(f"simulator: {exc}") from None

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            try:
                await nursery.start(sim.serve)
            except OSError as exc:
                raise UserError(f"cannot listen on 127.0.0.1:{cfg.port}: {exc.strerror or exc}") from None
            print(f"pyengine sim: Binance spot simulator on 127.0.0.1:{sim.port}")
            print(f"  REST            {sim.rest_url}/api/v3/...")
            print(f"  market streams  {sim.stream_url}/ws/<stream>  {sim.stream_url}/stream?streams=...")
            print(f"  WebSocket API   {sim.ws_api_url}")
            print(f"  admin (faults)  POST {sim.rest_url}/sim/admin/fault")
            print(f"  symbols with data: {', '.join(sorted(cfg.data))}; speed {cfg.speed}")
            print(f"  HMAC test key     X-MBX-APIKEY={sim.hmac_key.key}")
            print(f"  HMAC test secret  {sim.hmac_key.secret}")
            print(f"  Ed25519 test key  {sim.ed25519_key.key}")
            print("  Ed25519 private key (PEM, for session.logon):")
            print(sim.ed25519_key.private_pem.decode().rstrip())
            sys.stdout.flush()

    try:
        trio.run(main)
    except KeyboardInterrupt:
        return 0
    return 0
