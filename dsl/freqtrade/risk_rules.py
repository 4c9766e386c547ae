"""Freqtrade's backtesting order rules written as Pine ``strategy.*`` calls.

What Freqtrade 2026.9 does (``optimize/backtesting.py``, ``strategy/interface.py``) and how the
script reproduces it with the broker emulator of the Pine subset:

* Signals are computed on the closed candle t; Freqtrade shifts them by one row, so a trade
  opens at the **open of t+1**. Pine: a market ``strategy.entry`` placed at t's close fills at
  t+1's open. An entry needs no open trade and ``enter_long and not exit_long``.
* Exit signal (``use_exit_signal``): ``exit_long and not enter_long`` on t exits at the open of
  t+1 and wins over stoploss/ROI on that candle. Pine: ``strategy.close`` fills at the open,
  before any price order on the bar's path.
* Exit legs: the script declares ``exit_fill_model="freqtrade"`` (pine-subset.md 13.9), so
  its ``strategy.exit`` legs are filled by Freqtrade's candle rules, not by a price path: the
  stop that held at the open is tested against the low first; a trailing leg then takes the
  candle's high before the low is tested; a fixed stop wins over ROI, ROI over a trailed stop;
  a stop fills at its price (at the open only when the whole candle is below it).
* Stoploss: ``stop = round_up_to_tick(open_rate * (1 + stoploss))`` (Freqtrade rounds longs'
  stops up to the price precision). Pine: the ``stop`` of the exit.
* ROI: the highest ``minimal_roi`` key <= minutes since the entry candle; exits when the
  candle high gives a profit above it, at ``(1+roi)*open_rate*(1+fee)/(1-fee)`` rounded to the
  tick, or at the open when a new ROI step starts below the open. Pine: the ``limit``, given
  unrounded, recomputed every bar for the next bar's trade duration.
* Trailing stop: ``trailing_stop_positive`` once the profit at a candle's high is above
  ``trailing_stop_positive_offset`` (the first such tick is the ``trail_price``), ``|stoploss|``
  below the high otherwise (unless ``trailing_only_offset_is_reached``), each stop
  ``high * (1 - ratio)`` rounded up. Pine: a ``trail_percent`` leg; the ``|stoploss|`` trail
  below the offset (with a positive trail) is raised by the script at each close.
* On the entry candle the fill price is not known when the orders are placed, so the legs use
  ``profit``/``loss``/``trail_points`` ticks computed from the signal candle's close.
* A trailing stop hit on the entry candle: Freqtrade's worst case ``max(low, open * (1 +
  offset - positive))`` (``trailing_only_offset_is_reached``) or ``open * (1 - ratio)``. Pine:
  ``strategy(trail_entry_rise=offset %)`` (pine-subset.md 13.9).

Residual differences (each a documented Freqtrade backtesting assumption, classified by the
parity report, ``compare.py``; none occurs in the bundled five months): a candle opening above
the target of an ROI step that began earlier (Freqtrade fills at ``max(target, low)``, the
emulator at the open); exits on the entry candle whose legs moved with the open; and, for
``trailing_only_offset_is_reached = False`` with a positive trail, the ``|stoploss|`` trail
raised and hit inside one candle below the offset.
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


def _percent(ratio: float, sign: int = -1, bases: tuple[float, ...] = (1.0,)) -> str:
    """A Pine percent literal P for ``ratio`` such that the emulator's ``base + sign * P / 100``
    is Freqtrade's ``base + sign * ratio`` bit for bit for every base (``1 - positive``,
    ``(1 + offset) - positive``, ``1 + offset``): the decimal percent when it qualifies, else
    the nearest double that does (a stop rounded up to the tick moves when the product lands
    on a tick)."""
    import math
    from decimal import Decimal

    ratio = abs(ratio)

    def exact(p: float) -> bool:
        return all(b + sign * (p / 100) == b + sign * ratio for b in bases)

    text = format(Decimal(repr(ratio)) * 100, "f")
    if exact(float(text)):
        return text
    lo = hi = ratio * 100
    for _ in range(1000):
        for p in (lo, hi):
            if exact(p):
                return repr(p)
        lo, hi = math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)
    raise ValueError(f"no percent literal reproduces {ratio!r} exactly")


def trailing_leg(s: "Strategy") -> tuple[str, str, bool] | None:
    """Freqtrade's trailing stop as a percent trailing leg: (trail_percent literal, activation
    price expression in ``{e}`` (the entry), and whether the stop also trails |stoploss|
    below the high until that level)."""
    if not s.trailing_stop:
        return None
    off = _f(float(s.trailing_stop_positive_offset or 0.0))
    if s.trailing_stop_positive is None:
        # the stop trails |stoploss| under the high, from the entry or once the profit at the
        # high reaches the offset
        level = f"ft_activation({{e}}, {off}, false)" if s.trailing_only_offset_is_reached else "{e}"
        return _percent(s.stoploss), level, False
    # trailing_stop_positive once the profit at the high is above the offset; below it the
    # stop trails |stoploss| unless trailing_only_offset_is_reached
    # with trailing_only_offset_is_reached the entry candle's worst case is (1 + offset) - positive
    bases = (1.0, 1.0 + abs(float(s.trailing_stop_positive_offset or 0.0)))
    entry_rise(s)
    return (_percent(s.trailing_stop_positive, bases=bases), f"ft_activation({{e}}, {off}, true)",
            not s.trailing_only_offset_is_reached)


def entry_rise(s: "Strategy") -> str:
    """Freqtrade's worst case for a trailing stop hit on the entry candle
    (``_get_close_rate_for_stoploss``): ``open * (1 + offset - positive)`` when only the offset
    arms it, ``open * (1 - ratio)`` otherwise (no rise)."""
    if s.trailing_stop and s.trailing_only_offset_is_reached and s.trailing_stop_positive:
        return f", trail_entry_rise={_percent(float(s.trailing_stop_positive_offset or 0.0), 1)}"
    return ""


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
        f'pyramiding=1, exit_fill_model="freqtrade"{entry_rise(s)})',
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
        _roi_function(s.minimal_roi),
        "// the ROI target, unrounded: the freqtrade exit model fills it when the high goes beyond it,",
        "// at the nearest tick",
        "ft_roi_price(entry, r) => (1.0 + r) * (entry * (1.0 + ft_fee)) / (1.0 - ft_fee)",
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
    trail = trailing_leg(s)
    leg, first_leg = "", ""
    if trail:
        pct, level, pre = trail
        lines += [
            "// Freqtrade's profit ratio at a rate, fees included, for a trade entered at e",
            "ft_bp(e, rate) => (rate * (1.0 - ft_fee)) / (e * (1.0 + ft_fee)) - 1.0",
            "// the first tick where that profit is above r (at or above r when not strict)",
            "ft_activation(e, r, strict) =>",
            "    k = math.floor(e * (1.0 + ft_fee) * (1.0 + r) / (1.0 - ft_fee) * ft_inv) - 2",
            "    for i = 0 to 5",
            "        p = ft_bp(e, k / ft_inv)",
            "        if strict ? p <= r : p < r",
            "            k := k + 1",
            "    k / ft_inv",
            "var float ft_act = na",
            "if ft_new",
            f"    ft_act := {level.format(e='ft_entry')}",
        ]
        if pre:  # below the activation level the stop trails |stoploss| under the high
            lines += [
                "if ft_in and ft_stop < low and ft_bp(ft_entry, high) <= "
                f"{_f(float(s.trailing_stop_positive_offset or 0.0))}",
                "    ft_stop := math.max(ft_stop, ft_tick_up(high * (1.0 - ft_sl)))",
            ]
        leg = f", trail_price=ft_act, trail_percent={pct}"
        first_leg = (f", trail_points=math.round(({level.format(e='close')} - close) * ft_inv), "
                     f"trail_percent={pct}")
    lines += [
        "if ft_in",
        f"    ft_r = ft_roi((bar_index + 1 - ft_entry_bar) * {tf})",
        f"    ft_limit = na(ft_r) or {ignore_roi} ? na : ft_roi_price(ft_entry, ft_r)",
        f'    strategy.exit("ft", "L", limit=ft_limit, stop=ft_stop{leg})',
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
        "(ft_roi_price(close, ft_r0) - close) / syminfo.mintick",
        f'    strategy.exit("ft", "L", profit=ft_profit, loss=ft_loss{first_leg})',
        "",
    ]
    return "\n".join(lines)
