"""Symbol settings a backtest needs (mintick, quantity step) from the bundled
exchangeInfo and from the bars themselves."""
from __future__ import annotations

import json
import re

import numpy as np

from dsl.data import Bars
from pyengine import bundled


def exchange_filters(symbol: str) -> tuple[float, float] | None:
    """(tickSize, stepSize) of a symbol in the bundled exchangeInfo, or None."""
    info = json.loads(bundled.EXCHANGE_INFO.read_text())
    for s in info.get("symbols", []):
        if s.get("symbol") == symbol:
            f = {x["filterType"]: x for x in s.get("filters", [])}
            return float(f["PRICE_FILTER"]["tickSize"]), float(f["LOT_SIZE"]["stepSize"])
    return None


def data_tick(bars: Bars) -> float:
    """The coarsest decimal tick all prices are multiples of (prices carry their tick)."""
    prices = np.concatenate([bars.open, bars.high, bars.low, bars.close])
    prices = prices[~np.isnan(prices)][:200_000]
    for k in range(0, 10):
        scaled = prices * 10.0 ** k
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-6 * np.maximum(1, np.abs(scaled))
                  * 1e-3):
            return 10.0 ** -k
    return 1e-10


def guess_symbol(name: str) -> str | None:
    m = re.search(r"([A-Z]{2,10}USDT)", name.upper())
    return m.group(1) if m else None
