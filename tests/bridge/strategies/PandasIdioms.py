"""Public-style strategy written with common pandas/TA-Lib idioms (function API, rolling, astype,
pct_change, a vendored qtpylib import, a tag column)."""
import talib
import talib.abstract as ta
import numpy as np
from pandas import DataFrame
from freqtrade.strategy import IStrategy, DecimalParameter
import freqtrade.vendor.qtpylib.indicators as qtpylib

class PandasIdioms(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    minimal_roi = {"0": 0.02}
    stoploss = -0.03
    buy_mult = DecimalParameter(0.9, 1.1, default=0.98, decimals=2, space="buy")

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe['ema_fast'] = ta.EMA(dataframe['close'], timeperiod=12)
        dataframe['rsi'] = talib.RSI(dataframe['close'], 14)
        dataframe['sma'] = dataframe['close'].rolling(window=20).mean()
        dataframe['vol_ma'] = dataframe['volume'].rolling(20).mean()
        dataframe['green'] = (dataframe['close'] > dataframe['open']).astype(int)
        macd = ta.MACD(dataframe)
        dataframe['macd'] = macd['macd']
        dataframe['macdsignal'] = macd['macdsignal']
        dataframe['hh'] = dataframe['high'].rolling(10).max()
        dataframe['chg'] = dataframe['close'].pct_change(3)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[
            (qtpylib.crossed_above(dataframe['macd'], dataframe['macdsignal']))
            & (dataframe['close'] > dataframe['sma'] * self.buy_mult.value)
            & (dataframe['green'] == 1)
            & (dataframe['volume'] >= dataframe['vol_ma'])
            & (dataframe['chg'].abs() < 0.05),
            ['enter_long', 'enter_tag']] = (1, 'macd_cross')
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[(dataframe['rsi'] > 75) | (dataframe['close'] < dataframe['ema_fast'] * 0.97), 'exit_long'] = 1
        return dataframe
