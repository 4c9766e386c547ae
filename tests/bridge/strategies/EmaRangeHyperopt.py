"""Public-style hyperoptable EMA strategy: one column per candidate length, chosen by parameter."""
import talib.abstract as ta
from pandas import DataFrame

from freqtrade.strategy import IntParameter, IStrategy
from technical import qtpylib


class EmaRangeHyperopt(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    minimal_roi = {"0": 0.05, "120": 0.02}
    stoploss = -0.03
    startup_candle_count = 120

    buy_fast = IntParameter(5, 15, default=9, space="buy")
    buy_slow = IntParameter(20, 60, default=30, space="buy")

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        for val in self.buy_fast.range:
            dataframe[f"ema_{val}"] = ta.EMA(dataframe, timeperiod=val)
        for val in self.buy_slow.range:
            dataframe[f"ema_{val}"] = ta.EMA(dataframe, timeperiod=val)
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[
            qtpylib.crossed_above(dataframe[f"ema_{self.buy_fast.value}"], dataframe[f"ema_{self.buy_slow.value}"])
            & (dataframe["rsi"] < 65),
            "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[
            qtpylib.crossed_below(dataframe[f"ema_{self.buy_fast.value}"], dataframe[f"ema_{self.buy_slow.value}"]),
            "exit_long"] = 1
        return dataframe
