"""Execution: decisions and risk actions -> risk gate -> journaled intent -> order on the wire.

``decide`` runs synchronously in the market-data task (the hot path): it derives the
deterministic client order id, sizes the order, passes it through the risk gate (reading the
C book in the same C call), journals the intent durably (``StateManager.submit``) and, when
the venue can (``client.place_now``: the WebSocket API on a plain connection with nothing
else being written), writes the order to the socket in the same synchronous run: no task
hop, no checkpoint between the frame and the write. The sender task (``run``) then awaits
the answer and applies it; orders the venue could not write at once (and every order of a
venue without ``place_now``, such as the replay's) it sends itself. Orders are MARKET orders
(entries and exits); the protective stop of every entry is the risk manager's (engine-side
by default: ``on_mark`` returns an ``exit`` action when it is hit), and the strategies'
``strategy.exit`` legs are the engine's too (``engine/exits.py`` calls ``exit_leg``).

Every order carries monotonic-ns stage stamps in ``StateManager.orders[coid].ns``: ``frame``
(the frame that closed the bar or ticked), ``decision``, ``risk`` (gate passed and intent
durable), ``sent`` (right after the bytes were written), ``ack``.
"""
from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

import trio

from pyengine.book import Book, BookNotReadable
from pyengine.ids import client_order_id, decision_seq
from pyengine.journal import DuplicateIntent
from pyengine.state import Order as StateOrder
from pyengine.state import StateManager, fact_from_order_query
from pyengine.venue.binance import (APIError, BinanceError, ConnectionLost, Order,
                                    RateLimited, UnknownOrderStatus)
from pyengine.venue.binance.rules import formatter
from pyengine.symbols import SymbolSpec
from risk import BUY, LIMIT, MARKET, PROTECTIVE, RESIZE, SELL, RiskManager
from risk.reasons import CODES as RISK_REASONS

log = logging.getLogger("pyengine.engine")
RISK_STRATEGY = "risk"          # owner of protective exits of holdings no strategy claims
# the client order id's leg: a strategy decision, a risk manager's protective exit, a
# strategy.exit leg (stop, take-profit, trailing) the engine fired
DECISION_LEG, PROTECTIVE_LEG, EXIT_LEG = 0, 1, 2


@dataclass(slots=True)
class Pending:
    coid: str
    order: Order
    frame_ns: int
    decided_ns: int
    risk_ns: int
    sent: Any = None          # the venue's in-flight request when written by ``place_now``


