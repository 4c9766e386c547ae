"""Library strategy dsl/library/bollinger_mean_reversion.pine as a Freqtrade class: buy when the
close crosses back above the lower Bollinger band (20, 2), sell when it crosses above the middle
band, 1 % stop below the entry."""
import talib.abstract as ta
from pandas import DataFrame

from freqtrade.strategy import IStrategy
from technical import qtpylib


class BollingerMeanReversion(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = False
    minimal_roi = {"0": 100}
    stoploss = -0.01
    startup_candle_count = 40

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        bb = ta.BBANDS(dataframe, timeperiod=20, nbdevup=2.0, nbdevdn=2.0)
        dataframe["bb_lower"] = bb["lowerband"]
        dataframe["bb_mid"] = bb["middleband"]
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[qtpylib.crossed_above(dataframe["close"], dataframe["bb_lower"])
                      & (dataframe["volume"] > 0), "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[qtpylib.crossed_above(dataframe["close"], dataframe["bb_mid"]), "exit_long"] = 1
        return dataframe
