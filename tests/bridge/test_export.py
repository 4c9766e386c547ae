"""ft-export: translation text, dead-column pruning, hyperopt results and precise errors."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap

import pytest

from dsl.freqtrade.errors import ExportError
from dsl.freqtrade.export import export_file, export_source

ROOT = pathlib.Path(__file__).resolve().parents[2]
STRATEGIES = sorted((ROOT / "tests/bridge/strategies").glob("*.py")) + \
    sorted(p for p in (ROOT / "tools/freqtrade/user_data/strategies").glob("*.py") if p.stem != "DslStrategy")
SAMPLE = pathlib.Path(__import__("freqtrade").__file__).parent / "templates" / "sample_strategy.py"

HEADER = """
import talib.abstract as ta
from pandas import DataFrame
from freqtrade.strategy import IStrategy, IntParameter
from technical import qtpylib

class S(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    minimal_roi = {"0": 0.05}
    stoploss = -0.05
"""


def strategy(indicators: str = 'dataframe["rsi"] = ta.RSI(dataframe)',
             entry: str = 'dataframe.loc[dataframe["rsi"] < 30, "enter_long"] = 1',
             extra: str = "") -> str:
    body = HEADER + textwrap.indent(textwrap.dedent(extra), "    ") + f"""
    def populate_indicators(self, dataframe, metadata):
        {indicators}
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        {entry}
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe.loc[dataframe["rsi"] > 70, "exit_long"] = 1
        return dataframe
"""
    return body


def line_of(source: str, needle: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if needle in line)


def test_sample_strategy_from_freqtrade_templates():
    pine = export_file(SAMPLE).pine
    assert pine.startswith("//@version=6\n")
    assert 'strategy("SampleStrategy"' in pine
    # TA-Lib's RSI, operation for operation (Wilder averages times 1/n)
    assert "*= (1.0 / 14)" in pine and "100.0 * (" in pine
    assert 'buy_rsi = input.int(30, "buy_rsi", minval=1, maxval=50)' in pine
    # crossed_above(rsi, buy_rsi) is qtpylib's exact definition, not ta.crossover
    assert "rsi > buy_rsi and rsi[1] <= buy_rsi" in pine
    # TEMA in TA-Lib's summation order, and the ROI table as a step function of minutes held
    assert "+ (3.0 * " in pine and "ft_roi(dur) => dur >= 60 ? 0.01 : dur >= 30 ? 0.02 : dur >= 0 ? 0.04 : na" in pine
    # columns no signal uses are not exported (SAR, HT_SINE, MFI have no Pine equivalent here)
    assert "sar" not in pine.lower().replace("strategy", "") and "htsine" not in pine and "mfi" not in pine
    # short signals are ignored because can_short is False
    assert "short_rsi" not in pine.split("enter_long =")[1]


@pytest.mark.parametrize("path", STRATEGIES, ids=lambda p: p.stem)
def test_workspace_and_public_strategies_export(path):
    import dsl

    pine = export_file(path).pine
    assert "enter_long = " in pine and "exit_long = " in pine
    assert "enter_long = false" not in pine
    program = dsl.compile_source(pine, f"{path.stem}.pine", symbol="ZECUSDT", timeframe="5")
    assert program.plots == ["enter_long", "exit_long"]


def test_trailing_stop_rules_are_emitted():
    pine = export_file(ROOT / "tests/bridge/strategies/EmaCrossTrailing.py").pine
    # Freqtrade's candle rules for the exit legs, and its worst case on the entry candle
    assert 'exit_fill_model="freqtrade", trail_entry_rise=2.00)' in pine
    # trailing_stop_positive 0.01 once the profit at the high is above the 0.02 offset
    assert "ft_act := ft_activation(ft_entry, 0.02, true)" in pine
    assert 'strategy.exit("ft", "L", limit=ft_limit, stop=ft_stop, trail_price=ft_act, trail_percent=1.00)' in pine
    # no |stoploss| trail below the offset with trailing_only_offset_is_reached
    assert "high * (1.0 - ft_sl)" not in pine


@pytest.mark.parametrize("settings,percent,below_offset", [
    ("trailing_stop = True\n", "trail_percent=5.00", False),   # trails |stoploss| from the entry
    ("trailing_stop = True\ntrailing_stop_positive = 0.007\ntrailing_stop_positive_offset = 0.013\n",
     "trail_percent=0.700", True),
])
def test_trailing_variants_and_exact_percent_literals(settings, percent, below_offset):
    pine = export_source(strategy(extra=settings), "s.py").pine
    assert percent in pine and "trail_entry_rise" not in pine
    assert ("high * (1.0 - ft_sl)" in pine) == below_offset


def test_trailing_ratio_without_an_exact_percent_is_refused():
    src = strategy(extra="trailing_stop = True\n").replace("stoploss = -0.05", "stoploss = -0.346")
    with pytest.raises(ExportError) as exc:
        export_source(src, "s.py")
    assert f"s.py:{line_of(src, 'trailing_stop = True')}:" in str(exc.value)
    assert "no percent literal" in str(exc.value) or "exactly" in str(exc.value)


def test_macd_reproduces_talib_seeding():
    pine = export_file(ROOT / "tests/bridge/strategies/MacdTrend.py").pine
    assert "bar_index >= 14 ? close : na" in pine      # fast EMA seeded where the slow one starts
    assert "bar_index >= 33 ?" in pine                  # TA-Lib emits all three outputs from bar 33


def test_hyperopt_result_overrides(tmp_path):
    result = tmp_path / "SampleStrategy.json"
    result.write_text(json.dumps({"strategy_name": "SampleStrategy", "params": {
        "buy": {"buy_rsi": 22}, "roi": {"0": 0.07, "15": 0.0}, "stoploss": {"stoploss": -0.2}}}))
    pine = export_file(SAMPLE, hyperopt=result).pine
    assert 'buy_rsi = input.int(22, "buy_rsi"' in pine
    assert "ft_roi(dur) => dur >= 15 ? 0.0 : dur >= 0 ? 0.07 : na" in pine
    assert "ft_sl = 0.2" in pine


def test_unused_untranslatable_column_is_fine_used_one_fails():
    ok = strategy(indicators='dataframe["rsi"] = ta.RSI(dataframe)\n        dataframe["sar"] = ta.SAR(dataframe)')
    export_source(ok, "ok.py")
    bad = strategy(indicators='dataframe["rsi"] = ta.SAR(dataframe)')
    with pytest.raises(ExportError) as exc:
        export_source(bad, "bad.py")
    assert f"bad.py:{line_of(bad, 'ta.SAR')}:" in str(exc.value)
    assert "TA-Lib SAR" in str(exc.value)


CASES = [
    ("loop", strategy(entry='for i in range(len(dataframe)):\n            pass'), "for i in range", "a loop"),
    ("ewm", strategy(indicators='dataframe["rsi"] = dataframe["close"].ewm(span=9).mean()'), ".ewm(", ".ewm()"),
    ("python_and", strategy(entry='dataframe.loc[(dataframe["rsi"] < 30) and (dataframe["close"] > 1), '
                                  '"enter_long"] = 1'), "and (dataframe", "'and' between columns"),
    ("future", strategy(entry='dataframe.loc[dataframe["rsi"].shift(-1) < 30, "enter_long"] = 1'),
     "shift(-1)", "negative period"),
    ("undefined", strategy(entry='dataframe.loc[dataframe["nope"] < 30, "enter_long"] = 1'), '"nope"',
     "column 'nope'"),
    ("dp", strategy(indicators='dataframe["rsi"] = self.dp.get_pair_dataframe("BTC/USDT")["close"]'),
     "self.dp", "self.dp"),
    ("custom_stoploss", strategy(extra="""
        use_custom_stoploss = True
        def custom_stoploss(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
            return -0.01 if current_profit > 0.02 else -0.05
        """), "def custom_stoploss", "custom_stoploss() with use_custom_stoploss"),
    ("informative_pairs", strategy(extra="""
        def informative_pairs(self):
            return [("BTC/USDT", "1h")]
        """), "def informative_pairs", "informative_pairs()"),
    ("informative_decorator", strategy(extra="""
        @informative("1h")
        def populate_indicators_1h(self, dataframe, metadata):
            return dataframe
        """), '@informative("1h")', "@informative"),
    ("can_short", strategy(extra="can_short = True\n"), "can_short = True", "can_short"),
    ("custom_exit", strategy(extra="""
        def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
            return None
        """), "def custom_exit", "custom_exit()"),
]


@pytest.mark.parametrize("name,source,needle,construct", CASES, ids=[c[0] for c in CASES])
def test_unsupported_constructs_name_file_line_and_construct(name, source, needle, construct):
    with pytest.raises(ExportError) as exc:
        export_source(source, "strat.py")
    msg = str(exc.value)
    assert msg.startswith(f"strat.py:{line_of(source, needle)}:"), msg
    assert f"not supported: {construct}" in msg or construct in msg, msg


def test_interface_2_is_refused_with_migration_hint():
    src = strategy().replace("populate_entry_trend", "populate_buy_trend")
    with pytest.raises(ExportError, match="interface 2.*rename it populate_entry_trend"):
        export_source(src, "v2.py")


def test_cli_reports_errors_without_traceback(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(strategy(indicators='dataframe["rsi"] = dataframe["close"].ewm(span=9).mean()'))
    proc = subprocess.run([sys.executable, "-m", "pyengine.cli", "ft-export", str(bad), "-o", str(tmp_path / "o.pine")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"pyengine: error: {bad}:")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o.pine").exists()


def test_cli_writes_the_pine_file(tmp_path):
    out = tmp_path / "sample.pine"
    proc = subprocess.run([sys.executable, "-m", "pyengine.cli", "ft-export", str(SAMPLE), "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == export_file(SAMPLE).pine


def test_class_params_dict_and_parameter_file_next_to_the_strategy(tmp_path):
    src = strategy(entry='dataframe.loc[dataframe["rsi"] < self.buy_rsi.value, "enter_long"] = 1',
                   extra='buy_rsi = IntParameter(10, 40, default=30, space="buy")\nbuy_params = {"buy_rsi": 25}\n')
    assert 'buy_rsi = input.int(25, "buy_rsi"' in export_source(src, "s.py").pine
    path = tmp_path / "S.py"
    path.write_text(src)
    (tmp_path / "S.json").write_text(json.dumps({"strategy_name": "S", "params": {"buy": {"buy_rsi": 21}}}))
    assert 'buy_rsi = input.int(21, "buy_rsi"' in export_file(path).pine   # the file wins, as in Freqtrade


def test_parameter_range_loop_maps_to_the_chosen_column():
    pine = export_file(ROOT / "tests/bridge/strategies/EmaRangeHyperopt.py").pine
    assert "ta.ema(close, buy_fast)" in pine and "ta.ema(close, buy_slow)" in pine
    loop_over_rows = strategy(indicators='for i in range(10):\n            dataframe["rsi"] = ta.RSI(dataframe)')
    with pytest.raises(ExportError, match="a loop in a populate_"):
        export_source(loop_over_rows, "rows.py")


def test_initialising_signals_to_zero_is_accepted_resetting_later_is_not():
    init = 'dataframe["enter_long"] = 0\n        dataframe.loc[:, "enter_long"] = 0\n        ' \
           'dataframe.loc[dataframe["rsi"] < 30, "enter_long"] = 1'
    assert "enter_long = (rsi < 30)" in export_source(strategy(entry=init), "s.py").pine
    reset = 'dataframe.loc[dataframe["rsi"] < 30, "enter_long"] = 1\n        dataframe["enter_long"] = 0'
    with pytest.raises(ExportError, match="assigning the whole 'enter_long' column"):
        export_source(strategy(entry=reset), "s.py")


def test_class_choice():
    two = strategy() + "\n\nclass T(IStrategy):" + strategy().split("class S(IStrategy):")[1] \
        .replace("stoploss = -0.05", "stoploss = -0.2")
    with pytest.raises(ExportError, match="pass --class NAME"):
        export_source(two, "two.py")
    assert "ft_sl = 0.2" in export_source(two, "two.py", class_name="T").pine
    with pytest.raises(ExportError, match="class 'U'"):
        export_source(two, "two.py", class_name="U")
