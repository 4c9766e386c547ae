"""Engine-side strategy.exit legs (pyengine/engine/exits.py): levels from the entry, the
trailing leg's activation and ratchet, take-profit and stop hits, gaps through levels, the
C band that decides which trades reach Python, restatements and restore from the journal."""
import math
from decimal import Decimal

import pytest

from pyengine.book import NO_EXIT_BAND, Feed
from pyengine.engine.exits import ExitLegs
from pyengine.symbols import SymbolSpec

SPEC = SymbolSpec("BTCUSDT", "TRADING", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), 2, 5)
NAN = math.nan
NONE = dict(stop=NAN, loss=NAN, limit=NAN, profit=NAN, trail_price=NAN, trail_points=NAN,
            trail_offset=NAN)


class Rig:
    """ExitLegs with its fires, journal and band recorded, and a real C feed for the band."""

    def __init__(self):
        self.fired, self.journal = [], []
        self.feed = Feed([SPEC])
        self.legs = ExitLegs({"BTCUSDT": SPEC}, self._fire,
                             lambda kind, data, **keys: self.journal.append(data), self._band)
        self.band = NO_EXIT_BAND

    def _fire(self, strategy, symbol, reason, trade_ms, frame_ns):
        self.fired.append((strategy, reason, trade_ms))

    def _band(self, symbol, lo, hi):
        self.band = (lo, hi)
        self.feed.set_exit_band(symbol, lo, hi)

    def exit(self, close=100.0, **kw):
        self.legs.on_exit("s", "BTCUSDT", "X", **{**NONE, **kw}, close=close)

    def hold(self, avg="100", qty="1"):
        self.legs.on_position("s", "BTCUSDT", Decimal(qty), Decimal(avg))

    def trade(self, price: float, t: int = 0, closes_bar=lambda: None):
        """One trade through the C parser, then (after ``closes_bar``: what the bar this
        trade closed made the strategies do) to the legs when it is flagged or the legs
        changed meanwhile, as MarketHub does; returns whether it was flagged."""
        px = round(price * 100)
        msg = self.feed.on_message(
            b'{"e":"trade","E":1,"s":"BTCUSDT","t":%d,"p":"%.2f","q":"1.00000","T":%d,"m":false}'
            % (t, price, t))
        assert msg.price == px
        closes_bar()
        if msg.exit_hit or "BTCUSDT" in self.legs.pending:
            self.legs.on_trade("BTCUSDT", px, t, 0)
        return bool(msg.exit_hit)


@pytest.fixture
def rig():
    return Rig()


def test_take_profit_from_profit_ticks_fires_at_the_level(rig):
    rig.exit(profit=200, loss=300)          # 2.00 above, 3.00 below the entry
    rig.hold("100")
    assert rig.band == (9700, 10200)
    rig.trade(101.99, 1)
    assert rig.fired == []
    rig.trade(102.00, 2)
    assert rig.fired == [("s", "TAKE_PROFIT", 2)]


def test_stop_and_limit_nearer_the_entry_win(rig):
    rig.exit(stop=97.5, loss=300, limit=104.0, profit=200)
    rig.hold("100")
    assert rig.band == (9750, 10200)


def test_gap_through_the_stop_fires_on_the_first_trade_beyond(rig):
    rig.exit(stop=99.0)
    rig.hold("100")
    rig.trade(100.5, 1)
    rig.trade(95.0, 2)                      # far through the stop
    assert rig.fired == [("s", "STOP", 2)]


def test_trailing_arms_ratchets_and_fires_on_the_pullback(rig):
    rig.exit(trail_points=100, trail_offset=50)     # arms at entry + 1.00, trails 0.50
    rig.hold("100")
    assert rig.band == (0, 10100)
    assert not rig.trade(100.99, 1)                 # inside the band: never reaches Python
    assert rig.trade(101.00, 2)                     # arms; water mark 101.00
    assert rig.band == (10050, 10101)
    assert rig.trade(102.30, 3)                     # ratchet
    assert rig.band == (10180, 10231)
    assert not rig.trade(101.90, 4)
    assert rig.fired == []
    assert rig.trade(101.80, 5)                     # 0.50 below the high
    assert rig.fired == [("s", "TRAIL", 5)]
    legs = [j["leg"] for j in rig.journal if j["leg"]]
    assert [(x["armed"], x["hw"]) for x in legs][-2:] == [(True, 10100), (True, 10230)]


def test_trail_price_with_zero_offset_exits_where_it_arms(rig):
    rig.exit(trail_price=101.0)
    rig.hold("100")
    rig.trade(101.2, 1)
    assert rig.fired == [("s", "TRAIL", 1)]


