"""The exported TA-Lib functions against TA-Lib itself (the library Freqtrade strategies call),
on the bundled real ZECUSDT klines: same warm-up (na pattern) always; bit-identical values where
the Pine form can follow TA-Lib's operations, rounding-level agreement where TA-Lib 0.8 uses a
fused multiply-add or a different summation order."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib.abstract as ta

import dsl
from dsl.freqtrade.data import read_binance_csv, resample
from dsl.freqtrade.export import export_source
from pyengine import bundled

EXACT = {
    "sma": "ta.SMA(dataframe, timeperiod=20)", "ema": "ta.EMA(dataframe, timeperiod=20)",
    "dema": "ta.DEMA(dataframe, timeperiod=10)", "rsi": "ta.RSI(dataframe, timeperiod=14)",
    "macd": 'ta.MACD(dataframe)["macd"]', "bbm": 'ta.BBANDS(dataframe, timeperiod=20)["middleband"]',
    "tr": "ta.TRANGE(dataframe)", "fastk": 'ta.STOCHF(dataframe)["fastk"]', "fastd": 'ta.STOCHF(dataframe)["fastd"]',
    "slowk": 'ta.STOCH(dataframe)["slowk"]', "slowd": 'ta.STOCH(dataframe)["slowd"]',
    "willr": "ta.WILLR(dataframe, timeperiod=14)", "mom": "ta.MOM(dataframe, timeperiod=10)",
    "roc": "ta.ROC(dataframe, timeperiod=10)", "max": "ta.MAX(dataframe, timeperiod=20)",
    "min": "ta.MIN(dataframe, timeperiod=20)", "adx": "ta.ADX(dataframe, timeperiod=14)",
    "pdi": "ta.PLUS_DI(dataframe, timeperiod=14)", "mdi": "ta.MINUS_DI(dataframe, timeperiod=14)",
}
CLOSE = {
    "wma": "ta.WMA(dataframe, timeperiod=20)", "tema": "ta.TEMA(dataframe, timeperiod=9)",
    "macds": 'ta.MACD(dataframe)["macdsignal"]', "macdh": 'ta.MACD(dataframe)["macdhist"]',
    "bbu": 'ta.BBANDS(dataframe, timeperiod=20)["upperband"]', "std": "ta.STDDEV(dataframe, timeperiod=20)",
    "atr": "ta.ATR(dataframe, timeperiod=14)", "cci": "ta.CCI(dataframe, timeperiod=14)",
    "mfi": "ta.MFI(dataframe, timeperiod=14)", "sum": "ta.SUM(dataframe, timeperiod=20)",
    "rsi_ema": "ta.EMA(ta.RSI(dataframe, timeperiod=14), timeperiod=5)",
}
ALL = {**EXACT, **CLOSE}


@pytest.fixture(scope="module")
def computed():
    df = resample(read_binance_csv(bundled.ZECUSDT_1M).iloc[:100_000], "5m").reset_index(drop=True)
    ind = "\n".join(f'        dataframe["{k}"] = {v}' for k, v in ALL.items())
    cond = " & ".join(f'(dataframe["{k}"] > -1e300)' for k in ALL)
    src = (f"import talib.abstract as ta\nfrom freqtrade.strategy import IStrategy\n"
           f"class X(IStrategy):\n    timeframe = '5m'\n    stoploss = -0.1\n"
           f"    def populate_indicators(self, dataframe, metadata):\n{ind}\n        return dataframe\n"
           f"    def populate_entry_trend(self, dataframe, metadata):\n"
           f"        dataframe.loc[{cond}, 'enter_long'] = 1\n        return dataframe\n"
           f"    def populate_exit_trend(self, dataframe, metadata):\n        return dataframe\n")
    pine = export_source(src, "x.py").pine + "\n" + "\n".join(f'plot({k}, "{k}")' for k in ALL)
    program = dsl.compile_source(pine, "x.pine", symbol="ZECUSDT", timeframe="5")
    bars = dsl.Bars.from_arrays(pd.DatetimeIndex(df["date"]).as_unit("ms").asi8, df["open"], df["high"],
                                df["low"], df["close"], df["volume"])
    plots = dsl.run_batch(program, bars, mintick=0.01).plots
    return df, plots


@pytest.mark.parametrize("name", sorted(ALL))
def test_indicator(name, computed):
    df, plots = computed
    ref = np.asarray(eval(ALL[name].replace("dataframe", "df")), dtype=float)  # noqa: S307 (our table)
    ours = plots[name]
    assert (np.isnan(ref) == np.isnan(ours)).all(), f"warm-up differs: TA-Lib from bar " \
        f"{np.argmax(~np.isnan(ref))}, ours from {np.argmax(~np.isnan(ours))}"
    m = ~np.isnan(ref)
    if name in EXACT:
        assert np.array_equal(ref[m], ours[m]), f"max diff {np.max(np.abs(ref[m] - ours[m]))}"
    else:
        assert np.allclose(ours[m], ref[m], rtol=1e-9, atol=1e-9)
