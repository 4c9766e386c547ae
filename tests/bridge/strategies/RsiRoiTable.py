"""Public-style RSI strategy: RSI dip with an EMA trend filter, a ROI table and a stop."""
import talib.abstract as ta
from pandas import DataFrame

from freqtrade.strategy import IntParameter, IStrategy


class RsiRoiTable(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    minimal_roi = {"0": 0.04, "30": 0.02, "60": 0.01, "120": 0}
    stoploss = -0.05
    startup_candle_count = 200

    buy_rsi = IntParameter(20, 40, default=32, space="buy")
    sell_rsi = IntParameter(60, 85, default=68, space="sell")

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        dataframe["ema200"] = ta.EMA(dataframe, timeperiod=200)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[
            (dataframe["rsi"] < self.buy_rsi.value)
            & (dataframe["rsi"] > dataframe["rsi"].shift(1))
            & (dataframe["close"] > dataframe["ema200"] * 0.97)
            & (dataframe["volume"] > 0),
            "enter_long",
        ] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[(dataframe["rsi"] > self.sell_rsi.value), "exit_long"] = 1
        return dataframe
