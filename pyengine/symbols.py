"""Per-symbol trading rules from Binance ``exchangeInfo``: fixed-point scales and filters."""
from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

import orjson

from pyengine.errors import UserError


def decimals_of(step: str) -> int:
    """Number of decimals needed to represent multiples of ``step`` ("0.01000000" -> 2)."""
    d = Decimal(step)
    if d <= 0:
        raise ValueError(f"step must be positive, got {step!r}")
    return max(0, -d.normalize().as_tuple().exponent)


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    step_size: Decimal
    price_scale: int
    qty_scale: int
    filters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def price_to_int(self, price: Decimal | str) -> int:
        """Exact conversion; raises if the price is not representable at this scale."""
        scaled = Decimal(price).scaleb(self.price_scale)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{self.symbol}: price {price} has more decimals than tick {self.tick_size}")
        return int(scaled)

    def qty_to_int(self, qty: Decimal | str) -> int:
        scaled = Decimal(qty).scaleb(self.qty_scale)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{self.symbol}: quantity {qty} has more decimals than step {self.step_size}")
        return int(scaled)

    def price(self, value: int) -> Decimal:
        return Decimal(value).scaleb(-self.price_scale)

    def qty(self, value: int) -> Decimal:
        return Decimal(value).scaleb(-self.qty_scale)


def spec_from_info(entry: Mapping[str, Any]) -> SymbolSpec:
    filters = {f["filterType"]: f for f in entry.get("filters", [])}
    try:
        tick = filters["PRICE_FILTER"]["tickSize"]
        step = filters["LOT_SIZE"]["stepSize"]
    except KeyError as exc:
        raise UserError(f"exchangeInfo: symbol {entry.get('symbol')!r} lacks filter field {exc}") from None
    return SymbolSpec(
        symbol=entry["symbol"],
        status=entry.get("status", "TRADING"),
        base_asset=entry.get("baseAsset", ""),
        quote_asset=entry.get("quoteAsset", ""),
        tick_size=Decimal(tick).normalize(),
        step_size=Decimal(step).normalize(),
        price_scale=decimals_of(tick),
        qty_scale=decimals_of(step),
        filters=filters,
    )


def load_exchange_info(source: pathlib.Path | bytes | Mapping[str, Any]) -> dict[str, SymbolSpec]:
    """Symbol specs from an exchangeInfo reply (a path, raw bytes or the decoded object)."""
    if isinstance(source, pathlib.Path):
        source = source.read_bytes()
    info = orjson.loads(source) if isinstance(source, (bytes, str)) else source
    return {s["symbol"]: spec_from_info(s) for s in info["symbols"]}
