"""Position accounting (pine-subset.md 13.6) and which trades an exit covers (13.1)."""
import numpy as np
import pytest

from dsl_handmade import backtest


def plotted(body, rows, header=""):
    return backtest(body, rows, header, plots=True).plots


def test_avg_price_of_one_fill_is_the_fill_price_exactly():
    # 476 * 0.3 / 0.3 is 475.99999999999994 in doubles; TradingView shows 476
    rows = [(476.0, 477.0, 475.0, 476.0)] * 2 + [(476.0, 476.0, 476.0, 476.0)]
    for qty in (0.3, 0.7, 1.1):
        p = plotted(f'if bar_index == 0\n    strategy.entry("L", strategy.long, qty={qty})\n'
                    'plot(strategy.position_avg_price, "avg")\n', rows)
        assert np.isnan(p["avg"][0])
        assert p["avg"][1] == 476.0 and p["avg"][2] == 476.0


def test_avg_price_weights_pyramided_fills_by_quantity():
    rows = [(100.0, 100.0, 100.0, 100.0), (100.01, 100.01, 100.01, 100.01),
            (100.04, 100.04, 100.04, 100.04), (100.04, 100.04, 100.04, 100.04)]
    p = plotted('if bar_index <= 1\n'
                '    strategy.entry(bar_index == 0 ? "A" : "B", strategy.long, '
                'qty=bar_index == 0 ? 0.3 : 0.1)\n'
                'plot(strategy.position_avg_price, "avg")\n', rows, ", pyramiding=2")
    assert p["avg"][1] == 100.01
    assert abs(p["avg"][2] - (100.01 * 0.3 + 100.04 * 0.1) / 0.4) < 1e-12


def test_pointvalue_scales_profit_and_is_syminfo_pointvalue():
    rows = [(70.0, 70.0, 70.0, 70.0), (70.0, 71.0, 69.0, 70.5), (70.5, 71.0, 70.0, 71.0),
            (71.0, 71.0, 71.0, 71.0)]
    r = backtest('if bar_index == 0\n    strategy.entry("L", strategy.long)\n'
                 'if bar_index == 2\n    strategy.close("L")\n'
                 'plot(syminfo.pointvalue, "pv")\nplot(strategy.openprofit, "op")\n', rows,
                 tick=0.025, pointvalue=500, plots=True)
    t = r.trades[0]
    assert (t.entry_price, t.exit_price) == (70.0, 71.0)
    assert t.pnl == 500.0 and t.runup == 500.0 and t.drawdown == -500.0
    assert (r.plots["pv"] == 500).all()
    assert r.plots["op"][1] == 250.0 and r.plots["op"][2] == 500.0


@pytest.mark.parametrize("exit_bars,closed", [("0", 1), ("0 or bar_index == 3", 2)])
def test_exit_with_from_entry_covers_entries_placed_up_to_its_call(exit_bars, closed):
    rows = [(100.0, 100.0, 100.0, 100.0)] + [(100.0, 101.0, 99.0, 100.0)] * 4 + \
        [(100.0, 106.0, 99.0, 105.0), (105.0, 105.0, 105.0, 105.0)]
    # entries placed on bars 0 and 3 (filled on 1 and 4); the limit is reached on bar 5
    r = backtest('if bar_index == 0 or bar_index == 3\n    strategy.entry("L", strategy.long)\n'
                 f'if bar_index == {exit_bars}\n    strategy.exit("X", "L", limit=105.0)\n',
                 rows, ", pyramiding=2")
    done = [t for t in r.trades if not t.open]
    assert [(t.entry_bar, t.exit_bar, t.exit_price) for t in done] == \
        [(1, 5, 105.0), (4, 5, 105.0)][:closed]
    assert len(r.trades) == 2
