"""The matching engine: accounts, orders, fills, commission and user-data events.

Every price, quantity and balance is an int at scale 8 (``P8``); notionals (price x qty)
are at scale 16 until they touch a balance. Orders of the simulated accounts trade against
(a) the public replayed market, consuming its liquidity (see :mod:`pyengine.sim.market`),
and (b) each other (self-trade prevention applies within one account). Resting orders fill
when the public market trades at or through their price, or when the public book moves
across them. Validation follows digest 6.3; messages are Binance's, verbatim.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from pyengine.book import ASK, BID
from pyengine.sim.errors import (INSUFFICIENT_BALANCE, ApiError, filter_failure, invalid_value,
                                 mandatory, not_required, rejected)
from pyengine.sim.market import Market, Trade
from pyengine.sim.numbers import (ASSET_SCALE, NotDecimal, filter_value, fmt, parse_scaled,
                                  rescale)
from pyengine.sim.auth import random_token
from pyengine.sim.orderlists import OrderListsMixin

S8 = 10 ** 8
ORDER_TYPES = ("LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
               "TAKE_PROFIT_LIMIT", "LIMIT_MAKER")
STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
TIFS = ("GTC", "IOC", "FOK")
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT")
OPEN_STATES = ("NEW", "PARTIALLY_FILLED", "PENDING_NEW")
CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
UNSUPPORTED = {
    "MARKET": "Market orders are not supported for this symbol.",
    "STOP_LOSS": "Stop loss orders are not supported for this symbol.",
    "STOP_LOSS_LIMIT": "Stop loss limit orders are not supported for this symbol.",
    "TAKE_PROFIT": "Take profit orders are not supported for this symbol.",
    "TAKE_PROFIT_LIMIT": "Take profit limit orders are not supported for this symbol.",
    "LIMIT_MAKER": "Unsupported order combination",
    "LIMIT": "Unsupported order combination",
}
#                 required                                  forbidden
TYPE_PARAMS = {
    "LIMIT": (("timeInForce", "quantity", "price"), ("stopPrice", "quoteOrderQty")),
    "MARKET": ((), ("price", "timeInForce", "stopPrice")),
    "STOP_LOSS": (("quantity",), ("price", "timeInForce", "quoteOrderQty")),
    "TAKE_PROFIT": (("quantity",), ("price", "timeInForce", "quoteOrderQty")),
    "STOP_LOSS_LIMIT": (("timeInForce", "quantity", "price"), ("quoteOrderQty",)),
    "TAKE_PROFIT_LIMIT": (("timeInForce", "quantity", "price"), ("quoteOrderQty",)),
    "LIMIT_MAKER": (("quantity", "price"), ("timeInForce", "stopPrice", "quoteOrderQty")),
}


def dec_param(params: dict, name: str, required: bool = False) -> int | None:
    """A DECIMAL parameter at scale 8 (-1100 bad text, -1111 too many decimals)."""
    text = params.get(name)
    if text is None or text == "":
        if required:
            raise mandatory(name)
        return None
    try:
        value, exact = parse_scaled(str(text), 8)
    except NotDecimal:
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                              f"'^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.") from None
    if not exact:
        raise ApiError(-1111, f"Parameter '{name}' has too much precision.")
    return value


def int_param(params: dict, name: str, required: bool = False) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        if required:
            raise mandatory(name)
        return None
    try:
        return int(str(text))
    except ValueError:
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                              f"'^-?[0-9]{{1,20}}$'.") from None


@dataclass
class Account:
    id: str
    maker_rate: int = 100_000        # 0.1 % at scale 8
    taker_rate: int = 100_000
    balances: dict[str, list[int]] = field(default_factory=dict)   # asset -> [free, locked]
    update_time: int = 0
    can_trade: bool = True

    def bal(self, asset: str) -> list[int]:
        b = self.balances.get(asset)
        if b is None:
            b = self.balances[asset] = [0, 0]
        return b


@dataclass(eq=False)
class Order:
    account: str
    symbol: str
    order_id: int
    client_id: str
    side: str
    type: str
    tif: str
    qty: int
    price: int
    stop_price: int
    quote_qty: int
    stp: str
    time: int
    list_id: int = -1
    iceberg: int = 0
    strategy_id: int | None = None
    strategy_type: int | None = None
    executed: int = 0
    cum_quote: int = 0               # scale 16
    status: str = "NEW"
    update_time: int = 0
    working_time: int = -1
    locked: int = 0                  # funds still reserved (asset scale)
    lock_asset: str = ""
    expiry_reason: str = ""
    prevented_qty: int = 0
    prevented_match_id: int | None = None
    cancel_client_id: str = ""
    triggered: bool = True
    seq: int = 0
    filled_once: bool = False
    placing: bool = False            # fills now are placement fills (the caller counts them)

    @property
    def remaining(self) -> int:
        return self.qty - self.executed - self.prevented_qty

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def limit_type(self) -> bool:
        return self.type in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")


@dataclass
class Fill:
    price: int
    qty: int
    commission: int
    asset: str
    trade_id: int


class Engine(OrderListsMixin):
    """All accounts and orders of the simulator. Methods take already-authenticated
    ``account`` ids and string parameters; they raise :class:`ApiError` on rejection."""

    def __init__(self, markets: dict[str, Market], symbols: dict[str, dict], now: Callable[[], int],
                 on_first_fill: Callable[[str], None] | None = None):
        self.markets, self.symbols, self.now = markets, symbols, now
        self.accounts: dict[str, Account] = {}
        self.orders: dict[tuple[str, int], Order] = {}
        self.lists: dict = {}
        self.open: dict[str, list[Order]] = {s: [] for s in symbols}
        self.by_client: dict[tuple[str, str, str], Order] = {}
        self.my_trades: dict[str, list[dict]] = {}
        self._ids: dict[tuple[str, str], int] = {}
        self._seq = 0
        self.listeners: dict[str, list[Callable[[list[dict]], None]]] = {}
        self._pending: dict[str, list[dict]] = {}
        self._touched: dict[str, set[str]] = {}
        self.on_first_fill = on_first_fill
        self.filters = {s: {f["filterType"]: f for f in info["filters"]} for s, info in symbols.items()}
        for m in markets.values():
            m.on_trade_hooks.append(self._on_market_trade)
            m.on_book_hooks.append(self._on_market_book)

    # -- accounts ---------------------------------------------------------------------
    def account(self, account_id: str) -> Account:
        acct = self.accounts.get(account_id)
        if acct is None:
            acct = self.accounts[account_id] = Account(account_id)
        return acct

    def deposit(self, account_id: str, asset: str, amount: int) -> None:
        """Credit (or debit, if negative) ``amount`` (scale 8); emits balanceUpdate."""
        acct = self.account(account_id)
        b = acct.bal(asset)
        if b[0] + amount < 0:
            raise ValueError(f"{account_id}: {asset} balance would go negative")
        b[0] += amount
        now = self.now()
        acct.update_time = now
        self._emit(account_id, {"e": "balanceUpdate", "E": now, "a": asset, "d": fmt(amount, 8), "T": now})
        self._touch(account_id, asset)
        self.flush()

    def _next(self, symbol: str, kind: str) -> int:
        key = (symbol, kind)
        n = self._ids.get(key, 0) + 1
        self._ids[key] = n
        return n

    # -- events -----------------------------------------------------------------------
    def _emit(self, account: str, event: dict) -> None:
        self._pending.setdefault(account, []).append(event)

    def _touch(self, account: str, *assets: str) -> None:
        self._touched.setdefault(account, set()).update(assets)

    def flush(self) -> None:
        """Deliver pending events: executionReports first, then one outboundAccountPosition."""
        pending, touched = self._pending, self._touched
        self._pending, self._touched = {}, {}
        now = self.now()
        for acct_id in set(pending) | set(touched):
            events = pending.get(acct_id, [])
            # the legs' executionReports come before their list's listStatus (digest 13.6)
            events = [e for e in events if e["e"] != "listStatus"] + [e for e in events if e["e"] == "listStatus"]
            assets = touched.get(acct_id)
            if assets:
                acct = self.account(acct_id)
                acct.update_time = now
                events.append({"e": "outboundAccountPosition", "E": now, "u": now,
                               "B": [{"a": a, "f": fmt(acct.bal(a)[0], 8), "l": fmt(acct.bal(a)[1], 8)}
                                     for a in sorted(assets)]})
            for cb in list(self.listeners.get(acct_id, ())):
                cb(events)

    def report(self, o: Order, x: str, now: int, fill: Fill | None = None, maker: bool = False,
               reject: str = "NONE") -> None:
        ev = {"e": "executionReport", "E": now, "s": o.symbol,
              "c": o.cancel_client_id if x == "CANCELED" else o.client_id,
              "S": o.side, "o": o.type, "f": o.tif, "q": fmt(o.qty, 8), "p": fmt(o.price, 8),
              "P": fmt(o.stop_price, 8), "F": fmt(o.iceberg, 8), "g": o.list_id,
              "C": o.client_id if x == "CANCELED" else "", "x": x, "X": o.status, "r": reject,
              "i": o.order_id, "l": fmt(fill.qty if fill else 0, 8), "z": fmt(o.executed, 8),
              "L": fmt(fill.price if fill else 0, 8),
              "n": fmt(fill.commission, 8) if fill else "0", "N": fill.asset if fill else None,
              "T": now, "t": fill.trade_id if fill else -1, "I": self._next(o.symbol, "exec"),
              "w": o.is_open and o.triggered and o.status != "PENDING_NEW",
              "m": maker, "M": x == "TRADE", "O": o.time, "Z": fmt(o.cum_quote, 16),
              "Y": fmt(fill.price * fill.qty if fill else 0, 16), "Q": fmt(o.quote_qty, 8)}
        if o.working_time != -1:
            ev["W"] = o.working_time
        ev["V"] = o.stp
        if o.strategy_id is not None:
            ev["j"] = o.strategy_id
        if o.strategy_type is not None:
            ev["J"] = o.strategy_type
        if o.prevented_match_id is not None:
            ev["v"] = o.prevented_match_id
            ev["A"] = fmt(o.prevented_qty, 8)
        if o.expiry_reason and o.status in ("EXPIRED", "EXPIRED_IN_MATCH"):
            ev["eR"] = o.expiry_reason
        self._emit(o.account, ev)

    # -- order objects ----------------------------------------------------------------
    def _base(self, o: Order) -> dict:
        return {"symbol": o.symbol, "orderId": o.order_id, "orderListId": o.list_id,
                "clientOrderId": o.client_id}

    def _common(self, o: Order, out: dict) -> dict:
        out.update({"price": fmt(o.price, 8), "origQty": fmt(o.qty, 8), "executedQty": fmt(o.executed, 8),
                    "origQuoteOrderQty": fmt(o.quote_qty, 8), "cummulativeQuoteQty": fmt(o.cum_quote, 16),
                    "status": o.status, "timeInForce": o.tif, "type": o.type, "side": o.side})
        return out

    def _conditional(self, o: Order, out: dict) -> dict:
        if o.type in STOP_TYPES:
            out["stopPrice"] = fmt(o.stop_price, 8)
        if o.iceberg:
            out["icebergQty"] = fmt(o.iceberg, 8)
        if o.strategy_id is not None:
            out["strategyId"] = o.strategy_id
        if o.strategy_type is not None:
            out["strategyType"] = o.strategy_type
        if o.prevented_match_id is not None:
            out["preventedMatchId"] = o.prevented_match_id
            out["preventedQuantity"] = fmt(o.prevented_qty, 8)
        if o.expiry_reason and o.status in ("EXPIRED", "EXPIRED_IN_MATCH"):
            out["expiryReason"] = o.expiry_reason
        return out

    def placement_response(self, o: Order, resp_type: str, now: int, fills: list[Fill]) -> dict:
        out = self._base(o)
        out["transactTime"] = now
        if resp_type == "ACK":
            return out
        self._common(o, out)
        out["workingTime"] = o.working_time
        out["selfTradePreventionMode"] = o.stp
        self._conditional(o, out)
        if resp_type == "FULL":
            out["fills"] = [{"price": fmt(f.price, 8), "qty": fmt(f.qty, 8), "commission": fmt(f.commission, 8),
                             "commissionAsset": f.asset, "tradeId": f.trade_id} for f in fills]
        return out

    def query_object(self, o: Order) -> dict:
        out = self._common(o, self._base(o))
        out["stopPrice"] = fmt(o.stop_price, 8)
        out["icebergQty"] = fmt(o.iceberg, 8)
        out.update({"time": o.time, "updateTime": o.update_time,
                    "isWorking": o.triggered and o.status != "PENDING_NEW", "workingTime": o.working_time,
                    "origQuoteOrderQty": fmt(o.quote_qty, 8), "selfTradePreventionMode": o.stp})
        return self._conditional(o, out)

    def cancel_object(self, o: Order, now: int) -> dict:
        out = {"symbol": o.symbol, "origClientOrderId": o.client_id, "orderId": o.order_id,
               "orderListId": o.list_id, "clientOrderId": o.cancel_client_id, "transactTime": now}
        self._common(o, out)
        out["selfTradePreventionMode"] = o.stp
        return self._conditional(o, out)

    # -- validation -------------------------------------------------------------------
    def symbol_info(self, params: dict) -> dict:
        sym = params.get("symbol")
        if not sym:
            raise mandatory("symbol")
        info = self.symbols.get(sym)
        if info is None:
            raise ApiError(-1121, "Invalid symbol.")
        return info

    def validate_new(self, params: dict, account: str | None) -> Order:
        """Parse and check a new order (digest 6.3 steps 1-3); returns an unplaced Order."""
        for name in ("symbol", "side", "type"):
            if not params.get(name):
                raise mandatory(name)
        side, otype = params["side"], params["type"]
        if side not in ("BUY", "SELL"):
            raise ApiError(-1117, "Invalid side.")
        if otype not in ORDER_TYPES:
            raise ApiError(-1116, "Invalid orderType.")
        required, forbidden = TYPE_PARAMS[otype]
        for name in forbidden:
            if params.get(name) not in (None, ""):
                if name == "timeInForce":
                    raise ApiError(-1114, "TimeInForce parameter sent when not required.")
                raise not_required(name)
        for name in required:
            if params.get(name) in (None, ""):
                raise mandatory(name)
        tif = params.get("timeInForce") or "GTC"
        if tif not in TIFS:
            raise ApiError(-1115, "Invalid timeInForce.")
        qty = dec_param(params, "quantity")
        quote_qty = dec_param(params, "quoteOrderQty")
        price = dec_param(params, "price") or 0
        stop = dec_param(params, "stopPrice") or 0
        iceberg = dec_param(params, "icebergQty") or 0
        if otype == "MARKET" and (qty is None) == (quote_qty is None):
            raise ApiError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
                           if qty is None else "Mandatory parameter 'quantity' or 'quoteOrderQty' was sent, "
                           "but only one is allowed.")
        if otype in STOP_TYPES and not stop and not params.get("trailingDelta"):
            raise ApiError(-1102, "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!")
        if iceberg and tif != "GTC":
            raise ApiError(-2010, "Unsupported order combination")
        cid = params.get("newClientOrderId")
        if cid is not None:
            if cid == "":
                raise ApiError(-1118, "New client order ID was empty.")
            if not CLIENT_ID_RE.match(cid):
                raise ApiError(-1100, "Illegal characters found in parameter 'newClientOrderId'; legal "
                                      "range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
        strategy_id = int_param(params, "strategyId")
        strategy_type = int_param(params, "strategyType")
        if strategy_type is not None and strategy_type < 1_000_000:
            raise ApiError(-1134, "strategyType was less than 1000000.")
        info = self.symbol_info(params)
        sym = info["symbol"]
        if otype not in info["orderTypes"]:
            raise rejected(UNSUPPORTED[otype])
        if quote_qty is not None and not info.get("quoteOrderQtyMarketAllowed", True):
            raise rejected("Quote order qty market orders are not support for this symbol.")
        if params.get("trailingDelta") and not info.get("allowTrailingStop", False):
            raise rejected("Trailing stop orders are not supported for this symbol.")
        if iceberg and not info.get("icebergAllowed", False):
            raise rejected("Iceberg orders are not supported for this symbol.")
        stp = params.get("selfTradePreventionMode") or info.get("defaultSelfTradePreventionMode", "NONE")
        if stp not in info.get("allowedSelfTradePreventionModes", STP_MODES) and stp != "NONE":
            raise invalid_value("selfTradePreventionMode")
        if stp not in STP_MODES:
            raise invalid_value("selfTradePreventionMode")
        o = Order(account or "", sym, 0, cid or "", side, otype, tif, qty or 0, price, stop,
                  quote_qty or 0, stp, 0, iceberg=iceberg, strategy_id=strategy_id, strategy_type=strategy_type)
        self._check_filters(o)
        return o

    def _ref_price(self, symbol: str, mins: int) -> int | None:
        m = self.markets[symbol]
        return m.avg_price(mins, self.now()) if mins else m.last_price

    def _check_filters(self, o: Order) -> None:
        f = self.filters[o.symbol]
        is_market = o.type in ("MARKET", "STOP_LOSS", "TAKE_PROFIT")
        for ftype, flt in f.items():
            if ftype == "PRICE_FILTER":
                for p in (o.price, o.stop_price):
                    if not p:
                        continue
                    lo, hi, tick = (filter_value(flt[k]) for k in ("minPrice", "maxPrice", "tickSize"))
                    if (lo and p < lo) or (hi and p > hi) or (tick and p % tick):
                        raise filter_failure(ftype)
            elif ftype in ("PERCENT_PRICE", "PERCENT_PRICE_BY_SIDE") and o.price and o.limit_type:
                ref = self._ref_price(o.symbol, int(flt.get("avgPriceMins", 5)))
                if ref:
                    if ftype == "PERCENT_PRICE":
                        up, down = flt["multiplierUp"], flt["multiplierDown"]
                    elif o.side == "BUY":
                        up, down = flt["bidMultiplierUp"], flt["bidMultiplierDown"]
                    else:
                        up, down = flt["askMultiplierUp"], flt["askMultiplierDown"]
                    up8, down8 = filter_value(str(up)), filter_value(str(down))
                    if o.price * S8 > ref * up8 or o.price * S8 < ref * down8:
                        raise filter_failure(ftype)
            elif ftype == "LOT_SIZE" or (ftype == "MARKET_LOT_SIZE" and is_market):
                for q in ((o.qty,) if ftype == "MARKET_LOT_SIZE" else (o.qty, o.iceberg)):
                    if not q:
                        continue
                    lo, hi, step = (filter_value(flt[k]) for k in ("minQty", "maxQty", "stepSize"))
                    if q < lo or (hi and q > hi) or (step and q % step):
                        raise filter_failure(ftype)
            elif ftype in ("MIN_NOTIONAL", "NOTIONAL"):
                apply_min = flt.get("applyToMarket", flt.get("applyMinToMarket", True))
                apply_max = flt.get("applyMaxToMarket", False)
                if is_market:
                    if o.quote_qty:
                        notional = o.quote_qty * S8
                    else:
                        ref = self._ref_price(o.symbol, int(flt.get("avgPriceMins", 5)))
                        if ref is None:
                            continue
                        notional = ref * o.qty
                else:
                    apply_min = apply_max = True
                    notional = o.price * o.qty
                lo = filter_value(flt["minNotional"]) * S8
                hi = filter_value(flt["maxNotional"]) * S8 if "maxNotional" in flt else 0
                if (apply_min and notional < lo) or (apply_max and hi and notional > hi):
                    raise filter_failure(ftype)
            elif ftype == "ICEBERG_PARTS" and o.iceberg:
                if o.iceberg >= o.qty:
                    raise rejected("IcebergQty exceeds QTY.")
                if -(-o.qty // o.iceberg) > int(flt["limit"]):
                    raise filter_failure(ftype)

    # -- placement --------------------------------------------------------------------
    def place(self, account: str, params: dict, now: int, list_id: int = -1) -> tuple[Order, list[Fill]]:
        """Validate and execute a new order; returns the order and its placement fills."""
        o = self.validate_new(params, account)
        self._admit(o, account, now)
        o.list_id = list_id
        fills: list[Fill] = []
        self._start(o, now, fills)
        self.flush()
        return o, fills

    def _admit(self, o: Order, account: str, now: int) -> None:
        """Account-state checks (digest 6.3 step 4), reservation and registration."""
        info = self.symbols[o.symbol]
        acct = self.account(account)
        o.account = account
        if info.get("status", "TRADING") != "TRADING":
            raise rejected("Market is closed.")
        if not acct.can_trade:
            raise rejected("This account may not place or cancel orders.")
        if o.client_id:
            prev = self.by_client.get((account, o.symbol, o.client_id))
            if prev is not None and prev.is_open:
                raise rejected("Duplicate order sent.")
        self._check_counts(account, o)
        market = self.markets[o.symbol]
        if o.type in STOP_TYPES:
            self._check_stop(o, market)
        if o.type == "LIMIT_MAKER" and self._would_cross(o, market):
            raise rejected("Order would immediately match and take.")
        self._reserve(acct, o, market)
        self._register(o, now)

    def _register(self, o: Order, now: int) -> None:
        o.order_id = self._next(o.symbol, "order")
        if not o.client_id:
            o.client_id = random_token(22)
        o.time = o.update_time = now
        self._seq += 1
        o.seq = self._seq
        self.orders[(o.symbol, o.order_id)] = o
        self.by_client[(o.account, o.symbol, o.client_id)] = o

    def _start(self, o: Order, now: int, fills: list[Fill]) -> None:
        """Put an admitted order to work: stops wait for their trigger, the rest match now."""
        if o.type in STOP_TYPES:
            o.triggered = False
            self.open[o.symbol].append(o)
            self.report(o, "NEW", now)
        else:
            o.working_time = now
            self.report(o, "NEW", now)
            o.placing = True
            self._execute(o, self.markets[o.symbol], now, fills)
            o.placing = False

    def _check_counts(self, account: str, o: Order) -> None:
        f = self.filters[o.symbol]
        mine = [x for x in self.open[o.symbol] if x.account == account]
        if "MAX_NUM_ORDERS" in f and len(mine) + 1 > int(f["MAX_NUM_ORDERS"]["maxNumOrders"]):
            raise rejected("Filter failure: MAX_NUM_ORDERS")
        if o.type in STOP_TYPES and "MAX_NUM_ALGO_ORDERS" in f and \
                sum(x.type in STOP_TYPES for x in mine) + 1 > int(f["MAX_NUM_ALGO_ORDERS"]["maxNumAlgoOrders"]):
            raise rejected("Filter failure: MAX_NUM_ALGO_ORDERS")

    def _check_stop(self, o: Order, market: Market) -> None:
        last = market.last_price
        if last is None:
            return
        if self._stop_triggered(o, last):
            raise rejected("Order would trigger immediately.")

    @staticmethod
    def _stop_triggered(o: Order, last: int) -> bool:
        up = (o.type.startswith("STOP_LOSS") and o.side == "BUY") or \
             (o.type.startswith("TAKE_PROFIT") and o.side == "SELL")
        return last >= o.stop_price if up else last <= o.stop_price

    def _opposite(self, o: Order) -> list[Order]:
        """Resting orders of other or same accounts o could match, best first."""
        want = "SELL" if o.side == "BUY" else "BUY"
        book = [x for x in self.open[o.symbol] if x.side == want and x.triggered and x is not o]
        book.sort(key=(lambda x: (x.price, x.seq)) if want == "SELL" else (lambda x: (-x.price, x.seq)))
        return book

    def _would_cross(self, o: Order, market: Market) -> bool:
        side = ASK if o.side == "BUY" else BID
        best = market.best(side)
        prices = [best[0]] if best else []
        prices += [x.price for x in self._opposite(o)[:1]]
        if o.side == "BUY":
            return any(p <= o.price for p in prices)
        return any(p >= o.price for p in prices)

    def _quote(self, price: int, qty: int, round_up: bool) -> int:
        return rescale(price * qty, 16, ASSET_SCALE, round_up)

    def _estimate(self, o: Order, market: Market) -> tuple[int, int]:
        """(base qty, quote cost P8) a taker order would get from visible liquidity."""
        side = ASK if o.side == "BUY" else BID
        levels = [(p, q) for p, q in market.levels(side, 5000)]
        levels += [(x.price, x.remaining) for x in self._opposite(o)]
        levels.sort(key=lambda lv: lv[0], reverse=(o.side == "SELL"))
        step = self._step(o.symbol)
        base = quote = 0
        for p, q in levels:
            if o.type != "MARKET" and ((o.side == "BUY" and p > o.price) or (o.side == "SELL" and p < o.price)):
                break
            if o.quote_qty:
                left = o.quote_qty * S8 - quote
                take = min(q, left // p // step * step)
                if take <= 0:
                    break
            else:
                take = min(q, o.qty - base)
            base += take
            quote += p * take
            if (not o.quote_qty and base >= o.qty):
                break
        return base, rescale(quote, 16, ASSET_SCALE, True)

    def _step(self, symbol: str) -> int:
        lot = self.filters[symbol].get("LOT_SIZE")
        step = parse_scaled(lot["stepSize"], 8)[0] if lot else 1
        return step or 1

    def _reserve(self, acct: Account, o: Order, market: Market) -> None:
        info = self.symbols[o.symbol]
        base, quote = info["baseAsset"], info["quoteAsset"]
        if o.side == "SELL":
            need, asset = o.qty, base
            if o.type == "MARKET" and o.quote_qty:
                need = self._estimate(o, market)[0]
        elif o.limit_type:
            need, asset = self._quote(o.price, o.qty, True), quote
        elif o.type == "MARKET":
            need, asset = (o.quote_qty if o.quote_qty else self._estimate(o, market)[1]), quote
        else:                           # untriggered STOP_LOSS / TAKE_PROFIT BUY: nothing reserved
            need, asset = 0, quote
        b = acct.bal(asset)
        if need > b[0]:
            raise rejected(INSUFFICIENT_BALANCE)
        b[0] -= need
        b[1] += need
        o.locked, o.lock_asset = need, asset
        self._touch(acct.id, asset)

    def _release(self, o: Order) -> None:
        if o.locked:
            b = self.account(o.account).bal(o.lock_asset)
            b[1] -= o.locked
            b[0] += o.locked
            o.locked = 0
            self._touch(o.account, o.lock_asset)

    def _close(self, o: Order) -> None:
        self._release(o)
        lst = self.open[o.symbol]
        if o in lst:
            lst.remove(o)
        if o.list_id != -1:
            self.leg_closed(o, self.now())

    # -- matching ---------------------------------------------------------------------
    def _execute(self, o: Order, market: Market, now: int, fills: list[Fill]) -> None:
        """Match a working taker order, then rest, expire or finish it."""
        if o.tif == "FOK" and o.type != "MARKET":
            if self._estimate(o, market)[0] < o.qty:
                o.status, o.expiry_reason = "EXPIRED", "UNFILLED_FOK_ORDER_EXPIRED"
                o.update_time = now
                self._close(o)
                self.report(o, "EXPIRED", now)
                return
        self._match(o, market, now, fills)
        if not o.is_open:
            return
        if (self._quote_done(o) if o.quote_qty and o.type == "MARKET" else o.remaining <= 0):
            self._finish(o, now)
        elif o.type == "MARKET":
            self._expire(o, now, "INSUFFICIENT_LIQUIDITY")
        elif o.tif in ("IOC", "FOK"):
            self._expire(o, now, "UNFILLED_IOC_QUANTITY_EXPIRED")
        else:
            if o not in self.open[o.symbol]:
                self.open[o.symbol].append(o)

    def _quote_done(self, o: Order) -> bool:
        return o.quote_qty * S8 - o.cum_quote < self._min_fill_quote(o)

    def _min_fill_quote(self, o: Order) -> int:
        best = self.markets[o.symbol].best(ASK if o.side == "BUY" else BID)
        return (best[0] if best else 1) * self._step(o.symbol)

    def _finish(self, o: Order, now: int) -> None:
        o.status = "FILLED"
        o.update_time = now
        self._close(o)

    def _expire(self, o: Order, now: int, reason: str) -> None:
        o.status, o.expiry_reason, o.update_time = "EXPIRED", reason, now
        self._close(o)
        self.report(o, "EXPIRED", now)

    def _match(self, o: Order, market: Market, now: int, fills: list[Fill]) -> None:
        side = ASK if o.side == "BUY" else BID
        levels = market.levels(side, 5000)
        li = 0
        users = self._opposite(o)
        ui = 0
        step = self._step(o.symbol)
        is_market = o.type == "MARKET"
        while o.is_open:
            lv = levels[li] if li < len(levels) else None
            mk = users[ui] if ui < len(users) else None
            if mk is not None and not mk.is_open:
                ui += 1
                continue
            if lv is None and mk is None:
                return
            if mk is not None and (lv is None or (mk.price <= lv[0] if o.side == "BUY" else mk.price >= lv[0])):
                price, avail = mk.price, mk.remaining
            else:
                mk = None
                price, avail = lv
            if not is_market and ((o.side == "BUY" and price > o.price) or (o.side == "SELL" and price < o.price)):
                return
            if o.quote_qty:
                left = o.quote_qty * S8 - o.cum_quote
                qty = min(avail, left // price // step * step)
                if qty <= 0:
                    return
            else:
                qty = min(avail, o.remaining)
            if o.side == "BUY" and o.lock_asset and o.type == "MARKET":
                affordable = o.locked * S8 // price // step * step
                qty = min(qty, affordable)
                if qty <= 0:
                    return
            if mk is not None and mk.account == o.account and o.stp != "NONE":
                self._prevent(o, mk, qty, now)
                ui += 1
                continue
            tid = self._next(o.symbol, "trade")     # one trade id for both sides of the match
            self._fill(o, price, qty, now, maker=False, fills=fills, trade_id=tid)
            if mk is not None:
                self._fill(mk, price, qty, now, maker=True, fills=None, trade_id=tid)
                if mk.remaining <= 0:
                    ui += 1
            else:
                market.consume(side, price, qty)
                levels[li] = (price, avail - qty)
                if avail - qty <= 0:
                    li += 1

    def _prevent(self, taker: Order, maker: Order, qty: int, now: int) -> None:
        match_id = self._next(taker.symbol, "prevented")
        mode = taker.stp
        victims = {"EXPIRE_TAKER": (taker,), "EXPIRE_MAKER": (maker,),
                   "EXPIRE_BOTH": (taker, maker), "DECREMENT": (taker, maker)}[mode]
        for v in victims:
            v.prevented_match_id = match_id
            v.prevented_qty += qty if mode == "DECREMENT" else v.remaining
            v.update_time = now
            if v.remaining <= 0:
                v.status = "EXPIRED_IN_MATCH"
                v.expiry_reason = "NONE"
                self._close(v)
            elif v.locked and v.lock_asset:
                self._rebalance_lock(v)
            self.report(v, "TRADE_PREVENTION", now)

    def _rebalance_lock(self, o: Order) -> None:
        """Shrink a resting order's reservation to what its remaining quantity needs."""
        if not o.limit_type:
            return
        need = self._quote(o.price, o.remaining, True) if o.side == "BUY" else o.remaining
        if o.locked > need:
            b = self.account(o.account).bal(o.lock_asset)
            b[1] -= o.locked - need
            b[0] += o.locked - need
            o.locked = need
            self._touch(o.account, o.lock_asset)

    def _fill(self, o: Order, price: int, qty: int, now: int, maker: bool, fills: list[Fill] | None,
              trade_id: int | None = None) -> None:
        info = self.symbols[o.symbol]
        base, quote = info["baseAsset"], info["quoteAsset"]
        acct = self.account(o.account)
        rate = acct.maker_rate if maker else acct.taker_rate
        if trade_id is None:
            trade_id = self._next(o.symbol, "trade")
        if o.side == "BUY":
            spend = self._quote(price, qty, True)
            recv_asset, recv = base, qty
            pay = min(spend, o.locked)
            acct.bal(quote)[1] -= pay
            acct.bal(quote)[0] -= spend - pay
            o.locked -= pay
        else:
            recv_asset, recv = quote, self._quote(price, qty, False)
            pay = min(qty, o.locked)
            acct.bal(base)[1] -= pay
            acct.bal(base)[0] -= qty - pay
            o.locked -= pay
        commission = (recv * rate + S8 // 2) // S8
        acct.bal(recv_asset)[0] += recv - commission
        self._touch(o.account, base, quote)
        o.executed += qty
        o.cum_quote += price * qty
        o.update_time = now
        by_quote = o.type == "MARKET" and o.quote_qty
        if by_quote:
            o.qty = o.executed           # origQty of a quote-quantity order = executed (observed)
        if not o.filled_once:
            o.filled_once = True
            if self.on_first_fill and not o.placing:
                self.on_first_fill(o.account)
            if o.list_id != -1:
                self.leg_started(o, now)
        done = self._quote_done(o) if by_quote else o.remaining <= 0
        o.status = "FILLED" if done else "PARTIALLY_FILLED"
        fill = Fill(price, qty, commission, recv_asset, trade_id)
        if fills is not None:
            fills.append(fill)
        self.my_trades.setdefault(o.account, []).append({
            "symbol": o.symbol, "id": trade_id, "orderId": o.order_id, "orderListId": o.list_id,
            "price": fmt(price, 8), "qty": fmt(qty, 8), "quoteQty": fmt(price * qty, 16),
            "commission": fmt(commission, 8), "commissionAsset": recv_asset, "time": now,
            "isBuyer": o.side == "BUY", "isMaker": maker, "isBestMatch": True})
        if done:
            self._close(o)
        elif o.limit_type:
            self._rebalance_lock(o)
        self.report(o, "TRADE", now, fill, maker)

    # -- resting orders against the public market --------------------------------------
    def _on_market_trade(self, market: Market, trade: Trade) -> None:
        now = self.now()
        lst = self.open.get(market.symbol)
        if not lst:
            return
        for o in [x for x in lst if not x.triggered and x.status != "PENDING_NEW"]:
            if self._stop_triggered(o, trade.price):
                self._trigger(o, market, now)
        budget = trade.qty
        for side in ("BUY", "SELL"):
            rest = [x for x in self.open[market.symbol] if x.triggered and x.side == side and
                    (x.price >= trade.price if side == "BUY" else x.price <= trade.price)]
            rest.sort(key=(lambda x: (-x.price, x.seq)) if side == "BUY" else (lambda x: (x.price, x.seq)))
            left = budget
            for o in rest:
                if left <= 0:
                    break
                qty = min(left, o.remaining)
                self._fill(o, o.price, qty, now, maker=True, fills=None)
                left -= qty
        if self._pending or self._touched:
            self.flush()

    def _on_market_book(self, market: Market) -> None:
        lst = self.open.get(market.symbol)
        if not lst:
            return
        now = self.now()
        for side, book_side in (("BUY", ASK), ("SELL", BID)):
            rest = [x for x in lst if x.triggered and x.side == side]
            if not rest:
                continue
            best = market.best(book_side)
            if best is None:
                continue
            rest = [x for x in rest if (x.price >= best[0] if side == "BUY" else x.price <= best[0])]
            rest.sort(key=(lambda x: (-x.price, x.seq)) if side == "BUY" else (lambda x: (x.price, x.seq)))
            for o in rest:
                for p, q in market.levels(book_side, 200):
                    if (side == "BUY" and p > o.price) or (side == "SELL" and p < o.price) or o.remaining <= 0:
                        break
                    qty = min(q, o.remaining)
                    self._fill(o, o.price, qty, now, maker=True, fills=None)
                    market.consume(book_side, p, qty)
        if self._pending or self._touched:
            self.flush()

    def _trigger(self, o: Order, market: Market, now: int) -> None:
        o.triggered = True
        o.working_time = now
        o.update_time = now
        self.open[o.symbol].remove(o)
        self.report(o, "NEW", now)
        if o.list_id != -1:
            self.leg_started(o, now)
        if o.type in ("STOP_LOSS", "TAKE_PROFIT"):
            o.tif = "GTC"
            acct = self.account(o.account)
            if o.side == "BUY" and not o.locked:
                cost = self._estimate(o, market)[1]
                b = acct.bal(o.lock_asset)
                take = min(cost, b[0])
                b[0] -= take
                b[1] += take
                o.locked = take
            saved, o.type = o.type, "MARKET"
            self._match(o, market, now, [])
            o.type = saved
            if o.is_open:
                if o.remaining <= 0:
                    self._finish(o, now)
                else:
                    self._expire(o, now, "INSUFFICIENT_LIQUIDITY")
        else:
            self._execute(o, market, now, [])

    # -- cancel / query ---------------------------------------------------------------
    def find(self, account: str, params: dict, for_cancel: bool) -> Order:
        info = self.symbol_info(params)
        oid = int_param(params, "orderId")
        cid = params.get("origClientOrderId")
        if oid is None and not cid:
            raise ApiError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        code, msg = (-2011, "Unknown order sent.") if for_cancel else (-2013, "Order does not exist.")
        if oid is not None:
            o = self.orders.get((info["symbol"], oid))
            if o is None or o.account != account:
                raise ApiError(code, msg)
            if cid and cid != o.client_id:
                raise ApiError(-2039, "Client order ID is not correct for this order ID.") if not for_cancel \
                    else ApiError(-2011, "Unknown order sent.")
            return o
        o = self.by_client.get((account, info["symbol"], cid))
        if o is None:
            raise ApiError(code, msg)
        return o

    def cancel(self, account: str, params: dict, now: int) -> Order:
        o = self.find(account, params, for_cancel=True)
        restriction = params.get("cancelRestrictions")
        if restriction not in (None, "", "ONLY_NEW", "ONLY_PARTIALLY_FILLED"):
            raise ApiError(-1145, "Invalid cancelRestrictions")
        if not o.is_open:
            raise ApiError(-2011, "Unknown order sent.")
        if (restriction == "ONLY_NEW" and o.status != "NEW") or \
                (restriction == "ONLY_PARTIALLY_FILLED" and o.status != "PARTIALLY_FILLED"):
            raise ApiError(-2011, "Order was not canceled due to cancel restrictions.")
        new_cid = params.get("newClientOrderId") or random_token(22)
        if o.list_id != -1:            # cancelling a leg cancels its whole list
            self._cancel_list(self.lists[(o.symbol, o.list_id)], new_cid, now)
        else:
            self._cancel(o, new_cid, now)
        self.flush()
        return o

    def _cancel(self, o: Order, new_cid: str, now: int) -> None:
        o.cancel_client_id = new_cid
        o.status = "CANCELED"
        o.update_time = now
        self._close(o)
        self.report(o, "CANCELED", now)

    def cancel_all(self, account: str, params: dict, now: int) -> list[Order]:
        info = self.symbol_info(params)
        mine = [o for o in self.open[info["symbol"]] if o.account == account]
        if not mine:
            raise ApiError(-2011, "Unknown order sent.")
        out: list = []
        for o in mine:
            if not o.is_open:
                continue
            if o.list_id != -1:
                lst = self.lists[(o.symbol, o.list_id)]
                self._cancel_list(lst, random_token(22), now)
                out.append(lst)
            else:
                self._cancel(o, random_token(22), now)
                out.append(o)
        self.flush()
        return out

    def open_orders(self, account: str, symbol: str | None) -> list[Order]:
        syms = [symbol] if symbol else list(self.open)
        out = [o for s in syms for o in self.open[s] if o.account == account]
        return sorted(out, key=lambda o: (o.symbol, o.order_id))

    def all_orders(self, account: str, symbol: str, from_id: int | None, start: int | None,
                   end: int | None, limit: int) -> list[Order]:
        out = [o for (s, _), o in self.orders.items() if s == symbol and o.account == account]
        out.sort(key=lambda o: o.order_id)
        if from_id is not None:
            return [o for o in out if o.order_id >= from_id][:limit]
        if start is not None:
            out = [o for o in out if o.time >= start]
        if end is not None:
            out = [o for o in out if o.time <= end]
        return out[:limit] if start is not None else out[-limit:]

    def trades_of(self, account: str, symbol: str, order_id: int | None, from_id: int | None,
                  start: int | None, end: int | None, limit: int) -> list[dict]:
        out = [t for t in self.my_trades.get(account, []) if t["symbol"] == symbol]
        if order_id is not None:
            out = [t for t in out if t["orderId"] == order_id]
        if from_id is not None:
            return [t for t in out if t["id"] >= from_id][:limit]
        if start is not None:
            out = [t for t in out if t["time"] >= start]
        if end is not None:
            out = [t for t in out if t["time"] <= end]
        return out[:limit] if start is not None else out[-limit:]

    def account_info(self, account: str, omit_zero: bool) -> dict:
        acct = self.account(account)
        bal = [{"asset": a, "free": fmt(f, 8), "locked": fmt(lk, 8)}
               for a, (f, lk) in sorted(acct.balances.items()) if not (omit_zero and f == 0 and lk == 0)]
        return {"makerCommission": acct.maker_rate // 10_000, "takerCommission": acct.taker_rate // 10_000,
                "buyerCommission": 0, "sellerCommission": 0,
                "commissionRates": {"maker": fmt(acct.maker_rate, 8), "taker": fmt(acct.taker_rate, 8),
                                    "buyer": "0.00000000", "seller": "0.00000000"},
                "canTrade": acct.can_trade, "canWithdraw": True, "canDeposit": True, "brokered": False,
                "requireSelfTradePrevention": False, "preventSor": False, "updateTime": acct.update_time,
                "accountType": "SPOT", "balances": bal, "permissions": ["SPOT"], "uid": abs(hash(account)) % 10**9}
