"""strategy.exit trailing stops (pine-subset.md 13.4) on small hand-made bars, each expected
fill worked out by hand along the assumed intrabar path. The bar shapes follow PyneCore's
TradingView-checked trailing cases. Tick 0.01; one unit per trade."""
import pytest

import dsl
from dsl_handmade import ENTER_LONG, backtest as run, bars, only_exit
from dsl_oracle import PINE, ROOT

TICK = 0.01


# Bar 0 signals the entry, bar 1 fills it at 100.00 and issues the exit; the exit below
# is re-issued on every bar while the position is open.
RIDE = [(100.00, 100.00, 100.00, 100.00),
        (100.00, 100.20, 100.00, 100.10),
        (100.50, 102.00, 100.40, 101.50),   # open -> low -> high -> close
        (101.50, 101.70, 101.40, 101.60)]


def test_arms_rides_to_the_high_and_fills_on_the_pullback():
    # bar 2: arms at 101.00 on the way to the high 102.00, the stop trails to 101.90 and
    # the closing leg (102.00 -> 101.50) reaches it: fill at high - offset, not at 100.90
    r = run(ENTER_LONG + 'if strategy.position_size > 0\n'
            '    strategy.exit("X", "L", trail_price=101.00, trail_offset=10)\n', RIDE)
    assert only_exit(r) == (2, 101.90)
    assert r.trades[0].exit_signal == "X"


def test_slippage_applies_to_the_trailing_fill():
    r = run(ENTER_LONG + 'if strategy.position_size > 0\n'
            '    strategy.exit("X", "L", trail_price=101.00, trail_offset=10)\n', RIDE,
            ", slippage=2")
    assert only_exit(r) == (2, 101.88)


def test_short_trail_mirrors_on_open_high_low_close():
    rows = [(100.00, 100.00, 100.00, 100.00),
            (100.00, 100.00, 99.80, 99.90),
            (99.50, 99.60, 98.00, 98.50),    # open -> high -> low -> close
            (98.50, 98.60, 98.30, 98.40)]
    # bar 2: up to 99.60 first (adverse, not armed), down to 98.00 arms at 99.00 with low
    # water mark 98.00, stop 98.10; the close leg rises through it
    r = run('if bar_index == 0\n    strategy.entry("S", strategy.short)\n'
            'if strategy.position_size < 0\n'
            '    strategy.exit("X", "S", trail_price=99.00, trail_offset=10)\n', rows)
    assert only_exit(r) == (2, 98.10)
    assert r.trades[0].direction == "short"


CARRIED = [(100.00, 100.00, 100.00, 100.00),
           (100.00, 100.20, 100.00, 100.10),
           (100.50, 101.20, 100.45, 101.15),   # arms at 101.00, mark 101.20: stop 101.10
           (101.45, 101.60, 100.90, 101.00),   # open -> high -> low -> close
           (101.00, 101.10, 100.80, 100.90)]


def test_carried_trail_ratchets_on_the_new_high_before_the_fall():
    # bar 3: the open (101.45) and the high (101.60) raise the stop to 101.50 before the
    # falling leg, which fills there (not at the carried 101.10)
    r = run(ENTER_LONG + 'if strategy.position_size > 0\n'
            '    strategy.exit("X", "L", trail_price=101.00, trail_offset=10)\n', CARRIED)
    assert only_exit(r) == (3, 101.50)


@pytest.mark.parametrize("stop,fill", [(101.42, 101.42), (101.38, 101.40)])
def test_the_fall_fills_whichever_stop_of_the_exit_it_reaches_first(stop, fill):
    # bar 3: open 101.45 -> high 101.50 (trailed stop 101.40) -> low 100.90: a hard stop
    # above 101.40 is reached first, one below it second
    rows = CARRIED[:3] + [(101.45, 101.50, 100.90, 101.00), (101.00, 101.10, 100.80, 100.90)]
    r = run(ENTER_LONG + 'if strategy.position_size > 0\n'
            f'    strategy.exit("X", "L", stop=bar_index >= 2 ? {stop} : 90.0, '
            'trail_price=101.00, trail_offset=10)\n', rows)
    assert only_exit(r) == (3, fill)


