"""``pyengine parity``: Freqtrade's backtest of a strategy vs our backtest of its export."""
from __future__ import annotations

import pathlib
import shutil
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dsl.freqtrade import compare, ftrun
from dsl.freqtrade.export import Export, export_file
from dsl.freqtrade.ftrun import Trade
from dsl.freqtrade.risk_rules import timeframe_minutes
from pyengine import bundled


@dataclass
class DslRun:
    trades: list[Trade]
    signals: pd.DataFrame   # date, enter_long, exit_long


def symbol_filters(pair: str) -> tuple[float, float]:
    """(tick size, lot step) of a pair from the bundled exchangeInfo, as Freqtrade's markets have it."""
    spec = bundled.symbol_specs().get(pair.replace("/", ""))
    if spec is None:
        raise KeyError(f"{pair} is not in the bundled exchangeInfo")
    return float(spec.tick_size), float(spec.step_size)


def run_dsl(pine: str, name: str, candles: pd.DataFrame, pair: str, timeframe: str,
            inputs: dict | None = None) -> DslRun:
    """Our parser, compiler, C VM and broker emulator over ``candles`` (Freqtrade's own rows)."""
    import dsl

    tick, step = symbol_filters(pair)
    program = dsl.compile_source(pine, f"{name}.pine", inputs=inputs, symbol=pair.replace("/", ""),
                                 timeframe=str(timeframe_minutes(timeframe)))
    dates = pd.DatetimeIndex(candles["date"])
    bars = dsl.Bars.from_arrays(dates.as_unit("ms").asi8, candles["open"], candles["high"], candles["low"],
                                candles["close"], candles["volume"])
    # Capital large enough never to run out (the Freqtrade side gets a fixed stake in a large
    # wallet): sizing does not change which candles trade, running out of money would.
    result = dsl.backtest(program, bars, mintick=tick, qty_step=step, mode="spot", initial_capital=1e12,
                          plots=True)
    trades = []
    for t in result.trades:
        if t.open:
            reason = "open"
        elif t.exit_signal == "ft":   # the strategy.exit legs: ROI limit or (trailing) stop
            reason = "roi" if t.exit_price > t.entry_price else "stop"
        else:
            reason = "exit_signal"
        trades.append(Trade(dates[t.entry_bar], dates[t.exit_bar], float(t.entry_price), float(t.exit_price),
                            reason))
    signals = pd.DataFrame({"date": candles["date"].to_numpy()})
    for col in ("enter_long", "exit_long"):  # plotted by exported scripts
        if col in result.plots:
            signals[col] = np.nan_to_num(result.plots[col]).astype(int)
    return DslRun(trades, signals)


@dataclass
class Parity:
    export: Export
    freqtrade: ftrun.FtResult
    ours: DslRun
    report: compare.Report
    freqtrade_s: float      # Freqtrade: strategy analysis + backtest loop (no startup/imports)
    ours_s: float           # ours: compile + VM + broker over the same candles


def parity(strategy_file: str | pathlib.Path, datadir: str | pathlib.Path, *, class_name: str | None = None,
           pair: str = "ZEC/USDT", timerange: str | None = None, fee: float = 0.001,
           hyperopt: str | pathlib.Path | None = None) -> Parity:
    path = pathlib.Path(strategy_file)
    exp = export_file(path, class_name, hyperopt, fee)
    with tempfile.TemporaryDirectory(prefix="parity-") as tmp:
        if hyperopt:
            # Freqtrade loads a strategy's parameter file from <strategy file>.json next to it.
            copy = pathlib.Path(tmp) / path.name
            shutil.copy(path, copy)
            shutil.copy(hyperopt, copy.with_suffix(".json"))
            path = copy
        ft = ftrun.backtest(path, exp.strategy.name, pathlib.Path(datadir), pair, timerange, fee)
    t0 = time.perf_counter()
    start_ms = int(ft.start.value // 1_000_000)
    ours = run_dsl(exp.pine, exp.strategy.name, ft.signals, pair, exp.strategy.timeframe,
                   inputs={"ft_start_time": start_ms})
    ours_s = time.perf_counter() - t0
    report = compare.Report()
    compare.compare_signals(report, ft.signals[["date", "enter_long", "exit_long"]], ours.signals, ft.start)
    tick, _ = symbol_filters(pair)
    st = exp.strategy
    # the script trails |stoploss| at the close only below the offset (risk_rules.trailing_leg)
    at_close = (abs(st.stoploss),) if st.trailing_stop and st.trailing_stop_positive is not None \
        and not st.trailing_only_offset_is_reached else ()
    compare.compare_trades(report, ft.trades, ours.trades, ft.signals, tick, at_close,
                           tuple(1 - x for x in at_close))
    return Parity(exp, ft, ours, report, ft.seconds, ours_s)
