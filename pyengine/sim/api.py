"""The endpoints, shared by REST (``/api/v3/...``) and the WebSocket API (``/ws-api/v3``).

Each endpoint is a function ``(sim, ctx, params) -> JSON-able result`` with a weight function
and a security type; transports do authentication, weights and framing. ``params`` values
are strings (WS-API values are converted the way Binance's text parameters read).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import orjson

from pyengine.book import ASK, BID
from pyengine.sim.engine import int_param
from pyengine.sim.errors import ApiError, mandatory
from pyengine.sim.market import INTERVAL_MS
from pyengine.sim.numbers import fmt
from pyengine.sim.orderlists import OrderList

if TYPE_CHECKING:
    from pyengine.sim.server import Simulator

NONE, TRADE, USER_DATA = "NONE", "TRADE", "USER_DATA"


@dataclass
class Ctx:
    now: int
    ip: str
    account: str = ""
    order_counted: bool = False


@dataclass
class Endpoint:
    fn: Callable[["Simulator", Ctx, dict], Any]
    weight: Callable[[dict], int]
    security: str = NONE
    order: bool = False          # successful calls cost 0 weight; count toward ORDERS


def _w(n: int) -> Callable[[dict], int]:
    return lambda p: n


def _limit(p: dict, default: int, maximum: int) -> int:
    n = int_param(p, "limit")
    if n is None:
        return default
    if n <= 0:
        raise ApiError(-1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.")
    return min(n, maximum)


def _symbols(sim: "Simulator", p: dict) -> list[str] | None:
    """``symbol`` or the JSON array ``symbols``; None = all."""
    if p.get("symbol") and p.get("symbols"):
        raise ApiError(-1128, "Combination of optional parameters invalid.")
    if p.get("symbol"):
        if p["symbol"] not in sim.markets:
            raise ApiError(-1121, "Invalid symbol.")
        return [p["symbol"]]
    if p.get("symbols"):
        try:
            syms = orjson.loads(p["symbols"])
        except orjson.JSONDecodeError:
            raise ApiError(-1135, "Invalid JSON Request", ) from None
        if not isinstance(syms, list) or not all(isinstance(s, str) for s in syms):
            raise ApiError(-1135, "Invalid JSON Request")
        if len(set(syms)) != len(syms):
            raise ApiError(-1151, "Symbol is present multiple times in the list.")
        for s in syms:
            if s not in sim.markets:
                raise ApiError(-1121, "Invalid symbol.")
        return syms
    return None


def _market(sim: "Simulator", p: dict):
    sym = p.get("symbol")
    if not sym:
        raise mandatory("symbol")
    m = sim.markets.get(sym)
    if m is None:
        raise ApiError(-1121, "Invalid symbol.")
    return m


def _ts(p: dict, name: str) -> int | None:
    v = int_param(p, name)
    if v is not None and v > 10 ** 14:     # microseconds
        v //= 1000
    return v


# -- market data -----------------------------------------------------------------------
def ping(sim, ctx, p):
    return {}


def server_time(sim, ctx, p):
    return {"serverTime": ctx.now}


def exchange_info(sim, ctx, p):
    syms = _symbols(sim, p)
    info = sim.exchange_info(ctx.now)
    if syms is not None:
        info = {**info, "symbols": [s for s in info["symbols"] if s["symbol"] in syms]}
    return info


def _depth_weight(p):
    n = int(p.get("limit") or 100) if str(p.get("limit") or "100").isdigit() else 100
    return 5 if n <= 100 else 25 if n <= 500 else 50 if n <= 1000 else 250


def depth(sim, ctx, p):
    m = _market(sim, p)
    return orjson.Fragment(m.depth_body(_limit(p, 100, 5000)))


def _trade_row(t):
    return {"id": t.id, "price": fmt(t.price, 8), "qty": fmt(t.qty, 8), "quoteQty": fmt(t.price * t.qty, 16),
            "time": t.time, "isBuyerMaker": t.buyer_maker, "isBestMatch": True}


def trades(sim, ctx, p):
    m = _market(sim, p)
    return [_trade_row(t) for t in m.trades[-_limit(p, 500, 1000):]]


def historical_trades(sim, ctx, p):
    m = _market(sim, p)
    limit = _limit(p, 500, 1000)
    from_id = int_param(p, "fromId")
    if from_id is None:
        return [_trade_row(t) for t in m.trades[-limit:]]
    return [_trade_row(t) for t in m.trades if t.id >= from_id][:limit]


def agg_trades(sim, ctx, p):
    m = _market(sim, p)
    limit = _limit(p, 500, 1000)
    from_id, start, end = int_param(p, "fromId"), _ts(p, "startTime"), _ts(p, "endTime")
    if from_id is not None:
        rows = [t for t in m.trades if t.id >= from_id][:limit]
    elif start is not None or end is not None:
        rows = m.trades_between(start, end)
        rows = rows[:limit] if start is not None else rows[-limit:]
    else:
        rows = m.trades[-limit:]
    # one aggregate per public trade: its id doubles as the aggregate id
    return [{"a": t.id, "p": fmt(t.price, 8), "q": fmt(t.qty, 8), "f": t.id, "l": t.id, "T": t.time,
             "m": t.buyer_maker, "M": True} for t in rows]


def klines(sim, ctx, p):
    m = _market(sim, p)
    interval = p.get("interval")
    if not interval:
        raise mandatory("interval")
    if interval not in INTERVAL_MS:
        raise ApiError(-1120, "Invalid interval.")
    bars = m.klines(interval, _ts(p, "startTime"), _ts(p, "endTime"), _limit(p, 500, 1000))
    return [b.rest_row(interval) for b in bars]


def avg_price(sim, ctx, p):
    m = _market(sim, p)
    mins = 5
    price = m.avg_price(mins, sim.market_now())
    return {"mins": mins, "price": fmt(price or 0, 8), "closeTime": m.last_trade_time}


def _ticker_weight(per_symbol: int, all_weight: int):
    def w(p):
        if p.get("symbol"):
            return per_symbol
        if p.get("symbols"):
            try:
                n = len(orjson.loads(p["symbols"]))
            except (orjson.JSONDecodeError, TypeError):
                n = 1
            return per_symbol if n <= 20 else 40 if n <= 100 else all_weight
        return all_weight
    return w


def _one_or_many(sim, p, build):
    syms = _symbols(sim, p)
    if p.get("symbol"):
        return build(sim.markets[p["symbol"]])
    return [build(sim.markets[s]) for s in (syms or list(sim.markets))]


def ticker_24hr(sim, ctx, p):
    kind = p.get("type") or "FULL"
    if kind not in ("FULL", "MINI"):
        raise ApiError(-1139, "Invalid ticker type.")
    now = sim.market_now()

    def build(m):
        r = m.rolling(now, 86_400_000)
        out = {"symbol": m.symbol}
        if kind == "FULL":
            change = r["close"] - r["open"]
            pct = (change * 100_000 // r["open"]) if r["open"] else 0
            bid, ask = m.best(BID) or (0, 0), m.best(ASK) or (0, 0)
            out.update({"priceChange": fmt(change, 8), "priceChangePercent": f"{pct / 1000:.3f}",
                        "weightedAvgPrice": fmt(r["qv"] // r["volume"] if r["volume"] else r["close"], 8),
                        "prevClosePrice": fmt(r["open"], 8), "lastPrice": fmt(r["close"], 8),
                        "lastQty": fmt(r["last_qty"], 8), "bidPrice": fmt(bid[0], 8), "bidQty": fmt(bid[1], 8),
                        "askPrice": fmt(ask[0], 8), "askQty": fmt(ask[1], 8)})
        else:
            out["lastPrice"] = fmt(r["close"], 8)
        out.update({"openPrice": fmt(r["open"], 8), "highPrice": fmt(r["high"], 8),
                    "lowPrice": fmt(r["low"], 8), "volume": fmt(r["volume"], 8),
                    "quoteVolume": fmt(r["qv"], 16), "openTime": r["open_time"], "closeTime": r["close_time"],
                    "firstId": r["first_id"], "lastId": r["last_id"], "count": r["count"]})
        return out
    return _one_or_many(sim, p, build)


def _window_ms(text: str) -> int:
    units = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
    n, unit = text[:-1], text[-1:]
    if not n.isdigit() or unit not in units:
        raise ApiError(-1100, "Illegal characters found in parameter 'windowSize'; legal range is "
                              "'^[1-9][0-9]?[mhd]$'.")
    ms = int(n) * units[unit]
    if not (60_000 <= ms <= 7 * 86_400_000) or (unit == "m" and int(n) > 59) or (unit == "h" and int(n) > 23):
        raise ApiError(-1130, "Data sent for parameter 'windowSize' is not valid.")
    return ms


def ticker_window(sim, ctx, p):
    """``GET /api/v3/ticker``: the rolling-window statistics (open time minute-aligned)."""
    kind = p.get("type") or "FULL"
    if kind not in ("FULL", "MINI"):
        raise ApiError(-1139, "Invalid ticker type.")
    window = _window_ms(p.get("windowSize") or "1d")
    now = sim.market_now()
    if not p.get("symbol") and not p.get("symbols"):
        raise ApiError(-1102, "Param 'symbol' or 'symbols' must be sent, but both were empty/null!")

    def build(m):
        r = m.rolling(now, window + now % 60_000)
        out = {"symbol": m.symbol}
        if kind == "FULL":
            change = r["close"] - r["open"]
            pct = (change * 100_000 // r["open"]) if r["open"] else 0
            out.update({"priceChange": fmt(change, 8), "priceChangePercent": f"{pct / 1000:.3f}",
                        "weightedAvgPrice": fmt(r["qv"] // r["volume"] if r["volume"] else r["close"], 8)})
        out.update({"openPrice": fmt(r["open"], 8), "highPrice": fmt(r["high"], 8), "lowPrice": fmt(r["low"], 8),
                    "lastPrice": fmt(r["close"], 8), "volume": fmt(r["volume"], 8),
                    "quoteVolume": fmt(r["qv"], 16), "openTime": r["open_time"], "closeTime": r["close_time"],
                    "firstId": r["first_id"], "lastId": r["last_id"], "count": r["count"]})
        return out
    return _one_or_many(sim, p, build)


def ticker_price(sim, ctx, p):
    return _one_or_many(sim, p, lambda m: {"symbol": m.symbol, "price": fmt(m.last_price or 0, 8)})


def ticker_book(sim, ctx, p):
    def build(m):
        bid, ask = m.best(BID) or (0, 0), m.best(ASK) or (0, 0)
        return {"symbol": m.symbol, "bidPrice": fmt(bid[0], 8), "bidQty": fmt(bid[1], 8),
                "askPrice": fmt(ask[0], 8), "askQty": fmt(ask[1], 8)}
    return _one_or_many(sim, p, build)


# -- trading ---------------------------------------------------------------------------
def _resp_type(p: dict, otype: str) -> str:
    rt = p.get("newOrderRespType") or ("FULL" if otype in ("MARKET", "LIMIT") else "ACK")
    if rt not in ("ACK", "RESULT", "FULL"):
        raise ApiError(-1130, "Data sent for parameter 'newOrderRespType' is not valid.")
    return rt


def _count_order(sim, ctx, n: int = 1) -> None:
    sim.limiter.check_orders(ctx.account, n, ctx.now)


def _counted(sim, ctx, o) -> None:
    """+1 on the unfilled order count; -1 again if the order filled while being placed."""
    sim.limiter.count_orders(ctx.account, 1, ctx.now)
    if o.filled_once:
        sim.limiter.first_fill(ctx.account, ctx.now)
    ctx.order_counted = True


def new_order(sim, ctx, p):
    rt = _resp_type(p, p.get("type", ""))
    sim.engine.validate_new(p, ctx.account)
    _count_order(sim, ctx)
    o, fills = sim.engine.place(ctx.account, p, ctx.now)
    _counted(sim, ctx, o)
    return sim.engine.placement_response(o, rt, ctx.now, fills)


def test_order(sim, ctx, p):
    sim.engine.validate_new(p, ctx.account)
    if p.get("computeCommissionRates") in ("true", "True", True):
        acct = sim.engine.account(ctx.account)
        return {"standardCommissionForOrder": {"maker": fmt(acct.maker_rate, 8), "taker": fmt(acct.taker_rate, 8)},
                "specialCommissionForOrder": {"maker": "0.00000000", "taker": "0.00000000"},
                "taxCommissionForOrder": {"maker": "0.00000000", "taker": "0.00000000"},
                "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": "BNB",
                             "discount": "0.00000000"}}
    return {}


def get_order(sim, ctx, p):
    return sim.engine.query_object(sim.engine.find(ctx.account, p, for_cancel=False))


def cancel_order(sim, ctx, p):
    o = sim.engine.cancel(ctx.account, p, ctx.now)
    if o.list_id != -1:
        return sim.engine.list_object(sim.engine.lists[(o.symbol, o.list_id)], ctx.now, "CANCEL")
    return sim.engine.cancel_object(o, ctx.now)


def open_orders(sim, ctx, p):
    sym = p.get("symbol")
    if sym and sym not in sim.markets:
        raise ApiError(-1121, "Invalid symbol.")
    return [sim.engine.query_object(o) for o in sim.engine.open_orders(ctx.account, sym)]


def cancel_open_orders(sim, ctx, p):
    eng = sim.engine
    return [eng.list_object(x, ctx.now, "CANCEL") if isinstance(x, OrderList) else eng.cancel_object(x, ctx.now)
            for x in eng.cancel_all(ctx.account, p, ctx.now)]


def _place_oco(sim, ctx, p, legacy: bool):
    rt = p.get("newOrderRespType") or "ACK"
    if rt not in ("ACK", "RESULT", "FULL"):
        raise ApiError(-1130, "Data sent for parameter 'newOrderRespType' is not valid.")
    sim.limiter.check_orders(ctx.account, 2, ctx.now)
    lst = sim.engine.place_oco(ctx.account, p, ctx.now, legacy=legacy)
    sim.limiter.count_orders(ctx.account, 2, ctx.now)
    ctx.order_counted = True
    return sim.engine.list_object(lst, ctx.now, rt)


def _place_oto(sim, ctx, p, with_oco: bool):
    rt = p.get("newOrderRespType") or "ACK"
    if rt not in ("ACK", "RESULT", "FULL"):
        raise ApiError(-1130, "Data sent for parameter 'newOrderRespType' is not valid.")
    n = 3 if with_oco else 2
    sim.limiter.check_orders(ctx.account, n, ctx.now)
    lst = sim.engine.place_oto(ctx.account, p, ctx.now, with_oco=with_oco)
    sim.limiter.count_orders(ctx.account, n, ctx.now)
    ctx.order_counted = True
    return sim.engine.list_object(lst, ctx.now, rt)


def new_oto(sim, ctx, p):
    return _place_oto(sim, ctx, p, with_oco=False)


def new_otoco(sim, ctx, p):
    return _place_oto(sim, ctx, p, with_oco=True)


def new_oco(sim, ctx, p):
    return _place_oco(sim, ctx, p, legacy=False)


def new_oco_legacy(sim, ctx, p):
    return _place_oco(sim, ctx, p, legacy=True)


def cancel_order_list(sim, ctx, p):
    lst = sim.engine.cancel_list(ctx.account, p, ctx.now)
    return sim.engine.list_object(lst, ctx.now, "CANCEL")


def get_order_list(sim, ctx, p):
    return sim.engine.list_object(sim.engine.query_list(ctx.account, None, p), ctx.now, None)


def open_order_lists(sim, ctx, p):
    return [sim.engine.list_object(x, ctx.now, None) for x in sim.engine.lists.values()
            if x.account == ctx.account and x.status == "EXECUTING"]


def all_order_lists(sim, ctx, p):
    limit = _limit(p, 500, 1000)
    from_id, start, end = int_param(p, "fromId"), _ts(p, "startTime"), _ts(p, "endTime")
    rows = sorted((x for x in sim.engine.lists.values() if x.account == ctx.account), key=lambda x: (x.time, x.list_id))
    if from_id is not None:
        rows = [x for x in rows if x.list_id >= from_id]
    if start is not None:
        rows = [x for x in rows if x.time >= start]
    if end is not None:
        rows = [x for x in rows if x.time <= end]
    rows = rows[:limit] if (from_id is not None or start is not None) else rows[-limit:]
    return [sim.engine.list_object(x, ctx.now, None) for x in rows]


def all_orders(sim, ctx, p):
    m = _market(sim, p)
    start, end = _ts(p, "startTime"), _ts(p, "endTime")
    if start is not None and end is not None and end - start > 86_400_000:
        raise ApiError(-1127, "More than 24 hours between startTime and endTime.")
    orders = sim.engine.all_orders(ctx.account, m.symbol, int_param(p, "orderId"), start, end,
                                   _limit(p, 500, 1000))
    return [sim.engine.query_object(o) for o in orders]


def my_trades(sim, ctx, p):
    m = _market(sim, p)
    start, end = _ts(p, "startTime"), _ts(p, "endTime")
    order_id, from_id = int_param(p, "orderId"), int_param(p, "fromId")
    if order_id is not None and (start is not None or end is not None):
        raise ApiError(-1128, "Combination of optional parameters invalid.")
    if from_id is not None and (start is not None or end is not None):
        raise ApiError(-1128, "Combination of optional parameters invalid.")
    if start is not None and end is not None and end - start > 86_400_000:
        raise ApiError(-1127, "More than 24 hours between startTime and endTime.")
    return sim.engine.trades_of(ctx.account, m.symbol, order_id, from_id, start, end, _limit(p, 500, 1000))


def account(sim, ctx, p):
    omit = p.get("omitZeroBalances") in ("true", "True", True)
    return sim.engine.account_info(ctx.account, omit)


def rate_limit_order(sim, ctx, p):
    c10, cday = sim.limiter.order_counts(ctx.account, ctx.now)
    lim = sim.limiter.limits
    return [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": lim.orders_per_10s,
             "count": c10},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": lim.orders_per_day,
             "count": cday}]


def account_commission(sim, ctx, p):
    m = _market(sim, p)
    acct = sim.engine.account(ctx.account)
    z = "0.00000000"
    return {"symbol": m.symbol,
            "standardCommission": {"maker": fmt(acct.maker_rate, 8), "taker": fmt(acct.taker_rate, 8),
                                   "buyer": z, "seller": z},
            "specialCommission": {"maker": z, "taker": z, "buyer": z, "seller": z},
            "taxCommission": {"maker": z, "taker": z, "buyer": z, "seller": z},
            "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": "BNB",
                         "discount": z}}


def cancel_replace(sim, ctx, p):
    mode = p.get("cancelReplaceMode")
    if not mode:
        raise mandatory("cancelReplaceMode")
    if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
        raise ApiError(-1130, "Data sent for parameter 'cancelReplaceMode' is not valid.")
    eng = sim.engine
    rt = _resp_type(p, p.get("type", ""))
    cancel_p = {"symbol": p.get("symbol"), "orderId": p.get("cancelOrderId"),
                "origClientOrderId": p.get("cancelOrigClientOrderId"),
                "newClientOrderId": p.get("cancelNewClientOrderId"),
                "cancelRestrictions": p.get("cancelRestrictions")}
    if not cancel_p["orderId"] and not cancel_p["origClientOrderId"]:
        raise ApiError(-1102, "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be sent, but both "
                              "were empty/null!")
    new_p = {k: v for k, v in p.items() if not k.startswith("cancel") and k != "orderRateLimitExceededMode"}
    eng.validate_new(new_p, ctx.account)      # filters are checked before anything executes
    limit_mode = p.get("orderRateLimitExceededMode") or "DO_NOTHING"
    if limit_mode not in ("DO_NOTHING", "CANCEL_ONLY"):
        raise ApiError(-1130, "Data sent for parameter 'orderRateLimitExceededMode' is not valid.")
    try:
        _count_order(sim, ctx)
    except ApiError as exc:
        if limit_mode == "DO_NOTHING":
            raise
        eng.cancel(ctx.account, cancel_p, ctx.now)    # CANCEL_ONLY: the cancel still happens
        raise exc
    try:
        o = eng.cancel(ctx.account, cancel_p, ctx.now)
        cancel_resp, cancel_ok = eng.cancel_object(o, ctx.now), True
    except ApiError as exc:
        cancel_resp, cancel_ok = {"code": exc.code, "msg": exc.msg}, False
    new_resp, new_ok = None, False
    if cancel_ok or mode == "ALLOW_FAILURE":
        try:
            o, fills = eng.place(ctx.account, new_p, ctx.now)
            new_resp, new_ok = eng.placement_response(o, rt, ctx.now, fills), True
            _counted(sim, ctx, o)
        except ApiError as exc:
            new_resp = {"code": exc.code, "msg": exc.msg}
    if not new_ok:
        sim.limiter.count_orders(ctx.account, 1, ctx.now)     # counted even when not attempted
    result = {"cancelResult": "SUCCESS" if cancel_ok else "FAILURE",
              "newOrderResult": "SUCCESS" if new_ok else ("FAILURE" if new_resp else "NOT_ATTEMPTED"),
              "cancelResponse": cancel_resp, "newOrderResponse": new_resp}
    if cancel_ok and new_ok:
        return result
    if cancel_ok or new_ok:
        raise ApiError(-2021, "Order cancel-replace partially failed.", http=409, data=result)
    raise ApiError(-2022, "Order cancel-replace failed.", http=400, data=result)


TIME_FIELDS = frozenset({"serverTime", "transactTime", "time", "updateTime", "workingTime", "transactionTime",
                         "closeTime", "openTime", "T", "authorizedSince", "connectedSince"})


def time_unit(value: str | None) -> bool:
    """True for microseconds (``X-MBX-TIME-UNIT`` / ``timeUnit``); -1194 for anything unknown."""
    if value in (None, "", "MILLISECOND", "millisecond"):
        return False
    if value in ("MICROSECOND", "microsecond"):
        return True
    raise ApiError(-1194, "Invalid time unit.")


def to_micros(result, path: str):
    """Every timestamp of a response in microseconds (kline rows: open and close time)."""
    if path.endswith(("/klines", "/uiKlines")):
        return [[r[0] * 1000, *r[1:6], r[6] * 1000 + 999, *r[7:]] for r in result]
    if isinstance(result, list):
        return [to_micros(x, path) for x in result]
    if isinstance(result, dict):
        return {k: (v * 1000 if k in TIME_FIELDS and isinstance(v, int) and v > 0 else to_micros(v, path))
                for k, v in result.items()}
    return result


ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    ("GET", "/api/v3/ping"): Endpoint(ping, _w(1)),
    ("GET", "/api/v3/time"): Endpoint(server_time, _w(1)),
    ("GET", "/api/v3/exchangeInfo"): Endpoint(exchange_info, _w(20)),
    ("GET", "/api/v3/depth"): Endpoint(depth, _depth_weight),
    ("GET", "/api/v3/trades"): Endpoint(trades, _w(25)),
    ("GET", "/api/v3/historicalTrades"): Endpoint(historical_trades, _w(25)),
    ("GET", "/api/v3/aggTrades"): Endpoint(agg_trades, _w(4)),
    ("GET", "/api/v3/klines"): Endpoint(klines, _w(2)),
    ("GET", "/api/v3/uiKlines"): Endpoint(klines, _w(2)),
    ("GET", "/api/v3/avgPrice"): Endpoint(avg_price, _w(2)),
    ("GET", "/api/v3/ticker/24hr"): Endpoint(ticker_24hr, _ticker_weight(2, 80)),
    ("GET", "/api/v3/ticker/price"): Endpoint(ticker_price, _ticker_weight(2, 4)),
    ("GET", "/api/v3/ticker"): Endpoint(ticker_window, lambda p: 4 if p.get("symbol") else
                                        min(200, 4 * max(1, str(p.get("symbols", "")).count(",") + 1))),
    ("GET", "/api/v3/ticker/bookTicker"): Endpoint(ticker_book, _ticker_weight(2, 4)),
    ("POST", "/api/v3/order"): Endpoint(new_order, _w(1), TRADE, order=True),
    ("POST", "/api/v3/order/test"): Endpoint(test_order, lambda p: 20 if p.get("computeCommissionRates") in
                                             ("true", True) else 1, TRADE),
    ("GET", "/api/v3/order"): Endpoint(get_order, _w(4), USER_DATA),
    ("DELETE", "/api/v3/order"): Endpoint(cancel_order, _w(1), TRADE, order=True),
    ("GET", "/api/v3/openOrders"): Endpoint(open_orders, lambda p: 6 if p.get("symbol") else 80, USER_DATA),
    ("DELETE", "/api/v3/openOrders"): Endpoint(cancel_open_orders, _w(1), TRADE, order=True),
    ("GET", "/api/v3/allOrders"): Endpoint(all_orders, _w(20), USER_DATA),
    ("POST", "/api/v3/order/cancelReplace"): Endpoint(cancel_replace, _w(1), TRADE, order=True),
    ("GET", "/api/v3/account"): Endpoint(account, _w(20), USER_DATA),
    ("POST", "/api/v3/orderList/oco"): Endpoint(new_oco, _w(1), TRADE, order=True),
    ("POST", "/api/v3/order/oco"): Endpoint(new_oco_legacy, _w(1), TRADE, order=True),
    ("POST", "/api/v3/orderList/oto"): Endpoint(new_oto, _w(1), TRADE, order=True),
    ("POST", "/api/v3/orderList/otoco"): Endpoint(new_otoco, _w(1), TRADE, order=True),
    ("DELETE", "/api/v3/orderList"): Endpoint(cancel_order_list, _w(1), TRADE, order=True),
    ("GET", "/api/v3/orderList"): Endpoint(get_order_list, _w(4), USER_DATA),
    ("GET", "/api/v3/openOrderList"): Endpoint(open_order_lists, _w(6), USER_DATA),
    ("GET", "/api/v3/allOrderList"): Endpoint(all_order_lists, _w(20), USER_DATA),
    ("GET", "/api/v3/myTrades"): Endpoint(my_trades, lambda p: 5 if p.get("orderId") else 20, USER_DATA),
    ("GET", "/api/v3/rateLimit/order"): Endpoint(rate_limit_order, _w(40), USER_DATA),
    ("GET", "/api/v3/account/commission"): Endpoint(account_commission, _w(20), USER_DATA),
}
