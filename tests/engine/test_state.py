import dataclasses
from decimal import Decimal as D

import pytest
from hypothesis import given, settings, strategies as st

from pyengine.journal import DuplicateIntent, Journal
from pyengine.state import (Fill, IllegalTransition, Order, OrderFact, OrderStatus, Portfolio,
                            StateManager, balances_from_account,
                            balances_from_account_position, fact_from_execution_report,
                            fact_from_order_query, fill_from_my_trade,
                            fills_from_order_response)
from pyengine.state.orders import LEGAL, check_transition

S = OrderStatus
ASSETS = {"BTCUSDT": ("BTC", "USDT"), "ETHUSDT": ("ETH", "USDT")}


def order(coid="c1", side="BUY", qty="1", price="100", strategy="ema", symbol="BTCUSDT"):
    return Order(client_order_id=coid, strategy_id=strategy, symbol=symbol, side=side,
                 type="LIMIT", qty=D(qty), price=D(price))


def fact(status, t, executed="0", coid="c1", order_id=11, source="ws", quote="0"):
    return OrderFact(symbol="BTCUSDT", client_order_id=coid, status=status, update_time_ms=t,
                     executed_qty=D(executed), cum_quote=D(quote), source=source,
                     order_id=order_id)


def fill(trade_id, qty, price, side="BUY", fee="0", fee_asset="USDT", coid="c1", symbol="BTCUSDT",
         order_id=11):
    return Fill(symbol=symbol, trade_id=trade_id, client_order_id=coid, order_id=order_id,
                side=side, price=D(price), qty=D(qty), commission=D(fee),
                commission_asset=fee_asset, time_ms=trade_id)


# ------------------------------------------------------------------ status machine

def test_terminal_statuses_never_move():
    for terminal in (S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED):
        assert terminal.is_terminal and not LEGAL[terminal]
        for other in S:
            if other is not terminal:
                with pytest.raises(IllegalTransition):
                    check_transition("x", terminal, other)


@pytest.mark.parametrize("old,new", [(S.NEW, S.PENDING_NEW), (S.NEW, S.REJECTED),
                                     (S.PARTIALLY_FILLED, S.NEW), (S.UNKNOWN, S.PENDING_NEW),
                                     (S.UNKNOWN, S.UNKNOWN.PENDING_NEW)])
def test_illegal_transitions(old, new):
    with pytest.raises(IllegalTransition, match=f"{old.value} -> {new.value}"):
        check_transition("x", old, new)


