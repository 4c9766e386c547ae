"""Backtests: the whole run (VM + broker emulator) is one C call; this module only
turns its output into trades, an equity curve and summary figures."""
from __future__ import annotations

import csv
import html
import io
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo

import numpy as np

from dsl.bytecode import Program
from dsl.data import Bars
from dsl.vm import Vm
from pyengine.errors import UserError


@dataclass
class Trade:
    number: int
    direction: str         # "long" / "short"
    entry_bar: int
    entry_time: int        # ms
    entry_signal: str
    entry_price: float
    exit_bar: int
    exit_time: int
    exit_signal: str       # "Open" for a trade still open at the end
    exit_price: float
    qty: float
    pnl: float
    commission: float
    runup: float
    drawdown: float
    open: bool


@dataclass
class Result:
    trades: list
    equity: np.ndarray
    summary: dict
    plots: dict = field(default_factory=dict)
    refused_shorts: int = 0


def refuse_shorts_in_spot(program: Program) -> None:
    if program.short_lines:
        line = program.short_lines[0]
        raise UserError(f"{program.filename}:{line}: short entry refused in spot mode (spot "
                        f"accounts cannot hold short positions); use mode 'tradingview' "
                        f"(CLI: --mode tradingview) to reproduce TradingView's long/short "
                        f"results")


def backtest(program: Program, bars: Bars, *, mintick: float = 0.01, qty_step: float = 0.0,
             mode: str = "spot", initial_capital: float | None = None,
             plots: bool = False, pointvalue: float = 1.0) -> Result:
    """Run ``program`` over ``bars``. In spot mode a strategy with a constant short entry
    is refused up front; dynamic short entries are dropped and counted."""
    if mode == "spot":
        refuse_shorts_in_spot(program)
    if len(bars) == 0:
        raise UserError("no bars to backtest")
    vm = Vm(program, mintick=mintick, qty_step=qty_step, mode=mode,
            initial_capital=initial_capital, pointvalue=pointvalue)
    equity, plot_values = vm.run(bars.time, bars.open, bars.high, bars.low, bars.close,
                                 bars.volume, plots=plots, intents=False)
    raw = vm.trades()
    trades = _trades(vm, bars, raw)
    capital = vm.slot(35)  # PE_S_INITIAL_CAPITAL
    return Result(trades, equity, summarize(trades, equity, bars.time, capital), plot_values,
                  vm.refused_shorts)


def _trades(vm: Vm, bars: Bars, raw: np.ndarray) -> list:
    strings = vm.strings() + [""]  # index -1: no signal
    raw = raw[np.argsort(raw["entry_bar"], kind="stable")]
    cols = {name: raw[name].tolist() for name in raw.dtype.names}
    entry_times = bars.time[raw["entry_bar"]].tolist()
    exit_times = bars.time[raw["exit_bar"]].tolist()
    return [Trade(number=k + 1, direction="long" if d > 0 else "short", entry_bar=eb,
                  entry_time=et, entry_signal=strings[es], entry_price=ep, exit_bar=xb,
                  exit_time=xt, exit_signal="Open" if op else strings[xs], exit_price=xp,
                  qty=q, pnl=pnl, commission=c, runup=ru, drawdown=dd, open=bool(op))
            for k, (d, eb, et, es, ep, xb, xt, xs, xp, q, pnl, c, ru, dd, op) in enumerate(zip(
                cols["dir"], cols["entry_bar"], entry_times, cols["entry_sig"],
                cols["entry_price"], cols["exit_bar"], exit_times, cols["exit_sig"],
                cols["exit_price"], cols["qty"], cols["pnl"], cols["commission"],
                cols["runup"], cols["drawdown"], cols["open"]))]


def summarize(trades: list, equity: np.ndarray, time_ms: np.ndarray, capital: float) -> dict:
    closed = [t for t in trades if not t.open]
    wins = [t.pnl for t in closed if t.pnl > 0]
    losses = [t.pnl for t in closed if t.pnl < 0]
    gross_profit, gross_loss = sum(wins), -sum(losses)
    net = sum(t.pnl for t in closed)
    peak = np.maximum.accumulate(equity)
    dd = peak - equity
    i = int(np.argmax(dd)) if len(dd) else 0
    max_dd = float(dd[i]) if len(dd) else 0.0
    max_dd_pct = float(dd[i] / peak[i] * 100) if len(dd) and peak[i] > 0 else 0.0
    return {
        "net_profit": net,
        "net_profit_pct": net / capital * 100 if capital else math.nan,
        "max_drawdown": max_dd,
        "max_drawdown_pct": max_dd_pct,
        "win_rate_pct": len(wins) / len(closed) * 100 if closed else math.nan,
        "profit_factor": gross_profit / gross_loss if gross_loss > 0 else math.inf
        if gross_profit > 0 else math.nan,
        "sharpe": sharpe(equity, time_ms),
        "trades": len(closed),
        "open_trades": len(trades) - len(closed),
        "gross_profit": gross_profit,
        "gross_loss": gross_loss,
        "commission": sum(t.commission for t in closed),
        "final_equity": float(equity[-1]) if len(equity) else capital,
    }


