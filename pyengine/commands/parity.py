"""``pyengine parity``: Freqtrade's backtest of a strategy against ours on its ft-export."""
from __future__ import annotations

import argparse
import pathlib


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("parity", help="compare Freqtrade's backtest with ours on the exported strategy")
    p.add_argument("strategy", help="the Freqtrade strategy .py file")
    p.add_argument("--data", required=True, help="Freqtrade data directory (feather files, see "
                                                  "tools/freqtrade/convert_klines.py)")
    p.add_argument("--class", dest="class_name", help="strategy class (default: the only IStrategy subclass)")
    p.add_argument("--pair", default="ZEC/USDT", help="the pair to backtest (default ZEC/USDT, the bundled klines)")
    p.add_argument("--timerange", help="Freqtrade timerange, e.g. 20260301-20260401")
    p.add_argument("--fee", type=float, default=0.001, help="fee ratio per side on both sides (default 0.001)")
    p.add_argument("--hyperopt-result", help="Freqtrade parameter file applied to both sides")
    p.add_argument("--tolerance", type=float, default=0.99,
                   help="minimum share of Freqtrade trades matched exactly (default 0.99)")
    p.add_argument("--every-trade", action="store_true", help="list matched trades too, not only differences")
    p.add_argument("-o", "--output", help="also write the exported .pine here")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from dsl.freqtrade.compare import passed, render
    from dsl.freqtrade.parity import parity
    from pyengine.errors import UserError

    if not pathlib.Path(args.data).is_dir():
        raise UserError(f"--data {args.data}: not a directory")
    result = parity(args.strategy, args.data, class_name=args.class_name, pair=args.pair,
                    timerange=args.timerange, fee=args.fee, hyperopt=args.hyperopt_result)
    if args.output:
        pathlib.Path(args.output).write_text(result.export.pine)
    print(render(result.report, result.export.strategy.name, args.tolerance, args.every_trade))
    n = len(result.freqtrade.signals)
    print(f"  time    : freqtrade backtesting {result.freqtrade_s:.2f} s, ours (compile + VM + broker) "
          f"{result.ours_s:.3f} s on {n} candles ({result.freqtrade_s / max(result.ours_s, 1e-9):.0f}x)")
    return 0 if passed(result.report, args.tolerance) else 1
