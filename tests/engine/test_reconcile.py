import os
from decimal import Decimal as D

from pyengine.ids import client_order_id, strategy_tag
from pyengine.journal import Journal
from pyengine.state import (Order, OrderStatus, Portfolio, StateManager, fact_from_order_query,
                            reconcile, recover, resolve_unknown)
from pyengine.state.orders import fact_from_execution_report

from engine_fakes import FakeVenue

S = OrderStatus
ASSETS = {"BTCUSDT": ("BTC", "USDT"), "ETHUSDT": ("ETH", "USDT")}
START = {"USDT": D("10000"), "BTC": D("0"), "ETH": D("0")}


class Session:
    """An engine's order path in miniature: journal, state, venue."""

    def __init__(self, path, venue):
        self.path, self.venue = path, venue
        self.journal = Journal(path)
        self.state = StateManager(Portfolio(ASSETS), self.journal)

    def intent(self, seq, side="BUY", qty="0.1", price="100", symbol="BTCUSDT"):
        coid = client_order_id("ema", symbol, seq)
        self.state.submit(Order(client_order_id=coid, strategy_id="ema", symbol=symbol,
                                side=side, type="LIMIT", qty=D(qty), price=D(price)))
        return coid

    def send(self, coid):
        o = self.state.orders[coid]
        resp = self.venue.place(o.symbol, coid, o.side, str(o.qty), str(o.price))
        self.state.apply_order_fact(fact_from_order_query(resp, source="rest"))

    def exchange_fill(self, coid, qty, seen=True):
        trade = self.venue.fill(coid, qty)
        if seen:   # the user-data stream delivered it
            o = self.venue.orders[coid]
            ev = {"s": o["symbol"], "c": coid, "C": "", "S": o["side"], "o": "LIMIT",
                  "q": o["origQty"], "p": o["price"], "x": "TRADE", "X": o["status"],
                  "r": "NONE", "i": o["orderId"], "l": trade["qty"], "z": o["executedQty"],
                  "L": trade["price"], "n": trade["commission"], "N": trade["commissionAsset"],
                  "T": trade["time"], "t": trade["id"], "m": True, "Z": o["cummulativeQuoteQty"]}
            f, tr = fact_from_execution_report(ev)
            self.state.apply_order_fact(f)
            self.state.apply_fill(tr)

    def crash_and_restart(self):
        """kill -9: whatever was queued and not flushed is lost; rebuild from the file."""
        self.journal._pending.clear()
        self.journal._conn.close()
        os.close(self.journal._lock_fd)         # the process is gone, and its lock with it
        self.journal = Journal(self.path)
        self.state = StateManager(Portfolio(ASSETS), self.journal)
        self.state.replay(self.journal.records())

    async def reconcile(self):
        return await reconcile(self.state, self.venue, ["BTCUSDT", "ETHUSDT"])


def venue():
    return FakeVenue(ASSETS, START)


def assert_matches_exchange(s):
    """Positions equal the exchange's balances; every order's status equals the exchange's."""
    ema_btc = s.state.portfolio.position("ema", "BTCUSDT").qty
    assert ema_btc == s.venue.balances["BTC"]
    for asset, amount in s.venue.balances.items():
        assert s.state.balances.get(asset).free == amount
    for coid, o in s.venue.orders.items():
        assert s.state.orders[coid].status is S.from_binance(o["status"])
        assert s.state.orders[coid].executed_qty == D(o["executedQty"])


async def test_intent_journaled_but_never_sent(tmp_path):
    s = Session(tmp_path / "j.sqlite", venue())
    coid = s.intent(1)
    s.crash_and_restart()
    assert s.state.orders[coid].status is S.UNKNOWN
    report = await s.reconcile()
    assert report.not_on_exchange == [coid]
    assert s.state.orders[coid].status is S.REJECTED
    assert ("order_status", "BTCUSDT", coid) in s.venue.calls
    # the decision is not re-sent: its id is burned in the journal
    s.journal.flush()
    s.crash_and_restart()
    assert s.state.orders[coid].status is S.REJECTED
    assert (await s.reconcile()).not_on_exchange == []


async def test_sent_but_unacknowledged_order_is_found_open(tmp_path):
    s = Session(tmp_path / "j.sqlite", venue())
    coid = s.intent(1)
    s.venue.place("BTCUSDT", coid, "BUY", "0.1", "100")        # left, answer lost in the crash
    s.crash_and_restart()
    report = await s.reconcile()
    assert report.resolved == [(coid, "UNKNOWN", "NEW")]
    assert s.state.orders[coid].order_id == s.venue.orders[coid]["orderId"]
    assert_matches_exchange(s)


