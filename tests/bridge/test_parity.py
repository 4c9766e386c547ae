"""Freqtrade's own backtest vs ours on the exported strategy, on the bundled real ZECUSDT klines.

Targets: every entry/exit signal equal on every candle after the startup candles; trades equal
(entry and exit candle and price, to half a tick) for >= 99 %; every other difference classified
as one of the documented Freqtrade backtesting assumptions (compare.EXPLANATIONS). On these
candles (and over the five months of the long run) the only difference left is a trade still
open at the end, which Freqtrade force-exits: the exported scripts' exit_fill_model="freqtrade"
(pine-subset.md 13.9) reproduces Freqtrade's stoploss, ROI and trailing-stop candle rules.
"""
from __future__ import annotations

import pathlib

import pytest

from dsl.freqtrade import compare
from dsl.freqtrade.parity import parity

import os

LONG = os.environ.get("PYENGINE_LONG") == "1"

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORKSPACE = ROOT / "tools/freqtrade/user_data/strategies"
PUBLIC = ROOT / "tests/bridge/strategies"
SAMPLE = pathlib.Path(__import__("freqtrade").__file__).parent / "templates" / "sample_strategy.py"

# (file, timerange of the default run). The long run uses five months for every strategy.
CASES = [
    (SAMPLE, "20260301-20260315"),
    (WORKSPACE / "RsiMeanReversion.py", "20260301-20260310"),
    (WORKSPACE / "BollingerMeanReversion.py", "20260301-20260310"),
    (WORKSPACE / "DualMaTrend.py", "20260301-20260310"),
    (PUBLIC / "RsiRoiTable.py", "20260301-20260320"),
    (PUBLIC / "EmaCrossTrailing.py", "20260301-20260401"),
    (PUBLIC / "BollingerConditions.py", "20260301-20260310"),
    (PUBLIC / "MacdTrend.py", "20260301-20260320"),
    (PUBLIC / "EmaRangeHyperopt.py", "20260301-20260310"),
    (PUBLIC / "PandasIdioms.py", "20260301-20260310"),
]
LONG_ONLY = [(WORKSPACE / "EmaCrossRsi.py", None)]


def _run(path, datadir, timerange):
    return parity(path, datadir, timerange="20260301-20260801" if LONG else timerange)


@pytest.mark.parametrize("path,timerange", CASES, ids=lambda x: getattr(x, "stem", x))
def test_parity(path, timerange, ft_data):
    result = _run(path, ft_data, timerange)
    r = result.report
    text = compare.render(r, result.export.strategy.name, 0.99)
    print(text)
    assert r.signal_total > 1000
    assert r.signal_ratio == 1.0, text
    assert r.comparable >= 5, "too few trades to compare"
    assert not r.unexplained, text
    assert r.matched_ratio >= 0.99, text
    assert {row.reason for row in r.rows if row.status != "matched"} <= {"end_of_data"}, text


def test_trailing_stop_raised_and_hit_inside_a_candle_matches(ft_data):
    """Freqtrade raises a trailing stop with a candle's high and tests the same candle's low,
    and on the entry candle assumes the worst case max(low, open * (1 + offset - positive));
    the exported script's exit_fill_model="freqtrade" does the same. This window holds two
    entry-candle trailing exits and many raised-and-hit ones (TradingView's path rules got
    about 12 % of them wrong)."""
    result = _run(PUBLIC / "EmaCrossTrailing.py", ft_data, "20260601-20260610")
    r = result.report
    text = compare.render(r, "EmaCrossTrailing", 0.99)
    print(text)
    assert r.signal_ratio == 1.0 and not r.unexplained and r.matched_ratio == 1.0, text
    trailing = [row for row in r.rows if row.status == "matched" and row.ft.reason == "trailing_stop_loss"]
    assert len(trailing) >= 10, text
    assert sum(row.ft.exit_time == row.ft.entry_time for row in trailing) >= 2, text


# Freqtrade's other trailing settings (it refuses trailing_only_offset_is_reached without a
# trailing_stop_positive), each exported to a trail_percent leg (risk_rules.trailing_leg)
TRAILING_VARIANTS = {
    "plain": "    trailing_stop = True\n",
    "positive_below_offset_too": "    trailing_stop = True\n    trailing_stop_positive = 0.01\n"
                                 "    trailing_stop_positive_offset = 0.02\n",
    "positive_zero_offset": "    trailing_stop = True\n    trailing_stop_positive = 0.005\n",
}


