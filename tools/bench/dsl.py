"""Benchmark: the same strategy in Freqtrade and in our DSL on the real ZECUSDT 1m klines.

EMA(9)/EMA(21) crossover + RSI(14) < 70, long only, 2 % stop, no fees. Runs Freqtrade's
own ``backtesting`` in process and offline (markets from the bundled exchangeInfo through
dsl.freqtrade's loopback market server) and our backtester in the same run, then matches
the trades by entry and exit candle.

    .venv/bin/python tools/bench/dsl.py --out bench-dsl.json

Figures: ``freqtrade_s`` (Freqtrade backtesting: data load from feather, indicators,
signals, simulation), ``ours_s`` (compile the .pine source + one-call C backtest + trade
list; bars already in memory), ``speedup_vs_freqtrade``, ``bars_per_s`` (the VM alone, as
the live engine runs it: this strategy's bytecode and its order intents, no broker
emulation; the best of 25 runs, and ``bars_per_s_median`` their median: on a shared machine
the best run is the one least disturbed, the median shows how much the load took),
``bars_per_s_backtest`` (the same with the broker emulator, i.e. a whole backtest in C),
``bars_per_s_signals`` (only the indicator and signal part), each also with its median,
``trades_freqtrade``, ``trades_ours``, ``trades_matched`` and ``unmatched`` examples.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import time


ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import dsl  # noqa: E402
from pyengine import bundled  # noqa: E402

PINE = """//@version=5
strategy("EMA cross + RSI (bench)", overlay=true)
fast = ta.ema(close, 9)
slow = ta.ema(close, 21)
r = ta.rsi(close, 14)
// Freqtrade acts on signals once its 50 startup candles are past
if ta.crossover(fast, slow) and r < 70 and bar_index >= 50
    strategy.entry("Long", strategy.long)
    // a stop from the fill price, active on the entry candle (Freqtrade checks it there)
    strategy.exit("Stop", "Long", loss=close * 0.02 / syminfo.mintick)
if strategy.position_size > 0
    strategy.exit("Stop", "Long", stop=strategy.position_avg_price * 0.98)
if ta.crossunder(fast, slow)
    strategy.close("Long")
"""

SIGNALS_ONLY = """//@version=5
indicator("EMA cross + RSI signals")
fast = ta.ema(close, 9)
slow = ta.ema(close, 21)
r = ta.rsi(close, 14)
enter = ta.crossover(fast, slow) and r < 70
leave = ta.crossunder(fast, slow)
"""

# The same strategy as a Freqtrade class, from the project's Freqtrade workspace.
FREQTRADE_STRATEGY = (pathlib.Path(__file__).resolve().parents[1] / "freqtrade" / "user_data"
                      / "strategies" / "EmaCrossRsi.py")


def run_freqtrade(tmp: pathlib.Path):
    from dsl.freqtrade.data import convert
    from dsl.freqtrade.ftrun import backtest as ft_backtest

    datadir = tmp / "data" / "binance"
    convert(bundled.ZECUSDT_1M, "ZEC/USDT", datadir, timeframes=("1m",))
    t0 = time.perf_counter()
    result = ft_backtest(FREQTRADE_STRATEGY, "EmaCrossRsi", datadir, pair="ZEC/USDT", fee=0.0)
    return result, time.perf_counter() - t0


def vm_rate(program, bars, mintick: float, emulate: bool, repeat: int = 25) -> tuple[float, float]:
    """Bars per second: (best, median) of ``repeat`` runs. emulate=False is the VM alone as
    the live engine runs it (bytecode + order intents); True adds the broker emulator
    (backtest)."""
    times = []
    for _ in range(repeat):
        vm = dsl.Vm(program, mintick=mintick, emulate=emulate)
        t0 = time.perf_counter()
        vm.run(bars.time, bars.open, bars.high, bars.low, bars.close, bars.volume, equity=False,
               intents=not emulate)
        times.append(time.perf_counter() - t0)
    return len(bars) / min(times), len(bars) / statistics.median(times)


def match(ft_trades, ours, bars) -> tuple[int, list]:
    index = {int(t): i for i, t in enumerate(bars.time)}

    def bar(ts) -> int:
        return index.get(int(ts.value // 1_000_000), -1)

    theirs = {bar(t.entry_time): (bar(t.exit_time), t) for t in ft_trades}
    matched, unmatched = 0, []
    for t in ours:
        other = theirs.get(t.entry_bar)
        if other is not None and other[0] == t.exit_bar:
            matched += 1
        elif len(unmatched) < 10:
            unmatched.append({
                "entry_bar": t.entry_bar, "exit_bar": t.exit_bar, "exit_signal": t.exit_signal,
                "ours_exit_price": t.exit_price,
                "freqtrade": None if other is None else {
                    "exit_bar": other[0], "exit_reason": other[1].reason,
                    "exit_price": other[1].exit_price}})
    return matched, unmatched


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, required=True)
    args = ap.parse_args()

    bars = dsl.load_csv(bundled.ZECUSDT_1M)
    mintick, qty_step = 0.01, 0.001  # the klines' price tick; Binance ZECUSDT LOT_SIZE
    with tempfile.TemporaryDirectory(prefix="bench-dsl-") as tmp:
        ft, freqtrade_s = run_freqtrade(pathlib.Path(tmp))

    t0 = time.perf_counter()
    program = dsl.compile_source(PINE, "bench.pine", symbol="ZECUSDT")
    result = dsl.backtest(program, bars, mintick=mintick, qty_step=qty_step)
    ours_s = time.perf_counter() - t0

    rate = vm_rate(program, bars, mintick, emulate=False)
    rate_backtest = vm_rate(program, bars, mintick, emulate=True)
    rate_signals = vm_rate(dsl.compile_source(SIGNALS_ONLY, "signals.pine"), bars, mintick,
                           emulate=False)
    matched, unmatched = match(ft.trades, result.trades, bars)
    figures = {
        "bars": len(bars),
        "freqtrade_s": round(freqtrade_s, 3),
        "ours_s": round(ours_s, 4),
        "speedup_vs_freqtrade": round(freqtrade_s / ours_s, 1),
        "bars_per_s": round(rate[0]),
        "bars_per_s_median": round(rate[1]),
        "bars_per_s_backtest": round(rate_backtest[0]),
        "bars_per_s_backtest_median": round(rate_backtest[1]),
        "bars_per_s_signals": round(rate_signals[0]),
        "bars_per_s_signals_median": round(rate_signals[1]),
        "trades_freqtrade": len(ft.trades),
        "trades_ours": len(result.trades),
        "trades_matched": matched,
        "matched_pct": round(100 * matched / max(len(ft.trades), 1), 2),
        "unmatched": unmatched,
    }
    for k, v in figures.items():
        if k != "unmatched":
            print(f"{k:22s} {v:,}" if isinstance(v, (int, float)) else f"{k:22s} {v}")
    for u in unmatched:
        print("unmatched:", u)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
