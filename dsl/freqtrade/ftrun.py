"""Freqtrade's own backtesting, in process and offline, returning trades, signals and candles."""
from __future__ import annotations

import json
import logging
import pathlib
import tempfile
import time
from dataclasses import dataclass

import pandas as pd

from dsl.freqtrade.offline import market_server, offline_config
from pyengine.errors import UserError


@dataclass(frozen=True)
class Trade:
    entry_time: pd.Timestamp   # candle open time of the entry fill
    exit_time: pd.Timestamp    # candle open time of the exit fill
    entry_price: float
    exit_price: float
    reason: str                # Freqtrade's exit_reason


@dataclass
class FtResult:
    trades: list[Trade]
    signals: pd.DataFrame      # date, open, high, low, close, volume, enter_long, exit_long (all candles)
    start: pd.Timestamp        # first candle whose signal Freqtrade can act on
    strategy: str
    seconds: float             # analysis + backtest loop, data loaded


def _config(strategy: str, strategy_dir: pathlib.Path, pair: str, timeframe: str | None,
            fee: float, user_data: pathlib.Path, extra: dict | None) -> dict:
    cfg = {
        # A fixed stake in a large wallet: Freqtrade never runs out of money to open a trade (it
        # would stop entering below the exchange's minimum notional), so trades compare one to one.
        "max_open_trades": 1, "stake_currency": "USDT", "stake_amount": 1000,
        "tradable_balance_ratio": 0.99, "dry_run": True, "dry_run_wallet": 10_000_000, "trading_mode": "spot",
        "strategy": strategy, "strategy_path": str(strategy_dir),
        "user_data_dir": str(user_data), "dataformat_ohlcv": "feather", "fee": fee,
        "entry_pricing": {"price_side": "same", "use_order_book": False, "order_book_top": 1},
        "exit_pricing": {"price_side": "same", "use_order_book": False, "order_book_top": 1},
        "exchange": {"name": "binance", "key": "", "secret": "", "pair_whitelist": [pair], "pair_blacklist": []},
        "pairlists": [{"method": "StaticPairList"}],
        "export": "none",
    }
    if timeframe:
        cfg["timeframe"] = timeframe
    cfg.update(extra or {})
    return cfg


def backtest(strategy_file: pathlib.Path, strategy: str, datadir: pathlib.Path, pair: str = "ZEC/USDT",
             timerange: str | None = None, fee: float = 0.001, timeframe: str | None = None,
             extra: dict | None = None) -> FtResult:
    """Run ``freqtrade backtesting`` for one strategy class on one pair with markets served offline."""
    from freqtrade.commands import Arguments
    from freqtrade.configuration import setup_utils_configuration
    from freqtrade.enums import RunMode
    from freqtrade.exceptions import OperationalException
    from freqtrade.optimize.backtesting import Backtesting

    with market_server() as url, tempfile.TemporaryDirectory(prefix="ft-parity-") as tmp:
        tmpdir = pathlib.Path(tmp)
        (tmpdir / "user_data").mkdir()
        base = tmpdir / "config.json"
        base.write_text(json.dumps(_config(strategy, strategy_file.resolve().parent, pair, timeframe, fee,
                                           tmpdir / "user_data", extra)))
        off = tmpdir / "offline.json"
        off.write_text(json.dumps(offline_config(url)))
        argv = ["backtesting", "--config", str(base), "--config", str(off), "--strategy", strategy,
                "--datadir", str(datadir.resolve()),
                "--cache", "none", "--export", "none"]
        if timerange:
            argv += ["--timerange", timerange]
        args = Arguments(argv).get_parsed_arg()
        try:
            config = setup_utils_configuration(args, RunMode.BACKTEST)
            config["runmode"] = RunMode.BACKTEST
            logging.getLogger("freqtrade").setLevel(logging.ERROR)
            bt = Backtesting(config)
            data, timerange_ = bt.load_bt_data()
            t0 = time.perf_counter()
            bt.backtest_one_strategy(bt.strategylist[0], data, timerange_)
            seconds = time.perf_counter() - t0
        except OperationalException as exc:
            raise UserError(f"freqtrade backtesting of {strategy_file}: {exc}") from None
        finally:
            if "bt" in locals():
                bt.exchange.close()
        name = bt.strategylist[0].get_strategy_name()
        frame = bt.all_bt_content[name]["results"]
        strat = bt.strategylist[0]
        analysed = strat.ft_advise_signals(strat.advise_all_indicators(data)[pair], {"pair": pair})
        start = _first_signal_candle(bt, analysed)
    trades = [Trade(pd.Timestamp(r.open_date), pd.Timestamp(r.close_date), float(r.open_rate),
                    float(r.close_rate), str(r.exit_reason)) for r in frame.itertuples()]
    cols = ["date", "open", "high", "low", "close", "volume", "enter_long", "exit_long"]
    signals = analysed.reindex(columns=cols).copy()
    signals[["enter_long", "exit_long"]] = signals[["enter_long", "exit_long"]].fillna(0).astype(int)
    return FtResult(trades, signals.reset_index(drop=True), start, name, seconds)


def _first_signal_candle(bt, analysed: pd.DataFrame) -> pd.Timestamp:
    """Freqtrade trims the startup candles, then drops the first row after shifting the signals:
    the first candle whose signal can open a trade is the first candle of the trimmed range."""
    from freqtrade.data.converter import trim_dataframe

    trimmed = trim_dataframe(analysed, bt.timerange, startup_candles=bt.required_startup)
    return pd.Timestamp(trimmed["date"].iloc[0])