@pytest.mark.parametrize("variant", TRAILING_VARIANTS)
def test_trailing_variants(variant, ft_data, tmp_path):
    src = (PUBLIC / "EmaCrossTrailing.py").read_text()
    settings = ("    trailing_stop = True\n    trailing_stop_positive = 0.01\n"
                "    trailing_stop_positive_offset = 0.02\n    trailing_only_offset_is_reached = True\n")
    assert settings in src
    path = tmp_path / "EmaCrossTrailing.py"
    path.write_text(src.replace(settings, TRAILING_VARIANTS[variant]))
    result = _run(path, ft_data, "20260301-20260401")
    r = result.report
    text = compare.render(r, f"EmaCrossTrailing {variant}", 0.99)
    print(text)
    assert "trailing_stop_loss" in {t.reason for t in result.freqtrade.trades}
    assert r.signal_ratio == 1.0 and not r.unexplained and r.matched_ratio >= 0.99, text


@pytest.mark.long  # the 1m benchmark strategy, ~220k candles
@pytest.mark.parametrize("path,timerange", LONG_ONLY, ids=lambda x: getattr(x, "stem", x))
def test_parity_long(path, timerange, ft_data):
    result = _run(path, ft_data, timerange)
    r = result.report
    text = compare.render(r, result.export.strategy.name, 0.99)
    print(text)
    assert r.signal_ratio == 1.0 and not r.unexplained and r.matched_ratio >= 0.99, text


def test_hyperopt_result_applies_to_both_sides(ft_data, tmp_path):
    params = tmp_path / "params.json"
    params.write_text('{"strategy_name": "SampleStrategy", "params": {"buy": {"buy_rsi": 36}, '
                      '"sell": {"sell_rsi": 64}, "roi": {"0": 0.03, "40": 0.01}, "stoploss": {"stoploss": -0.05}}}')
    result = parity(SAMPLE, ft_data, timerange="20260301-20260315", hyperopt=params)
    assert 'buy_rsi = input.int(36, "buy_rsi"' in result.export.pine
    r = result.report
    assert r.signal_ratio == 1.0 and not r.unexplained and r.matched_ratio >= 0.99, compare.render(r, "x", 0.99)
    default = parity(SAMPLE, ft_data, timerange="20260301-20260315")
    assert [t.entry_time for t in result.freqtrade.trades] != [t.entry_time for t in default.freqtrade.trades]


def _cli(capsys, *args):
    from pyengine.cli import main
    code = main(["parity", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_exit_codes(ft_data, capsys):
    code, out, err = _cli(capsys, SAMPLE, "--data", ft_data, "--timerange", "20260301-20260310")
    assert code == 0, out + err
    assert "verdict : PASS" in out and "signals :" in out
    # every trade matches; a tolerance no trade list can reach makes the verdict FAIL, exit 1
    code, out, err = _cli(capsys, PUBLIC / "EmaCrossTrailing.py", "--data", ft_data, "--timerange",
                          "20260601-20260610", "--tolerance", "1.01")
    assert code == 1, out
    assert "verdict : FAIL" in out and "matched " in out
    code, out, err = _cli(capsys, SAMPLE, "--data", ft_data / "nope")
    assert code == 2 and err.startswith("pyengine: error: --data")


def test_ignore_roi_on_entry_signal_and_no_exit_signal(ft_data, tmp_path):
    src = (PUBLIC / "RsiRoiTable.py").read_text().replace(
        "    stoploss = -0.05\n",
        "    stoploss = -0.05\n    ignore_roi_if_entry_signal = True\n    use_exit_signal = False\n")
    path = tmp_path / "RsiRoiTable.py"
    path.write_text(src)
    result = parity(path, ft_data, timerange="20260301-20260401")
    r = result.report
    text = compare.render(r, "RsiRoiTable variant", 0.99)
    assert "exit_signal" not in {t.reason for t in result.freqtrade.trades}
    assert r.signal_ratio == 1.0 and not r.unexplained and r.matched_ratio >= 0.99, text
