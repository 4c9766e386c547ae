"""Offline markets: ccxt (the client Freqtrade uses) loads Binance markets from the loopback server."""
from __future__ import annotations

import json
import pathlib

import ccxt

from dsl.freqtrade.offline import market_server, offline_config
from dsl.freqtrade.data import read_binance_csv, resample
from pyengine import bundled


def test_ccxt_loads_bundled_markets_from_loopback():
    with market_server() as url:
        cfg = offline_config(url)["exchange"]["ccxt_config"]
        ex = ccxt.binance(cfg)
        markets = ex.load_markets()
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT", "DOGE/USDT", "ZEC/USDT"} <= set(markets)
    # the tick sizes the bundled data needs (ZEC trades in 0.01 steps in 2026, 0.1 in the 2021 file)
    assert markets["ZEC/USDT"]["precision"]["price"] == 0.01
    assert markets["DOGE/USDT"]["precision"]["price"] == 0.0001
    assert markets["ZEC/USDT"]["limits"]["cost"]["min"] == 10.0


def test_workspace_config_lists_the_users_pairs():
    cfg = json.loads((pathlib.Path(__file__).resolve().parents[2] / "tools/freqtrade/config.json").read_text())
    assert cfg["exchange"]["pair_whitelist"] == ["BTC/USDT", "ETH/USDT", "SOL/USDT", "DOGE/USDT", "ZEC/USDT"]
    assert cfg["trading_mode"] == "spot" and cfg["exchange"]["name"] == "binance"


def test_resampling_keeps_binance_ohlc():
    one = read_binance_csv(bundled.ZECUSDT_1M).iloc[:15]
    five = resample(one, "5m")
    assert len(five) == 3
    first = one.iloc[:5]
    row = five.iloc[0]
    assert (row["open"], row["high"], row["low"], row["close"]) == (
        first["open"].iloc[0], first["high"].max(), first["low"].min(), first["close"].iloc[-1])
    assert row["date"] == first["date"].iloc[0]
    assert (one["volume"] == 1.0).all()   # the bundled file has no volume: documented placeholder
