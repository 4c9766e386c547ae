"""Strategies run on small hand-made bars (one minute apart), for hand-computed tests."""
import numpy as np

import dsl


def bars(rows) -> dsl.Bars:
    """rows: (open, high, low, close) tuples."""
    rows = np.asarray(rows, dtype=float)
    t = 1_704_067_200_000 + 60_000 * np.arange(len(rows))
    return dsl.Bars.from_arrays(t, rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3],
                                np.full(len(rows), 100.0))


def backtest(body: str, rows, header: str = "", tick: float = 0.01, **kw) -> dsl.Result:
    """``body`` after ``strategy("t"{header})``, long/short (tradingview mode)."""
    program = dsl.compile_source(f'//@version=5\nstrategy("t"{header})\n' + body, "t.pine")
    return dsl.backtest(program, bars(rows), mintick=tick, mode="tradingview", **kw)


ENTER_LONG = ('if bar_index == 0 and strategy.position_size == 0\n'
              '    strategy.entry("L", strategy.long)\n')


def only_exit(result: dsl.Result) -> tuple[int, float]:
    """The exit bar and price of the one closed trade."""
    closed = [t for t in result.trades if not t.open]
    assert len(closed) == 1, result.trades
    return closed[0].exit_bar, round(closed[0].exit_price, 8)
