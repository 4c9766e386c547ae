"""Exit legs the live engine cannot honour are refused when the strategy loads, naming the
line; a stop-only exit (the library strategies') loads."""
import pathlib

import pytest

from pyengine.engine.strategies import StrategyRunner, StrategySpec
from pyengine.errors import UserError

LIBRARY = pathlib.Path(__file__).resolve().parents[2] / "dsl" / "library"
HEAD = '//@version=5\nstrategy("t")\nif close > open\n    strategy.entry("L", strategy.long)\n'


def _load(path):
    return StrategyRunner([StrategySpec("s", path, ["BTCUSDT"])], lambda s: (0.01, 0.00001),
                          lambda d: None, lambda s: True)


@pytest.mark.parametrize("leg", ["limit=close * 1.02", "profit=200", "limit=na, profit=50"])
def test_take_profit_legs_are_refused(tmp_path, leg):
    pine = tmp_path / "tp.pine"
    pine.write_text(HEAD + f'strategy.exit("X", "L", {leg}, stop=close * 0.98)\n')
    with pytest.raises(UserError, match=r"tp\.pine:5: cannot run live: strategy\.exit "
                                        r"take-profit legs"):
        _load(pine)


def test_stop_only_exits_load(tmp_path):
    pine = tmp_path / "stop.pine"
    pine.write_text(HEAD + 'strategy.exit("X", "L", stop=close * 0.98, limit=na)\n')
    _load(pine)
    _load(LIBRARY / "dual_ma_trend.pine")
