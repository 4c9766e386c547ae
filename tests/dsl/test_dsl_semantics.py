"""Language and broker semantics on real bars (the oracle forex series and ZECUSDT),
each checked against an independent numpy/Python reference."""
import numpy as np
import pytest

import dsl
from dsl_oracle import ROOT
from pyengine import bundled

TICK = 0.00001


@pytest.fixture(scope="module")
def fx():
    return dsl.load_csv(ROOT / "strategy" / "ohlcv.csv").slice(0, 400)


def plots(src, bars, version=5, **kw):
    head = f'//@version={version}\nindicator("t")\n' if "strategy(" not in src else \
        f"//@version={version}\n"
    return dsl.run_batch(dsl.compile_source(head + src, "t.pine"), bars, mintick=TICK,
                         **kw).plots


def rolling_mean(x, n):
    out = np.full(len(x), np.nan)
    c = np.convolve(x, np.ones(n) / n, mode="valid")
    out[n - 1:] = c
    return out


def test_var_history_and_builtins(fx):
    p = plots("var c = 0\nc += 1\nplot(c, \"c\")\nplot(c[1], \"c1\")\n"
              "plot(close[3], \"close3\")\nplot(bar_index, \"bi\")", fx)
    n = len(fx)
    assert np.array_equal(p["c"], np.arange(1, n + 1))
    assert np.isnan(p["c1"][0]) and np.array_equal(p["c1"][1:], np.arange(1, n))
    assert np.isnan(p["close3"][:3]).all() and np.array_equal(p["close3"][3:], fx.close[:-3])
    assert np.array_equal(p["bi"], np.arange(n))


def test_each_call_site_has_its_own_state(fx):
    p = plots("f(x) => ta.sma(x, 3)\nplot(f(close), \"a\")\nplot(f(open), \"b\")", fx)
    np.testing.assert_allclose(p["a"], rolling_mean(fx.close, 3), rtol=1e-12)
    np.testing.assert_allclose(p["b"], rolling_mean(fx.open, 3), rtol=1e-12)


def test_ta_in_a_branch_sees_only_the_bars_it_ran_on(fx):
    p = plots("x = bar_index % 2 == 0 ? ta.sma(close, 3) : na\nplot(x, \"x\")", fx)
    even = fx.close[::2]
    ref = np.full(len(fx), np.nan)
    ref[::2] = rolling_mean(even, 3)
    np.testing.assert_allclose(p["x"], ref, rtol=1e-12)


def test_na_rules(fx):
    p = plots("plot(close / 0, \"d\")\nplot(na(close / 0) ? 1 : 0, \"isna\")\n"
              "plot(math.max(na, close), \"mx\")\nplot(nz(close[1], -1), \"nz\")\n"
              "plot(close[1] > 0 ? 1 : 0, \"cmp\")", fx)
    assert np.isnan(p["d"]).all() and (p["isna"] == 1).all() and np.isnan(p["mx"]).all()
    assert p["nz"][0] == -1 and p["cmp"][0] == 0  # comparisons with na are false


@pytest.mark.parametrize("version,expected", [(5, 3), (6, 3.5)])
def test_const_int_division(fx, version, expected):
    assert plots("plot(7 / 2, \"q\")", fx, version=version)["q"][0] == expected


@pytest.mark.parametrize("version,first", [(5, 6), (6, 10)])
def test_and_is_lazy_in_v6_only(fx, version, first):
    # the right side holds state: in v6 it only runs on even bars
    p = plots("v = bar_index % 2 == 0 and ta.cum(1.0) > 5\nplot(v ? 1 : 0, \"v\")", fx,
              version=version)
    assert int(np.argmax(p["v"] == 1)) == first


@pytest.mark.parametrize("version,first", [(5, 6), (6, 10)])
def test_and_in_an_if_condition_keeps_each_versions_evaluation(fx, version, first):
    # an if condition compiles to one jump per operand; v5 still runs the stateful right side
    p = plots("x = 0\nif bar_index % 2 == 0 and ta.cum(1.0) > 5\n    x := 1\nplot(x, \"v\")", fx,
              version=version)
    assert int(np.argmax(p["v"] == 1)) == first


def test_if_on_a_pure_and_chain_agrees_with_the_evaluated_value(fx):
    from pyengine._core import lib
    src = ("r = ta.rsi(close, 5)\nm = close - open\nc = close > open and r > 50 and m\n"
           "x = 0\ny = 0\nif close > open and r > 50 and m\n    x := 1\nif c\n    y := 1\n"
           "plot(x, \"x\")\nplot(y, \"y\")")
    p = plots(src, fx)
    assert np.array_equal(p["x"], p["y"]) and set(p["x"]) == {0, 1}
    code = dsl.compile_source('//@version=5\nindicator("t")\n' + src, "t.pine").code
    ops = [ins[0] for ins in code]
    assert ops.count(lib.PE_OP_AND) + ops.count(lib.PE_OP_JF_AND) == 2  # only c's two


