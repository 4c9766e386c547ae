"""Trade-by-trade and signal-by-signal comparison of a Freqtrade backtest with ours.

Every difference is classified. A difference is *explained* when the candle data shows one of
the documented Freqtrade backtesting assumptions that the TradingView-style broker emulator
does not share (see ``risk_rules.py``); anything else is *unexplained*.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dsl.freqtrade.ftrun import Trade

EXPLANATIONS = {
    "stop_and_roi": "stoploss and ROI both reachable in one candle after the stop trailed |stoploss| below a "
                    "high: Freqtrade counts that stop as trailing and takes the ROI first; the script raised "
                    "it at the close, so the emulator counts it as the fixed stop, which wins",
    "gap": "the candle opened above the ROI target of a step that began before it: Freqtrade fills at "
           "max(target, low), the emulator at the open",
    "trailing": "stop trailing |stoploss| below the high before the trailing_stop_positive_offset is reached, "
                "raised and hit inside one candle: Freqtrade raises it with that candle's high before "
                "testing the low, the script raises it at the close",
    "trailing_entry": "stop trailing |stoploss| below the high before the offset is reached, raised and hit on "
                      "the entry candle: Freqtrade fills at its worst case max(low, open * (1 - |stoploss|)), "
                      "the script raises that stop at the close",
    "entry_candle": "exit on the entry candle, whose open (the fill) differs from the signal close the "
                    "order legs were computed from",
    "end_of_data": "Freqtrade force-exits trades still open at the end of the data; ours stay open",
    "follows": "position timeline shifted by an earlier explained difference",
}


@dataclass
class Row:
    status: str                 # matched | price | exit | missing | extra
    ft: Trade | None
    ours: Trade | None
    reason: str = ""            # a key of EXPLANATIONS, or "" when unexplained


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    signal_total: int = 0
    signal_equal: int = 0
    signal_mismatches: list[tuple[pd.Timestamp, str, int, int]] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def ft_trades(self) -> int:
        return sum(1 for r in self.rows if r.ft is not None)

    @property
    def comparable(self) -> int:
        """Freqtrade trades that closed by the strategy's rules (not force-exited at the end)."""
        return sum(1 for r in self.rows if r.ft is not None and r.reason != "end_of_data")

    @property
    def matched_ratio(self) -> float:
        n = self.comparable
        return 1.0 if n == 0 else self.count("matched") / n

    @property
    def unexplained(self) -> list[Row]:
        return [r for r in self.rows if r.status != "matched" and not r.reason]

    @property
    def signal_ratio(self) -> float:
        return 1.0 if self.signal_total == 0 else self.signal_equal / self.signal_total


def compare_signals(report: Report, ft: pd.DataFrame, ours: pd.DataFrame, start: pd.Timestamp) -> None:
    """``ft`` and ``ours``: date, enter_long, exit_long per candle. Compared from ``start`` on."""
    merged = ft.merge(ours, on="date", suffixes=("_ft", "_ours"), how="inner")
    merged = merged[merged["date"] >= start]
    for col in ("enter_long", "exit_long"):
        a, b = merged[f"{col}_ft"].to_numpy(int), merged[f"{col}_ours"].to_numpy(int)
        report.signal_total += len(a)
        report.signal_equal += int((a == b).sum())
        for i in np.flatnonzero(a != b)[:20]:
            report.signal_mismatches.append((merged["date"].iloc[i], col, int(a[i]), int(b[i])))


def compare_trades(report: Report, ft: list[Trade], ours: list[Trade], candles: pd.DataFrame,
                   tick: float, trailing: tuple[float, ...] = (), entry_worst: tuple[float, ...] = ()) -> None:
    """``trailing``: the stop ratios the exported script raises at the close rather than in the
    candle (``|stoploss|`` below the offset), to verify a trailing exit raised inside its
    candle; ``entry_worst``: the multiples of the open Freqtrade then assumes for such an exit
    on the entry candle (``_get_close_rate_for_stoploss``)."""
    by_entry = {t.entry_time: t for t in ours}
    bars = candles.set_index("date")
    tol = tick / 2 + 1e-9
    rows = []
    for f in ft:
        o = by_entry.pop(f.entry_time, None)
        if o is None:
            rows.append(Row("missing", f, None))
        elif f.exit_time == o.exit_time and abs(f.entry_price - o.entry_price) <= tol \
                and abs(f.exit_price - o.exit_price) <= tol:
            rows.append(Row("matched", f, o))
        else:
            row = Row("price" if f.exit_time == o.exit_time else "exit", f, o)
            row.reason = _explain(row, bars, tick, trailing, entry_worst)
            rows.append(row)
    rows += [Row("extra", None, o) for o in by_entry.values()]
    # A trade present on one side only is explained when the other side was still holding a
    # position that an explained difference had kept open longer.
    explained = [r for r in rows if r.status in ("price", "exit") and r.reason]
    for r in rows:
        if r.status == "missing":
            t = r.ft.entry_time
            r.reason = "follows" if any(e.ours.entry_time < t <= e.ours.exit_time for e in explained) else ""
        elif r.status == "extra":
            t = r.ours.entry_time
            r.reason = "follows" if any(e.ft.entry_time < t <= e.ft.exit_time for e in explained) else ""
    report.rows.extend(sorted(rows, key=lambda r: (r.ft or r.ours).entry_time))


