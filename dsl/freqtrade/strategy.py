"""``DslStrategy``: any Pine-subset strategy inside Freqtrade (backtesting, hyperopt, plotting).

The script runs in our compiled C VM over the candles Freqtrade hands to ``populate_indicators``
(one batch call). Configure it in the Freqtrade config::

    "dsl_strategy_file": "path/to/strategy.pine",   # required
    "dsl_inputs": {"buy_rsi": 25},                    # optional input overrides, by title
    "timeframe": "5m"                                 # for scripts not made by ft-export

Two kinds of scripts:

* exported by ``pyengine ft-export``: the header carries the original Freqtrade settings
  (ROI table, stoploss, trailing stop, timeframe, ...). Freqtrade applies them itself and the VM
  supplies the ``enter_long``/``exit_long`` signals the script plots, so a round trip gives the
  original strategy's trades.
* any other DSL strategy: the VM's order intents become the signals (``strategy.entry`` long ->
  ``enter_long``; ``strategy.close``/``close_all`` -> ``exit_long``) and the stop prices of its
  ``strategy.exit`` calls become Freqtrade's stop through ``custom_stoploss``.

Every ``input.int``/``input.float`` with literal ``minval`` and ``maxval`` (and every
``input.bool``) becomes a Freqtrade hyperopt parameter in the ``buy`` space, so
``freqtrade hyperopt --strategy DslStrategy --spaces buy`` optimises the script's inputs. The VM
runs in ``populate_entry_trend``, which hyperopt re-evaluates for every epoch.
"""
from __future__ import annotations

import ast
import math
import pathlib
import re
from datetime import datetime

import numpy as np
import pandas as pd
from freqtrade.strategy import (BooleanParameter, DecimalParameter, IntParameter, IStrategy,
                                stoploss_from_absolute)

from dsl.freqtrade.risk_rules import read_settings
from pyengine.errors import UserError

_NO_ROI = {"0": 100.0}


_INPUT = re.compile(r"^\s*\w+\s*=\s*input\.(int|float|bool)\((.*)\)\s*(//.*)?$")


def _parameters(source: str) -> dict[str, tuple[str, object]]:
    """Optimisable inputs: {attribute name: (input title, Freqtrade parameter)}."""
    out: dict[str, tuple[str, object]] = {}
    for line in source.splitlines():
        m = _INPUT.match(line)
        if not m:
            continue
        try:
            call = ast.parse(f"f({m.group(2)})".replace("true", "True").replace("false", "False"),
                             mode="eval").body
            args = [ast.literal_eval(a) for a in call.args]
            kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        except (SyntaxError, ValueError):
            continue
        default = kw.get("defval", args[0] if args else None)
        title = kw.get("title", args[1] if len(args) > 1 else None)
        if title is None or default is None:
            continue
        attr = "dsl_" + re.sub(r"\W", "_", str(title))
        if m.group(1) == "bool":
            out[attr] = (title, BooleanParameter(default=bool(default), space="buy"))
        elif "minval" in kw and "maxval" in kw:
            if m.group(1) == "int":
                param = IntParameter(int(kw["minval"]), int(kw["maxval"]), default=int(default), space="buy")
            else:
                param = DecimalParameter(float(kw["minval"]), float(kw["maxval"]), default=float(default),
                                         decimals=3, space="buy")
            out[attr] = (title, param)
    return out


def _load(config: dict) -> tuple[str, pathlib.Path, dict | None]:
    raw = config.get("dsl_strategy_file")
    if not raw:
        raise UserError("DslStrategy needs \"dsl_strategy_file\" (a .pine file) in the Freqtrade config")
    path = pathlib.Path(raw)
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"dsl_strategy_file {path}: {exc.strerror}") from None
    return source, path, read_settings(source)


