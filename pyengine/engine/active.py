"""The engine's active symbols: ``pyengine.selection``'s rules over the engine's own data.

The engine trades the symbols its strategies name, all inside the configured universe. Of
those, a symbol is *active* (may take new entries) while its exchange status is TRADING and
it passes the ``[selection]`` rules: 24 h quote volume (``GET /api/v3/ticker/24hr``, only when
that rule is set), spread (the engine's C book) and realised volatility (the kline ledger,
which tracks and warms up the ``volatility_interval`` series for it). With
``selection.enabled = false`` only the exchange status counts.

The first evaluation waits for the market-data connection (at most ``FIRST_WAIT_S``); until
then no symbol is active. Later evaluations run every ``selection.reevaluate_s``, and every
second while a rule could not be evaluated for want of data (no book yet, too few bars), so a
symbol is not kept out for a whole period by a slow start. Each evaluation re-reads the
exchange status (``exchangeInfo``, weight 20), except the first, which uses the start-up copy.

Deactivation stops new entries only: the strategy still steps every bar, its exit decisions
and the risk manager's protective exits (engine- or exchange-side stops, trims, the kill
switch) still run, and nothing is flattened. A symbol drops out because its market got worse
(wider spread, thinner volume, wilder or deader prices): selling into that market at once
would pay the very costs the rule avoids, while the protective stop already caps the loss
below 1 % of equity. An exchange status other than TRADING refuses every order anyway.
Entries are refused twice: before the risk gate (counted as ``INACTIVE``) and by the gate's
own per-symbol allow flag (``RiskManager.set_allowed``), so no path around the strategy
runner can buy an inactive symbol.
"""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping

import orjson
import trio

from pyengine.book import BookNotReadable
from pyengine.config import Config
from pyengine.ledger import KlineLedger
from pyengine.selection import (MarketStats, SelectionRules, SymbolSelector, market_stats,
                                statuses_from_exchange_info)

log = logging.getLogger("pyengine.engine")
FIRST_WAIT_S = 10.0
RETRY_S = 1.0
NO_STRATEGY = "no strategy trades it"


class ActiveSymbols:
    def __init__(self, cfg: Config, symbols: Iterable[str], info: Mapping[str, Any], *,
                 on_change: Callable[[dict[str, Any]], None] = lambda note: None):
        sel = cfg.selection
        self.rules = SelectionRules.from_config(sel) if sel.enabled else SelectionRules()
        self.period_s = sel.reevaluate_s
        self.symbols = list(symbols)
        self.selector = SymbolSelector(self.symbols, self.rules)
        self.untraded = {s: NO_STRATEGY for s in cfg.universe.symbols if s not in self.symbols}
        self._statuses = statuses_from_exchange_info(info)
        self._fresh_statuses = True
        self.on_change = on_change
        self.evaluations = 0
        self.missing: set[str] = set()       # rejected for want of data at the last evaluation

    # ------------------------------------------------------------ wiring

    @property
    def uses_volatility(self) -> bool:
        r = self.rules
        return r.min_volatility_pct is not None or r.max_volatility_pct is not None

    def track(self, ledger: KlineLedger, series: Iterable[tuple[str, str, str]]) -> list[str]:
        """Track the volatility series in the ledger (reusing a strategy's series of the same
        interval); returns the extra per-symbol streams it needs, e.g. ``"kline_1h"``."""
        if not self.uses_volatility:
            return []
        have = {(s, i) for s, i, _ in series}
        interval = self.rules.volatility_interval
        for sym in self.symbols:
            if (sym, interval) not in have:
                ledger.track(sym, interval, "kline")
        return [f"kline_{interval}"] if any((s, interval) not in have for s in self.symbols) \
            else []

    def is_active(self, symbol: str) -> bool:
        return self.selector.is_active(symbol)

    @property
    def active(self) -> list[str]:
        return [s for s in self.symbols if self.selector.is_active(s)]

    def excluded(self) -> dict[str, str]:
        """Every universe symbol not active now, with the reason."""
        last = self.selector.last
        pending = {} if last is not None else {s: "not evaluated yet" for s in self.symbols}
        return {**(last.rejected if last is not None else {}), **pending, **self.untraded}

    # ------------------------------------------------------------ evaluation

    async def run(self, client: Any, ledger: KlineLedger, books: Mapping[str, Any],
                  connected: trio.Event) -> None:
        with trio.move_on_after(FIRST_WAIT_S):
            await connected.wait()
        while True:
            self.evaluate(await self._statuses_now(client),
                          await self._stats(client, ledger, books))
            await trio.sleep(min(RETRY_S, self.period_s) if self.missing else self.period_s)

    def evaluate(self, statuses: Mapping[str, str], stats: Mapping[str, MarketStats]) -> None:
        before = (self.selector.active, self.evaluations)
        sel = self.selector.evaluate(statuses, stats)
        self.evaluations += 1
        self.missing = {s for s, why in sel.rejected.items() if _missing_data(why)}
        if before[1] == 0 or self.selector.active != before[0]:
            self.on_change({"event": "selection", "active": list(sel.active),
                            "excluded": self.excluded(), "rules": self._rules_note()})

    async def _statuses_now(self, client: Any) -> dict[str, str]:
        if self._fresh_statuses:            # the start-up copy serves the first evaluation
            self._fresh_statuses = False
        else:
            self._statuses = statuses_from_exchange_info(
                await client.rest.exchange_info(self.symbols))
        return self._statuses

    async def _stats(self, client: Any, ledger: KlineLedger,
                     books: Mapping[str, Any]) -> dict[str, MarketStats]:
        volumes: dict[str, Decimal] = {}
        if self.rules.min_quote_volume_24h > 0:
            rows = await client.rest.request("GET", "/api/v3/ticker/24hr", {
                "symbols": orjson.dumps(self.symbols).decode(), "type": "MINI"})
            volumes = {r["symbol"]: Decimal(r["quoteVolume"]) for r in rows}
        out = {}
        for sym in self.symbols:
            bid = ask = None
            book = books.get(sym)
            if book is not None:
                try:
                    bid, ask = book.best_bid()[0], book.best_ask()[0]
                except BookNotReadable:
                    pass
            scale = book.spec.price_scale if book is not None else 0
            out[sym] = market_stats(
                ledger, sym, self.rules,
                bid=None if bid is None else Decimal(bid).scaleb(-scale),
                ask=None if ask is None else Decimal(ask).scaleb(-scale),
                quote_volume_24h=volumes.get(sym, None if volumes else Decimal(0)))
        return out

    def _rules_note(self) -> dict[str, Any]:
        r = self.rules
        return {"min_quote_volume_24h": str(r.min_quote_volume_24h),
                "max_spread_bps": r.max_spread_bps, "min_volatility_pct": r.min_volatility_pct,
                "max_volatility_pct": r.max_volatility_pct,
                "volatility": f"{r.volatility_bars} x {r.volatility_interval}"}

    def status_line(self) -> str:
        ex = self.excluded()
        return ("  active " + (", ".join(self.active) or "none")
                + ("; excluded " + "; ".join(f"{s} ({why})" for s, why in sorted(ex.items()))
                   if ex else ""))


def _missing_data(reason: str) -> bool:
    return reason.startswith(("no ", "fewer than"))
