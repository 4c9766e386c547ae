"""Per-symbol scales and exchange filters, read exactly (Decimal) from exchangeInfo and
turned into the fixed-point integers the gate compares."""
from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Mapping

from pyengine.errors import UserError


@dataclass(frozen=True)
class SymbolRules:
    """Prices are ints scaled by 10^price_scale, quantities by 10^qty_scale (as in the C
    book); notional bounds are Decimal quote amounts; 0 switches a rule off."""
    symbol: str
    status: str
    price_scale: int
    qty_scale: int
    min_price: int = 0
    max_price: int = 0
    tick: int = 0
    min_qty: int = 0
    max_qty: int = 0
    step: int = 0
    mkt_min_qty: int = 0
    mkt_max_qty: int = 0
    mkt_step: int = 0
    min_notional: Decimal = Decimal(0)
    max_notional: Decimal = Decimal(0)
    min_notional_market: bool = False
    max_notional_market: bool = False
    bid_up: Decimal = Decimal(0)        # PERCENT_PRICE(_BY_SIDE) multipliers
    bid_down: Decimal = Decimal(0)
    ask_up: Decimal = Decimal(0)
    ask_down: Decimal = Decimal(0)

    def price(self, value: Decimal | str) -> int:
        """A decimal price as a scaled int; raises if it has more decimals than the tick."""
        return _exact(self.symbol, "price", Decimal(value), self.price_scale)

    def qty(self, value: Decimal | str) -> int:
        return _exact(self.symbol, "quantity", Decimal(value), self.qty_scale)


def _scale_of(step: Decimal) -> int:
    """Decimals needed to write a tick/step size (0.01000000 -> 2, 1.00000000 -> 0)."""
    if step <= 0:
        return 0
    exp = step.normalize().as_tuple().exponent
    return max(0, -int(exp))


def _exact(symbol: str, what: str, value: Decimal, scale: int) -> int:
    scaled = value.scaleb(scale)
    if scaled != scaled.to_integral_value():
        raise UserError(f"{symbol}: {what} {value} has more than {scale} decimals")
    return int(scaled)


def _floor(value: Decimal, scale: int) -> int:
    return int(value.scaleb(scale).to_integral_value(rounding=ROUND_FLOOR))


def rules_from_symbol(info: Mapping[str, Any]) -> SymbolRules:
    """One exchangeInfo ``symbols[]`` entry."""
    name = info.get("symbol")
    try:
        filters = {f["filterType"]: f for f in info["filters"]}
        pf = filters["PRICE_FILTER"]
        lot = filters["LOT_SIZE"]
    except (KeyError, TypeError):
        raise UserError(f"exchangeInfo symbol {name!r}: PRICE_FILTER and LOT_SIZE are required")
    try:
        tick, step = Decimal(pf["tickSize"]), Decimal(lot["stepSize"])
        ps, qs = _scale_of(tick), _scale_of(step)
        kw: dict[str, Any] = dict(
            symbol=name, status=info.get("status", "TRADING"), price_scale=ps, qty_scale=qs,
            min_price=_exact(name, "minPrice", Decimal(pf["minPrice"]), ps),
            max_price=_floor(Decimal(pf["maxPrice"]), ps),
            tick=_exact(name, "tickSize", tick, ps),
            min_qty=_exact(name, "minQty", Decimal(lot["minQty"]), qs),
            max_qty=_floor(Decimal(lot["maxQty"]), qs),
            step=_exact(name, "stepSize", step, qs))
        mlot = filters.get("MARKET_LOT_SIZE")
        if mlot:
            # real MARKET_LOT_SIZE filters carry finer decimals than LOT_SIZE (maxQty
            # 100.05381873): floor to our grid, which only tightens them
            kw.update(mkt_min_qty=-_floor(-Decimal(mlot["minQty"]), qs),
                      mkt_max_qty=_floor(Decimal(mlot["maxQty"]), qs),
                      mkt_step=_floor(Decimal(mlot["stepSize"]), qs))
        if "NOTIONAL" in filters:
            f = filters["NOTIONAL"]
            kw.update(min_notional=Decimal(f["minNotional"]),
                      max_notional=Decimal(f.get("maxNotional", "0")),
                      min_notional_market=bool(f.get("applyMinToMarket", True)),
                      max_notional_market=bool(f.get("applyMaxToMarket", False)))
        elif "MIN_NOTIONAL" in filters:
            f = filters["MIN_NOTIONAL"]
            kw.update(min_notional=Decimal(f["minNotional"]),
                      min_notional_market=bool(f.get("applyToMarket", True)))
        if "PERCENT_PRICE_BY_SIDE" in filters:
            f = filters["PERCENT_PRICE_BY_SIDE"]
            kw.update(bid_up=Decimal(f["bidMultiplierUp"]), bid_down=Decimal(f["bidMultiplierDown"]),
                      ask_up=Decimal(f["askMultiplierUp"]), ask_down=Decimal(f["askMultiplierDown"]))
        elif "PERCENT_PRICE" in filters:
            f = filters["PERCENT_PRICE"]
            up, down = Decimal(f["multiplierUp"]), Decimal(f["multiplierDown"])
            kw.update(bid_up=up, bid_down=down, ask_up=up, ask_down=down)
    except (KeyError, TypeError, ArithmeticError, ValueError) as exc:
        raise UserError(f"exchangeInfo symbol {name!r}: malformed filter ({exc!r})") from None
    return SymbolRules(**kw)


def load_exchange_info(source: str | pathlib.Path | Mapping[str, Any]) -> dict[str, SymbolRules]:
    """Rules for every symbol of an exchangeInfo document (a path or the parsed JSON)."""
    data = source
    if not isinstance(source, Mapping):
        try:
            data = json.loads(pathlib.Path(source).read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read exchangeInfo {source}: {exc}") from None
    try:
        symbols = data["symbols"]
    except (KeyError, TypeError):
        raise UserError("exchangeInfo: no \"symbols\" list") from None
    return {s["symbol"]: rules_from_symbol(s) for s in symbols}