def test_limit_reached_on_the_rise_beats_the_trail_on_the_retrace():
    rows = [(100.00, 100.00, 100.00, 100.00),
            (100.00, 100.05, 99.95, 100.00),
            (100.00, 101.00, 99.90, 100.30),   # open -> low -> high -> close
            (100.30, 100.50, 100.20, 100.40)]
    # bar 2: the rise arms the trail at 100.10 and reaches the limit 100.60 before the
    # retrace could reach the trailed stop 100.70
    r = run(ENTER_LONG + 'if strategy.position_size > 0\n'
            '    strategy.exit("X", "L", limit=100.60, trail_price=100.10, '
            'trail_offset=30)\n', rows)
    assert only_exit(r) == (2, 100.60)


def test_offset_zero_fills_at_the_activation_level():
    rows = [(100.00, 100.00, 100.00, 100.00),
            (100.00, 100.20, 99.90, 100.10),
            (100.50, 101.50, 100.40, 100.60),  # open -> low -> high -> close
            (100.60, 100.70, 100.50, 100.60)]
    # trail_points=100 from the 100.00 fill: activation 101.00; no trail_offset = 0 ticks
    r = run(ENTER_LONG + 'if strategy.position_size > 0\n'
            '    strategy.exit("X", "L", stop=95.0, limit=110.0, trail_points=100)\n', rows)
    assert only_exit(r) == (2, 101.00)


def test_gap_beyond_the_carried_stop_fills_at_the_open():
    rows = [(100.00, 100.00, 100.00, 100.00),
            (100.00, 100.20, 100.00, 100.20),  # closes beyond 100.05: armed at issue
            (100.21, 100.60, 100.21, 100.50),
            (100.50, 100.70, 100.40, 100.60)]
    # offset 0: the issue bar's high 100.20 is the mark; bar 2's open 100.21 raises the
    # stop onto itself, so the trail fills at that open
    r = run(ENTER_LONG + 'if strategy.position_size > 0\n'
            '    strategy.exit("X", "L", trail_points=5, trail_offset=0)\n', rows)
    assert only_exit(r) == (2, 100.21)


def test_extreme_before_a_mid_bar_entry_fill_stays_out_of_the_mark():
    rows = [(100.00, 100.10, 99.95, 100.00),
            (100.00, 100.20, 99.00, 99.80),    # open -> high -> low -> close: fill 99.50
            (99.80, 99.85, 99.40, 99.50),      # mark 99.85, stop 99.75, then the fall
            (99.50, 99.60, 99.40, 99.45)]
    # bar 1: the 100.20 high comes before the limit entry fills; afterwards the path
    # falls to 99.00 and rises to 99.80 (arming at 99.60, stop 99.70): no fill on bar 1
    r = run('if bar_index == 0\n'
            '    strategy.entry("L1", strategy.long, limit=99.50)\n'
            '    strategy.exit("L1X", from_entry="L1", trail_points=10, trail_offset=10)\n',
            rows)
    assert r.trades[0].entry_bar == 1 and r.trades[0].entry_price == 99.50
    assert only_exit(r) == (2, 99.75)


def test_changed_activation_rearms_the_trail():
    rows = [(100.00, 100.00, 100.00, 100.00),
            (100.00, 100.20, 100.00, 100.10),
            (100.50, 101.50, 100.45, 101.45),  # arms at 101.00 (stop 101.40), then moved
            (101.40, 101.80, 101.20, 101.60),  # through the old stop: no fill
            (101.60, 102.80, 101.50, 102.55),  # arms at 102.50, mark 102.80: fill 102.70
            (102.55, 102.60, 102.40, 102.50)]
    r = run(ENTER_LONG + 'if strategy.position_size > 0\n'
            '    strategy.exit("X", "L", trail_price=bar_index < 2 ? 101.00 : 102.50, '
            'trail_offset=10)\n', rows)
    assert only_exit(r) == (4, 102.70)


def test_live_step_gives_the_batch_trades():
    src = (ENTER_LONG + 'if strategy.position_size > 0\n'
           '    strategy.exit("X", "L", trail_price=101.00, trail_offset=10)\n')
    program = dsl.compile_source('//@version=5\nstrategy("t")\n' + src, "t.pine")
    b = bars(CARRIED)
    vm = dsl.Vm(program, mintick=TICK, mode="tradingview")
    exits = []
    for i in range(len(b)):
        for it in vm.describe_intents(vm.step(int(b.time[i]), b.open[i], b.high[i], b.low[i],
                                              b.close[i], b.volume[i])):
            if it["kind"] == "exit":
                exits.append(it)
    batch = dsl.Vm(program, mintick=TICK, mode="tradingview")
    batch.run(b.time, b.open, b.high, b.low, b.close, b.volume)
    assert vm.trades().tobytes() == batch.trades().tobytes()
    assert exits and exits[0]["trail_price"] == 101.0 and exits[0]["trail_offset"] == 10.0


