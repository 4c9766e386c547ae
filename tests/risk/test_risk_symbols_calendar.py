"""Exchange filters read exactly from exchangeInfo; day and ISO-week boundaries."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from pyengine.bundled import EXCHANGE_INFO
from pyengine.errors import UserError
from risk import load_exchange_info
from risk.calendar import day_index, next_day_start, week_index
from risk.config import day_start_offset_ns
from risk.symbols import rules_from_symbol


def test_bundled_exchange_info():
    rules = load_exchange_info(EXCHANGE_INFO)
    assert set(rules) == {"BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "ZECUSDT"}
    btc = rules["BTCUSDT"]
    assert (btc.price_scale, btc.qty_scale, btc.tick, btc.step, btc.min_qty) == (2, 5, 1, 1, 1)
    assert btc.min_notional == Decimal("10") and btc.min_notional_market
    assert (btc.bid_up, btc.bid_down) == (Decimal(5), Decimal("0.2"))
    assert btc.mkt_max_qty == 10_005_381           # 100.05381873 floored to the step
    doge = rules["DOGEUSDT"]
    assert (doge.price_scale, doge.qty_scale, doge.tick, doge.step) == (4, 0, 1, 1)
    assert btc.price("61234.56") == 6_123_456
    with pytest.raises(UserError, match="more than 2 decimals"):
        btc.price("1.001")


def test_current_filter_kinds():
    # the 2026 filter set from the protocol digest: NOTIONAL and PERCENT_PRICE_BY_SIDE
    r = rules_from_symbol({"symbol": "ETHBTC", "status": "TRADING", "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.00000100", "maxPrice": "100000.00000000",
         "tickSize": "0.00000100"},
        {"filterType": "LOT_SIZE", "minQty": "0.00010000", "maxQty": "100000.00000000",
         "stepSize": "0.00010000"},
        {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5", "bidMultiplierDown": "0.2",
         "askMultiplierUp": "4", "askMultiplierDown": "0.3", "avgPriceMins": 5},
        {"filterType": "NOTIONAL", "minNotional": "0.00010000", "applyMinToMarket": True,
         "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5}]})
    assert (r.price_scale, r.qty_scale, r.tick, r.min_qty) == (6, 4, 1, 1)
    assert (r.ask_up, r.ask_down) == (Decimal(4), Decimal("0.3"))
    assert r.max_notional == Decimal("9000000") and not r.max_notional_market


def test_malformed_symbol_is_a_clear_error():
    with pytest.raises(UserError, match="PRICE_FILTER and LOT_SIZE are required"):
        rules_from_symbol({"symbol": "X", "filters": []})
    with pytest.raises(UserError, match="malformed filter"):
        rules_from_symbol({"symbol": "X", "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "a", "maxPrice": "1", "tickSize": "0.1"},
            {"filterType": "LOT_SIZE", "minQty": "1", "maxQty": "1", "stepSize": "1"}]})


@given(st.integers(0, 4_000_000_000).map(lambda s: s * 1_000_000_000 + 123),
       st.sampled_from(["00:00", "08:00", "23:30"]))
def test_days_and_iso_weeks_match_the_calendar(wall, start):
    offset = day_start_offset_ns(start)
    shifted = dt.datetime.fromtimestamp((wall - offset) // 10**9, dt.timezone.utc)
    assert day_index(wall, offset) == (shifted.date() - dt.date(1970, 1, 1)).days
    iso = shifted.isocalendar()
    monday = dt.date.fromisocalendar(iso.year, iso.week, 1)
    assert week_index(wall, offset) == (monday - dt.date(1970, 1, 5)).days // 7
    nxt = next_day_start(wall, offset)
    assert 0 < nxt - wall <= 86_400 * 10**9 and day_index(nxt, offset) == day_index(wall, offset) + 1
