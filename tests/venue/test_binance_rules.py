"""exchangeInfo-driven formatting and client-side filter checks (digest 5.4, 6.2, 8.1)."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from pyengine import bundled
from pyengine.venue.binance.errors import FilterError
from pyengine.venue.binance.orders import Order
from pyengine.venue.binance.rules import ExchangeRules, SymbolRules, formatter

RULES = ExchangeRules(bundled.exchange_info())
BTC = RULES["BTCUSDT"]          # tick 0.01 (scale 2), step 0.000001 (scale 6)

# The digest's section 6.1 example symbol: the 2024+ filter set.
ETHBTC = SymbolRules({
    "symbol": "ETHBTC", "status": "TRADING", "baseAsset": "ETH", "quoteAsset": "BTC",
    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                   "TAKE_PROFIT_LIMIT"],
    "icebergAllowed": True, "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True,
    "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.00000100", "maxPrice": "100000.00000000", "tickSize": "0.00000100"},
        {"filterType": "LOT_SIZE", "minQty": "0.00010000", "maxQty": "100000.00000000", "stepSize": "0.00010000"},
        {"filterType": "ICEBERG_PARTS", "limit": 10},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "2000.00000000", "stepSize": "0.00000000"},
        {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
         "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000},
        {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5", "bidMultiplierDown": "0.2",
         "askMultiplierUp": "5", "askMultiplierDown": "0.2", "avgPriceMins": 5},
        {"filterType": "NOTIONAL", "minNotional": "0.00010000", "applyMinToMarket": True,
         "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
    ]})


def rejected(rules, order, **kw) -> tuple[int, str]:
    with pytest.raises(FilterError) as exc:
        rules.check(order, **kw)
    assert exc.value.local
    return exc.value.code, exc.value.msg


def limit(qty, price, side="BUY", **kw) -> Order:
    return Order("BTCUSDT", side, "LIMIT", quantity=qty, price=price, time_in_force="GTC", **kw)


def test_formatting_exact_to_tick_and_step():
    assert BTC.spec.price_scale == 2 and BTC.spec.qty_scale == 6
    assert BTC.fmt_price(2_999_901) == "29999.01"
    assert BTC.fmt_price(5) == "0.05"
    assert BTC.fmt_qty(1) == "0.000001"
    assert BTC.fmt_qty(12_345_678) == "12.345678"
    assert formatter(0)(42) == "42"
    assert formatter(3)(-1500) == "-1.500"
    assert BTC.params(limit(1_000, 3_000_000, client_order_id="abc")) == [
        ("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
        ("quantity", "0.001000"), ("price", "30000.00"), ("newClientOrderId", "abc")]


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=10))
def test_formatter_round_trips_through_decimal(v, scale):
    s = formatter(scale)(v)
    assert Decimal(s).scaleb(scale) == v
    assert (len(s.split(".")[1]) if "." in s else 0) == scale


def test_valid_order_passes():
    BTC.check(limit(1_000, 3_000_000))      # 0.001 BTC at 30000 = 30 USDT >= 10


def test_price_filter_tick_and_bounds():
    odd_tick = SymbolRules({**ETHBTC_ENTRY, "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.05", "maxPrice": "1000", "tickSize": "0.05"},
        {"filterType": "LOT_SIZE", "minQty": "1", "maxQty": "10", "stepSize": "1"}]})
    o = Order("ETHBTC", "BUY", "LIMIT", quantity=1, price=103, time_in_force="GTC")
    assert rejected(odd_tick, o) == (-1013, "Filter failure: PRICE_FILTER")
    odd_tick.check(Order("ETHBTC", "BUY", "LIMIT", quantity=1, price=105, time_in_force="GTC"))
    assert rejected(BTC, limit(1_000, 100_000_001)) == (-1013, "Filter failure: PRICE_FILTER")
    assert rejected(BTC, limit(1_000, 0)) == (-1013, "Filter failure: PRICE_FILTER")


ETHBTC_ENTRY = {"symbol": "ETHBTC", "status": "TRADING", "orderTypes": ["LIMIT"]}


def test_lot_size_and_market_lot_size():
    assert rejected(BTC, limit(9, 3_000_000)) == (-1013, "Filter failure: LOT_SIZE")    # < minQty 0.00001
    assert rejected(BTC, limit(9_000_000_001, 100)) == (-1013, "Filter failure: LOT_SIZE")
    mkt = Order("BTCUSDT", "SELL", "MARKET", quantity=100_053_819)   # > MARKET_LOT_SIZE max 100.05381873
    assert rejected(BTC, mkt) == (-1013, "Filter failure: MARKET_LOT_SIZE")
    BTC.check(Order("BTCUSDT", "SELL", "MARKET", quantity=100_053_818))


def test_min_notional_limit_and_market():
    assert rejected(BTC, limit(100, 3_000_000)) == (-1013, "Filter failure: MIN_NOTIONAL")  # 3 USDT
    small_mkt = Order("BTCUSDT", "BUY", "MARKET", quantity=100)
    BTC.check(small_mkt)                               # no reference price: left to the exchange
    assert rejected(BTC, small_mkt, ref_price=3_000_000) == (-1013, "Filter failure: MIN_NOTIONAL")
    assert rejected(BTC, Order("BTCUSDT", "BUY", "MARKET", quote_qty=999)) == (-1013, "Filter failure: MIN_NOTIONAL")
    BTC.check(Order("BTCUSDT", "BUY", "MARKET", quote_qty=1000))


def test_percent_price_and_by_side():
    o = limit(1_000, 3_000_000)
    assert rejected(BTC, o, ref_price=500_000) == (-1013, "Filter failure: PERCENT_PRICE")  # > 5x
    BTC.check(o, ref_price=600_000)                    # exactly 5x is allowed
    e = Order("ETHBTC", "SELL", "LIMIT", quantity=10_000, price=1_000, time_in_force="GTC")
    assert rejected(ETHBTC, e, ref_price=5_001) == (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE")
    ETHBTC.check(e, ref_price=5_000)


def test_notional_max_not_applied_to_market():
    big = Order("ETHBTC", "BUY", "LIMIT", quantity=100_000 * 10_000, price=100_000 * 10**6, time_in_force="GTC")
    assert rejected(ETHBTC, big) == (-1013, "Filter failure: NOTIONAL")


def test_iceberg_and_trailing_delta():
    ice = Order("ETHBTC", "BUY", "LIMIT", quantity=100_000, price=50_000, time_in_force="GTC", iceberg_qty=1_000)
    assert rejected(ETHBTC, ice) == (-1013, "Filter failure: ICEBERG_PARTS")        # 100 parts > 10
    ETHBTC.check(Order("ETHBTC", "BUY", "LIMIT", quantity=100_000, price=50_000, time_in_force="GTC",
                       iceberg_qty=10_000))
    assert rejected(ETHBTC, Order("ETHBTC", "BUY", "LIMIT", quantity=10_000, price=50_000,
                                  time_in_force="IOC", iceberg_qty=5_000))[0] == -1014
    assert rejected(ETHBTC, Order("ETHBTC", "BUY", "LIMIT", quantity=10_000, price=50_000,
                                  time_in_force="GTC", iceberg_qty=10_000)) == (-2010, "IcebergQty exceeds QTY.")
    stop = Order("ETHBTC", "SELL", "STOP_LOSS", quantity=10_000, trailing_delta=5)
    assert rejected(ETHBTC, stop) == (-1013, "Filter failure: TRAILING_DELTA")
    ETHBTC.check(Order("ETHBTC", "SELL", "STOP_LOSS", quantity=10_000, trailing_delta=50))
    assert rejected(BTC, Order("BTCUSDT", "SELL", "STOP_LOSS_LIMIT", quantity=1_000, price=3_000_000,
                               stop_price=3_000_000, time_in_force="GTC", trailing_delta=50)) == \
        (-2010, "Trailing stop orders are not supported for this symbol.")


def test_parameter_matrix_messages():
    assert rejected(BTC, Order("BTCUSDT", "BUY", "LIMIT", quantity=1_000, price=3_000_000)) == \
        (-1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.")
    assert rejected(BTC, Order("BTCUSDT", "BUY", "MARKET", quantity=1_000, price=3_000_000)) == \
        (-1106, "Parameter 'price' sent when not required.")
    assert rejected(BTC, Order("BTCUSDT", "BUY", "LIMIT_MAKER", quantity=1_000, price=3_000_000,
                               time_in_force="GTC")) == (-1114, "TimeInForce parameter sent when not required.")
    assert rejected(BTC, Order("BTCUSDT", "BUY", "MARKET")) == \
        (-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
    assert rejected(BTC, Order("BTCUSDT", "BUY", "MARKET", quantity=1, quote_qty=1))[0] == -1106
    assert rejected(BTC, Order("BTCUSDT", "BUY", "STOP_LOSS_LIMIT", quantity=1_000, price=3_000_000,
                               time_in_force="GTC")) == \
        (-1102, "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!")
    assert rejected(BTC, Order("BTCUSDT", "BUY", "LIMT", quantity=1)) == (-1116, "Invalid orderType.")
    assert rejected(BTC, Order("BTCUSDT", "buy", "LIMIT")) == (-1117, "Invalid side.")
    assert rejected(BTC, limit(1_000, 3_000_000, client_order_id="bad id!"))[0] == -1100
    assert rejected(BTC, Order("BTCUSDT", "BUY", "STOP_LOSS", quantity=1_000, stop_price=3_000_000)) == \
        (-2010, "Stop loss orders are not supported for this symbol.")
    with pytest.raises(TypeError, match="scaled int"):
        BTC.check(Order("BTCUSDT", "BUY", "LIMIT", quantity=0.5, price=3_000_000, time_in_force="GTC"))


def test_status_counts_and_unknown_symbol():
    closed = SymbolRules({**bundled.exchange_info()["symbols"][0], "status": "HALT"})
    assert rejected(closed, limit(1_000, 3_000_000)) == (-2010, "Market is closed.")
    assert rejected(BTC, limit(1_000, 3_000_000), open_orders=200) == (-2010, "Filter failure: MAX_NUM_ORDERS")
    BTC.check(limit(1_000, 3_000_000), open_orders=199)
    s = Order("ETHBTC", "SELL", "STOP_LOSS", quantity=10_000, stop_price=50_000)
    assert rejected(ETHBTC, s, open_algo_orders=5) == (-2010, "Filter failure: MAX_NUM_ALGO_ORDERS")
    with pytest.raises(FilterError, match="Invalid symbol"):
        RULES["NOPEUSDT"]


def test_open_order_counts_follow_events_and_resets():
    from pyengine.venue.binance.client import OpenOrders
    oo = OpenOrders()
    oo.seen("BTCUSDT", 1, None, "LIMIT")                       # ACK: open until told otherwise
    oo.seen("BTCUSDT", 2, "NEW", "STOP_LOSS_LIMIT")
    oo.seen("ETHUSDT", 1, "NEW", "LIMIT")                      # ids are per symbol
    assert oo.count("BTCUSDT") == (2, 1, 3) and oo.count("ETHUSDT") == (1, 0, 3)
    oo.on_event({"e": "executionReport", "s": "BTCUSDT", "i": 2, "X": "PARTIALLY_FILLED", "o": "STOP_LOSS_LIMIT"})
    assert oo.count("BTCUSDT") == (2, 1, 3)
    oo.on_event({"e": "executionReport", "s": "BTCUSDT", "i": 2, "X": "FILLED", "o": "STOP_LOSS_LIMIT"})
    oo.on_event({"e": "outboundAccountPosition", "B": []})
    assert oo.count("BTCUSDT") == (1, 0, 2)
    oo.reset([{"symbol": "SOLUSDT", "orderId": 9, "status": "NEW", "type": "TAKE_PROFIT_LIMIT"}])
    assert oo.count("BTCUSDT") == (0, 0, 1) and oo.count("SOLUSDT") == (1, 1, 1)