def sharpe(equity: np.ndarray, time_ms: np.ndarray) -> float:
    """Annualised Sharpe ratio of daily (UTC) equity returns, risk-free rate 0."""
    if len(equity) < 2:
        return math.nan
    day = time_ms // 86_400_000
    last = np.flatnonzero(np.diff(day)) if len(day) > 1 else np.array([], dtype=int)
    closes = np.append(equity[last], equity[-1])
    rets = np.diff(closes) / closes[:-1]
    if len(rets) < 2 or np.std(rets, ddof=1) == 0:
        return math.nan
    return float(np.mean(rets) / np.std(rets, ddof=1) * math.sqrt(365))


def trade_columns(currency: str) -> list[str]:
    """TradingView's "List of Trades" export header, in the account currency."""
    return ["Trade #", "Type", "Date/Time", "Signal", f"Price {currency}",
            "Position size (qty)", "Position size (value)", f"Net P&L {currency}", "Net P&L %",
            f"Run-up {currency}", "Run-up %", f"Drawdown {currency}", "Drawdown %",
            f"Cumulative P&L {currency}", "Cumulative P&L %"]


def _fmt_time(ms: int, tz: tzinfo) -> str:
    return datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M")


def trade_list_csv(result: Result, capital: float, tz: tzinfo = timezone.utc,
                   currency: str = "USDT") -> str:
    """The trade list in TradingView's "List of Trades" export layout: an entry row and an
    exit row per trade; a trade still open at the end has the exit signal "Open"."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(trade_columns(currency))
    cum = 0.0
    for t in result.trades:
        value = t.entry_price * t.qty
        pct = t.pnl / value * 100 if value else 0.0
        cum += t.pnl
        common = [round(t.qty, 10), round(value, 10), round(t.pnl, 10), round(pct, 4),
                  round(t.runup, 10), round(t.runup / value * 100 if value else 0, 4),
                  round(t.drawdown, 10), round(t.drawdown / value * 100 if value else 0, 4),
                  round(cum, 10), round(cum / capital * 100 if capital else 0, 4)]
        side = "long" if t.direction == "long" else "short"
        w.writerow([t.number, f"Entry {side}", _fmt_time(t.entry_time, tz), t.entry_signal,
                    t.entry_price] + common)
        w.writerow([t.number, f"Exit {side}", _fmt_time(t.exit_time, tz), t.exit_signal,
                    t.exit_price] + common)
    return buf.getvalue()


def equity_html(result: Result, time_ms: np.ndarray, title: str) -> str:
    """A self-contained HTML page with the equity curve as inline SVG (no scripts)."""
    eq = result.equity
    n = len(eq)
    step = max(1, n // 2000)
    xs = np.arange(0, n, step)
    ys = eq[xs]
    lo, hi = float(np.nanmin(ys)), float(np.nanmax(ys))
    span = hi - lo or 1.0
    width, height = 1000, 400
    pts = " ".join(f"{x / max(n - 1, 1) * width:.1f},{height - (y - lo) / span * height:.1f}"
                   for x, y in zip(xs, ys))
    s = result.summary
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.6g}</td></tr>"
                   if isinstance(v, float) else
                   f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in s.items())
    start = _fmt_time(int(time_ms[0]), timezone.utc) if n else ""
    end = _fmt_time(int(time_ms[-1]), timezone.utc) if n else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)} - equity</title>
<style>body{{font-family:sans-serif;margin:2em}}svg{{border:1px solid #ccc}}
td{{padding:2px 12px}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Equity from {start} to {end} UTC (min {lo:.2f}, max {hi:.2f})</p>
<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}">
<polyline fill="none" stroke="#2962ff" stroke-width="1.5" points="{pts}"/></svg>
<table>{rows}</table></body></html>
"""
