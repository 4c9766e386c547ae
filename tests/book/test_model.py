"""Model-based test: the C book and the pure-Python reference agree after every step."""
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pyengine._core import lib
from pyengine.book import ASK, BID, Book, BookError, BookNotReadable, OK, STALE
from pyengine.symbols import SymbolSpec
from decimal import Decimal

from .model import ModelBook

SPEC = SymbolSpec("TESTUSDT", "TRADING", "TEST", "USDT", Decimal("0.01"), Decimal("0.001"), 2, 3)
prices = st.integers(min_value=1, max_value=400)
qtys = st.integers(min_value=0, max_value=50)
levels = st.lists(st.tuples(prices, qtys), max_size=12)


class BookMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.book = Book(SPEC)
        self.model = ModelBook()

    @rule(bids=levels, asks=levels, lid=st.integers(1, 10_000))
    def snapshot(self, bids, asks, lid):
        self.model.snapshot(lid, bids, asks)
        try:
            self.book.load_levels(lid, bids, asks)
        except BookError as exc:
            assert exc.code == lib.PE_ERR_CROSSED and self.model.state == "out-of-sync"

    @rule(bids=levels, asks=levels, span=st.integers(0, 5),
          shift=st.sampled_from([0, 0, 0, 0, -3, -1, 1, 2]))
    def diff(self, bids, asks, span, shift):
        first = self.model.last_id + 1 + shift
        last = first + span
        rc = self.book.apply_diff(first, last, bids, asks)
        outcome = self.model.diff(first, last, bids, asks)
        if outcome == "applied":
            assert rc in (OK, lib.PE_ERR_CROSSED)  # crossed: the book then refuses reads
        elif outcome == "stale":
            assert rc == STALE
        else:
            assert rc < 0

    @rule()
    def invalidate(self):
        self.book.invalidate()
        self.model.state = "out-of-sync"

    @invariant()
    def agree(self):
        assert self.book.synced == self.model.readable
        assert self.book.state == self.model.state
        if not self.model.readable:
            try:
                self.book.best_bid()
            except BookNotReadable:
                return
            raise AssertionError("an unreadable book returned a price")
        n = 500
        assert self.book.top(BID, n) == self.model.top("bid", n)
        assert self.book.top(ASK, n) == self.model.top("ask", n)
        for side, name in ((BID, "bid"), (ASK, "ask")):
            assert self.book.level_count(side) == len(getattr(self.model, name + "s"))
            for px in (1, 100, 200, 400):
                assert self.book.depth_to(side, px) == self.model.depth_to(name, px)
            for qty in (1, 7, 60, 1000):
                if self.book.level_count(side):
                    imp = self.book.impact(side, qty)
                    assert (imp.filled, imp.notional, imp.worst_price) == self.model.impact(name, qty)


TestBookModel = BookMachine.TestCase
TestBookModel.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