class Execution:
    def __init__(self, client: Any, state: StateManager, risk: RiskManager,
                 books: dict[str, Book], specs: dict[str, SymbolSpec], *, namespace: str,
                 book_updated_ns: dict[str, int], alloc_pct: Decimal = Decimal("15"),
                 histogram: Callable[[str], Any] | None = None,
                 on_event: Callable[[str, dict], None] | None = None,
                 clock: Callable[[], int] = time.monotonic_ns,
                 wall_clock: Callable[[], int] = time.time_ns):
        self.client, self.state, self.risk = client, state, risk
        self.books, self.specs = books, specs
        self.namespace = namespace
        self.book_updated_ns = book_updated_ns
        self.alloc_pct = alloc_pct
        self.on_event = on_event or (lambda kind, data: None)
        # monotonic (order-rate caps, stage stamps) and wall (risk windows, exit ids) clocks:
        # a replay passes the recording's time
        self.clock, self.wall_clock = clock, wall_clock
        self.on_placed: Callable[[Pending, Any], None] | None = None   # after each ack
        self._place_now = getattr(client, "place_now", None)
        self._send, self._recv = trio.open_memory_channel(math.inf)
        self._step = {s: int(sp.step_size.scaleb(sp.qty_scale)) for s, sp in specs.items()}
        self._tick = {s: int(sp.tick_size.scaleb(sp.price_scale)) for s, sp in specs.items()}
        self._fmt = {s: (formatter(sp.price_scale), formatter(sp.qty_scale))
                     for s, sp in specs.items()}
        rules = risk.rules
        self.min_notional = {s: rules[risk.index(s)].min_notional for s in specs}
        self._exit_seq = 0
        self._leg_seq: dict[tuple[str, str], tuple[int, int]] = {}   # last (trade ms, n)
        self.refused: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()     # decided, sent, rejected, unknown, duplicate
        self.tick_to_order = histogram("tick_to_order") if histogram else None
        self.ack_latency = histogram("order_ack") if histogram else None
        self.tto_ns: list[int] = []               # for the end-of-run summary and tests

    # ------------------------------------------------------------ decisions (hot path)

    def decide(self, d) -> None:
        """A strategy decision (``strategies.Decision``)."""
        sym = d.symbol
        coid = client_order_id(d.strategy_id, sym, decision_seq(d.bar_open_ms, d.rank), 0,
                               self.namespace)
        if coid in self.state.orders:         # already decided before a restart
            self.counts["duplicate"] += 1
            return
        if any(o.symbol == sym and self.state.owner_of(o.client_order_id) == d.strategy_id
               for o in self.state.open_orders(sym)):
            self.counts["busy"] += 1          # one order at a time per strategy and symbol
            return
        held = self._held(d.strategy_id, sym)
        book = self.books[sym]
        if d.kind == "entry":
            try:
                price = book.best_ask()[0]
            except BookNotReadable:
                self.refused["BOOK"] += 1
                return
            if held > 0 and not self._dust(sym, held, price):
                return
            spec = self.specs[sym]
            qs = self.risk.config.quote_scale
            notional = self.risk.native.equity * int(self.alloc_pct * 100) // 10_000
            qty = notional * 10 ** (spec.price_scale + spec.qty_scale) // (price * 10 ** qs)
            qty -= qty % self._step[sym]
            stop = int(Decimal(repr(d.stop)).scaleb(spec.price_scale)) if d.stop else 0
            stop -= stop % self._tick[sym] if stop else 0
            self.submit(coid, d.strategy_id, sym, BUY, price, qty, stop, RESIZE,
                         d.frame_ns, d.decided_ns)
        else:
            # Per-fill base commissions are rounded up for the risk manager's position, so
            # it can hold a few units less than the strategies' exact sum: sell what it allows.
            s = self.risk.native.sym[self.risk.index(sym)]
            sellable = s.pos_qty - s.open_sell_qty
            held = min(held, sellable - sellable % self._step[sym])
            if held <= 0:
                return
            try:
                price = book.best_bid()[0]
            except BookNotReadable:
                self.refused["BOOK"] += 1
                return
            if self._dust(sym, held, price):
                return
            self.submit(coid, d.strategy_id, sym, SELL, price, held, 0, 0, d.frame_ns,
                         d.decided_ns)

    def _dust(self, sym: str, qty: int, price: int) -> bool:
        """Too little to sell (below the symbol's minimum notional): the strategy is flat."""
        spec = self.specs[sym]
        value = Decimal(qty * price).scaleb(-spec.price_scale - spec.qty_scale)
        return value < self.min_notional[sym]

    def _held(self, strategy_id: str, sym: str) -> int:
        spec = self.specs[sym]
        qty = int(self.state.portfolio.position(strategy_id, sym).qty.scaleb(spec.qty_scale))
        return qty - qty % self._step[sym]

    def submit(self, coid: str, strategy_id: str, sym: str, side: int, price: int, qty: int,
                stop: int, flags: int, frame_ns: int, decided_ns: int, limit: bool = False) -> bool:
        """Gate, journal and send (or queue) one order: MARKET (``price`` is the reference
        for the gate), or a GTC LIMIT at ``price`` when ``limit``. Until the bytes are
        written only what must come first runs: the gate, the durable intent, the frame;
        the state's bookkeeping follows, before anything else can run."""
        rm = self.risk
        if qty <= 0:
            self.refused["ZERO_QTY"] += 1
            return False
        self.counts["decided"] += 1
        code = rm.check_book(coid, rm.index(sym), side, LIMIT if limit else MARKET, price, qty,
                             stop, self.books[sym]._ptr, self.book_updated_ns.get(sym, 0),
                             self.clock(), self.wall_clock(), flags)
        if code:
            self.refused[RISK_REASONS.get(code, str(code))] += 1
            return False
        if rm.result.qty < qty:
            self.counts["resized"] += 1          # cut down to the risk limits
        qty = rm.result.qty
        side_s = "BUY" if side == BUY else "SELL"
        fmt_price, fmt_qty = self._fmt[sym]
        try:
            self.state.record_intent(coid, strategy_id, sym, {
                "side": side_s, "type": "LIMIT" if limit else "MARKET", "qty": fmt_qty(qty),
                "price": fmt_price(price) if limit else None, "stop_price": None})
        except DuplicateIntent:
            rm.on_order_done(coid)
            self.counts["duplicate"] += 1
            return False
        risk_ns = self.clock()
        order = (Order(sym, side_s, "LIMIT", quantity=qty, price=price, time_in_force="GTC",
                       client_order_id=coid, resp_type="RESULT") if limit else
                 Order(sym, side_s, "MARKET", quantity=qty, client_order_id=coid, resp_type="RESULT"))
        sent = refused = None
        if self._place_now is not None:
            try:
                sent = self._place_now(order, filters_checked=True)
            except APIError as exc:              # refused by the local checks: never sent
                refused = exc
        spec = self.specs[sym]
        self.state.track(StateOrder(client_order_id=coid, strategy_id=strategy_id, symbol=sym,
                                    side=side_s, type="LIMIT" if limit else "MARKET",
                                    qty=Decimal(qty).scaleb(-spec.qty_scale),
                                    price=Decimal(price).scaleb(-spec.price_scale) if limit
                                    else None))
        ns = self.state.orders[coid].ns
        ns["frame"], ns["decision"], ns["risk"] = frame_ns, decided_ns, risk_ns
        if refused is not None:
            self._not_placed(coid, refused)
            return False
        self._send.send_nowait(Pending(coid, order, frame_ns, decided_ns, risk_ns, sent))
        if sent is not None and sent.sent_ns:
            self._written(ns, frame_ns, sent.sent_ns)
        return True

    def _written(self, ns: dict, frame_ns: int, sent_ns: int) -> None:
        ns["sent"] = sent_ns
        tto = sent_ns - frame_ns
        if tto < 0:        # stamped by another clock (a replay's): no tick-to-order figure
            return
        self.tto_ns.append(tto)
        if self.tick_to_order is not None:
            self.tick_to_order.record(tto)

    # ------------------------------------------------------------ risk actions

    def on_actions(self, actions) -> None:
        """Carry out the risk manager's actions: cancels first (the sender runs them in
        order), then protective exits. Exchange stops are refused at start-up (the engine
        runs the risk manager's engine-side stops)."""
        for a in actions:
            if a.kind == "cancel":
                self._send.send_nowait(("cancel", a.symbol, a.order_id))
            elif a.kind == "cancel_all":
                self._send.send_nowait(("cancel_all", None, None))
        for a in actions:
            if a.kind == "exit":
                self._protective_exit(a.symbol, a.qty, a.reason)

    def _protective_exit(self, sym: str, qty: int, reason: str) -> None:
        if any(o.side == "SELL" for o in self.state.open_orders(sym)):
            return                               # an exit is already on its way
        try:
            price = self.books[sym].best_bid()[0]
        except BookNotReadable:
            price = int(self.risk.native.sym[self.risk.index(sym)].mark)
        # Never more than the account holds: a base-asset commission below one lot step is
        # invisible to the risk manager's integer position, but it is not in the account.
        spec = self.specs[sym]
        bal = self.state.balances.get(spec.base_asset)
        free = int(bal.free.scaleb(spec.qty_scale)) if bal is not None else 0
        left = min(qty, free - free % self._step[sym])
        if left <= 0:
            return
        now = self.clock()
        owners = sorted(self.state.portfolio.strategies())
        for sid in owners + [RISK_STRATEGY]:
            if left <= 0:
                break
            part = left if sid == RISK_STRATEGY else min(left, self._held(sid, sym))
            if part <= 0:
                continue
            self._exit_seq += 1
            coid = client_order_id(sid, sym, decision_seq(self.wall_clock() // 1_000_000,
                                                          self._exit_seq % 1000), PROTECTIVE_LEG,
                                   self.namespace)
            if self.submit(coid, sid, sym, SELL, price, part, 0, PROTECTIVE, now, now):
                self.counts["protective"] += 1
                self.on_event("protective_exit", {"symbol": sym, "strategy": sid, "reason": reason})
            left -= part

    def exit_leg(self, sid: str, sym: str, reason: str, trade_ms: int, frame_ns: int) -> bool:
        """A ``strategy.exit`` leg reached by the trade at ``trade_ms``: a MARKET sell of the
        strategy's position, through the gate as a protective exit (allowed in REDUCING and
        HALTED, never refused for a stale book or the rate caps). Its id comes from the
        trade's exchange time, so a replay of the same trades derives the same id."""
        decided = self.clock()
        if any(o.side == "SELL" and self.state.owner_of(o.client_order_id) == sid
               for o in self.state.open_orders(sym)):
            self.counts["busy"] += 1             # its exit is on its way
            return False
        s = self.risk.native.sym[self.risk.index(sym)]
        sellable = s.pos_qty - s.open_sell_qty
        qty = min(self._held(sid, sym), sellable - sellable % self._step[sym])
        if qty <= 0:
            return False
        try:
            price = self.books[sym].best_bid()[0]
        except BookNotReadable:
            price = int(s.mark)
        if price <= 0 or self._dust(sym, qty, price):
            return False
        last_ms, n = self._leg_seq.get((sid, sym), (-1, -1))
        n = n + 1 if last_ms == trade_ms else 0
        self._leg_seq[(sid, sym)] = (trade_ms, n)
        coid = client_order_id(sid, sym, decision_seq(trade_ms, n % 1000), EXIT_LEG, self.namespace)
        if coid in self.state.orders:
            self.counts["duplicate"] += 1
            return False
        if not self.submit(coid, sid, sym, SELL, price, qty, 0, PROTECTIVE, frame_ns, decided):
            return False
        self.counts["exit_leg"] += 1
        self.on_event("exit_leg", {"symbol": sym, "strategy": sid, "reason": reason,
                                   "client_order_id": coid, "trade_ms": trade_ms})
        return True

    # ------------------------------------------------------------ the sender

    def request_cancel_all(self) -> None:
        self._send.send_nowait(("cancel_all", None, None))

    async def run(self) -> None:
        async for item in self._recv:
            await self.send(item)

    def take_queued(self) -> list:
        """What is queued for the sender, taken off the queue (a replay sends it in-line)."""
        items = []
        while True:
            try:
                items.append(self._recv.receive_nowait())
            except trio.WouldBlock:
                return items

    async def send(self, item: Pending | tuple) -> None:
        """The sender's step for one queued item: an order, a cancel or a cancel-all."""
        if isinstance(item, Pending):
            await self._place(item)
        elif item[0] == "cancel_all":
            await self.cancel_all()
        else:
            await self._cancel_one(item[1], item[2])

    async def _cancel_one(self, symbol: str, coid: str) -> None:
        try:
            result = await self.client.cancel(symbol, client_order_id=coid)
        except BinanceError as exc:
            log.warning("cancel %s %s failed: %s", symbol, coid, exc)
            return
        self.state.apply_order_fact(fact_from_order_query(result, source="cancel"))
        self.risk.on_order_done(coid)

    async def _place(self, p: Pending) -> None:
        sm, coid = self.state, p.coid
        order = sm.orders[coid]
        try:
            if p.sent is not None:
                placed = await self.client.place(p.order, sent=p.sent)
            else:
                placed = await self.client.place(p.order)
        except UnknownOrderStatus as exc:
            self.counts["unknown"] += 1
            sm.mark_unknown(coid, str(exc))
            return
        except (APIError, RateLimited) as exc:
            self._not_placed(coid, exc)
            return
        except ConnectionLost as exc:      # never left (sent=True is resolved inside place)
            self._not_placed(coid, exc)
            return
        except BinanceError as exc:
            self.counts["unknown"] += 1
            sm.mark_unknown(coid, str(exc))
            return
        order.ns["ack"] = placed.ack_ns
        if placed.sent_ns:
            if "sent" not in order.ns:          # not written by the hot path itself
                self._written(order.ns, p.frame_ns, placed.sent_ns)
            if self.ack_latency is not None:
                self.ack_latency.record(placed.ack_ns - order.ns["sent"])
        self.counts["sent"] += 1
        sm.apply_order_fact(fact_from_order_query(placed.result, source="ws-api"))
        if self.on_placed is not None:
            self.on_placed(p, placed)

    def _not_placed(self, coid: str, exc: BaseException) -> None:
        self.counts["rejected"] += 1
        log.warning("order %s not placed: %s", coid, exc)
        self.state.mark_not_on_exchange(coid)
        self.risk.on_order_done(coid)
        self.on_event("order_rejected", {"client_order_id": coid, "error": str(exc)})

    # ------------------------------------------------------------ shutdown

    async def cancel_all(self) -> int:
        """Cancel every open order of the account (ours and any left on the exchange)."""
        n = 0
        for o in await self.client.open_orders():
            try:
                result = await self.client.cancel(o["symbol"], order_id=o["orderId"])
            except BinanceError as exc:
                log.warning("cancel %s %s failed: %s", o["symbol"], o["orderId"], exc)
                continue
            n += 1
            self.state.apply_order_fact(fact_from_order_query(result, source="cancel"))
            self.risk.on_order_done(o.get("clientOrderId"))
        return n