def test_trail_offset_alone_is_a_compile_error():
    with pytest.raises(dsl.DslError, match="trail_offset needs trail_price or trail_points"):
        dsl.compile_source('//@version=5\nstrategy("t")\nstrategy.exit("X", trail_offset=5)\n')


def test_trailing_strategy_on_real_bars_keeps_its_invariants():
    fx = dsl.load_csv(ROOT / "strategy" / "ohlcv.csv").slice(0, 6000)
    program = dsl.compile_file(PINE / "trailing.pine")
    r = dsl.backtest(program, fx, mintick=0.00001, mode="tradingview")
    closed = [t for t in r.trades if not t.open]
    by_signal = {s: [t for t in closed if t.exit_signal == s] for s in ("LX", "LH", "SX")}
    assert all(by_signal.values()), {s: len(v) for s, v in by_signal.items()}
    for t in closed:
        lo, hi = fx.low[t.exit_bar], fx.high[t.exit_bar]
        assert lo - 1e-9 <= t.exit_price <= hi + 1e-9, t   # no slippage: inside the bar
        assert abs(t.exit_price * 1e5 - round(t.exit_price * 1e5)) < 1e-6, t  # whole ticks


def reference_long_trail(b, every, points, offset, tick):
    """Plain per-bar model of the rules for one market entry every `every` bars while flat
    and one trailing exit re-issued while long: (entry bar, exit bar, exit price) list."""
    def rt(x):
        return round(round(x / tick) * tick, 8)

    out, pending, entry, armed, wm, level = [], False, None, False, None, None
    for i in range(len(b)):
        o, h, lo, c = b.open[i], b.high[i], b.low[i], b.close[i]
        if entry is not None and level is not None:  # the exit walks this bar's path
            path = [o, h, lo, c] if h - o < o - lo else [o, lo, h, c]
            fill = None
            if not armed and o >= level:
                armed, wm = True, o
            elif armed:
                wm = max(wm, o)
            if armed and o <= rt(wm - offset * tick):
                fill = o
            for a, z in zip(path, path[1:]):
                if fill is not None:
                    break
                if z > a:
                    if not armed:
                        if z < level:
                            continue
                        armed = True
                        if offset == 0:
                            fill = rt(max(a, level))
                            break
                        wm = z
                    else:
                        wm = max(wm, z)
                elif z < a and armed and z <= rt(wm - offset * tick):
                    fill = min(a, rt(wm - offset * tick))
            if fill is not None:
                out.append((entry[0], i, fill))
                entry, level, armed = None, None, False
        if pending:
            entry, pending = (i, o), False
        # the script at this bar's close
        if entry is None and i % every == 0:
            pending = True
        if entry is not None:  # strategy.exit issued or re-issued: takes in this bar
            level = rt(entry[1] + points * tick)
            if not armed and c > level:
                armed, wm = True, level
            if armed:
                wm = max(wm, h)
    return out


@pytest.mark.parametrize("points,offset", [(5, 15), (0, 25), (10, 0)])
def test_matches_a_plain_reference_on_real_bars(points, offset):
    fx = dsl.load_csv(ROOT / "strategy" / "ohlcv.csv")
    program = dsl.compile_source(
        '//@version=5\nstrategy("t")\n'
        'if strategy.position_size == 0 and bar_index % 7 == 0\n'
        '    strategy.entry("L", strategy.long)\n'
        'if strategy.position_size > 0\n'
        f'    strategy.exit("X", "L", trail_points={points}, trail_offset={offset})\n')
    r = dsl.backtest(program, fx, mintick=0.00001, mode="tradingview")
    ours = [(t.entry_bar, t.exit_bar, round(t.exit_price, 8)) for t in r.trades if not t.open]
    ref = reference_long_trail(fx, 7, points, offset, 0.00001)
    assert len(ours) > 90
    assert ours == ref
