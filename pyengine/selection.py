"""Symbol selection: which symbols of the universe are traded right now.

Engine-facing API::

    rules = SelectionRules.from_config(cfg.selection)
    selector = SymbolSelector(cfg.universe.symbols, rules, on_change=cb)  # cb(added, removed)
    sel = selector.evaluate(statuses, stats)    # Selection(active, rejected={symbol: reason})
    selector.active, selector.is_active("BTCUSDT")
    await selector.run(provider, period_s)      # provider: async () -> (statuses, stats)
    stats = market_stats(ledger, symbol, rules, bid=..., ask=..., quote_volume_24h=...)
    statuses_from_exchange_info(info)           # {symbol: "TRADING" | "HALT" | "BREAK" ...}

A symbol is active only when it is in the universe, its exchange status is TRADING and it
passes every configured rule: 24 h quote volume at least ``min_quote_volume_24h``; spread at
most ``max_spread_bps``; realised volatility (stdev of log returns of the last
``volatility_bars`` bars of ``volatility_interval``, from the kline ledger) within
``[min_volatility_pct, max_volatility_pct]``. A rule that is set but cannot be evaluated (no book,
too few bars) rejects the symbol: nothing is traded on missing data. Symbols outside the
universe are ignored whatever the exchange says. Deactivation stops new entries only; the
engine still manages exits of open positions on a deactivated symbol.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Awaitable, Callable, Mapping, Sequence

import trio

from pyengine.ledger import KlineLedger, realized_volatility_pct

log = logging.getLogger("pyengine.selection")
DAY_MS = 86_400_000


@dataclass(frozen=True)
class SelectionRules:
    min_quote_volume_24h: Decimal = Decimal(0)
    max_spread_bps: float | None = None
    min_volatility_pct: float | None = None
    max_volatility_pct: float | None = None
    volatility_interval: str = "1h"
    volatility_bars: int = 24

    @classmethod
    def from_config(cls, sel: Any) -> "SelectionRules":
        """From ``config.SelectionConfig``."""
        return cls(sel.min_quote_volume_24h, sel.max_spread_bps, sel.min_volatility_pct,
                   sel.max_volatility_pct, sel.volatility_interval, sel.volatility_bars)


@dataclass(frozen=True)
class MarketStats:
    quote_volume_24h: Decimal | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None
    volatility_pct: float | None = None

    @property
    def spread_bps(self) -> float | None:
        if self.bid is None or self.ask is None or self.bid <= 0 or self.ask <= self.bid:
            return None
        return float((self.ask - self.bid) / ((self.ask + self.bid) / 2) * 10_000)


@dataclass(frozen=True)
class Selection:
    active: tuple[str, ...]
    rejected: dict[str, str] = field(default_factory=dict)


def statuses_from_exchange_info(info: Mapping[str, Any]) -> dict[str, str]:
    return {s["symbol"]: s["status"] for s in info["symbols"]}


def market_stats(ledger: KlineLedger, symbol: str, rules: SelectionRules, *,
                 bid: Decimal | None, ask: Decimal | None,
                 quote_volume_24h: Decimal | None = None) -> MarketStats:
    """Stats of one symbol from the ledger (volatility; 24 h volume when not given, if the
    ledger's bars cover a day) and the book's best bid/ask."""
    try:
        series = ledger.series(symbol, rules.volatility_interval)
    except KeyError:
        series = None
    vol = None
    if series is not None and len(series) > rules.volatility_bars:
        vol = realized_volatility_pct(series.column("close", rules.volatility_bars + 1))
    if quote_volume_24h is None and series is not None and len(series):
        day = [b for b in series.bars if b.open_time > series[-1].close_time - DAY_MS]
        if day and day[0].open_time <= series[-1].close_time + 1 - DAY_MS:
            quote_volume_24h = Decimal(str(sum(b.quote_volume for b in day)))
    return MarketStats(quote_volume_24h, bid, ask, vol)


def check(symbol_status: str | None, stats: MarketStats | None,
          rules: SelectionRules) -> str | None:
    """Why the symbol may not be traded, or None when it may."""
    if symbol_status != "TRADING":
        return f"exchange status is {symbol_status or 'unknown'}, not TRADING"
    if stats is None:
        return "no market data"
    if rules.min_quote_volume_24h > 0:
        if stats.quote_volume_24h is None:
            return "no 24 h volume"
        if stats.quote_volume_24h < rules.min_quote_volume_24h:
            return (f"24 h quote volume {stats.quote_volume_24h:.0f} below "
                    f"{rules.min_quote_volume_24h}")
    if rules.max_spread_bps is not None:
        spread = stats.spread_bps
        if spread is None:
            return "no valid best bid/ask"
        if spread > rules.max_spread_bps:
            return f"spread {spread:.2f} bps above {rules.max_spread_bps:g}"
    if rules.min_volatility_pct is not None or rules.max_volatility_pct is not None:
        v = stats.volatility_pct
        if v is None:
            return f"fewer than {rules.volatility_bars + 1} {rules.volatility_interval} bars"
        if rules.min_volatility_pct is not None and v < rules.min_volatility_pct:
            return f"volatility {v:.3f} % below {rules.min_volatility_pct:g} %"
        if rules.max_volatility_pct is not None and v > rules.max_volatility_pct:
            return f"volatility {v:.3f} % above {rules.max_volatility_pct:g} %"
    return None


class SymbolSelector:
    def __init__(self, universe: Sequence[str], rules: SelectionRules,
                 on_change: Callable[[frozenset[str], frozenset[str]], None] | None = None):
        self.universe = tuple(universe)
        self.rules = rules
        self.on_change = on_change
        self.active: frozenset[str] = frozenset()
        self.last: Selection | None = None

    def is_active(self, symbol: str) -> bool:
        return symbol in self.active

    def evaluate(self, statuses: Mapping[str, str],
                 stats: Mapping[str, MarketStats]) -> Selection:
        rejected = {}
        active = []
        for sym in self.universe:
            reason = check(statuses.get(sym), stats.get(sym), self.rules)
            if reason is None:
                active.append(sym)
            else:
                rejected[sym] = reason
        sel = Selection(tuple(active), rejected)
        new = frozenset(active)
        added, removed = new - self.active, self.active - new
        self.active, self.last = new, sel
        if (added or removed) and self.on_change is not None:
            self.on_change(added, removed)
        for sym in sorted(removed):
            log.info("symbol %s deactivated: %s", sym, rejected[sym])
        return sel

    async def run(self, provider: Callable[[], Awaitable[tuple[Mapping[str, str],
                                                                  Mapping[str, MarketStats]]]],
                  period_s: float, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Re-evaluate every ``period_s``; the first evaluation happens before ``started``."""
        self.evaluate(*await provider())
        task_status.started(self.last)
        while True:
            await trio.sleep(period_s)
            self.evaluate(*await provider())
