"""Freqtrade's backtesting order rules written as Pine ``strategy.*`` calls.

What Freqtrade 2026.9 does (``optimize/backtesting.py``, ``strategy/interface.py``) and how the
script reproduces it with the TradingView broker emulator of the Pine subset:

* Signals are computed on the closed candle t; Freqtrade shifts them by one row, so a trade
  opens at the **open of t+1**. Pine: a market ``strategy.entry`` placed at t's close fills at
  t+1's open. An entry needs no open trade and ``enter_long and not exit_long``.
* Exit signal (``use_exit_signal``): ``exit_long and not enter_long`` on t exits at the open of
  t+1 and wins over stoploss/ROI on that candle. Pine: ``strategy.close`` fills at the open,
  before any price order on the bar's path.
* Stoploss: ``stop = round_up_to_tick(open_rate * (1 + stoploss))`` (Freqtrade rounds longs' stops
  up to the price precision), hit when the candle low reaches it, filled at the stop price
  (or at the open when the whole candle is below it). Pine: the stop leg of ``strategy.exit``.
* ROI: the highest ``minimal_roi`` key <= minutes since the entry candle; exits when the
  candle high gives a profit above it, at ``(1+roi)*open_rate*(1+fee)/(1-fee)`` rounded to the
  tick, or at the open when a new ROI step starts below the open. Pine: the limit leg,
  recomputed every bar for the next bar's trade duration.
* Trailing stop: each candle whose low is above the current stop raises the stop from that
  candle's high (``trailing_stop_positive`` once the profit at the high is above the offset;
  ``trailing_only_offset_is_reached`` waits for it). Pine: the same recurrence at every close.
* On the entry candle the fill price is not known when the orders are placed, so the legs use
  ``profit``/``loss`` ticks computed from the signal candle's close.

Residual differences (each is a documented Freqtrade backtesting assumption, and the parity
report classifies them): stop and ROI reachable in one candle (Freqtrade always takes the
stop; the emulator follows the bar's open-high-low-close path); a candle that gaps over a
price level (Freqtrade fills ROI at the candle low and stops at the stop price, the emulator
at the open); a ROI price rounded down to the tick that the high touches exactly (Freqtrade
needs a profit strictly above the ROI); a trailing stop raised and hit inside the same candle
(Freqtrade raises it with that candle's high before testing its low); and stop/ROI hits on
the entry candle when the entry open differs from the signal close.
"""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dsl.freqtrade.export import Strategy

TF_MINUTES = {"m": 1, "h": 60, "d": 1440}


def timeframe_minutes(tf: str) -> int:
    return int(tf[:-1]) * TF_MINUTES[tf[-1]]


def _f(x: float) -> str:
    return repr(float(x))


def _inputs(strategy: "Strategy") -> list[str]:
    out = []
    for p in strategy.params.values():
        if p.ptype == "int":
            out.append(f'{p.name} = input.int({int(p.default)}, "{p.name}", minval={int(p.low)}, maxval={int(p.high)})')
        elif p.ptype == "float":
            out.append(f'{p.name} = input.float({_f(p.default)}, "{p.name}", minval={_f(p.low)}, maxval={_f(p.high)})')
        elif p.ptype == "bool":
            out.append(f'{p.name} = input.bool({"true" if p.default else "false"}, "{p.name}")')
        else:
            if not all(isinstance(o, str) for o in p.options or []):
                out.append(f'{p.name} = input.float({_f(p.default)}, "{p.name}")')
            else:
                opts = ", ".join(json.dumps(o) for o in p.options or [])
                out.append(f'{p.name} = input.string({json.dumps(p.default)}, "{p.name}", options=[{opts}])')
    return out


def _needed(defs: list[tuple[str, str]], roots: list[str]) -> list[tuple[str, str]]:
    names = {n for n, _ in defs}
    want: set[str] = set()
    stack = [t for r in roots for t in re.findall(r"[A-Za-z_]\w*", r) if t in names]
    code = dict(defs)
    while stack:
        n = stack.pop()
        if n in want:
            continue
        want.add(n)
        stack.extend(t for t in re.findall(r"[A-Za-z_]\w*", code[n]) if t in names and t not in want)
    return [(n, c) for n, c in defs if n in want]


def _roi_function(roi: dict[int, float]) -> str:
    parts = [f"dur >= {k} ? {_f(v)}" for k, v in sorted(roi.items(), reverse=True)]
    return "ft_roi(dur) => " + " : ".join(parts) + " : na"


SETTINGS = ("timeframe", "stoploss", "trailing_stop", "trailing_stop_positive", "trailing_stop_positive_offset",
            "trailing_only_offset_is_reached", "use_exit_signal", "ignore_roi_if_entry_signal",
            "startup_candle_count")
HEADER = "// freqtrade: "


def freqtrade_settings(s: "Strategy") -> dict:
    """The Freqtrade attributes of the original strategy, kept in the script's header so that
    ``DslStrategy`` can give Freqtrade the same risk rules."""
    out = {k: getattr(s, k) for k in SETTINGS}
    out["minimal_roi"] = {str(k): v for k, v in sorted(s.minimal_roi.items())}
    return out


