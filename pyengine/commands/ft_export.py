"""``pyengine ft-export``: a Freqtrade strategy (Python source) -> a Pine-subset script."""
from __future__ import annotations

import argparse
import pathlib


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("ft-export", help="translate a Freqtrade strategy into the Pine subset")
    p.add_argument("strategy", help="the strategy's .py file (read with ast, never executed)")
    p.add_argument("--class", dest="class_name", help="strategy class (default: the only IStrategy subclass)")
    p.add_argument("--hyperopt-result", help="Freqtrade parameter file or hyperopt --print-json output")
    p.add_argument("--fee", type=float, default=0.001, help="fee ratio per side (default 0.001 = Binance spot)")
    p.add_argument("-o", "--output", required=True, help="the .pine file to write")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from dsl.freqtrade.export import export_file

    result = export_file(args.strategy, args.class_name, args.hyperopt_result, args.fee)
    pathlib.Path(args.output).write_text(result.pine)
    print(f"wrote {args.output} ({result.strategy.name}, timeframe {result.strategy.timeframe})")
    return 0
