"""The state manager: orders, fills, balances and PnL, journaled and rebuilt from the journal.

Engine-facing API::

    sm = StateManager(portfolio, journal, strategy_tags=ids.strategy_tags(...))
                              # journal None: nothing is written; the tags tell which
                              # strategy an order found on the exchange belongs to
    sm.submit(order)          # journal the intent durably, then PENDING_NEW; send AFTER this.
                              # Raises journal.DuplicateIntent: this decision was already made.
    sm.record_intent(coid, strategy_id, symbol, data); ...send...; sm.track(order)
                              # submit in two steps, so that the hot path sends the order
                              # before building the state's Order (no other task runs between)
    sm.mark_sent(coid, stage, ns)  # monotonic-ns stage timestamps ("sent", "ack", ...)
    sm.on_user_event(event)   # one user-data stream event (executionReport, balances, ...)
    sm.apply_order_fact(fact) -> bool          # from ws events, responses, queries
    sm.apply_fill(fill) -> bool                # False for a trade id already applied
    sm.apply_balance(asset, free, locked, update_time_ms, source) -> bool
    sm.mark_unknown(coid, reason)              # 5xx / -1006 / -1007 / lost connection
    sm.mark_not_on_exchange(coid)              # a query answered -2013 (does not exist)
    sm.orders, sm.open_orders(symbol=None), sm.order_by_exchange_id(symbol, order_id)
    sm.balances, sm.portfolio, sm.last_trade_id(symbol), sm.anomalies
    sm.replay(journal.records()) -> int        # rebuild after a restart (writes nothing);
                                               # unanswered PENDING_NEW orders become UNKNOWN

Several sources report the same fact (the user-data stream, request responses, order queries,
open-order lists, REST account): each fact carries the exchange's update time and the newest
wins (ties broken by filled quantity, then by progress), so a late or replayed report never
moves an order or a balance back. Transitions are checked against the status machine; a newer
fact that would be illegal is not applied and is recorded in ``anomalies``.
"""
from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any, Iterable, Mapping

from pyengine.ids import parse_client_order_id
from pyengine.journal import DuplicateIntent, Journal, Record
from pyengine.state.orders import (RANK, Fill, IllegalTransition, Order, OrderFact, OrderStatus,
                                   check_transition, fact_from_execution_report)
from pyengine.state.portfolio import Balances, Portfolio, balances_from_account_position

EXTERNAL = "external"      # strategy id of orders and fills this engine did not make
NOT_ON_EXCHANGE = "not on exchange"   # reason of an order closed because a query found nothing


def _order_data(o: Order) -> dict[str, Any]:
    return {"side": o.side, "type": o.type, "qty": o.qty, "price": o.price,
            "stop_price": o.stop_price}


# Explicit dicts, not dataclasses.asdict: that deep-copies every field and costs ~100 us.
def _fact_data(f: OrderFact) -> dict[str, Any]:
    return {"symbol": f.symbol, "client_order_id": f.client_order_id, "status": f.status.value,
            "update_time_ms": f.update_time_ms, "executed_qty": f.executed_qty,
            "cum_quote": f.cum_quote, "source": f.source, "order_id": f.order_id,
            "side": f.side, "type": f.type, "qty": f.qty, "price": f.price, "reason": f.reason}


def _fact_from_data(d: dict[str, Any]) -> OrderFact:
    d = dict(d)
    d["status"] = OrderStatus(d["status"])
    for k in ("executed_qty", "cum_quote", "qty", "price"):
        if d.get(k) is not None:
            d[k] = Decimal(d[k])
    return OrderFact(**d)


def _fill_data(f: Fill) -> dict[str, Any]:
    return {"symbol": f.symbol, "trade_id": f.trade_id, "client_order_id": f.client_order_id,
            "order_id": f.order_id, "side": f.side, "price": f.price, "qty": f.qty,
            "commission": f.commission, "commission_asset": f.commission_asset,
            "time_ms": f.time_ms, "is_maker": f.is_maker}


def _fill_from_data(d: dict[str, Any]) -> Fill:
    d = dict(d)
    for k in ("price", "qty", "commission"):
        d[k] = Decimal(d[k])
    return Fill(**d)


def _dec_or_none(v: Any) -> Decimal | None:
    return Decimal(v) if v is not None else None


