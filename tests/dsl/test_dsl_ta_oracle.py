"""Every CORE ta.* and every implemented LATER one (and na/nz/fixnan, per-call-site
state) against the oracle tables in tests/oracle/pynecore/{ta,base}: same na positions,
values within 1e-12 relative for the moving averages / rsi / atr / macd and 1e-9 for the
rest."""
import numpy as np
import pytest

import dsl
from dsl_oracle import ROOT

TIGHT, LOOSE = 1e-12, 1e-9

# file -> (prelude, {column: (pine expression, tolerance)})
TABLES = {
    "ta/ma.csv": ("", {c: (c, TIGHT) for c in [
        "ta.sma(close, 10)", "ta.sma(hl2, 20)", "ta.sma(hlc3, 15)", "ta.ema(close, 20)",
        "ta.ema(ohlc4, 10)", "ta.rma(hlcc4, 5)", "ta.rma(high, 15)", "ta.wma(close, 5)",
        "ta.wma(close, 20)", "ta.vwma(close, 20)", "ta.hma(close, 9)", "ta.hma(close, 20)",
        "ta.swma(hlc3)"]} | {c: (c, LOOSE) for c in [
        "ta.alma(close, 5, 0.85, 6)", "ta.alma(close, 10, 0.55, 12)"]}),
    # beyond CORE (LATER in the spec), built from CORE pieces
    "ta/dmi.csv": ("[p, m, a] = ta.dmi(17, 14)", {
        "ta.dmi(17, 14).dip": ("p", LOOSE), "ta.dmi(17, 14).dim": ("m", LOOSE),
        "ta.dmi(17, 14).adx": ("a", LOOSE)}),
    "ta/wpr.csv": ("", {"ta.wpr(20)": ("ta.wpr(20)", LOOSE)}),
    "ta/tsi.csv": ("", {"ta.tsi(close, 12, 26)": ("ta.tsi(close, 12, 26)", LOOSE)}),
    "ta/linreg.csv": ("", {c: (c, LOOSE) for c in [
        "ta.linreg(close, 20, 0)", "ta.linreg(close, 20, 10)"]}),
    # correlation from running means (E[xy] - E[x]E[y]) loses ~4e-7 relative to cancellation
    # on two nearly identical smoothed series: checked to 1e-6
    "ta/correlation.csv": ("", {"correlation": (
        "ta.correlation(ta.sma(close, 20), ta.ema(close, 10), 20)", 1e-6)}),
    "ta/range.csv": ("", {"ta.range(close, 20)": ("ta.range(close, 20)", LOOSE)}),
    "ta/iii+nvi+obv.csv": ("", {c: (c, LOOSE) for c in ["ta.iii", "ta.obv", "ta.nvi"]}),
    "ta/accdist+pvi+pvt+wad+wvad.csv": ("", {c: (c, LOOSE) for c in [
        "ta.accdist", "ta.pvt", "ta.wad", "ta.pvi", "ta.wvad"]}),
    "ta/bb.csv": ("[b, u, l] = ta.bb(close, 20, 2)", {
        "ta.bb(close, 20, 2).base": ("b", TIGHT), "ta.bb(close, 20, 2).upper": ("u", LOOSE),
        "ta.bb(close, 20, 2).lower": ("l", LOOSE),
        "ta.bbw(close, 20, 2.1)": ("ta.bbw(close, 20, 2.1)", LOOSE)}),
    "ta/kc.csv": ("[b, u, l] = ta.kc(close, 20, 2)", {
        "ta.kc(close, 20, 2).base": ("b", TIGHT), "ta.kc(close, 20, 2).upper": ("u", LOOSE),
        "ta.kc(close, 20, 2).lower": ("l", LOOSE),
        "ta.kcw(close, 20, 2.1, useTrueRange=false)":
            ("ta.kcw(close, 20, 2.1, useTrueRange=false)", LOOSE)}),
    "ta/cci+cmo+cog.csv": ("", {"ta.cci(close, 20)": ("ta.cci(close, 20)", LOOSE),
                                "ta.cmo(close, 20)": ("ta.cmo(close, 20)", LOOSE),
                                "ta.cog(close, 21)": ("ta.cog(close, 21)", LOOSE)}),
    "ta/cross.csv": ("ema1 = ta.ema(close, 5)\nema2 = ta.ema(close, 11)", {
        "ta.cross(ema1, ema2)": ("ta.cross(ema1, ema2) ? 0.5 : 0", 0),
        "ta.crossover(ema1, ema2)": ("ta.crossover(ema1, ema2) ? 1 : 0", 0),
        "ta.crossunder(ema1, ema2)": ("ta.crossunder(ema1, ema2) ? -1 : 0", 0)}),
    "ta/highest+lowest.csv": ("", {c: (c, 0) for c in [
        "ta.highest(10)", "ta.highest(close, 10)", "ta.lowest(10)", "ta.lowest(close, 10)",
        "ta.highestbars(10)", "ta.highestbars(close, 10)", "ta.lowestbars(10)",
        "ta.lowestbars(close, 10)"]}),
    "ta/falling+rising.csv": ("ema = ta.ema(close, 20)", {
        "ta.falling(ema, 5)": ("ta.falling(ema, 5) ? -1 : 0", 0),
        "ta.rising(ema, 5)": ("ta.rising(ema, 5) ? 1 : 0", 0)}),
    "ta/macd.csv": ("[m, s, h] = ta.macd(close, 12, 26, 9)", {
        "ta.macd(close, 12, 26, 9).macd": ("m", TIGHT),
        "ta.macd(close, 12, 26, 9).signal": ("s", TIGHT),
        "ta.macd(close, 12, 26, 9).hist": ("h", LOOSE)}),
    "ta/mfi+rsi+stoch.csv": ("", {"ta.rsi(close, 14)": ("ta.rsi(close, 14)", TIGHT),
                                  "ta.mfi(close, 14)": ("ta.mfi(close, 14)", LOOSE),
                                  "ta.stoch(close, high, low, 20)":
                                      ("ta.stoch(close, high, low, 20)", LOOSE)}),
    "ta/pivot.csv": ("", {c: (c, 0) for c in [
        "ta.pivothigh(10, 5)", "ta.pivothigh(close, 10, 5)", "ta.pivotlow(10, 5)",
        "ta.pivotlow(close, 10, 5)"]}),
    "ta/tr.csv": ("", {"ta.tr(false)": ("ta.tr(false)", TIGHT),
                       "ta.tr(true)": ("ta.tr(true)", TIGHT), "ta.tr": ("ta.tr", TIGHT),
                       "ta.atr(14)": ("ta.atr(14)", TIGHT)}),
    "ta/valuewhen.csv": ("fast = ta.sma(close, 7)\nslow = ta.sma(close, 14)", {
        "ta.valuewhen(ta.cross(slow, fast), close, 1)":
            ("ta.valuewhen(ta.cross(slow, fast), close, 1)", 0)}),
    "ta/valuewhen_na.csv": ("cond = bar_index % 3 == 0\nsrc = bar_index % 2 == 0 ? na : close", {
        "v0": ("ta.valuewhen(cond, src, 0)", 0), "v1": ("ta.valuewhen(cond, src, 1)", 0),
        "v2": ("ta.valuewhen(cond, src, 2)", 0), "w0": ("ta.valuewhen(cond, close, 0)", 0)}),
    "ta/supertrend.csv": ("[st, dir] = ta.supertrend(3, 10)", {
        "ta.supertrend(3, 10).up": ("dir < 0 ? st : na", LOOSE),
        "ta.supertrend(3, 10).down": ("dir < 0 ? na : st", LOOSE)}),
    # beyond CORE (LATER in the spec), each a stateful C op
    "ta/sar.csv": ("", {"ta.sar(0.02, 0.02, 0.2)": ("ta.sar(0.02, 0.02, 0.2)", LOOSE)}),
    "ta/rci.csv": ("", {c: (c, LOOSE) for c in [
        "ta.rci(close, 5)", "ta.rci(close, 20)", "ta.rci(hl2, 20)"]}),
    # ppp.csv's percentile columns are titled with percentages 30 and 0, but every value
    # (bars 19..199) is the percentage-20 one: a search over lengths 5..59 and percentages
    # 0..100 finds only length 20 with 20 (17.5 for nearest rank, the same rank). The
    # table was evidently exported with 20; it is checked with 20.
    "ta/ppp.csv": ("", {
        "ta.percentile_linear_interpolation(close, 20, 30)":
            ("ta.percentile_linear_interpolation(close, 20, 20)", LOOSE),
        "ta.percentile_nearest_rank(close, 20, 0)":
            ("ta.percentile_nearest_rank(close, 20, 20)", 0),
        "ta.percentrank(close, 33)": ("ta.percentrank(close, 33)", LOOSE)}),
    "ta/min+max+median+mode.csv": ("", {
        "min(close)": ("ta.min(close)", 0), "max(close)": ("ta.max(close)", 0),
        "median(close)": ("ta.median(close, 20)", 0), "mode(close)": ("ta.mode(close, 20)", 0)}),
    # The oracle's anchors are timeframe.change("240"/"360") on 15-minute forex bars whose
    # session opens 17:00 New York (21:00 UTC in this EDT stretch): true on the first bar
    # of each 4h (6h) period counted from that open, never on the first bar of the data.
    # The session-anchored ta.vwap(close) column is not used: this project anchors the
    # 1-argument form at 00:00 UTC (crypto), not at a forex session open.
    "ta/vwap.csv": (
        "a4 = bar_index > 0 and time % 14400000 == 3600000\n"
        "a6 = bar_index > 0 and time % 21600000 == 10800000\n"
        "[v6, u6, l6] = ta.vwap(close, a6, 2.0)", {
            'ta.vwap(close, timeframe.change(&quot;240&quot;))': ("ta.vwap(close, a4)", LOOSE),
            'ta.vwap(close, timeframe.change(&quot;360&quot;), 2.0).vwap': ("v6", LOOSE),
            'ta.vwap(close, timeframe.change(&quot;360&quot;), 2.0).upper_band': ("u6", LOOSE),
            'ta.vwap(close, timeframe.change(&quot;360&quot;), 2.0).lower_band': ("l6", LOOSE)}),
    # this table's na(val) column holds 1 where val is defined and 0 where it is na
    "base/na.csv": ("val = bar_index % 2 == 0 ? bar_index : na", {
        "na(val)": ("na(val) ? 0 : 1", 0), "nz(val)": ("nz(val)", 0),
        "nz(val, 2)": ("nz(val, 2)", 0), "fixnan(val)": ("fixnan(val)", 0)}),
    "base/series_if_for.csv": (
        "float ema1 = na\nfor i = 1 to 3\n    ema1 := ta.ema(close * i, 5)\n"
        "float ema2 = na\nif bar_index % 4 == 3\n    ema2 := ta.ema(close, 10)",
        {"ema1": ("ema1", TIGHT), "ema1[1]": ("ema1[1]", TIGHT), "ema2": ("ema2", TIGHT),
         "ema2[2]": ("ema2[2]", TIGHT)}),
}