def read_settings(pine: str) -> dict | None:
    for line in pine.splitlines()[:10]:
        if line.startswith(HEADER):
            return json.loads(line[len(HEADER):])
    return None


def write_pine(s: "Strategy", defs: list[tuple[str, str]], enter: str, exit_: str, fee: float,
               source: str) -> str:
    sl = abs(float(s.stoploss))
    tf = timeframe_minutes(s.timeframe)
    lines = [
        "//@version=6",
        f"// Exported by `pyengine ft-export` from {source} (class {s.name}).",
        "// Freqtrade backtesting semantics: see dsl/freqtrade/risk_rules.py.",
        "// freqtrade: " + json.dumps(freqtrade_settings(s), sort_keys=True),
        f'strategy("{s.name}", overlay=true, initial_capital=1000, default_qty_type=strategy.percent_of_equity, '
        f"default_qty_value=100, commission_type=strategy.commission.percent, commission_value={_f(fee * 100)}, "
        "pyramiding=1)",
        "",
        *_inputs(s),
        "// Freqtrade trades only after the startup candles: the first signal candle (UNIX ms).",
        'ft_start_time = input.int(0, "ft_start_time")',
        "",
    ]
    for name, code in _needed(defs, [enter, exit_]):
        # A definition starting with a newline is a block of statements that defines ``name``.
        lines.append(code.strip("\n") if code.startswith("\n") else f"{name} = {code}")
    lines += [
        "",
        f"enter_long = {enter}",
        f"exit_long = {exit_}",
        'plot(enter_long ? 1 : 0, "enter_long")',
        'plot(exit_long ? 1 : 0, "exit_long")',
        "",
        "// ---- Freqtrade order rules",
        f"ft_fee = {_f(fee)}",
        f"ft_sl = {_f(sl)}",
        "ft_inv = 1.0 * math.round(1.0 / syminfo.mintick)",
        "ft_tick_up(x) =>",
        "    k = math.round(x * ft_inv)",
        "    k / ft_inv >= x ? k / ft_inv : (k + 1) / ft_inv",
        "ft_tick_round(x) => math.round(x * ft_inv) / ft_inv",
        _roi_function(s.minimal_roi),
        "ft_roi_price(entry, r) => ft_tick_round((1.0 + r) * (entry * (1.0 + ft_fee)) / (1.0 - ft_fee))",
        "ft_in = strategy.position_size > 0",
        "ft_new = ft_in and not ft_in[1]",
        "var int ft_entry_bar = 0",
        "var float ft_entry = na",
        "var float ft_stop = na",
        "// the entry filled at this bar's open (Freqtrade's open_rate), bit for bit",
        "if ft_new",
        "    ft_entry_bar := bar_index",
        "    ft_entry := open",
        "    ft_stop := ft_tick_up(ft_entry * (1.0 - ft_sl))",
    ]
    ignore_roi = "enter_long" if s.ignore_roi_if_entry_signal else "false"
    if s.trailing_stop:
        tsp = s.trailing_stop_positive
        off = float(s.trailing_stop_positive_offset or 0.0)
        only = "true" if s.trailing_only_offset_is_reached else "false"
        pos_rule = f"ft_bp > {_f(off)} ? {_f(abs(tsp))} : ft_sl" if tsp is not None else "ft_sl"
        lines += [
            "if ft_in and ft_stop < low",
            "    ft_bp = (high * (1.0 - ft_fee)) / (ft_entry * (1.0 + ft_fee)) - 1.0",
            f"    if not ({only} and ft_bp < {_f(off)})",
            f"        ft_trail = {pos_rule}",
            "        ft_stop := math.max(ft_stop, ft_tick_up(high * (1.0 - ft_trail)))",
        ]
    lines += [
        "if ft_in",
        f"    ft_r = ft_roi((bar_index + 1 - ft_entry_bar) * {tf})",
        f"    ft_limit = na(ft_r) or {ignore_roi} ? na : ft_roi_price(ft_entry, ft_r)",
        '    strategy.exit("ft", "L", limit=ft_limit, stop=ft_stop)',
    ]
    if s.use_exit_signal:
        lines += [
            "    if exit_long and not enter_long",
            '        strategy.close("L")',
        ]
    lines += [
        "else if enter_long and not exit_long and time >= ft_start_time",
        '    strategy.entry("L", strategy.long)',
        "    ft_loss = math.round((close - ft_tick_up(close * (1.0 - ft_sl))) / syminfo.mintick)",
        "    ft_r0 = ft_roi(0)",
        f"    ft_profit = na(ft_r0) or {'true' if s.ignore_roi_if_entry_signal else 'false'} ? na : "
        "math.round((ft_roi_price(close, ft_r0) - close) / syminfo.mintick)",
        '    strategy.exit("ft", "L", profit=ft_profit, loss=ft_loss)',
        "",
    ]
    return "\n".join(lines)
