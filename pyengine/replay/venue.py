"""The simulator's matching engine in-process, as the venue the engine's execution talks to.

``SimVenue`` stands where ``BinanceClient`` stands in a live session: ``Execution`` awaits
``place(order)`` and gets the exchange's order object back, and the account's
executionReports and balance updates reach ``on_events`` as the user-data stream would
deliver them. Orders go through the same local filter check as the live client
(``SymbolRules.check``) and then through ``pyengine.sim``'s matching engine against the
replayed book: the simulator's markets read the C books of the replay's ``Feed`` directly,
so the liquidity a market order takes is the recording's at that moment. (The liquidity our
own orders consumed is forgotten once the book has moved on, as the simulator's own replay
does when a recorded diff updates the level.) The simulator reads up to 5000 levels a side for
every order; here it gets only as many as the order can reach (cumulative quantity at least
the order's), which gives the same fills at a small fraction of the cost.
"""
from __future__ import annotations

import functools
from typing import Callable

from pyengine.book import Feed
from pyengine.replay.clock import ReplayClock
from pyengine.sim.errors import ApiError
from pyengine.sim.server import ACCOUNT, SimConfig, Simulator
from pyengine.venue.binance import APIError, ExchangeRules, Order, Placed


class SimVenue:
    def __init__(self, symbols: list[str], balances: dict[str, str], clock: ReplayClock,
                 commission: str = "0.001"):
        self.sim = Simulator(SimConfig(data={}, speed="manual", rebase=False,
                                       balances=dict(balances), commission=commission))
        self.info = {"symbols": [self.sim.symbols[s] for s in sorted(self.sim.symbols)]}
        self.rules = ExchangeRules(self.info)
        self.clock = clock
        self.engine = self.sim.engine
        self.engine.now = clock.now_ms          # exchange times are the recording's
        self.markets = {s: self.sim.markets[s] for s in symbols}
        self.feed = Feed([m.spec for m in self.markets.values()])
        for sym, market in self.markets.items():
            market.book = self.feed.book(sym)   # the simulator matches against the replayed book
            market.has_book = True
            market.levels = functools.partial(self._levels, market.levels)
        self._need = 0                          # quantity (scale 8) of the order being placed
        self._consumed_at: dict[str, int] = {}
        self.on_events: Callable[[list[dict]], None] = lambda events: None
        self.engine.listeners[ACCOUNT] = [lambda events: self.on_events(events)]

    def balances(self) -> dict[str, tuple[int, int]]:
        """{asset: (free, locked)} at scale 8."""
        acct = self.engine.account(ACCOUNT)
        return {a: (b[0], b[1]) for a, b in sorted(acct.balances.items())}

    async def place(self, order: Order, *, ref_price: int | None = None) -> Placed:
        rules = self.rules[order.symbol]
        rules.check(order, ref_price=ref_price)          # FilterError (an APIError), as live
        market = self.markets[order.symbol]
        book_id = market.book.last_update_id
        if self._consumed_at.get(order.symbol) != book_id:
            market.consumed.clear()
        now = self.clock.now_ms()
        self._need = (order.quantity or 0) * 10 ** (8 - rules.spec.qty_scale)
        try:
            o, fills = self.engine.place(ACCOUNT, dict(rules.params(order)), now)
        except ApiError as exc:
            raise APIError(exc.code, exc.msg, exc.http) from None
        self._consumed_at[order.symbol] = book_id
        result = self.engine.placement_response(o, order.resp_type or "FULL", now, fills)
        return Placed(result, "ws", self.clock.monotonic_ns(), self.clock.monotonic_ns())

    def _levels(self, levels: Callable[[int, int], list], side: int, n: int) -> list:
        k = 8
        while True:
            got = levels(side, min(n, k))
            if k >= n or len(got) < k or sum(q for _, q in got) >= self._need:
                return got
            k *= 4