def load_table(name):
    import csv
    with open(ROOT / name, newline="") as f:
        rows = list(csv.DictReader(f))
    bars = dsl.Bars.from_arrays(
        [dsl.data._parse_time(r["time"].replace("Z", "+00:00")) for r in rows],
        *[[float(r[k]) for r in rows] for k in ("open", "high", "low", "close")],
        [float(r["Volume"]) for r in rows])
    return rows, bars


def run_columns(name, prelude, columns):
    rows, bars = load_table(name)
    src = "//@version=6\nindicator(\"oracle\")\n" + (prelude + "\n" if prelude else "")
    for i, (col, (expr, _)) in enumerate(columns.items()):
        src += f"plot({expr}, \"c{i}\")\n"
    program = dsl.compile_source(src, name)
    batch = dsl.run_batch(program, bars, mintick=0.00001)
    return rows, batch.plots


@pytest.mark.parametrize("name", sorted(TABLES))
def test_ta_matches_oracle(name):
    prelude, columns = TABLES[name]
    rows, plots = run_columns(name, prelude, columns)
    for i, (col, (expr, tol)) in enumerate(columns.items()):
        want = np.array([float(r[col]) for r in rows])
        got = plots[f"c{i}"]
        assert np.array_equal(np.isnan(want), np.isnan(got)), \
            f"{col}: na at {np.flatnonzero(np.isnan(want) != np.isnan(got))[:5]}"
        ok = ~np.isnan(want)
        err = np.abs(got[ok] - want[ok]) / np.maximum(np.abs(want[ok]), 1e-300)
        assert err.max(initial=0) <= tol, f"{col}: max relative error {err.max():.3g}"
