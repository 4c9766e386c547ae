"""``strategy.exit(trail_percent=...)`` and ``strategy(exit_fill_model="freqtrade")``
(pine-subset.md 13.4 and 13.9) on small hand-made bars, each fill worked out by hand.
Tick 0.01; one unit per trade; bar 0 signals a long entry that fills at bar 1's open."""
import pytest

import dsl
from dsl_handmade import ENTER_LONG, backtest as run, bars, only_exit as exit_of

FT = ', exit_fill_model="freqtrade"'


def exit_rule(args: str) -> str:
    return ENTER_LONG + f'if strategy.position_size > 0\n    strategy.exit("X", "L", {args})\n'


# bar 2 opens near its low: TradingView's path is open -> low -> high -> close
RAISE_AND_HIT = [(100.00, 100.00, 100.00, 100.00),
                 (100.00, 100.20, 100.00, 100.10),
                 (100.50, 102.00, 100.40, 101.95),
                 (101.95, 102.00, 101.00, 101.10)]
TRAIL = "trail_price=101.00, trail_percent=0.1"


def test_trail_percent_trails_a_share_of_the_water_mark_along_the_path():
    # tradingview: the low comes before the high, the stop 102.00 * 0.999 = 101.898 -> 101.90
    # (rounded towards the water mark) is not reached by the close 101.95; bar 3 falls through it
    assert exit_of(run(exit_rule(TRAIL), RAISE_AND_HIT)) == (3, 101.90)
    # open -> high -> low -> close: raised on the way up, hit on the way down in bar 2
    rows = RAISE_AND_HIT[:2] + [(101.50, 102.00, 100.40, 101.95)] + RAISE_AND_HIT[3:]
    assert exit_of(run(exit_rule(TRAIL), rows)) == (2, 101.90)


def test_freqtrade_model_raises_with_the_high_before_testing_the_low():
    assert exit_of(run(exit_rule(TRAIL), RAISE_AND_HIT, FT)) == (2, 101.90)


def test_freqtrade_model_tests_the_stop_that_held_at_the_open_first():
    # armed on bar 2 (mark 102.00, stop 101.90); bar 3's low reaches that stop, so its high
    # (103.00) does not raise it first: fill at 101.90, not at 103.00 * 0.999
    rows = [(100.00, 100.00, 100.00, 100.00), (100.00, 100.20, 100.00, 100.10),
            (100.50, 102.00, 101.95, 101.98), (101.98, 103.00, 101.80, 102.50)]
    assert exit_of(run(exit_rule(TRAIL), rows, FT)) == (3, 101.90)


def test_freqtrade_model_hard_stop_beats_the_limit_whatever_the_path():
    rows = [(100.00, 100.00, 100.00, 100.00), (100.00, 100.20, 99.90, 100.10),
            (100.40, 101.50, 98.50, 100.00),   # open -> high -> low: the limit comes first
            (100.00, 100.10, 99.90, 100.00)]
    legs = "limit=101.00, stop=99.00"
    assert exit_of(run(exit_rule(legs), rows)) == (2, 101.00)
    assert exit_of(run(exit_rule(legs), rows, FT)) == (2, 99.00)


def test_freqtrade_model_limit_beats_a_trailed_stop():
    # bar 2 arms the trailing leg (mark 102.00, stop 101.90 above the hard stop 99.00);
    # bar 3's high raises it to 103.50 * 0.999 -> 103.40, which its low reaches, and the
    # high also reaches the limit 103.20: the limit fills
    rows = [(100.00, 100.00, 100.00, 100.00), (100.00, 100.20, 100.00, 100.10),
            (100.50, 102.00, 101.95, 101.98), (103.10, 103.50, 103.00, 103.20)]
    legs = "limit=103.20, stop=99.00, " + TRAIL
    assert exit_of(run(exit_rule(legs), rows, FT)) == (3, 103.20)
    assert exit_of(run(exit_rule("stop=99.00, " + TRAIL), rows, FT)) == (3, 103.40)


def test_freqtrade_model_stop_fills_at_its_price_unless_the_whole_bar_is_below():
    rows = [(100.00, 100.00, 100.00, 100.00), (100.00, 100.20, 99.90, 100.10),
            (98.80, 99.20, 98.50, 99.00), (99.00, 99.10, 98.90, 99.00)]
    assert exit_of(run(exit_rule("stop=99.00"), rows)) == (2, 98.80)   # the gap: open
    assert exit_of(run(exit_rule("stop=99.00"), rows, FT)) == (2, 99.00)
    rows[2] = (98.80, 98.90, 98.50, 98.60)
    assert exit_of(run(exit_rule("stop=99.00"), rows, FT)) == (2, 98.80)