def run_strategy(body, bars, mode="tradingview", header="", **kw):
    src = f'//@version=5\nstrategy("t"{header})\n' + body
    program = dsl.compile_source(src, "t.pine")
    return dsl.backtest(program, bars, mintick=TICK, mode=mode, **kw)


def test_exit_profit_ticks_from_the_fill_price(fx):
    k = 50
    r = run_strategy(f"if bar_index == {k}\n    strategy.entry(\"L\", strategy.long)\n"
                     "strategy.exit(\"X\", \"L\", profit=30, loss=100000)\n", fx)
    t = r.trades[0]
    entry = fx.open[k + 1]
    tp = round(entry + 30 * TICK, 5)
    assert t.entry_bar == k + 1 and t.entry_price == entry
    j = next(j for j in range(k + 1, len(fx)) if fx.high[j] >= tp - 1e-12)
    assert t.exit_bar == j
    assert t.exit_price == pytest.approx(fx.open[j] if j > k + 1 and fx.open[j] > tp else tp,
                                         abs=1e-12)


def test_process_orders_on_close_and_immediately(fx):
    r = run_strategy("if bar_index == 20\n    strategy.entry(\"L\", strategy.long)\n"
                     "if bar_index == 30\n    strategy.close(\"L\")\n", fx,
                     header=", process_orders_on_close=true")
    t = r.trades[0]
    assert (t.entry_bar, t.entry_price) == (20, fx.close[20])
    assert (t.exit_bar, t.exit_price) == (30, fx.close[30])
    r = run_strategy("if bar_index == 20\n    strategy.entry(\"L\", strategy.long)\n"
                     "if bar_index == 30\n    strategy.close(\"L\", immediately=true)\n"
                     "plot(strategy.position_size)", fx)
    assert (r.trades[0].exit_bar, r.trades[0].exit_price) == (30, fx.close[30])


def test_pyramiding_and_strategy_order(fx):
    body = "".join(f"if bar_index == {b}\n    strategy.entry(\"L{b}\", strategy.long)\n"
                   for b in (10, 20, 30))
    r = run_strategy(body, fx, header=", pyramiding=2")
    assert [t.entry_bar for t in r.trades] == [11, 21]
    r = run_strategy("if bar_index == 10\n    strategy.order(\"B\", strategy.long, qty=3)\n"
                     "if bar_index == 20\n    strategy.order(\"S\", strategy.short, qty=1)\n", fx)
    closed = [t for t in r.trades if not t.open]
    assert [(t.qty, t.exit_bar) for t in closed] == [(1.0, 21)]
    assert sum(t.qty for t in r.trades if t.open) == 2.0


def test_spot_mode(fx):
    # a short entry whose direction is only known per bar is refused and counted
    r = run_strategy("d = bar_index % 2 == 0 ? strategy.long : strategy.short\n"
                     "if bar_index == 11 or bar_index == 20\n    strategy.entry(\"E\", d)\n",
                     fx, mode="spot")
    assert r.refused_shorts == 1 and [t.entry_bar for t in r.trades] == [21]
    # spot never sells more than it holds
    r = run_strategy("if bar_index == 10\n    strategy.order(\"B\", strategy.long, qty=2)\n"
                     "if bar_index == 20\n    strategy.order(\"S\", strategy.short, qty=5)\n",
                     fx, mode="spot")
    assert [t.qty for t in r.trades] == [2.0] and not r.trades[0].open


def test_percent_of_equity_sizing_rounds_down_to_the_lot_step():
    bars = dsl.load_csv(bundled.ZECUSDT_1M).slice(0, 200)
    src = ('//@version=5\nstrategy("t", initial_capital=1000, default_qty_type='
           'strategy.percent_of_equity, default_qty_value=50, commission_value=0.1)\n'
           'if bar_index == 5\n    strategy.entry("L", strategy.long)\n')
    r = dsl.backtest(dsl.compile_source(src, "t"), bars, mintick=0.01, qty_step=0.001)
    qty = r.trades[0].qty
    budget = 1000 * 0.5 / (bars.close[5] * 1.001)
    assert qty == pytest.approx(np.floor(budget * 1000 + 1e-9) / 1000, abs=1e-12)


def test_trade_accessors(fx):
    r = run_strategy("if bar_index == 10\n    strategy.entry(\"L\", strategy.long)\n"
                     "if bar_index == 20\n    strategy.close(\"L\")\n"
                     "plot(strategy.opentrades.entry_bar_index(0), \"ob\")\n"
                     "plot(strategy.closedtrades.entry_price(0), \"ce\")\n"
                     "plot(strategy.closedtrades.exit_price(0), \"cx\")\n"
                     "plot(strategy.closedtrades.profit(0), \"cp\")\n"
                     "plot(strategy.opentrades.entry_id(0) == \"L\" ? 1 : 0, \"oid\")\n", fx,
                     plots=True)
    p = r.plots
    assert np.isnan(p["ob"][:11]).all() and (p["ob"][11:21] == 11).all()
    assert np.isnan(p["ob"][21:]).all() and (p["oid"][11:21] == 1).all()
    assert np.isnan(p["ce"][:21]).all() and (p["ce"][21:] == fx.open[11]).all()
    assert (p["cx"][21:] == fx.open[21]).all()
    assert p["cp"][25] == pytest.approx(fx.open[21] - fx.open[11], abs=1e-12)


