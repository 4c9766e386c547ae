"""EMA(9)/EMA(21) crossover + RSI(14) < 70, long-only, 2 % stop (the DSL benchmark's strategy)."""
import talib.abstract as ta
from pandas import DataFrame

from freqtrade.strategy import IStrategy
from technical import qtpylib


class EmaCrossRsi(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    can_short = False
    minimal_roi = {"0": 100}
    stoploss = -0.02
    startup_candle_count = 50

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["ema_fast"] = ta.EMA(dataframe, timeperiod=9)
        dataframe["ema_slow"] = ta.EMA(dataframe, timeperiod=21)
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[
            qtpylib.crossed_above(dataframe["ema_fast"], dataframe["ema_slow"]) & (dataframe["rsi"] < 70),
            "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[qtpylib.crossed_below(dataframe["ema_fast"], dataframe["ema_slow"]), "exit_long"] = 1
        return dataframe
