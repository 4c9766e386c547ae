"""The C gate and the naive Decimal implementation (risk.reference) give the same answer
(reason and quantity) on random accounts, books and orders."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import event, given, settings, strategies as st

from risk import (BUY, LIMIT, MARKET, PROTECTIVE, RESIZE, SELL, STOP_LIMIT, MemoryRiskStore,
                  RiskManager)
from pyengine._core import lib
from risk.reasons import CODES
from risk.reference import from_gate, reference_check
from risk_helpers import SECOND, T0, config, rules

SYMBOLS = ("TESTUSDT", "BTCUSDT", "DOGEUSDT", "ZECUSDT")
MIDS = {"TESTUSDT": 10_000, "BTCUSDT": 6_000_000, "DOGEUSDT": 1_234, "ZECUSDT": 2_205}
TYPES = {LIMIT: "LIMIT", MARKET: "MARKET", STOP_LIMIT: "STOP_LIMIT"}


@st.composite
def scenarios(draw):
    test_rules = rules(
        tick=draw(st.sampled_from([1, 5])), step=draw(st.sampled_from([1, 10])),
        min_qty=draw(st.sampled_from([0, 10])), mkt_max_qty=draw(st.sampled_from([0, 5_000])),
        min_notional=draw(st.sampled_from([Decimal(0), Decimal(10)])),
        max_notional=draw(st.sampled_from([Decimal(0), Decimal(5_000)])),
        bid_up=draw(st.sampled_from([Decimal(0), Decimal("1.03")])),
        bid_down=draw(st.sampled_from([Decimal(0), Decimal("0.97")])),
        ask_up=draw(st.sampled_from([Decimal(0), Decimal("1.03")])),
        ask_down=draw(st.sampled_from([Decimal(0), Decimal("0.97")])))
    cfg = config(fee_pct=draw(st.sampled_from([Decimal(0), Decimal("0.1"), Decimal("0.075")])),
                 stop_slippage_pct=draw(st.sampled_from([Decimal(0), Decimal("0.1"), Decimal("0.5")])),
                 max_trade_loss_pct=draw(st.sampled_from([Decimal(1), Decimal("0.5")])),
                 max_exposure_pct=draw(st.sampled_from([Decimal(70), Decimal(30)])),
                 max_orders_per_second=3, max_orders_per_10s=8, max_orders_per_day=20,
                 symbols=("TESTUSDT", "BTCUSDT", "DOGEUSDT"))
    return test_rules, cfg


@settings(max_examples=600, deadline=None)
@given(scenarios(), st.data())
def test_gate_matches_reference(scenario, data):
    symbol_rules, cfg = scenario
    rm = RiskManager(cfg, symbol_rules, MemoryRiskStore(), wall_ns=T0,
                     initial_cash=Decimal(data.draw(st.integers(100, 10**7))))
    d = data.draw
    n = rm.native
    # a random account as the Python layer could have left it
    eq = n.equity
    n.equity = eq * d(st.integers(90, 110)) // 100
    n.day_start_equity = eq
    n.week_start_equity = eq * d(st.integers(95, 105)) // 100
    n.deployed = n.equity * d(st.integers(0, 80)) // 100
    n.open_risk_k = n.equity * d(st.integers(0, 300))
    # half the examples have a healthy book and account, so sizing decides the outcome
    healthy = d(st.booleans())
    n.state = 0 if healthy else d(st.sampled_from([0] * 8 + [1, 2]))
    head = 0 if healthy else d(st.integers(0, 20))
    now = 100 * SECOND
    times = sorted(d(st.lists(st.integers(now - 40 * SECOND, now), min_size=head, max_size=head)))
    for k, t in enumerate(times):
        n.ring[k & 63] = t
    n.ring_head = head
    n.order_day, n.day_orders = T0 // (86_400 * SECOND), d(st.sampled_from([0, 0, 0, 5, 19, 20]))
    name = d(st.sampled_from(SYMBOLS))
    i = rm.index(name) if name in rm.symbols else 0
    name = rm.symbols[i]
    r = rm.rules[i]
    s = n.sym[i]
    mid = MIDS[name]
    s.mark = mid
    s.pos_qty = d(st.sampled_from([0, 0, 1, 10, 1000, 10**6]))
    s.open_sell_qty = d(st.integers(0, s.pos_qty))
    s.pos_risk_k = n.equity * d(st.sampled_from([0, 0, 30, 99, 100]))
    s.open_buy_risk_k = n.equity * d(st.sampled_from([0, 0, 20]))
    half = 1 if healthy else d(st.sampled_from([1] * 8 + [2, 5, 0, -1]))
    bid, ask = mid - max(half, 0), mid + half
    side = d(st.sampled_from([BUY, SELL]))
    otype = d(st.sampled_from([LIMIT, LIMIT, MARKET, STOP_LIMIT]))
    price = 0 if otype == MARKET else max(1, mid * d(st.sampled_from([100] * 6 + list(range(94, 107)) + [80, 120])) // 100)
    stop = d(st.sampled_from([0, 0, 1, max(1, price * 97 // 100), max(1, mid * 99 // 100),
                              max(1, mid * 9 // 10), price]))
    qty = max(1, n.equity * d(st.integers(0, 120)) // 100 // (mid * s.quote_mul)) + d(st.integers(0, 3))
    buy_imp, sell_imp = d(st.integers(0, mid // 50)), d(st.integers(0, mid // 50))
    synced = healthy or d(st.sampled_from([True] * 12 + [False]))
    updated = now - (0 if healthy else d(st.sampled_from([0] * 6 + [5 * SECOND, 5 * SECOND + 1])))
    flags = d(st.sampled_from([0, RESIZE, PROTECTIVE, RESIZE | PROTECTIVE]))
    wall = T0 + (0 if healthy else d(st.sampled_from([0] * 8 + [3600 * SECOND, 86_400 * SECOND])))

    acct, syms = from_gate(n, rm.rules, cfg.quote_scale)
    ps, qs = r.price_scale, r.qty_scale
    want_code, want_qty = reference_check(
        acct, syms[i], "BUY" if side == BUY else "SELL", TYPES[otype], bool(flags & RESIZE),
        bool(flags & PROTECTIVE), Decimal(price).scaleb(-ps), Decimal(qty).scaleb(-qs),
        Decimal(stop).scaleb(-ps), Decimal(bid).scaleb(-ps), Decimal(ask).scaleb(-ps),
        Decimal(buy_imp).scaleb(-ps), Decimal(sell_imp).scaleb(-ps), synced, updated, now, wall)
    res = rm.result

    code = lib.pe_risk_check(n, i, side, otype, flags, price, qty, stop, bid, ask, buy_imp,
                             sell_imp, synced, updated, now, wall, res)
    event(CODES[code] + (" resized" if code == 0 and res.resized else ""))
    got_qty = Decimal(res.qty).scaleb(-qs) if code == 0 else Decimal(0)
    assert (CODES[code], got_qty) == (want_code, want_qty)