class DslStrategyBase(IStrategy):
    INTERFACE_VERSION = 3
    can_short = False
    timeframe = "5m"
    minimal_roi = _NO_ROI
    stoploss = -0.99
    use_custom_stoploss = False
    process_only_new_candles = True
    startup_candle_count = 0

    def __init__(self, config: dict) -> None:
        source, path, settings = _load(config)
        self._source, self._path, self._settings = source, path, settings
        if settings is not None:
            for key, value in settings.items():
                setattr(self, key, value)
        else:
            self.use_custom_stoploss = True
        # Instance attributes: Freqtrade's parameter detection scans dir(strategy).
        self._titles = {}
        for attr, (title, param) in _parameters(source).items():
            setattr(self, attr, param)
            self._titles[attr] = title
        super().__init__(config)
        self._fixed_inputs = dict(config.get("dsl_inputs") or {})
        self._compiled: dict[tuple, object] = {}

    def _program(self):
        import dsl

        inputs = {title: getattr(self, attr).value for attr, title in self._titles.items()}
        inputs.update(self._fixed_inputs)
        key = tuple(sorted(inputs.items()))
        if key not in self._compiled:
            tf = self.timeframe
            minutes = int(tf[:-1]) * {"m": 1, "h": 60, "d": 1440}[tf[-1]]
            self._compiled[key] = dsl.compile_source(self._source, str(self._path), inputs=inputs,
                                                     timeframe=str(minutes))
        return self._compiled[key]

    def _tick(self, pair: str) -> float:
        market = self.dp.market(pair) if self.dp else None
        tick = (market or {}).get("precision", {}).get("price")
        return float(tick) if tick else 0.01

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        return dataframe

    def _run_vm(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        import dsl
        from dsl.vm import INTENT_KINDS

        bars = dsl.Bars.from_arrays(pd.DatetimeIndex(dataframe["date"]).as_unit("ms").asi8, dataframe["open"],
                                    dataframe["high"], dataframe["low"], dataframe["close"], dataframe["volume"])
        batch = dsl.run_batch(self._program(), bars, mintick=self._tick(metadata["pair"]), mode="spot")
        n = len(dataframe)
        if self._settings is not None:
            dataframe["dsl_enter"] = np.nan_to_num(batch.plots["enter_long"]).astype(int)
            dataframe["dsl_exit"] = np.nan_to_num(batch.plots["exit_long"]).astype(int)
            return dataframe
        enter, exit_ = np.zeros(n, int), np.zeros(n, int)
        stop, loss = np.full(n, np.nan), np.full(n, np.nan)
        # A close call while flat is a no-op in the VM but would still veto a same-candle entry
        # in Freqtrade: exits count only on candles that end with our position open.
        holding = np.zeros(n, bool)
        for t in dsl.backtest(self._program(), bars, mintick=self._tick(metadata["pair"])).trades:
            holding[t.entry_bar:t.exit_bar + (1 if t.open else 0)] = True
        for it in batch.intents:
            bar, kind = int(it["bar"]), INTENT_KINDS[int(it["kind"])]
            if not 0 <= bar < n:
                continue
            if kind in ("entry", "order") and it["dir"] > 0:
                enter[bar] = 1
            elif kind in ("close", "close_all") and holding[bar]:
                exit_[bar] = 1
            elif kind == "exit":
                if not math.isnan(it["stop"]):
                    stop[bar] = it["stop"]
                if not math.isnan(it["loss"]):
                    loss[bar] = it["loss"]
        dataframe["dsl_enter"], dataframe["dsl_exit"] = enter, exit_
        dataframe["dsl_stop"], dataframe["dsl_loss"] = stop, loss
        return dataframe

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe = self._run_vm(dataframe, metadata)
        dataframe.loc[dataframe["dsl_enter"] == 1, "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe.loc[dataframe["dsl_exit"] == 1, "exit_long"] = 1
        return dataframe

    def custom_stoploss(self, pair: str, trade, current_time: datetime, current_rate: float,
                        current_profit: float, after_fill: bool, **kwargs) -> float | None:
        """The stop the script set on the last closed candle (its strategy.exit stop price)."""
        df, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        if df is None or df.empty or "dsl_stop" not in df:
            return None
        closed = df[df["date"] + pd.Timedelta(minutes=self.timeframe_minutes()) <= current_time]
        if closed.empty:
            return None
        tick = self._tick(pair)
        price, loss = closed["dsl_stop"].iloc[-1], closed["dsl_loss"].iloc[-1]
        if math.isnan(price) and not math.isnan(loss):
            price = trade.open_rate - loss * tick   # strategy.exit(loss=ticks): from the fill price
        if math.isnan(price):
            return None
        # Our broker rounds a sell stop down to the tick; Freqtrade rounds a long's stop up. Hand
        # Freqtrade the rounded-down level minus a hair so its round-up lands on the same tick.
        inv = round(1 / tick)
        level = math.floor(price * inv + 1e-6) / inv
        return stoploss_from_absolute(level - tick * 1e-4, current_rate, is_short=False)

    def timeframe_minutes(self) -> int:
        return int(self.timeframe[:-1]) * {"m": 1, "h": 60, "d": 1440}[self.timeframe[-1]]
