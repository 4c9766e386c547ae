"""Reconciliation of the journal-rebuilt state with the exchange, before any new order.

Engine-facing API::

    class Venue(Protocol):                      # the connector (or a fake) implements it
        async def open_orders(self) -> list[dict]            # Binance order objects
        async def my_trades(self, symbol, from_id) -> list[dict]   # ascending by id
        async def account(self) -> dict                      # GET /api/v3/account object
        async def order_status(self, symbol, client_order_id) -> dict | None  # None: -2013

    state, report = await recover(journal, portfolio, venue, symbols, strategy_tags=tags)
          # = replay the journal + reconcile + journal the report and flush: then trade
    report = await reconcile(state, venue, symbols)
    report.clean, report.lines()                # what was found and done, one line each
    await resolve_unknown(state, venue)         # while running: settle UNKNOWN orders by query

Steps: (1) every open order on the exchange is merged into the state; one the journal does not
know is adopted (ours by its client order id, its strategy found through the state's
``strategy_tags``, or ``external``) and reported; (2) every order the state thinks open (or unanswered, or UNKNOWN)
that the exchange does not list as open is queried: its final status is merged, or, when the
exchange has never heard of it, it is closed as REJECTED ("not on exchange") and reported;
(3) ``myTrades`` from the last journaled trade id + 1 of each symbol, page by page: fills the
journal missed are applied (each trade id once); trades of orders that are not ours are
counted, not booked to a strategy; (4) account balances are merged (newest wins) and every
balance that differs from the journal's is reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Mapping, Protocol

from pyengine.ids import parse_client_order_id
from pyengine.journal import Journal
from pyengine.state.manager import EXTERNAL, StateManager
from pyengine.state.orders import Order, OrderStatus, fact_from_order_query, fill_from_my_trade
from pyengine.state.portfolio import Portfolio, balances_from_account


class Venue(Protocol):
    """The exchange as recovery needs it. Objects are Binance's JSON shapes, as returned by
    REST or the WebSocket API."""

    async def open_orders(self) -> list[dict[str, Any]]: ...

    async def my_trades(self, symbol: str, from_id: int | None) -> list[dict[str, Any]]: ...

    async def account(self) -> dict[str, Any]: ...

    async def order_status(self, symbol: str, client_order_id: str) -> dict[str, Any] | None: ...


@dataclass
class ReconcileReport:
    adopted: list[str] = field(default_factory=list)          # ours, on exchange, not journaled
    foreign: list[str] = field(default_factory=list)          # open orders we did not make
    resolved: list[tuple[str, str, str]] = field(default_factory=list)  # (coid, old, new)
    not_on_exchange: list[str] = field(default_factory=list)  # journaled, never reached it
    recovered_fills: list[tuple[str, int]] = field(default_factory=list)   # (symbol, trade id)
    foreign_fills: int = 0
    balance_changes: dict[str, tuple[Decimal | None, Decimal]] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.adopted or self.foreign or self.not_on_exchange
                    or self.recovered_fills or self.anomalies)

    def as_dict(self) -> dict[str, Any]:
        return {"adopted": self.adopted, "foreign": self.foreign,
                "resolved": [list(r) for r in self.resolved],
                "not_on_exchange": self.not_on_exchange,
                "recovered_fills": [list(f) for f in self.recovered_fills],
                "foreign_fills": self.foreign_fills,
                "balance_changes": {a: [None if o is None else str(o), str(n)]
                                    for a, (o, n) in self.balance_changes.items()},
                "anomalies": self.anomalies}

    def lines(self) -> list[str]:
        out = [f"adopted order {c} found open on the exchange" for c in self.adopted]
        out += [f"foreign open order {c} (not made by this engine)" for c in self.foreign]
        out += [f"order {c}: {old} -> {new}" for c, old, new in self.resolved]
        out += [f"order {c} never reached the exchange: closed" for c in self.not_on_exchange]
        out += [f"recovered fill {s} #{t}" for s, t in self.recovered_fills]
        if self.foreign_fills:
            out.append(f"{self.foreign_fills} trades of orders not made by this engine")
        out += [f"balance {a}: {o} -> {n}" for a, (o, n) in self.balance_changes.items()]
        out += self.anomalies
        return out


async def reconcile(state: StateManager, venue: Venue, symbols: Iterable[str]) -> ReconcileReport:
    report = ReconcileReport()
    anomalies_before = len(state.anomalies)

    # 1. open orders on the exchange
    open_keys: set[str] = set()
    for obj in await venue.open_orders():
        fact = fact_from_order_query(obj, source="open_orders")
        order = state.orders.get(fact.client_order_id) or \
            state.order_by_exchange_id(fact.symbol, fact.order_id)
        if order is None:
            ours = parse_client_order_id(fact.client_order_id) is not None
            (report.adopted if ours else report.foreign).append(fact.client_order_id)
            state.adopt(fact)
            open_keys.add(fact.client_order_id)
            continue
        open_keys.add(order.client_order_id)
        old = order.status
        if state.apply_order_fact(fact) and order.status is not old:
            report.resolved.append((order.client_order_id, old.value, order.status.value))

    # 2. orders we think open that the exchange does not list
    await _query_orders(state, venue, [o for o in state.orders.values()
                                       if o.status.is_open and o.client_order_id not in open_keys],
                        report)

    # 3. trades since the last journaled trade id
    ours = {o.symbol for o in state.orders.values() if o.strategy_id != EXTERNAL}
    for symbol in sorted(set(symbols) | ours):
        last = state.last_trade_id(symbol)
        if last is None and symbol not in ours:
            continue       # nothing of ours ever traded here: no history to pull
        from_id = None if last is None else last + 1
        while True:
            page = await venue.my_trades(symbol, from_id)
            if not page:
                break
            for obj in page:
                order = state.order_by_exchange_id(symbol, int(obj["orderId"]))
                if order is None or order.strategy_id == EXTERNAL:
                    report.foreign_fills += 1
                    continue
                if state.apply_fill(fill_from_my_trade(obj, order.client_order_id)):
                    report.recovered_fills.append((symbol, int(obj["id"])))
            next_id = max(int(obj["id"]) for obj in page) + 1
            if from_id is not None and next_id <= from_id:
                break
            from_id = next_id

    # 4. balances
    for asset, free, locked, t in balances_from_account(await venue.account()):
        before = state.balances.get(asset)
        if state.apply_balance(asset, free, locked, t, "account"):
            old_total = None if before is None else before.total
            if old_total != free + locked:
                report.balance_changes[asset] = (old_total, free + locked)

    report.anomalies[:0] = state.anomalies[anomalies_before:]
    return report


async def _query_orders(state: StateManager, venue: Venue, orders: list[Order],
                        report: ReconcileReport) -> None:
    for order in orders:
        old = order.status
        obj = await venue.order_status(order.symbol, order.client_order_id)
        if obj is None:
            state.mark_not_on_exchange(order.client_order_id)
            report.not_on_exchange.append(order.client_order_id)
            continue
        state.apply_order_fact(fact_from_order_query(obj, source="query"))
        if order.status is not old:
            report.resolved.append((order.client_order_id, old.value, order.status.value))
        if order.status in (OrderStatus.UNKNOWN, OrderStatus.PENDING_NEW):
            report.anomalies.append(f"order {order.client_order_id} still "
                                    f"{order.status.value} after query")


async def resolve_unknown(state: StateManager, venue: Venue) -> ReconcileReport:
    """Query every UNKNOWN order (a 5xx, -1006, -1007 or lost answer) and settle it."""
    report = ReconcileReport()
    await _query_orders(state, venue, [o for o in state.orders.values()
                                       if o.status is OrderStatus.UNKNOWN], report)
    return report


async def recover(journal: Journal, portfolio: Portfolio, venue: Venue, symbols: Iterable[str],
                  *, strategy_tags: Mapping[str, str] | None = None
                  ) -> tuple[StateManager, ReconcileReport]:
    """The start of every engine run: rebuild the state from the journal, reconcile it with
    the exchange, journal the report and make everything durable. Trade only after this."""
    state = StateManager(portfolio, journal, strategy_tags)
    state.replay(journal.records())
    report = await reconcile(state, venue, symbols)
    journal.append("reconcile", report.as_dict())
    journal.flush()
    return state, report
