"""User data: execution reports and balances -> state, PnL and the risk manager.

A fill is applied once per exchange trade id (``StateManager.apply_fill`` is idempotent), and
only a fill applied for the first time reaches the risk manager, so replays and the several
sources of the same fact never count twice. Terminal reports release what the order still
reserved in the risk manager. After a stream reset (reconnect) events may have been missed:
the state is reconciled with the exchange (open orders, trades, balances).
"""
from __future__ import annotations

import logging
import time
from decimal import ROUND_CEILING
from typing import Any, Callable

from pyengine.state import StateManager, fact_from_execution_report, reconcile
from pyengine.state.orders import Fill
from pyengine.symbols import SymbolSpec
from pyengine.venue.binance import STREAM_RESET
from risk import RiskManager

log = logging.getLogger("pyengine.engine")


class UserData:
    def __init__(self, client: Any, state: StateManager, risk: RiskManager,
                 specs: dict[str, SymbolSpec], on_actions: Callable[[list], None],
                 on_fill: Callable[[Fill], None] = lambda f: None,
                 wall_clock: Callable[[], int] = time.time_ns):
        self.client, self.state, self.risk, self.specs = client, state, risk, specs
        self.on_actions = on_actions
        self.on_fill_cb = on_fill
        self.wall_clock = wall_clock     # the risk manager's day/week windows
        self.fills = 0
        self.resets = 0

    async def run(self) -> None:
        async for ev in self.client.events:
            kind = ev.get("e")
            if kind == "executionReport":
                self.on_execution_report(ev)
            elif kind == STREAM_RESET:
                self.resets += 1
                report = await reconcile(self.state, self.client, list(self.specs))
                log.info("user-data stream reset: reconciled (%s)", "; ".join(report.lines()) or "clean")
            else:
                self.state.on_user_event(ev)

    def on_execution_report(self, ev: dict) -> None:
        sm = self.state
        fact, fill = fact_from_execution_report(ev)
        if fact.client_order_id not in sm.orders and \
                sm.order_by_exchange_id(fact.symbol, fact.order_id) is None:
            sm.adopt(fact)
        else:
            sm.apply_order_fact(fact)
        if fill is not None and sm.apply_fill(fill):
            self.fills += 1
            self._risk_fill(fill)
            self.on_fill_cb(fill)
        if fact.status.is_terminal:
            self.risk.on_order_done(fact.client_order_id)

    def _risk_fill(self, fill: Fill) -> None:
        rm, coid = self.risk, fill.client_order_id
        if coid not in rm.open_orders():
            return          # placed before a restart: the recovery reconcile covers it
        spec = self.specs[fill.symbol]
        fee_quote = fee_base = 0
        if fill.commission_asset == spec.base_asset:
            # rounded up: the risk manager's position (whole lot units) must never exceed
            # what the account can sell; the dust below one unit stays unmanaged
            fee_base = int(fill.commission.scaleb(spec.qty_scale).to_integral_value(ROUND_CEILING))
        elif fill.commission_asset == spec.quote_asset:
            fee_quote = int(fill.commission.scaleb(rm.config.quote_scale))
        actions = rm.on_fill(coid, int(fill.qty.scaleb(spec.qty_scale)),
                             int(fill.price.scaleb(spec.price_scale)), self.wall_clock(),
                             fee_quote=fee_quote, fee_base=fee_base)
        if actions:
            self.on_actions(actions)
