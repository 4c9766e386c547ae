"""Library strategy dsl/library/rsi_mean_reversion.pine as a Freqtrade class: buy when RSI
crosses back up through the oversold level above a 200-SMA trend filter, sell when RSI reaches
the exit level, 1 % stop below the entry."""
import talib.abstract as ta
from pandas import DataFrame

from freqtrade.strategy import DecimalParameter, IntParameter, IStrategy
from technical import qtpylib


class RsiMeanReversion(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = False
    minimal_roi = {"0": 100}
    stoploss = -0.01
    startup_candle_count = 220

    rsi_len = IntParameter(7, 21, default=14, space="buy")
    oversold = DecimalParameter(10.0, 45.0, default=30.0, decimals=1, space="buy")
    exit_level = DecimalParameter(40.0, 90.0, default=55.0, decimals=1, space="sell")

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=self.rsi_len.value)
        dataframe["trend"] = ta.SMA(dataframe, timeperiod=200)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[
            qtpylib.crossed_above(dataframe["rsi"], self.oversold.value)
            & (dataframe["close"] > dataframe["trend"] * 0.98)
            & (dataframe["volume"] > 0),
            "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["rsi"] > self.exit_level.value, "exit_long"] = 1
        return dataframe
