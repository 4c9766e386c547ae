"""The Binance spot client the engine trades through.

    async with open_client(endpoints, signer, user_data=True) as client:
        placed = await client.place(Order("BTCUSDT", "BUY", "LIMIT", quantity=1000,
                                          price=3_000_000, time_in_force="GTC"))
        placed.result["status"], placed.via          # "NEW", "ws"
        async for event in client.events: ...        # executionReport, outboundAccountPosition...
        md = client.market_data(["BTCUSDT"])         # books kept in sync (see market.py)
        await nursery.start(md.run)

Orders go through the WebSocket API when it is connected and fall back to REST otherwise.
Every order leaves with a client order id (generated if the caller gave none); a request whose
outcome is unknown (-1007, 5xx, no answer, connection lost after sending) is resolved by
querying that id: found means placed; consistently absent means it never reached the matching
engine, and it is sent once more under the same id (Binance refuses a duplicate id while the
first order is open). The client also satisfies the reconciliation ``Venue`` protocol
(``open_orders``, ``my_trades``, ``account``, ``order_status``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterable, Mapping

import trio

from pyengine.venue.binance.clock import ServerClock
from pyengine.venue.binance.endpoints import Endpoints
from pyengine.venue.binance.errors import (APIError, BinanceError, ConnectionLost, OutcomeUnknown,
                                           UnknownOrderStatus)
from pyengine.venue.binance.frames import FrameBuilder
from pyengine.venue.binance.limits import RateLimiter
from pyengine.venue.binance.market import MarketData
from pyengine.venue.binance.orders import STOP_TYPES, Order, new_client_order_id
from pyengine.venue.binance.rest import RestClient
from pyengine.venue.binance.rules import ExchangeRules
from pyengine.venue.binance.signing import Signer
from pyengine.venue.binance.wsapi import InFlight, WsApi

log = logging.getLogger("pyengine.venue.binance")
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED", "PENDING_NEW"})


@dataclass(slots=True)
class Placed:
    result: dict        # the exchange's order object (placement response or order query)
    via: str            # "ws", "rest" or "query" (outcome established by a query)
    sent_ns: int        # monotonic ns: request written (0 when resolved by query)
    ack_ns: int         # monotonic ns: answer received


class OpenOrders:
    """Per-symbol counts of the account's open orders, for the MAX_NUM_* filters; O(1) per
    order event and per query (this runs before every order)."""

    def __init__(self) -> None:
        self._orders: dict[str, dict[int, bool]] = {}    # symbol -> {orderId: is a stop order}
        self._stops: dict[str, int] = {}
        self._total = 0

    def seen(self, symbol: str, order_id: int, status: str | None, order_type: str) -> None:
        orders = self._orders.setdefault(symbol, {})
        was = orders.pop(order_id, None)
        if was is not None:
            self._total -= 1
            self._stops[symbol] = self._stops.get(symbol, 0) - was
        if status is None or status in OPEN_STATUSES:
            stop = order_type in STOP_TYPES
            orders[order_id] = stop
            self._total += 1
            self._stops[symbol] = self._stops.get(symbol, 0) + stop

    def reset(self, orders: Iterable[Mapping[str, Any]]) -> None:
        self._orders, self._stops, self._total = {}, {}, 0
        for o in orders:
            self.seen(o["symbol"], o["orderId"], o["status"], o["type"])

    def count(self, symbol: str) -> tuple[int, int, int]:
        """(open orders of symbol, open stop orders of symbol, open orders of the account)"""
        return len(self._orders.get(symbol, ())), self._stops.get(symbol, 0), self._total

    def on_event(self, event: Mapping[str, Any]) -> None:
        if event.get("e") == "executionReport":
            self.seen(event["s"], event["i"], event["X"], event["o"])


class BinanceClient:
    def __init__(self, rest: RestClient, rules: ExchangeRules, ws: WsApi | None, *,
                 order_max_wait: float = 1.0, unknown_queries: int = 4,
                 unknown_query_delay: float = 0.25, resend_absent: bool = True):
        self.rest = rest
        self.rules = rules
        self.ws = ws
        self.order_max_wait = order_max_wait
        self.unknown_queries = unknown_queries
        self.unknown_query_delay = unknown_query_delay
        self.resend_absent = resend_absent
        self.open = OpenOrders()
        self.unknown_resolved = 0     # orders whose outcome had to be established by query

    @property
    def events(self) -> trio.MemoryReceiveChannel:
        if self.ws is None or not self.ws.user_data:
            raise BinanceError("user data is off: open the client with user_data=True")
        return self.ws.events

    def market_data(self, symbols: Iterable[str], **kw) -> MarketData:
        """Streams and synced books for ``symbols``; run it with ``nursery.start(md.run)``."""
        return MarketData(self.rest.endpoints, self.rest, [self.rules[s].spec for s in symbols], **kw)

    # -- orders ----------------------------------------------------------------------
    def place_now(self, order: Order, *, ref_price: int | None = None,
                  filters_checked: bool = False) -> InFlight | None:
        """The hot path: validate locally (raises FilterError as Binance would) and write the
        order to the WebSocket API without yielding. Then ``await place(order, sent=...)``
        with the result for the exchange's answer. None: nothing was sent (not connected,
        TLS, another write in progress, rate-limit window full): ``await place(order)``.
        ``order`` must carry its client order id. ``filters_checked``: the caller has
        already applied the symbol's filters to this order (the engine's C risk gate
        checks the same PRICE_FILTER, PERCENT_PRICE, LOT_SIZE and NOTIONAL rules); only the
        symbol status and the open-order caps are checked here."""
        ws = self.ws
        if ws is None or not ws.connected:
            return None
        if filters_checked:
            n, algo, total = self.open.count(order.symbol)
            self.rules[order.symbol].check_open(order, n, algo, total)
        else:
            self._check(order, ref_price)
        return ws.place_now(order)

    def _check(self, order: Order, ref_price: int | None) -> None:
        n, algo, total = self.open.count(order.symbol)
        self.rules[order.symbol].check(order, ref_price=ref_price, open_orders=n,
                                       open_algo_orders=algo, account_open_orders=total)

    async def place(self, order: Order, *, ref_price: int | None = None,
                    sent: InFlight | None = None) -> Placed:
        """Validate locally (raises FilterError as Binance would), send, and return the
        exchange's answer. Raises APIError (rejected), RateLimited/IpBanned (not sent) or
        UnknownOrderStatus (outcome still open after querying). ``sent``: the order was
        already validated and written by :meth:`place_now`; only its answer is awaited."""
        if order.client_order_id is None:
            order = dataclasses.replace(order, client_order_id=new_client_order_id())
        if sent is None:
            self._check(order, ref_price)
        resends = 1 if self.resend_absent else 0
        resent = False
        while True:
            try:
                attempt, sent = sent, None
                placed = await self._send(order, attempt)
            except APIError as exc:
                if not (resent and exc.msg == "Duplicate order sent."):
                    raise
                # the first attempt did land after all (and is still open): that is our order
                found = await self.order_status(order.symbol, order.client_order_id)
                if found is None:
                    raise
                placed = Placed(found, "query", 0, time.monotonic_ns())
            except (OutcomeUnknown, ConnectionLost) as exc:
                if isinstance(exc, ConnectionLost) and not exc.sent:
                    raise
                found = await self._resolve(order, exc)
                if found is not None:
                    placed = found
                elif resends:
                    resends -= 1
                    resent = True
                    continue
                else:
                    raise UnknownOrderStatus(f"{order.symbol} {order.client_order_id}: outcome unknown "
                                             f"({exc}); not found by query", order.symbol,
                                             order.client_order_id) from exc
            r = placed.result
            self.open.seen(order.symbol, r["orderId"], r.get("status"), order.type)
            return placed

    async def _send(self, order: Order, sent: InFlight | None = None) -> Placed:
        ws = self.ws
        if sent is not None or (ws is not None and ws.connected):
            try:
                try:
                    if sent is not None:
                        reply = await ws.reply(sent)
                    else:
                        reply = await ws.place(order, max_wait=self.order_max_wait)
                except APIError as exc:
                    if exc.code != -1021:
                        raise
                    await ws.sync_time()     # rejected on receipt: never executed
                    reply = await ws.place(order, max_wait=self.order_max_wait)
                return Placed(reply.result, "ws", reply.sent_ns, reply.ack_ns)
            except ConnectionLost as exc:
                if exc.sent:
                    raise
        params = self.rules[order.symbol].params(order)
        t0 = time.monotonic_ns()
        result = await self.rest.request("POST", "/api/v3/order", params, signed=True, orders=1,
                                         max_wait=self.order_max_wait)
        return Placed(result, "rest", t0, time.monotonic_ns())

    async def _resolve(self, order: Order, cause: BaseException) -> Placed | None:
        """Query the order by client id until it is found (returned) or has been reported
        absent by every query (None). Raises UnknownOrderStatus if queries keep failing."""
        absent = 0
        for attempt in range(self.unknown_queries):
            await trio.sleep(self.unknown_query_delay * attempt)
            try:
                found = await self.order_status(order.symbol, order.client_order_id)
            except BinanceError:
                continue
            if found is not None:
                self.unknown_resolved += 1
                return Placed(found, "query", 0, time.monotonic_ns())
            absent += 1
        if absent < self.unknown_queries:
            raise UnknownOrderStatus(f"{order.symbol} {order.client_order_id}: outcome unknown ({cause}) "
                                     "and the order could not be queried", order.symbol,
                                     order.client_order_id) from cause
        self.unknown_resolved += 1
        return None

    async def cancel(self, symbol: str, *, order_id: int | None = None,
                     client_order_id: str | None = None) -> dict:
        """Cancel one order; an unknown outcome is settled by querying the order."""
        if order_id is None and client_order_id is None:
            raise ValueError("cancel needs order_id or client_order_id")
        params = {"symbol": symbol, "orderId": order_id, "origClientOrderId": client_order_id}
        params = {k: v for k, v in params.items() if v is not None}
        try:
            result = await self._signed("order.cancel", "DELETE", "/api/v3/order", params)
        except (OutcomeUnknown, ConnectionLost) as exc:
            found = await self._query_order(symbol, order_id, client_order_id)
            if found is None or found["status"] in OPEN_STATUSES:
                raise UnknownOrderStatus(f"cancel {symbol} {client_order_id or order_id}: {exc}",
                                         symbol, client_order_id or "") from exc
            result = found
        self.open.seen(symbol, result["orderId"], result.get("status"), result.get("type", ""))
        return result

    async def cancel_all(self, symbol: str) -> list[dict]:
        """Cancel every open order of ``symbol`` (one request); [] when there was none."""
        try:
            result = await self._signed("openOrders.cancelAll", "DELETE", "/api/v3/openOrders",
                                        {"symbol": symbol})
        except APIError as exc:
            if exc.code == -2011:          # Binance's answer when nothing was open
                result = []
            else:
                raise
        for r in result:
            if "orderId" in r:
                self.open.seen(symbol, r["orderId"], r.get("status"), r.get("type", ""))
        return result

    async def order_status(self, symbol: str, client_order_id: str) -> dict | None:
        """The order object, or None if Binance does not know the id (-2013)."""
        return await self._query_order(symbol, None, client_order_id)

    async def _query_order(self, symbol: str, order_id: int | None, client_order_id: str | None) -> dict | None:
        params = {"symbol": symbol}
        if order_id is not None:
            params["orderId"] = order_id
        if client_order_id is not None:
            params["origClientOrderId"] = client_order_id
        try:
            return await self._signed("order.status", "GET", "/api/v3/order", params, weight=4)
        except APIError as exc:
            if exc.code == -2013:
                return None
            raise

    async def open_orders(self, symbol: str | None = None) -> list[dict]:
        params = {"symbol": symbol} if symbol else {}
        orders = await self._signed("openOrders.status", "GET", "/api/v3/openOrders", params,
                                    weight=6 if symbol else 80)
        if symbol is None:
            self.open.reset(orders)
        return orders

    async def account(self) -> dict:
        return await self._signed("account.status", "GET", "/api/v3/account", {}, weight=20)

    async def my_trades(self, symbol: str, from_id: int | None = None, limit: int = 1000) -> list[dict]:
        params: dict[str, Any] = {"symbol": symbol, "limit": limit}
        if from_id is not None:
            params["fromId"] = from_id
        return await self._signed("myTrades", "GET", "/api/v3/myTrades", params, weight=20)

    async def _signed(self, ws_method: str, http_method: str, path: str, params: Mapping[str, Any],
                      weight: int = 1) -> Any:
        """A signed request over the WS API when connected, else REST. Reads (GET) are
        repeated over REST when the WS answer is lost; writes are not."""
        ws = self.ws
        if ws is not None and ws.connected:
            try:
                return await ws.call(ws_method, params, signed=True, weight=weight)
            except (ConnectionLost, OutcomeUnknown) as exc:
                if http_method != "GET" and not (isinstance(exc, ConnectionLost) and not exc.sent):
                    raise
        return await self.rest.request(http_method, path, params, signed=True)


@contextlib.asynccontextmanager
async def open_client(endpoints: Endpoints, signer: Signer | None = None, *,
                      exchange_info: Mapping | None = None, symbols: Iterable[str] | None = None,
                      user_data: bool = False, use_ws_api: bool = True, recv_window: int = 5000,
                      rest_timeout: float = 10.0, ws_timeout: float = 10.0,
                      ws_options: Mapping[str, Any] | None = None, time_sync_interval: float = 600.0,
                      ws_connect_timeout: float = 30.0,
                      **client_options) -> AsyncIterator[BinanceClient]:
    """Connect: sync the clock, load exchangeInfo (or use ``exchange_info``), open the WS API
    (logon with an Ed25519 key, user-data subscription if asked), seed the open-order
    counts, and re-measure the clock offset every ``time_sync_interval`` s (clocks drift;
    a -1021 also triggers a re-measure at once). Raises BinanceError if the WS API is not up
    within ``ws_connect_timeout`` s. Everything is closed on exit."""
    clock = ServerClock()
    limiter = RateLimiter(now_ms=clock.now_ms)
    async with RestClient(endpoints, signer, clock=clock, limiter=limiter, recv_window=recv_window,
                          timeout=rest_timeout) as rest:
        await rest.sync_time()
        info = exchange_info if exchange_info is not None else await rest.exchange_info(symbols)
        if exchange_info is not None and info.get("rateLimits"):
            limiter.configure(info["rateLimits"])
        rules = ExchangeRules(info)
        # A single error (from the body or a background task) comes out as itself, not wrapped
        # in (nested) ExceptionGroups, so callers can write ``except APIError``.
        try:
            async with trio.open_nursery() as nursery:
                ws = None
                if use_ws_api:
                    ws = WsApi(endpoints, FrameBuilder(rules, signer, recv_window), clock=clock,
                               limiter=limiter, user_data=user_data and signer is not None,
                               request_timeout=ws_timeout, **(ws_options or {}))
                client = BinanceClient(rest, rules, ws, **client_options)
                if ws is not None:
                    ws.on_event = client.open.on_event
                    nursery.start_soon(ws.run)      # a bad key or logon error surfaces from here
                    with trio.move_on_after(ws_connect_timeout):
                        await ws.wait_connected()
                    if not ws.connected:
                        raise BinanceError(f"WebSocket API {endpoints.ws_api} not reachable within "
                                           f"{ws_connect_timeout:g} s")
                if signer is not None:
                    await client.open_orders()
                nursery.start_soon(_keep_clock, rest, time_sync_interval)
                yield client
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            leaf: BaseException = group
            while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
                leaf = leaf.exceptions[0]
            if isinstance(leaf, BaseExceptionGroup):
                raise
            raise leaf from None


async def _keep_clock(rest: RestClient, interval: float) -> None:
    while True:
        await trio.sleep(interval)
        try:
            await rest.sync_time()
        except BinanceError as exc:      # keep the last offset; the next round tries again
            log.warning("clock re-sync failed: %s", exc)
