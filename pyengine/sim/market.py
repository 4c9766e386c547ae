"""The public market of one symbol: the replayed L2 book, public trades and 1m bars.

All prices and quantities are ints at scale 8 (``P8``); the C :class:`~pyengine.book.Book`
holding the levels works at the symbol's own scales and is converted at the edges.

Every book change carries ids from one per-symbol update-id counter (digest 11.4): recorded
feeds bring their own ids (passed through unchanged), synthetic feeds draw them from
:attr:`Market.update_id`. The simulated accounts' orders are *not* part of this public
market (see README: "own orders are invisible to public market data").
"""
from __future__ import annotations

import bisect
from typing import Callable, Iterable

import orjson

from pyengine.book import ASK, BID, Book, BookNotReadable
from pyengine.sim.numbers import fmt
from pyengine.symbols import SymbolSpec

Level = tuple[int, int]          # (price P8, quantity P8)

INTERVAL_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000, "1M": 0,
}
_WEEK_OFFSET_MS = 4 * 86_400_000     # 1970-01-01 was a Thursday; Binance weeks start Monday


def interval_start(t: int, interval: str) -> int:
    """Open time of the ``interval`` bar containing ``t`` (UTC)."""
    if interval == "1M":
        import datetime as _dt
        d = _dt.datetime.fromtimestamp(t / 1000, _dt.timezone.utc)
        return int(_dt.datetime(d.year, d.month, 1, tzinfo=_dt.timezone.utc).timestamp() * 1000)
    ms = INTERVAL_MS[interval]
    if interval == "1w":
        return (t - _WEEK_OFFSET_MS) // ms * ms + _WEEK_OFFSET_MS
    return t // ms * ms


def interval_end(open_time: int, interval: str) -> int:
    """Close time (= next open - 1 ms)."""
    if interval == "1M":
        import datetime as _dt
        d = _dt.datetime.fromtimestamp(open_time / 1000, _dt.timezone.utc)
        y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return int(_dt.datetime(y, m, 1, tzinfo=_dt.timezone.utc).timestamp() * 1000) - 1
    return open_time + INTERVAL_MS[interval] - 1


class Bar:
    """One kline. Quote volumes are at scale 16 (price P8 x qty P8)."""
    __slots__ = ("open_time", "o", "h", "l", "c", "v", "qv", "n", "tbv", "tbqv", "first_id", "last_id")

    def __init__(self, open_time: int, price: int):
        self.open_time = open_time
        self.o = self.h = self.l = self.c = price
        self.v = self.qv = self.n = self.tbv = self.tbqv = 0
        self.first_id = self.last_id = -1

    def add(self, tid: int, price: int, qty: int, buyer_maker: bool) -> None:
        if self.n == 0 and self.v == 0:
            self.o = self.h = self.l = price
        self.h, self.l, self.c = max(self.h, price), min(self.l, price), price
        self.v += qty
        self.qv += price * qty
        self.n += 1
        if not buyer_maker:
            self.tbv += qty
            self.tbqv += price * qty
        if self.first_id < 0:
            self.first_id = tid
        self.last_id = tid

    def merge(self, other: "Bar") -> None:
        self.h, self.l, self.c = max(self.h, other.h), min(self.l, other.l), other.c
        self.v += other.v
        self.qv += other.qv
        self.n += other.n
        self.tbv += other.tbv
        self.tbqv += other.tbqv
        if self.first_id < 0:
            self.first_id = other.first_id
        if other.last_id >= 0:
            self.last_id = other.last_id

    def copy(self, open_time: int) -> "Bar":
        b = Bar(open_time, self.o)
        b.merge(self)
        b.o = self.o
        return b

    def rest_row(self, interval: str) -> list:
        return [self.open_time, fmt(self.o, 8), fmt(self.h, 8), fmt(self.l, 8), fmt(self.c, 8),
                fmt(self.v, 8), interval_end(self.open_time, interval), fmt(self.qv, 16),
                self.n, fmt(self.tbv, 8), fmt(self.tbqv, 16), "0"]


class Trade:
    __slots__ = ("id", "price", "qty", "time", "buyer_maker")

    def __init__(self, tid: int, price: int, qty: int, time: int, buyer_maker: bool):
        self.id, self.price, self.qty, self.time, self.buyer_maker = tid, price, qty, time, buyer_maker


MAX_TRADES = 200_000