@pytest.mark.parametrize("old,new", [(S.PENDING_NEW, S.NEW), (S.PENDING_NEW, S.FILLED),
                                     (S.PENDING_NEW, S.UNKNOWN), (S.UNKNOWN, S.FILLED),
                                     (S.UNKNOWN, S.REJECTED), (S.NEW, S.UNKNOWN),
                                     (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
                                     (S.NEW, S.EXPIRED)])
def test_legal_transitions(old, new):
    check_transition("x", old, new)


def test_binance_status_names():
    assert S.from_binance("EXPIRED_IN_MATCH") is S.EXPIRED
    assert S.from_binance("PARTIALLY_FILLED") is S.PARTIALLY_FILLED
    with pytest.raises(ValueError):
        S.from_binance("BOGUS")


# ------------------------------------------------------------------ newest wins

def test_facts_merge_newest_wins_regardless_of_arrival_order():
    sm = StateManager(Portfolio(ASSETS))
    sm.submit(order())
    assert sm.orders["c1"].status is S.PENDING_NEW
    assert sm.apply_order_fact(fact(S.PARTIALLY_FILLED, 20, "0.5"))
    assert not sm.apply_order_fact(fact(S.NEW, 10, source="rest"))      # late response
    assert sm.orders["c1"].status is S.PARTIALLY_FILLED and sm.stale_facts == 1
    # same exchange time (one taker match): more filled wins
    assert sm.apply_order_fact(fact(S.FILLED, 20, "1", source="query"))
    assert not sm.apply_order_fact(fact(S.PARTIALLY_FILLED, 20, "0.5"))  # replayed event
    assert not sm.apply_order_fact(fact(S.FILLED, 20, "1", source="ws"))  # same fact again
    o = sm.orders["c1"]
    assert (o.status, o.executed_qty, o.order_id) == (S.FILLED, D("1"), 11)
    assert sm.order_by_exchange_id("BTCUSDT", 11) is o


def test_newer_illegal_fact_is_an_anomaly_not_applied():
    sm = StateManager(Portfolio(ASSETS))
    sm.submit(order())
    sm.apply_order_fact(fact(S.CANCELED, 10))
    assert not sm.apply_order_fact(fact(S.NEW, 30))
    assert sm.orders["c1"].status is S.CANCELED
    assert "CANCELED -> NEW" in sm.anomalies[0]
    assert not sm.apply_order_fact(fact(S.NEW, 30, coid="nobody", order_id=99))
    assert "unknown order nobody" in sm.anomalies[1]


def test_unknown_is_resolved_by_any_exchange_fact():
    sm = StateManager(Portfolio(ASSETS))
    sm.submit(order())
    sm.apply_order_fact(fact(S.NEW, 10))
    sm.mark_unknown("c1", "-1007 timeout on cancel")
    assert sm.orders["c1"].status is S.UNKNOWN
    assert sm.apply_order_fact(fact(S.NEW, 10, source="query"))       # same time, resolves
    assert sm.orders["c1"].status is S.NEW


def test_submit_refuses_a_known_id():
    sm = StateManager(Portfolio(ASSETS))
    sm.submit(order())
    with pytest.raises(DuplicateIntent):
        sm.submit(order())


# ------------------------------------------------------------------ parsers

def test_execution_report_parsing():
    ev = {"e": "executionReport", "E": 1, "s": "BTCUSDT", "c": "pe1", "S": "BUY", "o": "LIMIT",
          "f": "GTC", "q": "1.00000000", "p": "100.00", "P": "0", "F": "0", "g": -1, "C": "",
          "x": "TRADE", "X": "PARTIALLY_FILLED", "r": "NONE", "i": 5, "l": "0.4", "z": "0.4",
          "L": "99.5", "n": "0.0004", "N": "BTC", "T": 1000, "t": 77, "I": 9, "w": True,
          "m": True, "M": True, "O": 900, "Z": "39.8", "Y": "39.8", "Q": "0"}
    f, tr = fact_from_execution_report(ev)
    assert (f.client_order_id, f.status, f.update_time_ms, f.executed_qty, f.order_id) == \
        ("pe1", S.PARTIALLY_FILLED, 1000, D("0.4"), 5)
    assert (tr.trade_id, tr.qty, tr.price, tr.commission_asset, tr.is_maker) == \
        (77, D("0.4"), D("99.5"), "BTC", True)
    cancel = dict(ev, x="CANCELED", X="CANCELED", c="cancel-id", C="pe1", t=-1)
    f, tr = fact_from_execution_report(cancel)
    assert f.client_order_id == "pe1" and f.status is S.CANCELED and tr is None


def test_full_order_response_parsing():
    resp = {"symbol": "BTCUSDT", "orderId": 28, "orderListId": -1, "clientOrderId": "pe1",
            "transactTime": 1507725176595, "price": "0.00000000", "origQty": "10.00000000",
            "executedQty": "10.00000000", "origQuoteOrderQty": "0.000000",
            "cummulativeQuoteQty": "10.00000000", "status": "FILLED", "timeInForce": "GTC",
            "type": "MARKET", "side": "SELL", "workingTime": 1507725176595,
            "selfTradePreventionMode": "NONE",
            "fills": [{"price": "4000.00000000", "qty": "1.00000000", "commission": "4.0",
                       "commissionAsset": "USDT", "tradeId": 56},
                      {"price": "3999.00000000", "qty": "9.00000000", "commission": "35.991",
                       "commissionAsset": "USDT", "tradeId": 57}]}
    f = fact_from_order_query(resp, source="ws-api")
    assert (f.status, f.executed_qty, f.update_time_ms) == (S.FILLED, D(10), 1507725176595)
    fills = fills_from_order_response(resp)
    assert [(x.trade_id, x.qty, x.side, x.client_order_id) for x in fills] == \
        [(56, D(1), "SELL", "pe1"), (57, D(9), "SELL", "pe1")]
    assert fills_from_order_response(dict(resp, fills=[], status="NEW")) == []


def test_query_and_trade_parsing():
    q = {"symbol": "BTCUSDT", "orderId": 1, "clientOrderId": "x", "price": "0.1",
         "origQty": "1.0", "executedQty": "0.0", "cummulativeQuoteQty": "0.0",
         "status": "NEW", "type": "LIMIT", "side": "BUY", "time": 5, "updateTime": 7}
    f = fact_from_order_query(q)
    assert (f.update_time_ms, f.status, f.qty, f.price) == (7, S.NEW, D("1.0"), D("0.1"))
    cancel = {"symbol": "BTCUSDT", "origClientOrderId": "x", "orderId": 1,
              "clientOrderId": "cxl", "transactTime": 9, "price": "0.1", "origQty": "1",
              "executedQty": "0", "cummulativeQuoteQty": "0", "status": "CANCELED"}
    f = fact_from_order_query(cancel, source="rest")
    assert (f.client_order_id, f.update_time_ms, f.status) == ("x", 9, S.CANCELED)
    t = {"symbol": "BNBBTC", "id": 28457, "orderId": 100234, "orderListId": -1,
         "price": "4.00000100", "qty": "12.00000000", "quoteQty": "48.000012",
         "commission": "10.10000000", "commissionAsset": "BNB", "time": 1499865549590,
         "isBuyer": True, "isMaker": False, "isBestMatch": True}
    tr = fill_from_my_trade(t, "x")
    assert (tr.side, tr.trade_id, tr.commission) == ("BUY", 28457, D("10.1"))
    acct = {"updateTime": 5, "balances": [{"asset": "BTC", "free": "1.5", "locked": "0.5"}]}
    assert balances_from_account(acct) == [("BTC", D("1.5"), D("0.5"), 5)]
    pos = {"e": "outboundAccountPosition", "E": 1, "u": 8,
           "B": [{"a": "ETH", "f": "10000.000000", "l": "0.000000"}]}
    assert balances_from_account_position(pos) == [("ETH", D("10000"), D("0"), 8)]


# ------------------------------------------------------------------ balances, PnL

def test_balances_newest_wins():
    sm = StateManager(Portfolio(ASSETS))
    assert sm.apply_balance("USDT", D("100"), D("0"), 10, "ws")
    assert not sm.apply_balance("USDT", D("90"), D("0"), 5, "account")     # older REST
    assert sm.balances.get("USDT").free == D("100")
    assert sm.apply_balance("USDT", D("80"), D("20"), 12, "account")
    assert sm.balances.get("USDT").total == D("100") and sm.balances.stale == 1


def test_pnl_example_with_fees_in_base_and_quote():
    p = Portfolio(ASSETS)
    p.apply_fill("ema", fill(1, "1", "100", "BUY", fee="0.001", fee_asset="BTC"))
    pos = p.position("ema", "BTCUSDT")
    assert (pos.qty, pos.avg_price, pos.fees) == (D("0.999"), D("100"), D("0.1"))
    p.apply_fill("ema", fill(2, "0.999", "110", "SELL", fee="0.10989", fee_asset="USDT"))
    pos = p.position("ema", "BTCUSDT")
    assert pos.qty == 0 and pos.realised == D("9.99")
    pnl = p.pnl("ema")
    assert pnl.net == D("9.78011")      # -100 + 0.999*110 - 0.10989
    assert p.pnl("other").net == 0


def test_oversell_never_goes_short():
    p = Portfolio(ASSETS)
    p.apply_fill("ema", fill(1, "1", "100", "BUY"))
    p.apply_fill("ema", fill(2, "3", "100", "SELL"))
    pos = p.position("ema", "BTCUSDT")
    assert pos.qty == 0 and pos.oversold == D("2")


def test_fee_in_third_asset_uses_its_mark_or_is_kept_apart():
    p = Portfolio(ASSETS)
    p.apply_fill("ema", fill(1, "1", "100", "BUY", fee="0.01", fee_asset="BNB"))
    assert p.position("ema", "BTCUSDT").fees_other == {"BNB": D("0.01")}
    p.mark("BNBUSDT", D("600"))
    p.apply_fill("ema", fill(2, "1", "100", "BUY", fee="0.01", fee_asset="BNB"))
    assert p.position("ema", "BTCUSDT").fees == D("6")


prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
qtys = st.decimals(min_value=D("0.001"), max_value=D("10"), places=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), qtys, prices, st.sampled_from(["base", "quote"])),
                min_size=1, max_size=30), prices)
