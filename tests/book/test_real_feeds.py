"""Rebuild the books of the real recordings and compare with the pure-Python reference."""
import pytest

from pyengine import bundled
from pyengine.book import ASK, BID, Feed
from pyengine.recording import frames

from .feeds import model_events, replay
from .model import ModelBook

FEEDS = {"BTCUSDT": bundled.BTCUSDT_FEED, "ETHUSDT": bundled.ETHUSDT_FEED}


def reference_book(symbol):
    spec = bundled.symbol_specs()[symbol]
    model, pending, applied = ModelBook(), [], 0
    for ev in model_events(FEEDS[symbol], spec):
        if ev[0] == "snapshot":
            model.snapshot(*ev[1:])
            for d in pending:
                applied += model.diff(*d) == "applied"
            pending = None
        elif pending is not None:
            pending.append(ev[1:])
        else:
            outcome = model.diff(*ev[1:])
            assert outcome != "rejected"
            applied += outcome == "applied"
    return model, applied


@pytest.mark.parametrize("symbol", sorted(FEEDS))
def test_real_feed_rebuilds_without_gap_or_cross(symbol):
    spec = bundled.symbol_specs()[symbol]
    feed = Feed([spec])
    crossed_reads = []

    def check(r, _elapsed):
        if r.book.synced:
            (bp, _), (ap, _) = r.book.best_bid(), r.book.best_ask()
            if bp >= ap:
                crossed_reads.append((bp, ap))

    r = replay(FEEDS[symbol], feed, symbol, on_tick=check, tick_every_ns=0)
    st = r.stats
    assert st.errors == [] and st.gaps == 0 and st.snapshots == 1
    assert crossed_reads == []
    model, applied = reference_book(symbol)
    assert st.depth_applied == applied > 6000
    book = feed.book(symbol)
    assert book.state == "synced"
    n_bid, n_ask = book.level_count(BID), book.level_count(ASK)
    assert (n_bid, n_ask) == (len(model.bids), len(model.asks))
    assert book.top(BID, n_bid) == model.top("bid", n_bid)
    assert book.top(ASK, n_ask) == model.top("ask", n_ask)


def test_feed_counts_match_provenance():
    kinds = {}
    for _, raw in frames(bundled.BTCUSDT_FEED):
        key = raw[:40]
        kind = ("snapshot" if key.startswith(b'{"lastUpdateId"') else
                "depth" if b"@depth" in key else "bookTicker" if b"@bookTicker" in key else "trade")
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds == {"snapshot": 1, "depth": 6495, "bookTicker": 73174, "trade": 19904}


def test_queries_on_real_book():
    spec = bundled.symbol_specs()["BTCUSDT"]
    feed = Feed([spec])
    replay(bundled.BTCUSDT_FEED, feed, "BTCUSDT")
    book = feed.book("BTCUSDT")
    model, _ = reference_book("BTCUSDT")
    (bp, bq), (ap, aq) = book.best_bid(), book.best_ask()
    assert (bp, bq) == model.top("bid", 1)[0] and (ap, aq) == model.top("ask", 1)[0]
    assert book.spread() == ap - bp > 0
    assert book.mid() == (spec.price(bp) + spec.price(ap)) / 2
    for px in (bp, bp - 1000, bp - 100_000):
        assert book.depth_to(BID, px) == model.depth_to("bid", px)
    for qty in (1, aq, aq + 1, 5 * 10**6, 10**9):
        imp = book.impact(ASK, qty)
        assert (imp.filled, imp.notional, imp.worst_price) == model.impact("ask", qty)
    assert book.slippage(ASK, aq) == 0 and book.slippage(ASK, aq + 10**6) > 0
    assert book.slippage(BID, bq + 10**6) > 0
