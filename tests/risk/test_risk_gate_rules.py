"""Every gate rule at its exact boundary (the value that passes, the next one refused)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from pyengine.errors import UserError
from risk import BUY, LIMIT, MARKET, PROTECTIVE, RESIZE, SELL, STOP_LIMIT, REASON_CODES
from risk.reasons import missing_sentences
from risk_helpers import DAY, SECOND, T0, config, make, quote, rules  # noqa: F401 (make: fixture)

NOW = 10 * SECOND


def entry(rm, oid, qty, price=10_000, stop=9_000, flags=0, q=None, now=NOW, wall=T0,
          otype=LIMIT, sym="TESTUSDT"):
    return rm.check(oid, rm.index(sym), BUY, otype, price, qty, stop,
                    q or quote(10_000, now=now), now, wall, flags)


def fill_entry(rm, oid, qty, price=10_000, stop=9_000, wall=T0):
    assert entry(rm, oid, qty, price, stop, wall=wall) == 0, rm.refusals
    rm.on_fill(oid, rm.result.qty, price, wall)


def code(name):
    return REASON_CODES[name]


# ----- 1 % per trade ------------------------------------------------------------------
def test_trade_loss_099_passes_100_refused(make):
    rm = make()                                     # 10,000 USDT, no fees, no slippage
    assert entry(rm, "a", 990) == 0                 # 9.90 x (100 - 90) = 99 USDT = 0.99 %
    assert rm.result.qty == 990 and rm.result.resized == 0
    assert rm.result.risk_k == 99 * 10**8 * 10**4
    rm.on_order_done("a")
    assert entry(rm, "b", 1000) == code("TRADE_LOSS")   # 100 USDT = 1.00 %: not below 1 %


def test_trade_loss_resize_cuts_to_just_below(make):
    rm = make(config(resize_margin_pct=Decimal(0)))
    assert entry(rm, "a", 1000, flags=RESIZE) == 0
    assert rm.result.qty == 999 and rm.result.resized == 1   # 99.90 USDT


def test_resized_entries_keep_the_margin(make):
    rm = make()                                     # margin 0.05 %: cut to under 95 USDT
    assert entry(rm, "a", 1000, flags=RESIZE) == 0
    assert rm.result.qty == 949 and rm.result.resized == 1
    rm.on_order_done("a")
    assert entry(rm, "b", 990, flags=RESIZE) == 0   # under 1 % as asked: not cut
    assert rm.result.qty == 990 and rm.result.resized == 0


def test_trade_loss_includes_fees_and_slippage(make):
    rm = make(config(fee_pct=Decimal("0.1"), stop_slippage_pct=Decimal("0.1")))
    # independent arithmetic: the stop at 90.00 is expected to fill 0.09 lower (0.1 %)
    stop_exit = Decimal("90.00") - Decimal("0.09")
    per_unit = (Decimal(100) - stop_exit) + (Decimal(100) + stop_exit) * Decimal("0.001")
    assert Decimal("9.72") * per_unit < 100 <= Decimal("9.73") * per_unit
    assert entry(rm, "a", 972) == 0
    rm.on_order_done("a")
    assert entry(rm, "b", 973) == code("TRADE_LOSS")


def test_book_slippage_above_the_floor_is_used(make):
    rm = make()
    q = quote(10_000)
    q.sell_impact = 100                              # selling at the stop costs 1.00 more
    # loss per unit 11: 9.09 x 11 = 99.99 passes, 9.10 x 11 = 100.1 refused
    assert entry(rm, "a", 909, q=q) == 0
    rm.on_order_done("a")
    assert entry(rm, "b", 910, q=q) == code("TRADE_LOSS")


def test_market_entry_uses_ask_plus_impact(make):
    rm = make()
    q = quote(10_000)                                # ask 100.01
    q.buy_impact = 99                                # average fill 101.00: loss/unit 11
    assert entry(rm, "a", 909, price=0, otype=MARKET, q=q) == 0
    assert rm.result.price == 10_100
    rm.on_order_done("a")
    assert entry(rm, "b", 910, price=0, otype=MARKET, q=q) == code("TRADE_LOSS")


# ----- protective stop ----------------------------------------------------------------
def test_default_stop_is_placed_on_the_tick(make):
    rm = make(config(default_stop_pct=Decimal("2")), rules(tick=5))
    assert entry(rm, "a", 100, stop=0) == 0
    assert rm.result.stop_px == 9_800                 # 2 % under 100.00, on the 0.05 grid
    rm.on_order_done("a")
    assert entry(rm, "b", 100, price=10_005, stop=0, q=quote(10_005)) == 0
    assert rm.result.stop_px == 9_800                 # 98.049 floored to 98.00 (never above)


def test_stop_must_be_below_entry_and_on_tick(make):
    rm = make(symbol_rules=rules(tick=5))
    assert entry(rm, "a", 100, stop=10_000) == code("STOP_INVALID")
    assert entry(rm, "b", 100, stop=9_001) == code("PRICE_FILTER")
    assert entry(rm, "c", 100, stop=9_000) == 0 and rm.result.stop_px == 9_000


# ----- 70 % exposure ------------------------------------------------------------------
def test_exposure_70_passes_just_above_refused(make):
    rm = make()
    assert entry(rm, "a", 7000, stop=9_950) == 0      # 70.00 x 100 = 7000 USDT = 70 %
    rm.on_order_done("a")
    assert entry(rm, "b", 7001, stop=9_950) == code("EXPOSURE")


def test_exposure_counts_open_orders_and_positions(make):
    rm = make()
    assert entry(rm, "a", 4000, stop=9_950) == 0      # open order: 4000 USDT
    assert entry(rm, "b", 3001, stop=9_950) == code("EXPOSURE")
    rm.on_fill("a", 4000, 10_000, T0)                 # now a position of 4000 USDT
    assert entry(rm, "c", 3001, stop=9_950) == code("EXPOSURE")
    assert entry(rm, "d", 3000, stop=9_950) == 0
    assert rm.native.deployed == 7000 * 10**8


def test_exposure_resize(make):
    rm = make()
    assert entry(rm, "a", 9000, stop=9_950, flags=RESIZE) == 0
    assert rm.result.qty == 7000 and rm.result.resized


# ----- daily and weekly loss ----------------------------------------------------------
def test_day_loss_just_below_3_allows_entry_at_3_refuses_and_reduces(make):
    rm = make()
    rm.reconcile("9700.01", {}, T0)                   # 299.99 USDT lost today
    assert rm.state == "ACTIVE"
    assert entry(rm, "a", 100, stop=9_999) == 0       # risks 0.01 USDT: exactly what is left
    rm.on_order_done("a")
    assert entry(rm, "b", 101, stop=9_999) == code("LOSS_BUDGET")
    rm.reconcile("9700.00", {}, T0)                   # 300 USDT = 3 %
    assert rm.state == "REDUCING"
    assert entry(rm, "c", 1, stop=9_999) == code("REDUCING")


def test_gate_refuses_at_3_even_before_the_state_moves(make):
    rm = make()
    rm.native.equity = 9700 * 10**8                   # as if a mark arrived in C only
    assert entry(rm, "a", 1, stop=9_999) == code("DAY_LOSS")


def test_open_stop_risk_counts_against_the_budget(make):
    rm = make()
    rm.reconcile("9850", {}, T0)                      # 1.5 % lost: 150 USDT of budget left
    fill_entry(rm, "a", 900)                          # 90 USDT at risk to its stop: 60 left
    assert entry(rm, "b", 700, sym="TEST2USDT") == code("LOSS_BUDGET")  # 70 USDT > 60
    assert entry(rm, "c", 600, sym="TEST2USDT") == 0  # 60 USDT: exactly what is left


def test_one_percent_holds_for_the_whole_position_of_a_symbol(make):
    rm = make()
    fill_entry(rm, "a", 600)                          # 60 USDT at risk in TESTUSDT
    assert entry(rm, "b", 400) == code("TRADE_LOSS")  # 60 + 40 = 1.00 %: not below
    assert entry(rm, "c", 399) == 0                   # 99.90 USDT in all
    assert entry(rm, "d", 1) == code("TRADE_LOSS")    # the open buy counts too
    assert entry(rm, "e", 990, sym="TEST2USDT") == 0  # another symbol has its own 1 %


def test_reducing_lifts_at_next_day_and_week_limit_waits_for_monday(make):
    rm = make()
    rm.reconcile("9800", {}, T0)                      # Thursday: -2 %
    rm.on_clock(T0 + DAY)                             # Friday: day anchor 9800
    assert rm.native.day_start_equity == 9800 * 10**8
    rm.reconcile("9700", {}, T0 + DAY + SECOND)       # week -3 %, day -1.02 %
    assert rm.state == "REDUCING"
    rm.on_clock(T0 + 2 * DAY)                         # Saturday: still this ISO week
    assert rm.state == "REDUCING"
    assert entry(rm, "a", 1, stop=9_999, wall=T0 + 2 * DAY + SECOND) == code("REDUCING")
    rm.on_clock(T0 + 4 * DAY)                         # Monday 00:00 UTC
    assert rm.state == "ACTIVE"
    assert entry(rm, "b", 1, stop=9_999, wall=T0 + 4 * DAY + SECOND) == 0


def test_day_start_is_configurable(make):
    rm = make(config(day_start_utc="08:00"))
    rm.reconcile("9800", {}, T0)
    rm.on_clock(T0 + 7 * 3600 * SECOND)               # 07:00: same risk day
    assert rm.native.day_start_equity == 10_000 * 10**8
    rm.on_clock(T0 + 8 * 3600 * SECOND)               # 08:00: new day
    assert rm.native.day_start_equity == 9_800 * 10**8


def test_check_rolls_over_by_itself(make):
    rm = make(config(max_daily_loss_pct=Decimal("2")))
    rm.reconcile("9800", {}, T0)
    assert rm.state == "REDUCING"
    assert entry(rm, "a", 1, stop=9_999, wall=T0 + DAY) == 0   # new day: lifted in check()
    assert rm.state == "ACTIVE"


# ----- order rates --------------------------------------------------------------------
def test_orders_per_second(make):
    rm = make(config(max_orders_per_second=5))
    for k in range(5):
        assert entry(rm, f"a{k}", 1, stop=9_999, now=NOW + k) == 0
    assert entry(rm, "x", 1, stop=9_999, now=NOW + 5) == code("RATE_SECOND")
    assert entry(rm, "y", 1, stop=9_999, now=NOW + SECOND - 1) == code("RATE_SECOND")
    assert entry(rm, "z", 1, stop=9_999, now=NOW + SECOND) == 0


def test_orders_per_10s(make):
    rm = make(config(max_orders_per_second=3, max_orders_per_10s=6))
    for k in range(6):
        assert entry(rm, f"a{k}", 1, stop=9_999, now=NOW + (k // 3) * SECOND + k) == 0
    assert entry(rm, "x", 1, stop=9_999, now=NOW + 2 * SECOND + 10) == code("RATE_10S")
    assert entry(rm, "y", 1, stop=9_999, now=NOW + 10 * SECOND) == 0


def test_orders_per_day_reset_at_utc_midnight(make):
    rm = make(config(max_orders_per_day=3))
    for k in range(3):
        assert entry(rm, f"a{k}", 1, stop=9_999, now=NOW + k * SECOND) == 0
    assert entry(rm, "x", 1, stop=9_999, now=NOW + 5 * SECOND) == code("RATE_DAY")
    assert entry(rm, "y", 1, stop=9_999, now=NOW + 6 * SECOND, wall=T0 + DAY) == 0


def test_protective_exits_are_never_rate_limited(make):
    rm = make(config(max_orders_per_second=1, max_orders_per_10s=1))
    fill_entry(rm, "a", 500, stop=9_900)
    assert entry(rm, "b", 1, stop=9_999, now=NOW + 1) == code("RATE_SECOND")
    i = rm.index("TESTUSDT")
    assert rm.check("s", i, SELL, MARKET, 0, 500, 0, quote(10_000), NOW + 2, T0, PROTECTIVE) == 0


def test_config_refuses_rates_at_binance_limits():
    from risk import RiskConfigError
    with pytest.raises(RiskConfigError, match="max_orders_per_10s"):
        config(max_orders_per_10s=50)
    with pytest.raises(RiskConfigError, match="max_orders_per_day"):
        config(max_orders_per_day=160_000)


# ----- fat finger, stale and out-of-sync data -----------------------------------------
def test_price_band_against_mid(make):
    rm = make(config(price_band_pct=Decimal("5")))
    q = quote(10_000)                                 # mid exactly 100.00
    assert entry(rm, "a", 10, price=10_500, stop=10_400, q=q) == 0
    assert entry(rm, "b", 10, price=10_501, stop=10_400, q=q) == code("PRICE_BAND")
    assert entry(rm, "c", 10, price=8_000, stop=7_900, q=q) == 0   # passive: cannot fill badly
    fill_entry(rm, "p", 500)
    i = rm.index("TESTUSDT")
    assert rm.check("s1", i, SELL, LIMIT, 9_500, 100, 0, q, NOW, T0) == 0
    assert rm.check("s2", i, SELL, LIMIT, 9_499, 100, 0, q, NOW, T0) == code("PRICE_BAND")
    assert rm.check("s3", i, SELL, LIMIT, 12_000, 100, 0, q, NOW, T0) == 0   # take-profit
    assert rm.check("s4", i, SELL, LIMIT, 9_499, 100, 0, q, NOW, T0, PROTECTIVE) == 0


def test_stale_and_out_of_sync_books(make):
    rm = make(config(stale_ms=5000))
    now = 100 * SECOND
    q = quote(10_000, now=now - 5 * SECOND)
    assert entry(rm, "a", 10, q=q, now=now) == 0
    q.updated_ns -= 1
    assert entry(rm, "b", 10, q=q, now=now) == code("STALE")
    q = quote(10_000, now=now)
    q.synced = False
    assert entry(rm, "c", 10, q=q, now=now) == code("BOOK")
    q = quote(10_000, now=now)
    q.bid = q.ask                                     # crossed/locked book
    assert entry(rm, "d", 10, q=q, now=now) == code("BOOK")


# ----- exchange filters ---------------------------------------------------------------
@pytest.mark.parametrize("overrides,good,bad,name", [
    (dict(tick=5), dict(price=10_005, stop=9_000), dict(price=10_001, stop=9_000), "PRICE_FILTER"),
    (dict(step=10, min_qty=10), dict(qty=110), dict(qty=105), "LOT_SIZE"),
    (dict(min_qty=50), dict(qty=50), dict(qty=49), "LOT_SIZE"),
    (dict(min_notional=Decimal("10")), dict(qty=10), dict(qty=9), "MIN_NOTIONAL"),
    (dict(max_notional=Decimal("900")), dict(qty=900), dict(qty=901), "MAX_NOTIONAL"),
    (dict(bid_up=Decimal("1.02"), bid_down=Decimal("0.2")), dict(price=10_200, stop=10_100),
     dict(price=10_201, stop=10_100), "PERCENT_PRICE"),
])
def test_exchange_filters(make, overrides, good, bad, name):
    rm = make(symbol_rules=rules(**overrides))
    assert entry(rm, "a", **{"qty": 100, **good}) == 0
    rm.on_order_done("a")
    assert entry(rm, "b", **{"qty": 100, **bad}) == code(name)


def test_market_lot_size_applies_to_market_orders_only(make):
    rm = make(symbol_rules=rules(mkt_max_qty=100))
    assert entry(rm, "a", 101, stop=9_900) == 0
    assert entry(rm, "b", 101, price=0, stop=9_900, otype=MARKET) == code("MARKET_LOT_SIZE")


# ----- allow-list and spot-only -------------------------------------------------------
def test_symbol_allow_list_blocks_entries_but_not_exits(make, tmp_path):
    path = str(tmp_path / "allow.db")
    rm = make(path=path)
    fill_entry(rm, "a", 500)
    reopened = make(config(symbols=("BTCUSDT",)), path=path)
    i = reopened.index("TESTUSDT")                    # still known: a position is held
    assert reopened.check("b", i, BUY, LIMIT, 10_000, 1, 9_999, quote(10_000), NOW, T0) == code("SYMBOL")
    assert reopened.check("c", i, SELL, LIMIT, 10_000, 500, 0, quote(10_000), NOW, T0) == 0
    with pytest.raises(UserError, match="unknown symbol"):
        reopened.index("DOGEUSDT")


def test_no_short_and_no_oversell(make):
    rm = make()
    i = rm.index("TESTUSDT")
    q = quote(10_000)
    assert rm.check("s0", i, SELL, LIMIT, 10_000, 1, 0, q, NOW, T0) == code("SHORT")
    fill_entry(rm, "a", 500)
    assert rm.check("s1", i, SELL, LIMIT, 10_000, 501, 0, q, NOW, T0) == code("OVERSELL")
    assert rm.check("s2", i, SELL, LIMIT, 10_000, 300, 0, q, NOW, T0) == 0
    # 300 already being sold: only 200 left
    assert rm.check("s3", i, SELL, LIMIT, 10_000, 201, 0, q, NOW, T0) == code("OVERSELL")
    assert rm.check("s4", i, SELL, LIMIT, 10_000, 200, 0, q, NOW, T0) == 0
    rm.on_order_done("s2")
    assert rm.check("s5", i, SELL, MARKET, 0, 300, 0, q, NOW, T0) == 0


def test_exchange_stop_order_checks(make):
    rm = make(config(stop_mode="exchange"))
    i = rm.index("TESTUSDT")
    assert entry(rm, "a", 500) == 0
    actions = rm.on_fill("a", 500, 10_000, T0)
    assert [(a.kind, a.qty, a.stop_px) for a in actions] == [("stop", 500, 9_000)]
    stop = actions[0]
    assert rm.check("st", i, SELL, STOP_LIMIT, stop.price, stop.qty, stop.stop_px,
                    quote(10_000), NOW, T0, PROTECTIVE) == 0
    # the stop holds the coins: a strategy exit must cancel it first
    assert rm.check("x", i, SELL, LIMIT, 10_000, 1, 0, quote(10_000), NOW, T0) == code("OVERSELL")


# ----- kill switch --------------------------------------------------------------------
def test_halt_allows_only_protective_exits_until_an_operator_resumes(make):
    rm = make(config(flatten_on_halt=True))
    fill_entry(rm, "a", 500)
    i = rm.index("TESTUSDT")
    actions = rm.halt("test", "pytest", T0)
    assert [a.kind for a in actions] == ["cancel_all", "exit"] and actions[1].qty == 500
    assert rm.state == "HALTED"
    assert entry(rm, "b", 1, stop=9_999) == code("HALTED")
    assert rm.check("c", i, SELL, LIMIT, 10_000, 100, 0, quote(10_000), NOW, T0) == code("HALTED")
    rm.on_clock(T0 + 7 * DAY)                          # boundaries never lift HALTED
    assert rm.state == "HALTED"
    assert rm.check("d", i, SELL, MARKET, 0, 500, 0, quote(10_000), NOW, T0 + 7 * DAY,
                    PROTECTIVE) == 0
    rm.resume("pytest", T0 + 7 * DAY)
    assert rm.state == "ACTIVE"
    with pytest.raises(UserError, match="not HALTED"):
        rm.resume("pytest", T0 + 7 * DAY)


def test_operator_cannot_lift_reducing(make):
    rm = make()
    rm.reconcile("9600", {}, T0)
    with pytest.raises(UserError, match="REDUCING lifts by itself"):
        rm.resume("pytest", T0)


# ----- engine-side stops and trimming -------------------------------------------------
def test_engine_stop_hit_asks_for_an_exit(make):
    rm = make()
    fill_entry(rm, "a", 500, stop=9_000)
    i = rm.index("TESTUSDT")
    assert rm.on_mark(i, 9_001, T0) == []
    (action,) = rm.on_mark(i, 9_000, T0)
    assert (action.kind, action.qty, action.reason) == ("exit", 500, "STOP_HIT")
    assert rm.check("x", i, SELL, MARKET, 0, 500, 0, quote(9_000), NOW, T0, PROTECTIVE) == 0
    assert rm.on_mark(i, 8_900, T0) == []             # the exit is in flight


def test_position_risk_trimmed_when_equity_shrinks(make):
    rm = make()
    fill_entry(rm, "a", 990, stop=9_000)              # 99 USDT at risk = 0.99 %
    rm.reconcile("8000", {"TESTUSDT": (990, 10_000)}, T0)   # a loss elsewhere: equity 8990
    i = rm.index("TESTUSDT")
    (action,) = rm.on_mark(i, 10_000, T0)
    # 1 % of 8990 is 89.90: keep 8.98 (89.80 at risk), sell 0.92
    assert (action.kind, action.reason, action.qty) == ("exit", "TRIM", 92)
    assert rm.check("t", i, SELL, MARKET, 0, 92, 0, quote(10_000), NOW, T0, PROTECTIVE) == 0
    rm.on_fill("t", 92, 10_000, T0)
    assert rm.native.sym[i].pos_qty == 898
    assert rm.on_mark(i, 10_000, T0) == []


# ----- explainability -----------------------------------------------------------------
def test_every_code_has_a_sentence():
    assert missing_sentences() == []


def test_refusals_are_explained_journaled_and_counted(make):
    events = []
    rm = make(events=events)
    assert entry(rm, "b", 1000) == code("TRADE_LOSS")
    assert entry(rm, "c", 1000, now=NOW + 1) == code("TRADE_LOSS")   # same second: deduped
    rm.flush_events()
    refusals = [e for e in events if e.kind == "refusal"]
    assert len(refusals) == 1 and rm.refusals["TRADE_LOSS"] == 2
    e = refusals[0]
    assert e.code == "TRADE_LOSS" and e.symbol == "TESTUSDT"
    assert "100.00 USDT = 1.000 % of equity 10000.00 USDT" in e.message
    assert "less than 1.000 %" in e.message
    stored = rm._store.events()
    assert [x.code for x in stored if x.kind == "refusal"] == ["TRADE_LOSS"]


def test_unknown_fill_and_duplicate_id_are_errors(make):
    rm = make()
    assert entry(rm, "a", 10) == 0
    with pytest.raises(ValueError, match="already open"):
        entry(rm, "a", 10)
    with pytest.raises(KeyError, match="unknown order"):
        rm.on_fill("zz", 1, 10_000, T0)
    with pytest.raises(ValueError, match="bad fill"):
        rm.on_fill("a", 11, 10_000, T0)


def test_winners_are_not_trimmed_for_trade_risk_but_exposure_is_capped(make):
    rm = make()
    fill_entry(rm, "a", 7000, stop=9_950)             # 70 % deployed, 35 USDT at risk
    i = rm.index("TESTUSDT")
    (action,) = rm.on_mark(i, 11_000, T0)             # +10 %: 7700 of 10700 = 72 %
    # 70 % of 10700 is 7490: sell ceil(210 / 110) = 1.91 units, nothing for trade risk
    assert (action.kind, action.reason, action.qty) == ("exit", "EXPOSURE", 191)
    assert rm.check("e", i, SELL, MARKET, 0, 191, 0, quote(11_000), NOW, T0, PROTECTIVE) == 0
    rm.on_fill("e", 191, 11_000, T0)
    assert rm.native.deployed * 100 <= rm.native.equity * 70
    assert rm.on_mark(i, 11_000, T0) == []


def test_open_entries_are_cancelled_when_equity_falls_under_them(make):
    rm = make()
    assert entry(rm, "a", 6900, stop=9_950) == 0      # 6900 USDT reserved of 10000
    rm.reconcile("9000", {}, T0)                      # equity 9000: cap 6300
    (action,) = rm.on_mark(rm.index("TESTUSDT"), 10_000, T0)
    assert (action.kind, action.order_id, action.reason) == ("cancel", "a", "EXPOSURE")


# ----- the quote straight from the C book ---------------------------------------------
def _book(bids, asks):
    from pyengine._core import lib
    b = lib.pe_book_new(2, 2)
    lib.pe_book_snapshot_begin(b, 1)
    for side, levels in ((lib.PE_BID, bids), (lib.PE_ASK, asks)):
        for px, qty in levels:
            assert lib.pe_book_snapshot_level(b, side, px, qty) == 0
    assert lib.pe_book_snapshot_end(b) == 0
    assert lib.pe_book_diff_begin(b, 2, 2) == 0 and lib.pe_book_diff_end(b) == 0
    return b


def test_check_book_prices_a_market_order_from_the_levels(make):
    from pyengine._core import lib
    rm = make()
    i = rm.index("TESTUSDT")
    b = _book(bids=[(9_999, 100), (9_990, 500)], asks=[(10_001, 100), (10_005, 100)])
    assert rm.check_book("a", i, BUY, MARKET, 0, 150, 9_000, b, NOW, NOW, T0) == 0
    # 1.00 at 100.01 + 0.50 at 100.05: average 100.0233 -> 100.03
    assert rm.result.price == 10_003
    risk_k = rm.result.risk_k
    rm.on_order_done("a")
    # the same check with the equivalent plain quote gives the same answer
    q = quote(10_000)
    q.buy_impact, q.sell_impact = 2, 3           # sell 1.50: 1.00 at 99.99 + 0.50 at 99.90
    assert entry(rm, "b", 150, price=0, otype=MARKET, q=q) == 0
    assert (rm.result.price, rm.result.risk_k) == (10_003, risk_k)
    rm.on_order_done("b")
    # beyond the visible depth the rest is priced at the worst level: 300.11 / 3 -> 100.04
    assert rm.check_book("c", i, BUY, MARKET, 0, 300, 9_000, b, NOW, NOW, T0) == 0
    assert rm.result.price == 10_004
    lib.pe_book_invalidate(b)
    assert rm.check_book("d", i, BUY, MARKET, 0, 100, 9_000, b, NOW, NOW, T0) == code("BOOK")
    lib.pe_book_free(b)
