"""``pyengine backtest FILE.pine --data KLINES.csv[.gz]``: run a strategy over bars and
write the trade list (CSV) and the equity curve (HTML)."""
from __future__ import annotations

import argparse
import math
import pathlib
import time

from pyengine.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backtest", help="backtest a .pine (or compiled .bc) strategy on klines")
    p.add_argument("file", type=pathlib.Path, help="strategy (.pine) or bytecode (.bc)")
    p.add_argument("--data", type=pathlib.Path, default=None,
                   help="klines CSV(.gz) (default: the bundled ZECUSDT 1m klines)")
    p.add_argument("--symbol", default=None,
                   help="symbol for exchange filters (default: from the data file name)")
    p.add_argument("--mintick", type=float, default=None,
                   help="price tick (default: the finer of exchangeInfo and the data's tick)")
    p.add_argument("--qty-step", type=float, default=None,
                   help="quantity step (default: exchangeInfo LOT_SIZE, else none)")
    p.add_argument("--pointvalue", type=float, default=1.0,
                   help="price multiplier of one unit (default 1: spot; futures: the "
                        "contract multiplier)")
    p.add_argument("--mode", choices=("spot", "tradingview"), default="spot",
                   help="spot refuses short entries; tradingview allows long/short")
    p.add_argument("--input", action="append", default=[], metavar="TITLE=VALUE")
    p.add_argument("--no-cache", action="store_true",
                   help="parse the CSV every time (default: keep parsed bars in ~/.cache)")
    p.add_argument("--trades", type=pathlib.Path, default=None,
                   help="trade list CSV to write (default: STEM.trades.csv)")
    p.add_argument("--equity", type=pathlib.Path, default=None,
                   help="equity curve HTML to write (default: STEM.equity.html)")
    p.set_defaults(func=run)


def run(args) -> int:
    import dsl
    from dsl.backtest import equity_html, trade_list_csv
    from dsl.data import default_cache_dir
    from dsl.symbol import data_tick, exchange_filters, guess_symbol
    from pyengine import bundled
    from pyengine.commands.dsl import parse_inputs

    data = args.data or bundled.ZECUSDT_1M
    symbol = args.symbol or guess_symbol(data.name) or "SYMBOL"
    if args.file.suffix == ".bc":
        if args.input:
            raise UserError("--input needs the .pine source (inputs are compiled in)")
        program = dsl.load_program(args.file)
    else:
        program = dsl.compile_file(args.file, inputs=parse_inputs(args.input), symbol=symbol)
    if program.kind != "strategy":
        raise UserError(f"{args.file}: an indicator has no trades to backtest")
    bars = dsl.load_csv(data, cache_dir=None if args.no_cache else default_cache_dir())
    if len(bars) == 0:
        raise UserError(f"{data}: no bars")
    filters = exchange_filters(symbol)
    tick = args.mintick
    if tick is None:
        tick = data_tick(bars)
        if filters and filters[0] < tick:
            tick = filters[0]
    step = args.qty_step if args.qty_step is not None else (filters[1] if filters else 0.0)
    if tick <= 0 or step < 0 or not args.pointvalue > 0:
        raise UserError("--mintick and --pointvalue must be > 0 and --qty-step >= 0")
    t0 = time.perf_counter()
    result = dsl.backtest(program, bars, mintick=tick, qty_step=step, mode=args.mode,
                          pointvalue=args.pointvalue)
    elapsed = time.perf_counter() - t0
    s = result.summary
    capital = program.config.get("initial_capital", 1_000_000.0)
    stem = args.file.with_suffix("").name
    trades_path = args.trades or pathlib.Path(f"{stem}.trades.csv")
    equity_path = args.equity or pathlib.Path(f"{stem}.equity.html")
    try:
        trades_path.write_text(trade_list_csv(result, capital))
        equity_path.write_text(equity_html(result, bars.time, program.config.get("title", stem)))
    except OSError as exc:
        raise UserError(f"cannot write output: {exc}") from None

    def f(x, fmt="{:,.2f}"):
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else \
            ("inf" if x == math.inf else fmt.format(x))

    print(f"{program.config.get('title', stem)} on {symbol} ({data.name}): {len(bars):,} bars "
          f"in {elapsed * 1000:.0f} ms, mode {args.mode}, mintick {tick:g}, qty step {step:g}")
    print(f"  net profit      {f(s['net_profit'])} ({f(s['net_profit_pct'])} %)")
    print(f"  max drawdown    {f(s['max_drawdown'])} ({f(s['max_drawdown_pct'])} %)")
    print(f"  win rate        {f(s['win_rate_pct'])} %")
    print(f"  profit factor   {f(s['profit_factor'], '{:.3f}')}")
    print(f"  Sharpe (daily)  {f(s['sharpe'], '{:.3f}')}")
    print(f"  trades          {s['trades']} closed, {s['open_trades']} open")
    if result.refused_shorts:
        print(f"  refused         {result.refused_shorts} short entries (spot mode)")
    print(f"  trade list      {trades_path}")
    print(f"  equity curve    {equity_path}")
    return 0