def test_activation_is_the_lower_of_trail_price_and_trail_points(rig):
    rig.exit(trail_price=103.0, trail_points=150, trail_offset=10)
    rig.hold("100")
    assert rig.band == (0, 10150)


def test_a_new_leg_arms_when_its_bar_closed_beyond_activation(rig):
    rig.hold("100")
    rig.exit(close=101.5, trail_points=100, trail_offset=50)
    assert rig.band == (10100, 10151)
    rig.trade(101.0, 1)                             # 0.50 below the bar's close
    assert rig.fired == [("s", "TRAIL", 1)]


def test_restatements_and_changed_trailing_arguments_keep_the_water_mark(rig):
    rig.exit(trail_points=100, trail_offset=50, stop=95.0)
    rig.hold("100")
    rig.trade(101.5, 1)
    n = len(rig.journal)
    rig.exit(trail_points=100, trail_offset=50, stop=95.0)       # same call: nothing changes
    assert len(rig.journal) == n
    rig.exit(trail_points=100, trail_offset=50, stop=96.0)       # the stop moves up
    assert rig.band == (10100, 10151)                             # still armed at 101.50
    # new trailing arguments (an export's entry bar gives trail_points, later bars
    # trail_price): the position's water mark stays while it is above the new activation
    rig.exit(trail_price=101.2, trail_offset=80, stop=96.0)
    assert rig.band == (10070, 10151)
    rig.exit(trail_price=102.0, trail_offset=80, stop=96.0)      # not reached yet: disarmed
    assert rig.band == (9600, 10200)


def test_trail_percent_stop_is_a_share_of_the_water_mark_rounded_up(rig):
    rig.exit(trail_price=101.0, trail_percent=1.0)
    rig.hold("100")
    rig.trade(103.05, 1)                            # arms; 1 % below 103.05 is 102.0195
    assert rig.band == (10202, 10306)
    rig.trade(102.02, 2)
    assert rig.fired == [("s", "TRAIL", 2)]


def test_a_moving_stop_restated_every_bar_is_followed(rig):
    rig.hold("100")
    rig.exit(stop=98.0, limit=110.0)
    rig.exit(stop=99.5, limit=110.0)                # the exported trailing stop ratchets
    rig.trade(99.6, 1)
    assert rig.fired == []
    rig.trade(99.5, 2)
    assert rig.fired == [("s", "STOP", 2)]


def test_the_closing_trade_of_a_bar_that_changed_the_legs_is_checked(rig):
    rig.hold("100")
    rig.exit(stop=95.0)
    rig.trade(100.0, 1)
    # the take-profit is made on the bar trade 2 closes, after the band was applied to it
    assert not rig.trade(99.5, 2, closes_bar=lambda: rig.exit(stop=95.0, limit=99.0))
    assert rig.fired == [("s", "TAKE_PROFIT", 2)]


def test_legs_wait_for_the_fill_and_go_with_the_position(rig):
    rig.exit(profit=100, loss=100)                  # on the entry bar, before the fill
    rig.trade(120.0, 1)
    assert rig.fired == [] and rig.band == NO_EXIT_BAND
    rig.hold("100")
    rig.trade(101.0, 2)
    assert rig.fired == [("s", "TAKE_PROFIT", 2)]
    rig.hold("0", "0")                              # sold: flat drops the legs
    assert rig.band == NO_EXIT_BAND and rig.legs.positions[("s", "BTCUSDT")].legs == {}
    assert rig.journal[-1]["leg"] is None


def test_partial_fill_moves_the_levels_with_the_average_entry(rig):
    rig.exit(profit=100)
    rig.hold("100", "0.5")
    assert rig.band == (0, 10100)
    rig.hold("99", "1")                             # a second fill lowers the average
    assert rig.band == (0, 10000)


def test_at_one_price_the_stop_wins(rig):
    rig.exit(stop=100.0, limit=100.0)
    rig.hold("100")
    rig.trade(100.0, 1)
    assert rig.fired == [("s", "STOP", 1)]


def test_restore_brings_back_the_armed_leg_and_its_water_mark(rig):
    rig.exit(trail_points=100, trail_offset=50)
    rig.hold("100")
    rig.trade(101.0, 1)
    rig.trade(103.0, 2)
    again = Rig()
    assert again.legs.restore(rig.journal) == 1
    again.hold("100")                               # the position recovered from the account
    assert again.band == (10250, 10301)
    again.trade(102.5, 3)
    assert again.fired == [("s", "TRAIL", 3)]


def test_restored_legs_of_a_position_closed_meanwhile_are_dropped(rig):
    rig.exit(stop=95.0)
    rig.hold("100")
    again = Rig()
    again.legs.restore(rig.journal)
    again.hold("0", "0")
    assert again.band == NO_EXIT_BAND
    assert again.legs.positions[("s", "BTCUSDT")].legs == {}
