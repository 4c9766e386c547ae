"""Public-style Bollinger strategy in the hyperopt 'conditions list' idiom."""
from functools import reduce

import numpy as np
import talib.abstract as ta
from pandas import DataFrame

from freqtrade.strategy import BooleanParameter, IStrategy
from technical import qtpylib


class BollingerConditions(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    minimal_roi = {"0": 0.03, "60": 0.015}
    stoploss = -0.04
    startup_candle_count = 60

    use_rsi_filter = BooleanParameter(default=True, space="buy")

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        bollinger = qtpylib.bollinger_bands(qtpylib.typical_price(dataframe), window=20, stds=2)
        dataframe["bb_lowerband"] = bollinger["lower"]
        dataframe["bb_middleband"] = bollinger["mid"]
        dataframe["bb_upperband"] = bollinger["upper"]
        dataframe["bb_width"] = (dataframe["bb_upperband"] - dataframe["bb_lowerband"]) / dataframe["bb_middleband"]
        dataframe["rsi"] = ta.RSI(dataframe)
        dataframe["mfi"] = ta.MFI(dataframe)
        dataframe["low_20"] = dataframe["low"].rolling(20).min()
        dataframe["sar"] = ta.SAR(dataframe)  # plotted only: never used by a signal
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        conditions = []
        conditions.append(dataframe["close"] < dataframe["bb_lowerband"])
        conditions.append(dataframe["bb_width"] > 0.01)
        if self.use_rsi_filter.value:
            conditions.append(dataframe["rsi"] < 40)
        conditions.append(dataframe["mfi"] < 85)
        conditions.append(dataframe["volume"] > 0)
        if conditions:
            dataframe.loc[reduce(lambda x, y: x & y, conditions), "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[
            (dataframe["close"] > dataframe["bb_middleband"])
            | (np.where(dataframe["low"] < dataframe["low_20"].shift(1), 1, 0) == 1),
            "exit_long",
        ] = 1
        return dataframe
