"""strategy.risk.allow_entry_in (pine-subset.md 13.1): an entry in the other direction only
closes the open position. Checked against the RSI Strategy's TradingView trade list: with
one direction allowed, the trades are exactly the export's trades of that direction."""
import pytest

import dsl
from dsl_oracle import PINE, ROOT, compare, load_trades
from pyengine.engine.strategies import StrategyRunner, StrategySpec
from pyengine.ledger import Bar

TICK = 0.00001


@pytest.fixture(scope="module")
def fx():
    return dsl.load_csv(ROOT / "strategy" / "ohlcv.csv")


@pytest.mark.parametrize("allowed,mode", [("long", "tradingview"), ("long", "spot"),
                                          ("short", "tradingview")])
def test_one_direction_gives_that_directions_trades_of_the_export(fx, allowed, mode):
    src = (PINE / "rsi.pine").read_text() + \
        f"strategy.risk.allow_entry_in(strategy.direction.{allowed})\n"
    program = dsl.compile_source(src, "rsi_allow.pine")
    result = dsl.backtest(program, fx, mintick=TICK, mode=mode)
    expected = [t for t in load_trades("rsi_trades.csv") if t["direction"] == allowed]
    assert len(expected) > 90
    problems = compare(result.trades, expected, TICK)
    assert problems == [], "\n".join(problems[:10])


def test_all_directions_is_the_default(fx):
    src = (PINE / "rsi.pine").read_text()
    plain = dsl.backtest(dsl.compile_source(src), fx.slice(0, 3000), mintick=TICK,
                         mode="tradingview")
    both = dsl.backtest(dsl.compile_source(
        src + "strategy.risk.allow_entry_in(strategy.direction.all)\n"), fx.slice(0, 3000),
        mintick=TICK, mode="tradingview")
    assert [(t.entry_bar, t.exit_bar, t.direction) for t in plain.trades] == \
        [(t.entry_bar, t.exit_bar, t.direction) for t in both.trades]


@pytest.mark.parametrize("body,where,message", [
    ('if close > open\n    strategy.risk.allow_entry_in(strategy.direction.long)\n', "4:5",
     "inside a block or function"),
    ('strategy.risk.allow_entry_in(close > open ? strategy.direction.long : '
     'strategy.direction.short)\n', "3:30", "must be a constant"),
    ('strategy.risk.allow_entry_in("up")\n', "3:30", "needs strategy.direction"),
    ('strategy.risk.max_drawdown(10, strategy.percent_of_equity)\n', "3:1",
     "not supported yet: strategy.risk.max_drawdown"),
])
def test_bad_calls_are_compile_errors(body, where, message):
    with pytest.raises(dsl.DslError) as exc:
        dsl.compile_source('//@version=5\nstrategy("t")\n' + body, "t.pine")
    assert f"t.pine:{where}" in str(exc.value) and message in str(exc.value)


def test_engine_turns_a_disallowed_short_entry_into_an_exit(tmp_path):
    pine = tmp_path / "flip.pine"
    pine.write_text('//@version=5\nstrategy("t")\n'
                    'strategy.risk.allow_entry_in(strategy.direction.long)\n'
                    'if bar_index == 1\n    strategy.entry("L", strategy.long)\n'
                    'if bar_index == 3\n    strategy.entry("S", strategy.short)\n')
    decisions = []
    runner = StrategyRunner([StrategySpec("s", pine, ["BTCUSDT"])], lambda s: (0.01, 0.00001),
                            decisions.append, lambda s: True)
    for i in range(5):
        t = 1_704_067_200_000 + 60_000 * i
        runner.on_bar("BTCUSDT", "1m", Bar(t, t + 59_999, 100.0, 101.0, 99.0, 100.5, 10.0))
    assert [(d.kind, d.bar_open_ms) for d in decisions] == [
        ("entry", 1_704_067_260_000), ("exit", 1_704_067_380_000)]


def test_the_intent_of_a_disallowed_entry_is_a_close_all():
    program = dsl.compile_source('//@version=5\nstrategy("t")\n'
                                 'strategy.risk.allow_entry_in(strategy.direction.long)\n'
                                 'strategy.entry("S", strategy.short)\n'
                                 'strategy.entry("L", strategy.long)\n')
    vm = dsl.Vm(program, mode="spot")
    kinds = [(i["kind"], i["id"]) for i in vm.describe_intents(vm.step(0, 1, 1, 1, 1))]
    assert kinds == [("close_all", "S"), ("entry", "L")]
    assert vm.refused_shorts == 0
