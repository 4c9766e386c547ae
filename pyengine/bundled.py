"""Paths of the real Binance data shipped inside the package (see data/PROVENANCE.md)."""
from __future__ import annotations

import pathlib

import orjson

from pyengine.symbols import SymbolSpec, load_exchange_info

ROOT = pathlib.Path(__file__).resolve().parent / "data"

BTCUSDT_FEED = ROOT / "feeds" / "binance_spot_btcusdt_20240808T2354_20240809T0005.jsonl.gz"
ETHUSDT_FEED = ROOT / "feeds" / "binance_spot_ethusdt_20240808T2354_20240809T0005.jsonl.gz"
EXCHANGE_INFO = ROOT / "rest" / "spot_exchangeInfo_5pairs_20211012.json"
ZECUSDT_1M = ROOT / "klines" / "ZECUSDT-1m-spot-ohlc-only.csv.gz"
FILTER_OVERRIDES = ROOT / "rest" / "filter_overrides.json"


def exchange_info() -> dict:
    """The bundled exchangeInfo with the filters the bundled recordings need applied."""
    info = orjson.loads(EXCHANGE_INFO.read_bytes())
    overrides = orjson.loads(FILTER_OVERRIDES.read_bytes())
    for entry in info["symbols"]:
        patch = overrides.get(entry["symbol"], {})
        entry["filters"] = [{**f, **patch.get(f["filterType"], {})} for f in entry["filters"]]
    return info


def symbol_specs() -> dict[str, SymbolSpec]:
    return load_exchange_info(exchange_info())


def path(relative: str) -> pathlib.Path:
    """A bundled file by its path below ``pyengine/data``; raises if it is absent."""
    p = ROOT / relative
    if not p.is_file():
        raise FileNotFoundError(f"bundled data file not found: {p}")
    return p
