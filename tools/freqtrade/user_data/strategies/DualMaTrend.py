"""Library strategy dsl/library/dual_ma_trend.pine as a Freqtrade class: long while EMA(20) is
above EMA(50) (enter on the cross up, leave on the cross down), 1.5 % stop below the entry."""
import talib.abstract as ta
from pandas import DataFrame

from freqtrade.strategy import IntParameter, IStrategy
from technical import qtpylib


class DualMaTrend(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = False
    minimal_roi = {"0": 100}
    stoploss = -0.015
    startup_candle_count = 150

    fast_len = IntParameter(5, 40, default=20, space="buy")
    slow_len = IntParameter(30, 120, default=50, space="buy")

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["fast"] = ta.EMA(dataframe, timeperiod=self.fast_len.value)
        dataframe["slow"] = ta.EMA(dataframe, timeperiod=self.slow_len.value)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[qtpylib.crossed_above(dataframe["fast"], dataframe["slow"]), "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[qtpylib.crossed_below(dataframe["fast"], dataframe["slow"]), "exit_long"] = 1
        return dataframe