class StateManager:
    def __init__(self, portfolio: Portfolio, journal: Journal | None = None,
                 strategy_tags: Mapping[str, str] | None = None):
        self.portfolio = portfolio
        self.journal = journal
        self.strategy_tags = dict(strategy_tags or {})
        self.balances = Balances()
        self.orders: dict[str, Order] = {}
        self._open: dict[str, Order] = {}      # the open subset, so lookups stay O(open)
        self._by_exchange_id: dict[tuple[str, int], str] = {}
        self._trades: set[tuple[str, int]] = set()
        self._last_trade: dict[str, int] = {}
        self.stale_facts = 0
        self.anomalies: list[str] = []

    # ------------------------------------------------------------ orders

    def submit(self, order: Order) -> None:
        self.record_intent(order.client_order_id, order.strategy_id, order.symbol,
                           _order_data(order))
        self.track(order)

    def record_intent(self, coid: str, strategy_id: str, symbol: str,
                      data: dict[str, Any]) -> None:
        """The intent durable in the journal (``data``: what ``submit`` journals, amounts as
        Decimal or exact decimal strings). Raises DuplicateIntent."""
        if coid in self.orders:
            raise DuplicateIntent(coid)
        if self.journal is not None:
            self.journal.record_intent(coid, strategy_id=strategy_id, symbol=symbol, data=data)

    def track(self, order: Order) -> None:
        """A journaled intent becomes a PENDING_NEW order."""
        order.status = OrderStatus.PENDING_NEW
        self.orders[order.client_order_id] = order
        self._open[order.client_order_id] = order

    def mark_sent(self, coid: str, stage: str, ns: int) -> None:
        self.orders[coid].ns[stage] = ns

    def order_by_exchange_id(self, symbol: str, order_id: int) -> Order | None:
        coid = self._by_exchange_id.get((symbol, order_id))
        return self.orders.get(coid) if coid is not None else None

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self._open.values() if symbol is None or o.symbol == symbol]

    def _track_open(self, order: Order) -> None:
        if order.status.is_terminal:
            self._open.pop(order.client_order_id, None)
        else:
            self._open[order.client_order_id] = order

    def owner_of(self, client_order_id: str) -> str:
        """The strategy an order id belongs to (by its tag), or EXTERNAL."""
        parsed = parse_client_order_id(client_order_id)
        return EXTERNAL if parsed is None else self.strategy_tags.get(parsed.tag, EXTERNAL)

    def adopt(self, fact: OrderFact, strategy_id: str | None = None) -> Order:
        """Start tracking an order found on the exchange that the journal does not know."""
        strategy_id = strategy_id or self.owner_of(fact.client_order_id)
        order = Order(client_order_id=fact.client_order_id, strategy_id=strategy_id,
                      symbol=fact.symbol, side=fact.side or "", type=fact.type or "",
                      qty=fact.qty or Decimal(0), price=fact.price,
                      status=OrderStatus.PENDING_NEW)
        self.orders[order.client_order_id] = order
        self._open[order.client_order_id] = order
        if self.journal is not None:
            self._journal("order", _fact_data(fact) | {"adopted_by": strategy_id}, fact)
        self._apply(order, fact, journal=False)
        return order

    def on_user_event(self, ev: Mapping[str, Any]) -> str:
        """Apply one user-data stream event; returns its type (``e``). An executionReport of an
        order the state does not know (placed elsewhere, e.g. by hand) adopts it.
        ``balanceUpdate`` and ``externalLockUpdate`` change nothing here: the
        ``outboundAccountPosition`` that follows carries the absolute balances. ``listStatus``
        needs nothing either: every leg has its own executionReports. On
        ``eventStreamTerminated`` the caller must subscribe again (and reconcile)."""
        kind = ev.get("e", "")
        if kind == "executionReport":
            fact, fill = fact_from_execution_report(ev)
            if fact.client_order_id not in self.orders and \
                    self.order_by_exchange_id(fact.symbol, fact.order_id) is None:
                self.adopt(fact)
            else:
                self.apply_order_fact(fact)
            if fill is not None:
                self.apply_fill(fill)
        elif kind == "outboundAccountPosition":
            for asset, free, locked, t in balances_from_account_position(ev):
                self.apply_balance(asset, free, locked, t, "ws")
        return kind

    def apply_order_fact(self, fact: OrderFact) -> bool:
        order = self.orders.get(fact.client_order_id)
        if order is None and fact.order_id is not None:
            order = self.order_by_exchange_id(fact.symbol, fact.order_id)
        if order is None:
            self.anomalies.append(f"report for unknown order {fact.client_order_id} "
                                  f"({fact.symbol} #{fact.order_id}, {fact.status.value})")
            return False
        return self._apply(order, fact, journal=True)

    def _apply(self, order: Order, fact: OrderFact, journal: bool) -> bool:
        if fact.order_id is not None and order.order_id is None:
            order.order_id = fact.order_id
            self._by_exchange_id[(order.symbol, fact.order_id)] = order.client_order_id
        current = (order.update_time_ms, order.executed_qty, RANK[order.status])
        if order.reason == NOT_ON_EXCHANGE and order.status is OrderStatus.REJECTED:
            current = (order.update_time_ms, order.executed_qty, -1)
        if fact.key() <= current:
            if fact.key() < current:
                self.stale_facts += 1
            return False
        reappeared = order.status is OrderStatus.REJECTED and order.reason == NOT_ON_EXCHANGE \
            and fact.source != "local"
        if reappeared:
            # A query found nothing, yet the exchange now reports the order (it was still in
            # flight): the exchange is the truth, so track it again rather than lose its fills.
            self.anomalies.append(f"order {order.client_order_id} reappeared on the exchange "
                                  f"as {fact.status.value}")
        else:
            try:
                check_transition(order.client_order_id, order.status, fact.status)
            except IllegalTransition as exc:
                self.anomalies.append(f"{exc} (from {fact.source} at {fact.update_time_ms})")
                return False
        order.status = fact.status
        self._track_open(order)
        order.update_time_ms = fact.update_time_ms
        order.executed_qty = fact.executed_qty
        order.cum_quote = fact.cum_quote
        if fact.reason:
            order.reason = fact.reason
        if journal and self.journal is not None:
            self._journal("order", _fact_data(fact), fact)
        return True

    def mark_unknown(self, coid: str, reason: str) -> None:
        """The outcome of a request about this order is unknown: query before trusting it."""
        self._local_status(coid, OrderStatus.UNKNOWN, reason)

    def mark_not_on_exchange(self, coid: str) -> None:
        """A query says the order does not exist: it never reached the matching engine. Closed
        as REJECTED; should the exchange report it after all, it is tracked again."""
        self._local_status(coid, OrderStatus.REJECTED, NOT_ON_EXCHANGE)

    def _local_status(self, coid: str, status: OrderStatus, reason: str) -> None:
        order = self.orders[coid]
        if order.status.is_terminal:
            return
        check_transition(coid, order.status, status)
        order.status, order.reason = status, reason
        self._track_open(order)
        fact = OrderFact(symbol=order.symbol, client_order_id=coid, status=status,
                         update_time_ms=order.update_time_ms, executed_qty=order.executed_qty,
                         cum_quote=order.cum_quote, source="local", order_id=order.order_id,
                         reason=reason)
        self._journal("order", _fact_data(fact), fact)

    # ------------------------------------------------------------ fills and balances

    def apply_fill(self, fill: Fill) -> bool:
        key = (fill.symbol, fill.trade_id)
        if key in self._trades:
            return False
        order = self.orders.get(fill.client_order_id) if fill.client_order_id else None
        if order is None and fill.order_id is not None:
            order = self.order_by_exchange_id(fill.symbol, fill.order_id)
        if order is not None and fill.client_order_id != order.client_order_id:
            fill = dataclasses.replace(fill, client_order_id=order.client_order_id)
        strategy = order.strategy_id if order is not None else EXTERNAL
        self._trades.add(key)
        if fill.trade_id > self._last_trade.get(fill.symbol, -1):
            self._last_trade[fill.symbol] = fill.trade_id
        self.portfolio.apply_fill(strategy, fill)
        if self.journal is not None:
            self.journal.append("fill", _fill_data(fill), symbol=fill.symbol,
                                client_order_id=fill.client_order_id, strategy_id=strategy,
                                trade_id=fill.trade_id)
        return True

    def last_trade_id(self, symbol: str) -> int | None:
        return self._last_trade.get(symbol)

    def apply_balance(self, asset: str, free: Decimal, locked: Decimal, update_time_ms: int,
                      source: str) -> bool:
        if not self.balances.apply(asset, free, locked, update_time_ms, source):
            return False
        if self.journal is not None:
            self.journal.append("balance", {"asset": asset, "free": free, "locked": locked,
                                            "update_time_ms": update_time_ms, "source": source})
        return True

    def _journal(self, kind: str, data: dict[str, Any], fact: OrderFact) -> None:
        if self.journal is not None:
            self.journal.append(kind, data, symbol=fact.symbol,
                                client_order_id=fact.client_order_id)

    # ------------------------------------------------------------ recovery

    def replay(self, records: Iterable[Record]) -> int:
        """Rebuild from journal records (writes nothing). Returns how many were applied."""
        journal, self.journal = self.journal, None
        n = 0
        try:
            for r in records:
                d = r.data
                if r.kind == "intent":
                    self.orders[r.client_order_id] = self._open[r.client_order_id] = Order(
                        client_order_id=r.client_order_id, strategy_id=r.strategy_id or "",
                        symbol=r.symbol or "", side=d["side"], type=d["type"],
                        qty=Decimal(d["qty"]), price=_dec_or_none(d.get("price")),
                        stop_price=_dec_or_none(d.get("stop_price")))
                elif r.kind == "order":
                    fact = _fact_from_data({k: v for k, v in d.items() if k != "adopted_by"})
                    if "adopted_by" in d:
                        self.adopt(fact, d["adopted_by"])
                    elif fact.source == "local":
                        order = self.orders[fact.client_order_id]
                        if not order.status.is_terminal:
                            order.status, order.reason = fact.status, fact.reason
                            self._track_open(order)
                    else:
                        self.apply_order_fact(fact)
                elif r.kind == "fill":
                    self.apply_fill(_fill_from_data(d))
                elif r.kind == "balance":
                    self.balances.apply(d["asset"], Decimal(d["free"]), Decimal(d["locked"]),
                                        d["update_time_ms"], d["source"])
                else:
                    continue
                n += 1
        finally:
            self.journal = journal
        for order in self.orders.values():
            if order.status is OrderStatus.PENDING_NEW:
                order.status = OrderStatus.UNKNOWN
                order.reason = "no answer before the restart"
        return n
