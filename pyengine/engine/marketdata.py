"""Market data: the connector's combined stream -> C parser/books -> bars, marks, freshness.

``MarketHub.on_message`` is called for every parsed frame (the C message struct, reused):
depth diffs have already been applied to the C book; the hub only notes when each book last
changed (freshness for the strategies and the risk gate), feeds trades and klines to the
kline ledger (whose bar closes step the strategies), hands the trades that reach a
strategy's exit legs (flagged by the C parser, ``engine/exits.py``) to ``exits`` and marks
positions at most every ``mark_every_ns``. The receive time of the frame being processed is taken before parsing
(``TimedMarketData``), so tick-to-order latency starts at the socket.
"""
from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Callable

from pyengine._core import lib
from pyengine.book import OK
from pyengine.ledger import Bar, KlineLedger
from pyengine.symbols import SymbolSpec
from pyengine.venue.binance.market import MarketData

_INTERVAL_BY_S = {1: "1s", 60: "1m", 180: "3m", 300: "5m", 900: "15m", 1800: "30m",
                  3600: "1h", 7200: "2h", 14400: "4h", 21600: "6h", 28800: "8h",
                  43200: "12h", 86400: "1d", 259200: "3d", 604800: "1w"}


class TimedMarketData(MarketData):
    """The connector's market data, stamping each frame's receive time before parsing."""

    frame_ns = 0

    def _process(self, frame: bytes) -> None:
        self.frame_ns = time.monotonic_ns()
        super()._process(frame)


class MarketHub:
    def __init__(self, specs: dict[str, SymbolSpec], ledger: KlineLedger, *,
                 stale_ns: int = 5_000_000_000, mark_every_ns: int = 200_000_000,
                 on_mark: Callable[[str, int, int], None] = lambda s, px, t: None,
                 on_tick: Callable[[str, Any, int], None] | None = None):
        self.specs = specs
        self.ledger = ledger
        self.stale_ns = stale_ns
        self.mark_every_ns = mark_every_ns
        self.on_mark = on_mark
        self.on_tick = on_tick           # tick-driven strategies: (symbol, msg, frame_ns)
        self.exits = None                # ExitLegs: the trades that reach an exit leg
        self.md: TimedMarketData | None = None
        self.book_updated_ns: dict[str, int] = {}
        self.last_price: dict[str, int] = {}
        self.last_event_ms = 0           # exchange time of the newest market event
        self._marked_ns: dict[str, int] = {}
        self._px_div = {s: 10.0 ** sp.price_scale for s, sp in specs.items()}
        self._qty_div = {s: 10.0 ** sp.qty_scale for s, sp in specs.items()}
        self.messages = 0

    def frame_ns(self) -> int:
        return self.md.frame_ns if self.md is not None and self.md.frame_ns else time.monotonic_ns()

    def is_fresh(self, symbol: str) -> bool:
        """In sync and changed within ``stale_ns``: only then may a decision be made."""
        md = self.md
        if md is None or not md.book(symbol).synced:
            return False
        return time.monotonic_ns() - self.book_updated_ns.get(symbol, 0) <= self.stale_ns

    def on_message(self, msg, symbol: str) -> None:
        self.messages += 1
        kind = msg.kind
        if kind == lib.PE_MSG_DEPTH:
            if msg.status == OK:
                self.book_updated_ns[symbol] = self.md.frame_ns
                if self.on_tick is not None:
                    self.on_tick(symbol, msg, self.md.frame_ns)
            return
        if kind == lib.PE_MSG_TRADE or kind == lib.PE_MSG_AGGTRADE:
            if msg.time > self.last_event_ms:
                self.last_event_ms = msg.time
            self.last_price[symbol] = msg.price
            self.ledger.on_trade(symbol, msg.price / self._px_div[symbol],
                                 msg.qty / self._qty_div[symbol], msg.time)
            now = self.md.frame_ns
            exits = self.exits
            if exits is not None and (msg.exit_hit or symbol in exits.pending):
                exits.on_trade(symbol, msg.price, msg.time, now)
            if now - self._marked_ns.get(symbol, 0) >= self.mark_every_ns:
                self._marked_ns[symbol] = now
                self.on_mark(symbol, msg.price, msg.time)
        elif kind == lib.PE_MSG_KLINE and msg.maker:       # closed kline (k.x)
            interval = _INTERVAL_BY_S.get(msg.interval_s)
            if interval is None:
                return
            d = self._px_div[symbol]
            bar = Bar(msg.time, msg.close_time, msg.open / d, msg.high / d, msg.low / d,
                      msg.close / d, msg.volume / self._qty_div[symbol], 0.0, msg.trades)
            self.ledger.on_kline(symbol, interval, bar, True)

    def price(self, symbol: str) -> Decimal | None:
        px = self.last_price.get(symbol)
        return None if px is None else Decimal(px).scaleb(-self.specs[symbol].price_scale)