@pytest.mark.parametrize("fmt", ["", ", \"#.##\"", ", \"0.000\"", ", format.percent",
                                 ", format.mintick"])
def test_tostring_matches_its_constant_folding_twin(fx, fmt):
    from dsl.builtins import format_number
    program = dsl.compile_source(
        '//@version=5\nstrategy("t")\nx = close * 1000 - 1130\n'
        f'strategy.entry("E" + str.tostring(x{fmt}), strategy.long)\n', "t")
    vm = dsl.Vm(program, mintick=TICK)
    vm.run(fx.time, fx.open, fx.high, fx.low, fx.close)
    ids = [d["id"] for d in vm.describe_intents(vm.take_intents())]
    x = fx.close * 1000 - 1130
    if "mintick" in fmt:
        want = [f"E{v:.5f}" for v in np.floor(x * 1e5 + 0.5) / 1e5]
    else:
        code, dec = (0, 10) if not fmt else {
            "#.##": (1, 2), "0.000": (2, 3), "format.percent": (4, 2)}[fmt.strip(', "')]
        want = ["E" + format_number(float(v), code, dec) for v in x]
    assert ids == want


def test_stop_limit_entry(fx):
    k = 40
    stop = round(float(fx.high[k]) + 10 * TICK, 5)
    r = run_strategy(f"if bar_index == {k}\n    strategy.entry(\"SL\", strategy.long, "
                     f"stop={stop!r}, limit={stop + 5 * TICK!r})\n", fx)
    j = next(j for j in range(k + 1, len(fx)) if fx.high[j] >= stop)
    t = r.trades[0]
    # the stop turns the order into a limit at stop+5 ticks, which the price at the stop
    # already satisfies: it fills at the stop (or at the open when it gapped past it)
    assert t.entry_bar == j
    assert t.entry_price == pytest.approx(max(stop, fx.open[j]), abs=1e-12)


def test_v4_when_argument(fx):
    src = ('//@version=4\nstrategy("w")\nstrategy.entry("L", strategy.long, when=bar_index == 15)\n'
           'strategy.close("L", when=bar_index == 25)\n')
    r = dsl.backtest(dsl.compile_source(src, "w.pine"), fx, mintick=TICK, mode="tradingview")
    assert [(t.entry_bar, t.exit_bar) for t in r.trades] == [(16, 26)]
    with pytest.raises(dsl.DslError, match="'when' argument was removed in v6"):
        dsl.compile_source(src.replace("version=4", "version=6"), "w.pine")


def test_calendar_variables_in_utc():
    from datetime import datetime, timezone
    bars = dsl.load_csv(bundled.ZECUSDT_1M)
    idx = np.linspace(0, len(bars) - 1, 4000).astype(int)
    sub = dsl.Bars.from_arrays(bars.time[idx], bars.open[idx], bars.high[idx], bars.low[idx],
                               bars.close[idx])
    names = ["year", "month", "dayofmonth", "dayofweek", "hour", "minute", "second"]
    p = plots("".join(f"plot({n}, \"{n}\")\n" for n in names), sub)
    for i, ms in enumerate(sub.time):
        d = datetime.fromtimestamp(ms / 1000, timezone.utc)
        want = [d.year, d.month, d.day, (d.isoweekday() % 7) + 1, d.hour, d.minute, d.second]
        assert [p[n][i] for n in names] == want


@pytest.mark.parametrize("choice", ["SMA", "EMA", "none"])
def test_switch_and_while(fx, choice):
    src = ('ma = input.string("EMA", "MA")\nv = switch ma\n    "SMA" => ta.sma(close, 5)\n'
           '    "EMA" => ta.ema(close, 5)\n    => close\n'
           'w = switch\n    close > open => 1\n    close < open =>\n        x = -1\n        x\n'
           '    => 0\n'
           'i = 0\nacc = 0.0\nwhile true\n    i += 1\n    if i > 4\n        break\n'
           '    acc += close[i]\n'
           'plot(v, "v")\nplot(w, "w")\nplot(acc, "acc")\n')
    program = dsl.compile_source('//@version=5\nindicator("s")\n' + src, "s",
                                 inputs={"MA": choice})
    p = dsl.run_batch(program, fx).plots
    if choice == "SMA":
        np.testing.assert_allclose(p["v"], rolling_mean(fx.close, 5), rtol=1e-12)
    elif choice == "none":
        assert np.array_equal(p["v"], fx.close)
    else:
        assert np.isnan(p["v"][:4]).all() and p["v"][4] == pytest.approx(fx.close[:5].mean())
    assert np.array_equal(p["w"], np.sign(fx.close - fx.open))
    ref = np.array([fx.close[max(i - 4, 0):i][::-1].sum() if i >= 4 else np.nan
                    for i in range(len(fx))])
    np.testing.assert_allclose(p["acc"][4:], ref[4:], rtol=1e-12)
