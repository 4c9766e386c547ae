"""Deep books against the reference model: diffs of hundreds of levels, sorted as Binance
sends them (best price first) or not, so the C book splits, empties and joins its blocks."""
from decimal import Decimal

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pyengine.book import ASK, BID, Book, Feed, OK
from pyengine.symbols import SymbolSpec

from .model import ModelBook

SPEC = SymbolSpec("DEEPUSDT", "TRADING", "DEEP", "USDT", Decimal("0.01"), Decimal("0.000001"), 2, 6)
MID = 50_000  # bids at or below, asks above: diffs never cross the book


def side_levels(low, high, most=400):
    """Up to `most` distinct prices of one side, about half of them deletions: hypothesis
    draws the count and a seed, so books stay hundreds of levels deep."""
    def draw(rng, size):
        prices = rng.sample(range(low, high + 1), min(size, high - low + 1))
        return [(p, rng.choice([0, 0, 1, 7, 123_456_789])) for p in prices]
    return st.builds(draw, st.randoms(use_true_random=False), st.integers(0, most))


def binance_order(bids, asks):
    return sorted(bids, reverse=True), sorted(asks)


def frame(first, last, bids, asks):
    """A combined-stream depth frame in Binance's exact byte layout."""
    def levels(lv):
        return ",".join(f'["{Decimal(p).scaleb(-2):.8f}","{Decimal(q).scaleb(-6):.8f}"]' for p, q in lv)
    return (f'{{"stream":"deepusdt@depth@100ms","data":{{"e":"depthUpdate","E":1,"s":"DEEPUSDT",'
            f'"U":{first},"u":{last},"b":[{levels(bids)}],"a":[{levels(asks)}]}}}}').encode()


class DeepBookMachine(RuleBasedStateMachine):
    @initialize(bids=side_levels(MID - 3000, MID, 1500), asks=side_levels(MID + 1, MID + 3000, 1500))
    def snapshot(self, bids, asks):
        bids, asks = binance_order(bids, asks)
        self.model = ModelBook()
        self.model.snapshot(1, bids, asks)
        self.book = Book(SPEC)
        self.book.load_levels(1, bids, asks)
        self.feed = Feed([SPEC])
        self.feed.book(SPEC.symbol).load_levels(1, bids, asks)
        self.apply([], [])  # the first diff makes both books readable

    def apply(self, bids, asks):
        first = self.model.last_id + 1
        assert self.model.diff(first, first, bids, asks) == "applied"
        assert self.book.apply_diff(first, first, bids, asks) == OK
        assert self.feed.on_message(frame(first, first, bids, asks)).status == OK

    @rule(bids=side_levels(MID - 3000, MID), asks=side_levels(MID + 1, MID + 3000))
    def sorted_diff(self, bids, asks):
        self.apply(*binance_order(bids, asks))

    @rule(bids=side_levels(MID - 200, MID), asks=side_levels(MID + 1, MID + 200))
    def near_top_diff(self, bids, asks):
        self.apply(*binance_order(bids, asks))

    @rule(bids=st.lists(st.tuples(st.integers(MID - 300, MID), st.integers(0, 3)), max_size=80),
          asks=st.lists(st.tuples(st.integers(MID + 1, MID + 300), st.integers(0, 3)), max_size=80))
    def unsorted_diff_with_repeats(self, bids, asks):
        self.apply(bids, asks)

    @rule(bids=side_levels(MID - 3000, MID), asks=side_levels(MID + 1, MID + 3000))
    def delete_most(self, bids, asks):
        """Remove a whole stretch of each side, emptying blocks."""
        drop = lambda side, lv: [(p, 0) for p in sorted(side)[: len(side) * 9 // 10]] + lv  # noqa: E731
        bids = sorted({p: q for p, q in drop(self.model.bids, bids)}.items(), reverse=True)
        asks = sorted({p: q for p, q in drop(self.model.asks, asks)}.items())
        self.apply(bids, asks)

    @invariant()
    def agree(self):
        for book in (self.book, self.feed.book(SPEC.symbol)):
            for side, name in ((BID, "bid"), (ASK, "ask")):
                assert book.level_count(side) == len(getattr(self.model, name + "s"))
                assert book.top(side, 10_000) == self.model.top(name, 10_000)


TestDeepBook = DeepBookMachine.TestCase
TestDeepBook.settings = settings(max_examples=25, stateful_step_count=12, deadline=None)
