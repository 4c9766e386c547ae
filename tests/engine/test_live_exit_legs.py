"""What the live engine loads: stop, take-profit and trailing legs of strategy.exit run
engine-side; partial exits (qty/qty_percent) are refused when the strategy loads, naming
the line. The runner hands every strategy.exit of a bar to the exit legs."""
import pathlib
from decimal import Decimal

import pytest

from pyengine.engine.exits import ExitLegs
from pyengine.engine.strategies import StrategyRunner, StrategySpec
from pyengine.errors import UserError
from pyengine.ledger import Bar
from pyengine.symbols import SymbolSpec

LIBRARY = pathlib.Path(__file__).resolve().parents[2] / "dsl" / "library"
HEAD = '//@version=5\nstrategy("t")\nif close > open\n    strategy.entry("L", strategy.long)\n'
SPEC = SymbolSpec("BTCUSDT", "TRADING", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), 2, 5)


def _load(path):
    return StrategyRunner([StrategySpec("s", path, ["BTCUSDT"])], lambda s: (0.01, 0.00001),
                          lambda d: None, lambda s: True)


@pytest.mark.parametrize("leg", ["limit=close * 1.02", "profit=200", "limit=na, profit=50",
                                 "trail_points=100, trail_offset=20", "trail_price=close * 1.01",
                                 "qty_percent=100, profit=10"])
def test_take_profit_and_trailing_legs_load(tmp_path, leg):
    pine = tmp_path / "legs.pine"
    pine.write_text(HEAD + f'strategy.exit("X", "L", {leg}, stop=close * 0.98)\n')
    _load(pine)
    _load(LIBRARY / "dual_ma_trend.pine")


@pytest.mark.parametrize("part", ["qty=0.5", "qty_percent=50", "qty_percent=close > 1 ? 50 : 100",
                                  "qty=1, trail_points=10, trail_offset=5"])
def test_partial_exits_are_refused_naming_the_line(tmp_path, part):
    pine = tmp_path / "part.pine"
    pine.write_text(HEAD + f'strategy.exit("X", "L", {part}, profit=100, loss=100)\n')
    with pytest.raises(UserError, match=r"part\.pine:5: cannot run live: strategy\.exit "
                                        r"partial exits \(qty/qty_percent\)"):
        _load(pine)


def test_every_strategy_exit_reaches_the_legs(tmp_path):
    pine = tmp_path / "legs.pine"
    pine.write_text('//@version=5\nstrategy("t")\n'
                    'strategy.exit("TP", "L", profit=100, trail_points=50, trail_offset=10)\n'
                    'strategy.exit("SL", "L", stop=close - 3)\n')
    runner = _load(pine)
    bands = []
    runner.exits = legs = ExitLegs({"BTCUSDT": SPEC}, lambda *a: None,
                                   band=lambda s, lo, hi: bands.append((lo, hi)))
    runner.on_bar("BTCUSDT", "1m", Bar(0, 59_999, 100.0, 101.0, 99.0, 100.0, 1.0))
    legs.on_position("s", "BTCUSDT", Decimal("1"), Decimal("100"))
    assert bands[-1] == (9700, 10050)       # stop 97.00; the trailing leg arms at 100.50
    assert sorted(legs.positions[("s", "BTCUSDT")].legs) == ["SL", "TP"]