def test_freqtrade_model_limit_gap_fills_at_the_open_and_shorts_mirror():
    rows = [(100.00, 100.00, 100.00, 100.00), (100.00, 100.20, 99.90, 100.10),
            (101.50, 101.80, 101.20, 101.60)]
    assert exit_of(run(exit_rule("limit=101.00, stop=99.00"), rows, FT)) == (2, 101.50)
    short = [(100.00, 100.00, 100.00, 100.00), (100.00, 100.10, 99.80, 99.90),
             (99.50, 100.50, 98.00, 99.00)]
    r = run('if bar_index == 0\n    strategy.entry("S", strategy.short)\n'
            'if strategy.position_size < 0\n'
            '    strategy.exit("X", "S", limit=98.50, stop=100.40, trail_price=99.00, '
            'trail_percent=0.1)\n', short, FT)
    # the high reaches the hard stop (never trailed): it wins over the limit the low reaches
    assert exit_of(r) == (2, 100.40)


def test_live_step_gives_the_batch_trades_and_the_intent_carries_the_percent():
    program = dsl.compile_source('//@version=5\nstrategy("t"' + FT + ')\n' + exit_rule(TRAIL), "t.pine")
    b = bars(RAISE_AND_HIT)
    vm = dsl.Vm(program, mintick=0.01, mode="tradingview")
    exits = []
    for i in range(len(b)):
        exits += [it for it in vm.describe_intents(vm.step(int(b.time[i]), b.open[i], b.high[i], b.low[i],
                                                           b.close[i], b.volume[i]))
                  if it["kind"] == "exit"]
    batch = dsl.Vm(program, mintick=0.01, mode="tradingview")
    batch.run(b.time, b.open, b.high, b.low, b.close, b.volume)
    assert vm.trades().tobytes() == batch.trades().tobytes() and len(batch.trades()) == 1
    assert exits[0]["trail_percent"] == 0.1 and exits[0]["trail_offset"] is None


@pytest.mark.parametrize("args,msg", [
    ('trail_percent=1', "trail_percent needs trail_price or trail_points"),
    ('trail_points=5, trail_offset=3, trail_percent=1', "trail_offset \\(ticks\\) or trail_percent"),
])
def test_trail_percent_compile_errors(args, msg):
    with pytest.raises(dsl.DslError, match=msg):
        dsl.compile_source(f'//@version=5\nstrategy("t")\nstrategy.exit("X", {args})\n')


def test_unknown_exit_fill_model_is_a_compile_error():
    with pytest.raises(dsl.DslError, match='exit_fill_model must be "tradingview" or "freqtrade"'):
        dsl.compile_source('//@version=5\nstrategy("t", exit_fill_model="ib")\n')


def test_freqtrade_model_limit_needs_the_high_above_it_and_fills_at_the_nearest_tick():
    rows = [(100.00, 100.00, 100.00, 100.00), (100.00, 100.20, 99.90, 100.10),
            (100.10, 101.00, 100.00, 100.90),   # the high touches 101.00 only
            (100.90, 101.20, 100.80, 101.10)]
    assert exit_of(run(exit_rule("limit=101.00"), rows)) == (2, 101.00)
    assert exit_of(run(exit_rule("limit=101.00"), rows, FT)) == (3, 101.00)
    # an unrounded target: reached by the high 101.00 (above 100.996), filled at 101.00
    assert exit_of(run(exit_rule("limit=100.996"), rows, FT)) == (2, 101.00)
    assert exit_of(run(exit_rule("limit=101.004"), rows, FT)) == (3, 101.00)


def test_freqtrade_model_trailed_stop_on_the_entry_bar_takes_the_worst_case():
    # entry at 100.00 on bar 1, which arms the leg (activation 100 ticks up) and falls back:
    # Freqtrade assumes the price only rose by trail_entry_rise % and fell back by the trail,
    # max(low, 100.00 * ((1 + 0.02) - 0.01)) = 101.00, not 101.90 from the high
    rows = [(100.00, 100.00, 100.00, 100.00), (100.00, 102.00, 100.00, 101.95),
            (101.95, 102.00, 101.90, 101.95)]
    body = ENTER_LONG.replace('strategy.long)\n', 'strategy.long)\n    strategy.exit("X", "L", '
                              'trail_points=100, trail_percent=1)\n')
    assert exit_of(run(body, rows, FT + ", trail_entry_rise=2")) == (1, 101.00)
    assert exit_of(run(body, rows, FT)) == (1, 100.00)      # no rise: 100.00 * (1 - 0.01) -> low