class Market:
    """Public market state of one symbol plus the hooks the engine and the stream hub use."""

    def __init__(self, spec: SymbolSpec, info: dict):
        self.spec, self.info, self.symbol = spec, info, spec.symbol
        self.stream_prefix = spec.symbol.lower() + "@"
        self._pmul = 10 ** (8 - spec.price_scale)
        self._qmul = 10 ** (8 - spec.qty_scale)
        self.book = Book(spec)
        self.update_id = 0
        self.has_book = False
        self.trades: list[Trade] = []
        self._trade_times: list[int] = []
        self.bars: dict[int, Bar] = {}          # 1m bars by open time
        self.bar_times: list[int] = []
        self.last_price: int | None = None
        self.last_trade_time = 0
        self.next_agg_id = 1
        self.consumed: dict[tuple[int, int], int] = {}  # (side, P8) -> qty taken by simulated takers
        # hooks: set by the simulator
        self.on_trade_hooks: list[Callable[["Market", Trade], None]] = []
        self.on_book_hooks: list[Callable[["Market"], None]] = []
        self.publisher: "Publisher | None" = None

    # -- conversions -------------------------------------------------------------
    def to_book(self, levels: Iterable[Level]) -> list[tuple[int, int]]:
        pm, qm = self._pmul, self._qmul
        return [(p // pm, q // qm) for p, q in levels]

    def from_book(self, levels: Iterable[tuple[int, int]]) -> list[Level]:
        pm, qm = self._pmul, self._qmul
        return [(p * pm, q * qm) for p, q in levels]

    # -- book --------------------------------------------------------------------
    def load_snapshot(self, last_update_id: int, bids: list[Level], asks: list[Level]) -> None:
        self.book.load_levels(last_update_id, self.to_book(bids), self.to_book(asks))
        self.update_id = last_update_id
        self.has_book = True
        self.consumed.clear()

    def apply_depth(self, first_id: int, last_id: int, bids: list[Level], asks: list[Level],
                    event_time: int, payload: bytes | None = None) -> None:
        """Apply one diff (absolute quantities, 0 removes). ``payload`` is the recorded
        event, passed to subscribers unchanged."""
        if last_id <= self.update_id:
            return
        rc = self.book.apply_diff(first_id, last_id, self.to_book(bids), self.to_book(asks))
        if rc != 0:
            raise RuntimeError(f"{self.symbol}: replayed depth diff {first_id}-{last_id} does not "
                               f"continue the book at {self.update_id} (status {rc})")
        self.update_id = last_id
        if self.consumed:
            for p, _ in bids:
                self.consumed.pop((BID, p), None)
            for p, _ in asks:
                self.consumed.pop((ASK, p), None)
        if self.publisher is not None:
            self.publisher.depth(self, first_id, last_id, bids, asks, event_time, payload)
        for hook in self.on_book_hooks:
            hook(self)

    def levels(self, side: int, n: int) -> list[Level]:
        """Best ``n`` public levels of ``side``, with the simulated takers' consumption removed."""
        if not self.has_book:
            return []
        try:
            raw = self.from_book(self.book.top(side, n))
        except BookNotReadable:
            return []
        if not self.consumed:
            return raw
        out = []
        for p, q in raw:
            q -= self.consumed.get((side, p), 0)
            if q > 0:
                out.append((p, q))
        return out

    def best(self, side: int) -> Level | None:
        lv = self.levels(side, 8)
        return lv[0] if lv else None

    def consume(self, side: int, price: int, qty: int) -> None:
        key = (side, price)
        self.consumed[key] = self.consumed.get(key, 0) + qty

    # -- trades ------------------------------------------------------------------
    def add_trade(self, tid: int, price: int, qty: int, time: int, buyer_maker: bool,
                  event_time: int, payload: bytes | None = None) -> Trade:
        t = Trade(tid, price, qty, time, buyer_maker)
        self.trades.append(t)
        self._trade_times.append(time)
        if len(self.trades) > MAX_TRADES + MAX_TRADES // 4:
            del self.trades[:MAX_TRADES // 4]
            del self._trade_times[:MAX_TRADES // 4]
        self.last_price, self.last_trade_time = price, time
        minute = time // 60_000 * 60_000
        bar = self.bars.get(minute)
        if bar is None:
            bar = self.bars[minute] = Bar(minute, price)
            self.bar_times.append(minute)
        bar.add(tid, price, qty, buyer_maker)
        agg_id = self.next_agg_id
        self.next_agg_id += 1
        if self.publisher is not None:
            self.publisher.trade(self, t, agg_id, event_time, payload)
        for hook in self.on_trade_hooks:
            hook(self, t)
        return t

    def add_history_bar(self, bar: Bar) -> None:
        """A finished 1m bar from before the replay start (kline-driven symbols)."""
        self.bars[bar.open_time] = bar
        self.bar_times.append(bar.open_time)
        self.last_price = bar.c

    def trades_between(self, start: int | None, end: int | None) -> list[Trade]:
        lo = 0 if start is None else bisect.bisect_left(self._trade_times, start)
        hi = len(self.trades) if end is None else bisect.bisect_right(self._trade_times, end)
        return self.trades[lo:hi]

    # -- klines ------------------------------------------------------------------
    def klines(self, interval: str, start: int | None, end: int | None, limit: int) -> list[Bar]:
        """Bars of ``interval`` (chronological), built from 1m bars (or trades for 1s)."""
        if interval == "1s":
            out: dict[int, Bar] = {}
            for t in self.trades_between(start, end):
                sec = t.time // 1000 * 1000
                b = out.get(sec)
                if b is None:
                    b = out[sec] = Bar(sec, t.price)
                b.add(t.id, t.price, t.qty, t.buyer_maker)
            bars = list(out.values())
        else:
            lo = 0 if start is None else bisect.bisect_left(self.bar_times, interval_start(start, interval))
            hi = len(self.bar_times) if end is None else bisect.bisect_right(self.bar_times, end)
            if start is None and interval == "1m":
                lo = max(lo, hi - limit)
            elif start is None:
                span = INTERVAL_MS[interval] // 60_000 if interval != "1M" else 31 * 1440
                lo = max(lo, hi - (limit + 1) * span)
            bars = []
            for mt in self.bar_times[lo:hi]:
                src = self.bars[mt]
                ot = interval_start(mt, interval)
                if bars and bars[-1].open_time == ot:
                    bars[-1].merge(src)
                else:
                    bars.append(src.copy(ot))
        if start is not None:
            bars = [b for b in bars if b.open_time >= start][:limit]
        else:
            bars = bars[-limit:]
        if end is not None:
            bars = [b for b in bars if b.open_time <= end]
        return bars

    # -- statistics --------------------------------------------------------------
    def avg_price(self, minutes: int, now: int) -> int | None:
        """VWAP of the last ``minutes`` minutes of public trades (last price if none)."""
        trades = self.trades_between(now - minutes * 60_000, None)
        vol = sum(t.qty for t in trades)
        if vol:
            return sum(t.price * t.qty for t in trades) // vol
        if minutes and self.bar_times:
            # kline-driven history without trades in the window: use the bars' VWAP
            bars = [self.bars[m] for m in self.bar_times[-minutes:]]
            v = sum(b.v for b in bars)
            if v:
                return sum(b.qv for b in bars) // v
        if self.last_price is None:
            # before the first replayed trade: the book's mid stands in for the last price
            bid, ask = self.best(BID), self.best(ASK)
            if bid and ask:
                return (bid[0] + ask[0]) // 2
        return self.last_price

    def rolling(self, now: int, window_ms: int) -> dict:
        """Raw figures of the rolling window ending at ``now``: trades or bars."""
        trades = self.trades_between(now - window_ms, None)
        if trades:
            first, last = trades[0], trades[-1]
            vol = sum(t.qty for t in trades)
            qv = sum(t.price * t.qty for t in trades)
            return dict(open=first.price, high=max(t.price for t in trades),
                        low=min(t.price for t in trades), close=last.price, volume=vol, qv=qv,
                        first_id=first.id, last_id=last.id, count=len(trades),
                        last_qty=last.qty, open_time=first.time, close_time=last.time)
        return dict(open=self.last_price or 0, high=self.last_price or 0, low=self.last_price or 0,
                    close=self.last_price or 0, volume=0, qv=0, first_id=-1, last_id=-1, count=0,
                    last_qty=0, open_time=now - window_ms, close_time=now)

    def depth_body(self, limit: int) -> bytes:
        bids, asks = self.levels(BID, limit), self.levels(ASK, limit)
        return orjson.dumps({"lastUpdateId": self.update_id,
                             "bids": [[fmt(p, 8), fmt(q, 8)] for p, q in bids],
                             "asks": [[fmt(p, 8), fmt(q, 8)] for p, q in asks]})


class Publisher:
    """Interface the stream hub implements (see :mod:`pyengine.sim.streams`)."""

    def depth(self, market: Market, first_id: int, last_id: int, bids: list[Level],
              asks: list[Level], event_time: int, payload: bytes | None) -> None: ...

    def trade(self, market: Market, trade: Trade, agg_id: int, event_time: int,
              payload: bytes | None) -> None: ...

    def book_ticker(self, market: Market, payload: bytes | None) -> None: ...