def test_pnl_equals_equity_change(trades, mark):
    """realised + unrealised - fees == change in (quote cash + base held * mark)."""
    p = Portfolio(ASSETS)
    cash = D(0)
    held = D(0)
    for i, (buy, q, px, fee_in) in enumerate(trades):
        if not buy:
            q = min(q, held)
            if q <= 0:
                continue
        rate = D("0.001")
        if buy:
            fee_asset = "BTC" if fee_in == "base" else "USDT"
            fee = q * rate if fee_in == "base" else q * px * rate
            cash -= q * px + (fee if fee_in == "quote" else 0)
            held += q - (fee if fee_in == "base" else 0)
        else:
            fee_asset, fee = "USDT", q * px * rate
            cash += q * px - fee
            held -= q
        p.apply_fill("s", fill(i, str(q), str(px), "BUY" if buy else "SELL", str(fee), fee_asset))
    p.mark("BTCUSDT", mark)
    assert p.position("s", "BTCUSDT").qty == held
    assert p.pnl("s").net == cash + held * mark


# ------------------------------------------------------------------ journal round trip

def test_state_rebuilds_from_the_journal(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    sm = StateManager(Portfolio(ASSETS), j)
    sm.submit(order("c1"))
    sm.submit(order("c2", side="BUY", qty="2", price="50"))
    sm.submit(order("c3", symbol="ETHUSDT"))
    sm.apply_order_fact(fact(S.NEW, 10, coid="c1", order_id=1))
    sm.apply_order_fact(fact(S.PARTIALLY_FILLED, 12, "0.5", coid="c1", order_id=1))
    sm.apply_fill(fill(100, "0.5", "100", coid="c1", order_id=1, fee="0.0005", fee_asset="BTC"))
    sm.apply_fill(fill(100, "0.5", "100", coid="c1", order_id=1))     # replayed: ignored
    sm.apply_order_fact(fact(S.NEW, 11, coid="c2", order_id=2))
    sm.mark_unknown("c2", "-1007")
    sm.apply_balance("USDT", D("950"), D("0"), 12, "ws")
    sm.apply_fill(fill(101, "1", "99", coid=None, order_id=555))       # not our order
    j.close()                                   # (a crash loses only unflushed appends)

    again = StateManager(Portfolio(ASSETS), Journal(tmp_path / "j.sqlite"))
    before = len(list(again.journal.records()))
    n = again.replay(again.journal.records())
    assert n >= 9
    o1, o2, o3 = (again.orders[c] for c in ("c1", "c2", "c3"))
    assert (o1.status, o1.executed_qty, o1.order_id) == (S.PARTIALLY_FILLED, D("0.5"), 1)
    assert o2.status is S.UNKNOWN and o2.reason == "-1007"
    assert o3.status is S.UNKNOWN and o3.reason == "no answer before the restart"
    assert again.portfolio.position("ema", "BTCUSDT").qty == D("0.4995")
    assert again.portfolio.position("external", "BTCUSDT").qty == D("1")
    assert again.balances.get("USDT").free == D("950")
    assert again.last_trade_id("BTCUSDT") == 101
    assert not again.apply_fill(fill(100, "0.5", "100", coid="c1", order_id=1))
    again.journal.flush()
    assert len(list(again.journal.records())) == before      # replay wrote nothing
    again.journal.close()


@st.composite
def lifecycles(draw):
    """The true history of one order, as the exchange would report it."""
    qty = D(draw(st.integers(2, 20)))
    t = draw(st.integers(1, 1000))
    facts = [fact(S.NEW, t)]
    done = D(0)
    for _ in range(draw(st.integers(0, 5))):
        if done + 1 >= qty:
            break
        step = D(draw(st.integers(1, int(qty - done) - 1)))
        done += step
        t += draw(st.integers(0, 3))            # fills can share one exchange time
        facts.append(fact(S.PARTIALLY_FILLED, t, str(done)))
    end = draw(st.sampled_from([S.FILLED, S.CANCELED, S.EXPIRED, None]))
    if end is not None:
        t += draw(st.integers(0, 3))
        facts.append(fact(end, t, str(qty if end is S.FILLED else done)))
    return qty, facts


@settings(max_examples=300, deadline=None)
@given(lifecycles(), st.randoms(use_true_random=False), st.integers(1, 3))
def test_any_arrival_order_and_duplication_converges_to_the_latest_fact(life, rnd, copies):
    qty, facts = life
    delivered = [dataclasses.replace(f, source=src) for f in facts
                 for src in ("ws", "rest", "query")[:copies]]
    rnd.shuffle(delivered)
    sm = StateManager(Portfolio(ASSETS))
    sm.submit(order(qty=str(qty)))
    for f in delivered:
        sm.apply_order_fact(f)
    o = sm.orders["c1"]
    assert (o.status, o.executed_qty, o.update_time_ms) == \
        (facts[-1].status, facts[-1].executed_qty, facts[-1].update_time_ms)
    assert (sm.open_orders("BTCUSDT") == [o]) == o.status.is_open
    assert not sm.anomalies


def test_journal_records_carry_every_field():
    from pyengine.state.manager import _fact_data, _fact_from_data, _fill_data, _fill_from_data
    f = fact(S.PARTIALLY_FILLED, 5, "0.5", quote="50")
    assert set(_fact_data(f)) == {x.name for x in dataclasses.fields(OrderFact)}
    assert _fact_from_data(orjson_roundtrip(_fact_data(f))) == f
    tr = fill(9, "0.5", "100", fee="0.1")
    assert set(_fill_data(tr)) == {x.name for x in dataclasses.fields(Fill)}
    assert _fill_from_data(orjson_roundtrip(_fill_data(tr))) == tr


def orjson_roundtrip(d):
    import orjson
    return orjson.loads(orjson.dumps(d, default=str))


def test_user_event_sequence_from_the_protocol_digest():
    """MARKET BUY 6, partially filled then expired (the digest's documented sequence)."""
    base = {"e": "executionReport", "E": 1719467634107, "s": "LTCBNB",
            "c": "8LGC97RRgNPVQk979VIhjt", "S": "BUY", "o": "MARKET", "f": "GTC",
            "q": "6.00000000", "p": "0.00000000", "P": "0.00000000", "F": "0.00000000",
            "g": -1, "C": "", "r": "NONE", "i": 32, "T": 1719467634105, "I": 62, "w": True,
            "m": False, "M": False, "O": 1719467634105, "Q": "0.00000000", "V": "NONE"}
    events = [
        base | {"x": "NEW", "X": "NEW", "l": "0", "z": "0", "L": "0", "n": "0", "N": None,
                "t": -1, "Z": "0", "Y": "0"},
        base | {"x": "TRADE", "X": "PARTIALLY_FILLED", "l": "2.00000000", "z": "2.00000000",
                "L": "1.00000000", "n": "0.00100000", "N": "BNB", "t": 7, "I": 63,
                "Z": "2.00000000", "Y": "2.00000000"},
        base | {"x": "TRADE", "X": "PARTIALLY_FILLED", "l": "2.00000000", "z": "4.00000000",
                "L": "1.00000000", "n": "0.00100000", "N": "BNB", "t": 8, "I": 65,
                "Z": "4.00000000", "Y": "2.00000000"},
        base | {"x": "EXPIRED", "X": "EXPIRED", "l": "0", "z": "4.00000000", "L": "0",
                "n": "0", "N": None, "t": -1, "I": 67, "Z": "4.00000000", "Y": "0"},
        {"e": "outboundAccountPosition", "E": 1719467634107, "u": 1719467634105,
         "B": [{"a": "LTC", "f": "3011.11745670", "l": "0.00000000"},
               {"a": "BNB", "f": "996.11865670", "l": "0.00000000"}]},
        {"e": "balanceUpdate", "E": 1573200697110, "a": "BTC", "d": "100.00000000",
         "T": 1573200697068},
    ]
    sm = StateManager(Portfolio({"LTCBNB": ("LTC", "BNB")}))
    sm.submit(Order(client_order_id="8LGC97RRgNPVQk979VIhjt", strategy_id="s", symbol="LTCBNB",
                    side="BUY", type="MARKET", qty=D(6)))
    replayed = events + events[1:3]                  # a reconnect replays two reports
    assert [sm.on_user_event(e) for e in replayed][:6] == [
        "executionReport"] * 4 + ["outboundAccountPosition", "balanceUpdate"]
    o = sm.orders["8LGC97RRgNPVQk979VIhjt"]
    assert (o.status, o.executed_qty, o.order_id) == (S.EXPIRED, D(4), 32)
    pos = sm.portfolio.position("s", "LTCBNB")
    assert pos.qty == D(4) and pos.fees == D("0.002") and pos.fills == 2
    assert sm.balances.get("LTC").free == D("3011.11745670") and sm.balances.get("BTC") is None
    assert not sm.anomalies


def test_user_event_of_an_unknown_order_adopts_it():
    from pyengine.ids import client_order_id, strategy_tag
    ours = client_order_id("rsi", "BTCUSDT", 3)
    sm = StateManager(Portfolio(ASSETS), strategy_tags={strategy_tag("rsi", "BTCUSDT"): "rsi"})
    ev = {"e": "executionReport", "s": "BTCUSDT", "S": "SELL", "o": "LIMIT", "q": "1",
          "p": "100", "C": "", "x": "NEW", "X": "NEW", "r": "NONE", "i": 9, "l": "0",
          "z": "0", "L": "0", "n": "0", "N": None, "T": 5, "t": -1, "Z": "0"}
    sm.on_user_event(ev | {"c": "web_manual"})
    sm.on_user_event(ev | {"c": ours, "i": 10})
    assert sm.orders["web_manual"].strategy_id == "external"
    assert sm.orders[ours].strategy_id == "rsi" and sm.orders[ours].status is S.NEW
