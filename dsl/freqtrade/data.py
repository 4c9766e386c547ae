"""Bundled Binance klines -> Freqtrade's OHLCV data files (feather), offline.

The bundled ZECUSDT 1m file has real open/high/low/close but no volume (the column is empty in
the source). Freqtrade needs a number there; the converter writes ``volume_fill`` (default 1.0)
and says so, because the usual ``volume > 0`` guard of Freqtrade strategies would otherwise
disable every signal. Strategies whose *values* depend on volume (MFI, VWAP, OBV) are not
meaningful on this data. Higher timeframes are aggregated from 1m (first open, max high,
min low, last close), which is how Binance builds them.
"""
from __future__ import annotations

import gzip
import pathlib

import pandas as pd

TIMEFRAMES = ("1m", "5m", "15m", "1h")


def read_binance_csv(path: pathlib.Path, volume_fill: float = 1.0) -> pd.DataFrame:
    """A Binance kline CSV (header row, open_time in ms) as Freqtrade's OHLCV frame."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        raw = pd.read_csv(fh)
    missing = {"open_time", "open", "high", "low", "close"} - set(raw.columns)
    if missing:
        raise ValueError(f"{path}: not a Binance kline CSV (missing {sorted(missing)})")
    unit = "us" if raw["open_time"].iloc[0] > 10**14 else "ms"
    df = pd.DataFrame({
        "date": pd.to_datetime(raw["open_time"], unit=unit, utc=True),
        "open": raw["open"].astype(float), "high": raw["high"].astype(float),
        "low": raw["low"].astype(float), "close": raw["close"].astype(float),
        "volume": raw["volume"].astype(float) if "volume" in raw else float("nan"),
    })
    df["volume"] = df["volume"].fillna(volume_fill)
    return df


def resample(df: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    if timeframe == "1m":
        return df
    rule = timeframe.replace("m", "min").replace("h", "h")
    out = df.resample(rule, on="date", label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    return out.dropna(subset=["open"]).reset_index()


def convert(src: pathlib.Path, pair: str, datadir: pathlib.Path, timeframes: tuple[str, ...] = TIMEFRAMES,
            volume_fill: float = 1.0) -> list[pathlib.Path]:
    """Write ``<datadir>/<PAIR>-<tf>.feather`` for each timeframe; returns the files written."""
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType

    datadir.mkdir(parents=True, exist_ok=True)
    handler = get_datahandler(datadir, "feather")
    base = read_binance_csv(src, volume_fill)
    written = []
    for tf in timeframes:
        handler.ohlcv_store(pair, tf, resample(base, tf), CandleType.SPOT)
        written.append(datadir / f"{pair.replace('/', '_')}-{tf}.feather")
    return written