async def test_fills_while_down_are_recovered_once(tmp_path):
    s = Session(tmp_path / "j.sqlite", venue())
    a, b = s.intent(1, qty="1"), s.intent(2, qty="0.5", price="101")
    s.send(a)
    s.send(b)
    s.exchange_fill(a, "0.25")                 # seen and journaled
    s.journal.flush()
    s.exchange_fill(a, "0.25")                 # seen, not yet flushed when the crash comes
    s.crash_and_restart()
    for _ in range(5):                         # while the engine is down
        s.venue.fill(a, "0.1")
    s.venue.fill(b, "0.5")
    report = await s.reconcile()
    assert len(report.recovered_fills) == len(s.venue.trades["BTCUSDT"]) - 1
    assert {r[0] for r in report.resolved} == {a, b}
    assert s.state.orders[a].status is S.FILLED and s.state.orders[b].status is S.FILLED
    assert_matches_exchange(s)
    # pagination from the last journaled trade id
    calls = [c for c in s.venue.calls if c[0] == "my_trades"]
    assert calls[0] == ("my_trades", "BTCUSDT", 2) and len(calls) >= 3
    # a second restart + reconcile changes nothing and double counts nothing
    s.journal.flush()
    s.crash_and_restart()
    again = await s.reconcile()
    assert again.clean and again.resolved == []
    assert_matches_exchange(s)


async def test_partial_fill_then_cancel_while_down(tmp_path):
    s = Session(tmp_path / "j.sqlite", venue())
    a = s.intent(1, side="BUY", qty="1")
    s.send(a)
    s.journal.flush()
    s.crash_and_restart()
    s.venue.fill(a, "0.4")
    s.venue.cancel(a)
    report = await s.reconcile()
    assert report.resolved == [(a, "NEW", "CANCELED")]
    assert s.state.orders[a].executed_qty == D("0.4")
    assert_matches_exchange(s)


async def test_orders_the_journal_does_not_know(tmp_path):
    s = Session(tmp_path / "j.sqlite", venue())
    manual = s.venue.place("ETHUSDT", "web_ABC123", "BUY", "1", "2000")
    ours = client_order_id("rsi", "ETHUSDT", 77)          # e.g. a journal restored from backup
    s.venue.place("ETHUSDT", ours, "BUY", "1", "1900")
    s.venue.fill(ours, "0.5")
    s.state.strategy_tags = {strategy_tag("rsi", "ETHUSDT"): "rsi"}
    report = await s.reconcile()
    assert report.foreign == ["web_ABC123"] and report.adopted == [ours]
    assert s.state.orders["web_ABC123"].strategy_id == "external"
    assert s.state.orders[ours].strategy_id == "rsi"
    assert s.state.orders[ours].status is S.PARTIALLY_FILLED
    assert s.state.portfolio.position("rsi", "ETHUSDT").qty == s.venue.balances["ETH"]
    assert not report.clean and any("foreign open order web_ABC123" in line
                                    for line in report.lines())
    # the adoption is journaled: after a restart the order is known
    s.journal.flush()
    s.crash_and_restart()
    assert s.state.orders[ours].strategy_id == "rsi"
    again = await s.reconcile()
    assert again.adopted == [] and again.foreign == []
    assert manual["orderId"] == s.state.orders["web_ABC123"].order_id


async def test_balances_are_taken_from_the_account_and_reported(tmp_path):
    s = Session(tmp_path / "j.sqlite", venue())
    report = await s.reconcile()
    assert report.balance_changes["USDT"] == (None, D("10000"))
    s.venue.balances["USDT"] = D("9000")          # a withdrawal while down
    s.venue.time += 5
    report = await s.reconcile()
    assert report.balance_changes == {"USDT": (D("10000"), D("9000"))}
    assert s.state.balances.get("USDT").free == D("9000")


async def test_unknown_orders_are_settled_by_query_while_running(tmp_path):
    s = Session(tmp_path / "j.sqlite", venue())
    a, b = s.intent(1), s.intent(2)
    s.send(a)
    s.venue.place("BTCUSDT", b, "BUY", "0.1", "100")       # the response was a 5xx
    s.state.mark_unknown(b, "HTTP 503")
    c = s.intent(3)                                        # -1007: never reached the book
    s.state.mark_unknown(c, "-1007")
    report = await resolve_unknown(s.state, s.venue)
    assert report.resolved == [(b, "UNKNOWN", "NEW")] and report.not_on_exchange == [c]
    assert ("order_status", "BTCUSDT", a) not in s.venue.calls     # only UNKNOWN ones
    # the timed-out order was still in flight after all: tracked again, its fills kept
    s.venue.place("BTCUSDT", c, "BUY", "0.1", "100")
    s.exchange_fill(c, "0.1")
    assert s.state.orders[c].status is S.FILLED
    assert "reappeared" in s.state.anomalies[-1]
    assert [o.client_order_id for o in s.state.open_orders()] == [a, b]
    assert s.state.portfolio.position("ema", "BTCUSDT").qty == D("0.0999")
    s.journal.flush()
    s.crash_and_restart()                                   # and the journal agrees
    assert s.state.orders[c].status is S.FILLED


async def test_recover_replays_reconciles_and_journals_the_report(tmp_path):
    s = Session(tmp_path / "j.sqlite", venue())
    a = s.intent(1)
    s.send(a)
    s.journal.flush()
    s.venue.fill(a, "0.1")
    s.journal.close()
    journal = Journal(tmp_path / "j.sqlite")
    state, report = await recover(journal, Portfolio(ASSETS), s.venue, ["BTCUSDT"])
    assert state.orders[a].status is S.FILLED and len(report.recovered_fills) == 1
    (rec,) = list(journal.records(kinds=["reconcile"]))
    assert rec.data["recovered_fills"] == [["BTCUSDT", 1]] and journal.pending == 0
    journal.close()
