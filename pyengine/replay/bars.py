"""Bars from the C bar builder, closed by the same rules as the live kline ledger.

The C feed builds 1-second bars from each symbol's trades (the base; every ledger interval
is a multiple of it) and reports a bar when the first trade of a later bar arrives. ``TradeSeries`` turns those base
bars into the bars of its interval exactly as ``pyengine.ledger.KlineLedger`` does for live
trades: a bar is closed by the first trade past its end, and every interval without trades
in between closes as a flat bar at the previous close, in the same order.
"""
from __future__ import annotations

from typing import Callable

from pyengine.ledger import Bar, bar_open, interval_ms

BASE = "1s"                   # the interval the C feed builds from trades


class TradeSeries:
    __slots__ = ("symbol", "interval", "step", "forming", "emit")

    def __init__(self, symbol: str, interval: str, emit: Callable[[str, str, Bar], None]):
        self.symbol, self.interval = symbol, interval
        self.step = interval_ms(interval)
        self.forming: Bar | None = None
        self.emit = emit

    def add(self, base: Bar, next_trade_ms: int) -> None:
        """One closed base bar, then the time of the trade that closed it."""
        f = self.forming
        if f is None:
            t0 = bar_open(base.open_time, self.interval)
            f = self.forming = Bar(t0, t0 + self.step - 1, base.open, base.high, base.low,
                                   base.close, base.volume, base.quote_volume, base.trades)
        else:
            if base.open_time > f.close_time:
                self._roll(base.open_time)
                f = self.forming
            if f.trades == 0:       # a flat bar left open by a roll: its first trades
                f.open, f.high, f.low = base.open, base.high, base.low
            else:
                f.high = max(f.high, base.high)
                f.low = min(f.low, base.low)
            f.close = base.close
            f.volume += base.volume
            f.quote_volume += base.quote_volume
            f.trades += base.trades
        if next_trade_ms > f.close_time:
            self._roll(next_trade_ms)

    def _roll(self, t_ms: int) -> None:
        """Close the forming bar and the flat bars of empty intervals before ``t_ms``."""
        f = self.forming
        while f.close_time < t_ms:
            self.emit(self.symbol, self.interval, f)
            nxt = f.open_time + self.step
            f = Bar(nxt, nxt + self.step - 1, f.close, f.close, f.close, f.close)
        self.forming = f
