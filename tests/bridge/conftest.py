"""Freqtrade data converted from the bundled real ZECUSDT klines, once per test session."""
from __future__ import annotations

import os
import pathlib

import pytest

from dsl.freqtrade.data import convert
from pyengine import bundled

LONG = os.environ.get("PYENGINE_LONG") == "1"


@pytest.fixture(scope="session")
def ft_data(tmp_path_factory) -> pathlib.Path:
    datadir = tmp_path_factory.mktemp("ftdata") / "binance"
    convert(bundled.ZECUSDT_1M, "ZEC/USDT", datadir, ("1m", "5m", "15m") if LONG else ("5m", "15m"))
    return datadir


def pytest_collection_modifyitems(config, items):
    if LONG:
        return
    skip = pytest.mark.skip(reason="long: set PYENGINE_LONG=1")
    here = pathlib.Path(__file__).parent
    for item in items:
        if "long" in item.keywords and here in pathlib.Path(str(item.fspath)).parents:
            item.add_marker(skip)