def _tick_up(x: float, tick: float) -> float:
    inv = round(1 / tick)
    k = round(x * inv)
    return k / inv if k / inv >= x else (k + 1) / inv


def _explain(row: Row, bars: pd.DataFrame, tick: float, trailing: tuple[float, ...],
             entry_worst: tuple[float, ...]) -> str:
    f, o = row.ft, row.ours
    if f.reason == "force_exit" or o.reason == "open":
        return "end_of_data"
    t = min(f.exit_time, o.exit_time)     # the first candle where the two sides disagreed
    if t not in bars.index:
        return ""
    c = bars.loc[t]
    if t == f.entry_time:
        if f.reason == "trailing_stop_loss" and f.exit_time == t and any(
                abs(f.exit_price - round(max(c["low"], c["open"] * m) / tick) * tick) <= tick / 2 + 1e-9
                for m in entry_worst):
            return "trailing_entry"
        return "entry_candle"
    if f.reason == "trailing_stop_loss" and f.exit_time < o.exit_time and c["low"] <= f.exit_price and \
            any(abs(f.exit_price - _tick_up(c["high"] * (1 - x), tick)) <= tick / 2 + 1e-9 for x in trailing):
        return "trailing"
    if f.exit_time == o.exit_time:
        if f.reason == "roi" and abs(o.exit_price - c["open"]) <= tick / 2 and \
                c["low"] - tick / 2 <= f.exit_price < c["open"] - tick / 2:
            return "gap"
        if trailing and f.reason == "roi" and o.reason == "stop" and c["low"] <= o.exit_price:
            return "stop_and_roi"
    return ""


def render(report: Report, name: str, tolerance: float, every_trade: bool = False) -> str:
    out = [f"parity: {name}"]
    out.append(f"  signals : {report.signal_equal}/{report.signal_total} candle signals equal "
               f"({report.signal_ratio:.4%})")
    for date, col, a, b in report.signal_mismatches[:10]:
        out.append(f"    {date} {col}: freqtrade={a} ours={b}")
    out.append(f"  trades  : freqtrade {report.ft_trades} ({report.comparable} closed by the rules), matched "
               f"{report.count('matched')} ({report.matched_ratio:.2%}), differing price {report.count('price')}, "
               f"different exit {report.count('exit')}, missing {report.count('missing')}, "
               f"extra {report.count('extra')}")
    for r in report.rows:
        if r.status == "matched" and not every_trade:
            continue
        f = f"{r.ft.entry_time} -> {r.ft.exit_time} {r.ft.entry_price:g}->{r.ft.exit_price:g} {r.ft.reason}" \
            if r.ft else "-"
        o = f"{r.ours.entry_time} -> {r.ours.exit_time} {r.ours.entry_price:g}->{r.ours.exit_price:g} " \
            f"{r.ours.reason}" if r.ours else "-"
        why = "" if r.status == "matched" else EXPLANATIONS.get(r.reason, "UNEXPLAINED")
        out.append(f"    {r.status:8} freqtrade [{f}]  ours [{o}]  {why}")
    ok = report.signal_ratio == 1.0 and report.matched_ratio >= tolerance and not report.unexplained
    out.append(f"  verdict : {'PASS' if ok else 'FAIL'} (signals 100 %, trades matched >= {tolerance:.0%}, "
               f"no unexplained difference)")
    return "\n".join(out)


def passed(report: Report, tolerance: float) -> bool:
    return report.signal_ratio == 1.0 and report.matched_ratio >= tolerance and not report.unexplained
