"""Order requests in fixed point, and the per-type parameter matrix (digest 8.1)."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

SIDES = ("BUY", "SELL")
TYPES = ("LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT",
         "LIMIT_MAKER")
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
RESP_TYPES = ("ACK", "RESULT", "FULL")
STOP_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
MARKET_LIKE = frozenset({"MARKET", "STOP_LOSS", "TAKE_PROFIT"})   # execute as MARKET
CLIENT_ID_PATTERN = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)


@dataclass(slots=True)
class Order:
    """One new order. Prices are integers scaled by the symbol's ``price_scale``, quantities
    by its ``qty_scale`` (see :class:`pyengine.symbols.SymbolSpec`); ``quote_qty`` (MARKET by
    quote amount) is scaled like prices. ``None`` means "not sent". (Not frozen: a frozen
    dataclass costs several µs per construction, and orders are built on the hot path.)"""
    symbol: str
    side: str
    type: str
    quantity: int | None = None
    price: int | None = None
    stop_price: int | None = None
    quote_qty: int | None = None
    time_in_force: str | None = None
    client_order_id: str | None = None
    iceberg_qty: int | None = None
    trailing_delta: int | None = None
    resp_type: str | None = None
    stp_mode: str | None = None
    strategy_id: int | None = None


def new_client_order_id() -> str:
    """A random id in Binance's own style (22 characters), for orders the caller left unnamed:
    every order leaves with an id, so an unknown outcome can always be looked up."""
    return secrets.token_urlsafe(16)[:22]


def valid_client_order_id(cid: str) -> bool:
    return bool(_CLIENT_ID.match(cid))


# Parameter names by Order field, in the order they are sent.
PARAM_NAMES = (
    ("symbol", "symbol"), ("side", "side"), ("type", "type"), ("time_in_force", "timeInForce"),
    ("quantity", "quantity"), ("quote_qty", "quoteOrderQty"), ("price", "price"),
    ("stop_price", "stopPrice"), ("trailing_delta", "trailingDelta"),
    ("iceberg_qty", "icebergQty"), ("client_order_id", "newClientOrderId"),
    ("strategy_id", "strategyId"), ("stp_mode", "selfTradePreventionMode"),
    ("resp_type", "newOrderRespType"),
)

# type -> (required fields, forbidden fields); stop types need stop_price and/or trailing_delta.
MATRIX: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "LIMIT": (("time_in_force", "quantity", "price"), ("stop_price", "quote_qty", "trailing_delta")),
    "MARKET": ((), ("price", "time_in_force", "stop_price", "trailing_delta", "iceberg_qty")),
    "STOP_LOSS": (("quantity",), ("price", "time_in_force", "quote_qty", "iceberg_qty")),
    "STOP_LOSS_LIMIT": (("time_in_force", "quantity", "price"), ("quote_qty",)),
    "TAKE_PROFIT": (("quantity",), ("price", "time_in_force", "quote_qty", "iceberg_qty")),
    "TAKE_PROFIT_LIMIT": (("time_in_force", "quantity", "price"), ("quote_qty",)),
    "LIMIT_MAKER": (("quantity", "price"), ("time_in_force", "stop_price", "quote_qty", "trailing_delta")),
}
