"""Freqtrade's OHLCV data format: ``<BASE>_<QUOTE>-<timeframe>.feather`` in its data directory
(``user_data/data/binance`` by default), columns date (UTC), open, high, low, close, volume.

pandas is imported here only: it comes with Freqtrade and the engine itself never needs it.
"""
from __future__ import annotations

import os
import pathlib

from pyengine.errors import UserError
from pyengine.history.store import KlineStore

# Longest first, so FDUSD wins over USD-like tails.
QUOTES = ("FDUSD", "USDT", "USDC", "TUSD", "BUSD", "EUR", "TRY", "BRL", "JPY", "BTC", "ETH",
          "BNB")


def pair_of(symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC/USDT``."""
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return f"{symbol[:-len(quote)]}/{quote}"
    raise UserError(f"{symbol}: cannot tell its quote asset for Freqtrade (known: "
                    + ", ".join(QUOTES) + ")")


def feather_path(datadir: str | os.PathLike, symbol: str, interval: str) -> pathlib.Path:
    timeframe = interval.replace("M", "Mo")     # Freqtrade's name for months on disk
    return pathlib.Path(datadir) / f"{pair_of(symbol).replace('/', '_')}-{timeframe}.feather"


def write_feather(store: KlineStore, symbol: str, interval: str,
                  datadir: str | os.PathLike) -> tuple[pathlib.Path, int]:
    """Write (merging with an existing file) every stored kline; returns the path and rows.
    A kline whose source had no volume gets volume 0."""
    try:
        import pandas as pd
    except ImportError:
        raise UserError("--freqtrade needs pandas, which comes with Freqtrade: "
                        "pip install 'pyengine[bridge]'") from None

    rows = store.read(symbol, interval)
    df = pd.DataFrame({
        "date": pd.to_datetime([k.open_time for k in rows], unit="ms", utc=True),
        "open": [float(k.open) for k in rows], "high": [float(k.high) for k in rows],
        "low": [float(k.low) for k in rows], "close": [float(k.close) for k in rows],
        "volume": [float(k.volume) if k.volume is not None else 0.0 for k in rows],
    })
    path = feather_path(datadir, symbol, interval)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        old = pd.read_feather(path)
        old["date"] = pd.to_datetime(old["date"], utc=True)
        df = pd.concat([old, df]).drop_duplicates("date", keep="last")
    df = df.sort_values("date").reset_index(drop=True)
    df.to_feather(path, compression="lz4", compression_level=9)
    return path, len(df)
