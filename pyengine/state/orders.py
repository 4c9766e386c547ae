"""Orders: the status machine and the facts that move it.

Engine-facing API::

    OrderStatus.PENDING_NEW ... OrderStatus.UNKNOWN;  status.is_open, status.is_terminal
    Order(...)                      # one order, keyed by client order id
    OrderFact(...)                  # one report of an order's state from some source
    fact_from_execution_report(ev)  # user-data stream event -> (OrderFact, Fill | None)
    fact_from_order_query(obj)      # order.status / openOrders / order response -> OrderFact
    fill_from_my_trade(obj, coid)   # myTrades row -> Fill
    fills_from_order_response(obj)  # order.place FULL response "fills" -> [Fill]
    check_transition(old, new)      # raises IllegalTransition

Statuses: PENDING_NEW = journaled and sent, no answer yet; NEW = accepted by the exchange;
UNKNOWN = the request's outcome is unknown (HTTP 5xx, -1006, -1007, a lost connection), to be
resolved by querying the order. The exchange's EXPIRED_IN_MATCH (self-trade prevention) is
EXPIRED here. Terminal statuses never change again.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

ZERO = Decimal(0)


class OrderStatus(enum.Enum):
    PENDING_NEW = "PENDING_NEW"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        return self not in _TERMINAL

    @classmethod
    def from_binance(cls, status: str) -> "OrderStatus":
        if status == "EXPIRED_IN_MATCH":
            return cls.EXPIRED
        if status == "PENDING_CANCEL":     # documented as unused; still open
            return cls.NEW
        return cls(status)


S = OrderStatus
_TERMINAL = frozenset({S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED})
_OPEN_EXCHANGE = {S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}
LEGAL: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_NEW: frozenset(_OPEN_EXCHANGE | {S.REJECTED, S.UNKNOWN}),
    S.UNKNOWN: frozenset(_OPEN_EXCHANGE | {S.REJECTED}),
    S.NEW: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.UNKNOWN}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED,
                                   S.UNKNOWN}),
    S.FILLED: frozenset(), S.CANCELED: frozenset(), S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}
# Order of progress, to break ties between facts with the same update time.
RANK = {S.PENDING_NEW: 0, S.UNKNOWN: 0, S.NEW: 1, S.PARTIALLY_FILLED: 2, S.FILLED: 3,
        S.CANCELED: 3, S.REJECTED: 3, S.EXPIRED: 3}


class IllegalTransition(Exception):
    def __init__(self, client_order_id: str, old: OrderStatus, new: OrderStatus):
        super().__init__(f"order {client_order_id}: illegal transition {old.value} -> "
                         f"{new.value}")
        self.client_order_id, self.old, self.new = client_order_id, old, new


def check_transition(coid: str, old: OrderStatus, new: OrderStatus) -> None:
    if new is not old and new not in LEGAL[old]:
        raise IllegalTransition(coid, old, new)


@dataclass
class Order:
    client_order_id: str
    strategy_id: str
    symbol: str
    side: str                       # BUY | SELL
    type: str                       # LIMIT | MARKET | STOP_LOSS_LIMIT ...
    qty: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    status: OrderStatus = OrderStatus.PENDING_NEW
    order_id: int | None = None     # the exchange's, once known
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    update_time_ms: int = -1        # exchange time of the newest fact applied
    reason: str = ""                # why it is UNKNOWN / REJECTED, when we know
    ns: dict[str, int] = field(default_factory=dict)   # monotonic-ns timestamps by stage

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.executed_qty


@dataclass(frozen=True)
class OrderFact:
    """What one source says about an order at one exchange time."""
    symbol: str
    client_order_id: str
    status: OrderStatus
    update_time_ms: int
    executed_qty: Decimal
    cum_quote: Decimal
    source: str                    # "ws" | "rest" | "query" | "open_orders" | "local"
    order_id: int | None = None
    side: str | None = None
    type: str | None = None
    qty: Decimal | None = None
    price: Decimal | None = None
    reason: str = ""

    def key(self) -> tuple:
        """Newest wins: exchange time, then filled quantity, then progress."""
        return (self.update_time_ms, self.executed_qty, RANK[self.status])


@dataclass(frozen=True)
class Fill:
    symbol: str
    trade_id: int
    client_order_id: str | None     # None for trades of orders this engine does not know
    order_id: int | None
    side: str                       # BUY | SELL
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_maker: bool = False


def _dec(v: Any) -> Decimal:
    return Decimal(v) if v is not None else ZERO


def _price(v: Any) -> Decimal | None:
    d = _dec(v)
    return d if d else None


def fact_from_execution_report(ev: Mapping[str, Any]) -> tuple[OrderFact, Fill | None]:
    # For a cancel, "c" is the cancel request's id and "C" the order's own id.
    coid = ev.get("C") or ev["c"]
    fact = OrderFact(symbol=ev["s"], client_order_id=coid,
                     status=OrderStatus.from_binance(ev["X"]), update_time_ms=int(ev["T"]),
                     executed_qty=_dec(ev["z"]), cum_quote=_dec(ev["Z"]), source="ws",
                     order_id=int(ev["i"]), side=ev["S"], type=ev["o"], qty=_dec(ev["q"]),
                     price=_price(ev.get("p")), reason=ev.get("r", "") if ev.get("r") != "NONE"
                     else "")
    fill = None
    if ev["x"] == "TRADE":
        fill = Fill(symbol=ev["s"], trade_id=int(ev["t"]), client_order_id=coid,
                    order_id=int(ev["i"]), side=ev["S"], price=_dec(ev["L"]), qty=_dec(ev["l"]),
                    commission=_dec(ev["n"]), commission_asset=ev.get("N") or "",
                    time_ms=int(ev["T"]), is_maker=bool(ev.get("m")))
    return fact, fill


def fact_from_order_query(obj: Mapping[str, Any], source: str = "query") -> OrderFact:
    """An order object from order.status, openOrders, order placement or cancel responses."""
    t = obj.get("updateTime") or obj.get("transactTime") or obj.get("time") or 0
    coid = obj.get("origClientOrderId") or obj["clientOrderId"]
    return OrderFact(symbol=obj["symbol"], client_order_id=coid,
                     status=OrderStatus.from_binance(obj["status"]), update_time_ms=int(t),
                     executed_qty=_dec(obj.get("executedQty")),
                     cum_quote=_dec(obj.get("cummulativeQuoteQty")), source=source,
                     order_id=int(obj["orderId"]), side=obj.get("side"), type=obj.get("type"),
                     qty=_dec(obj["origQty"]) if "origQty" in obj else None,
                     price=_price(obj.get("price")))


def fill_from_my_trade(obj: Mapping[str, Any], client_order_id: str | None) -> Fill:
    return Fill(symbol=obj["symbol"], trade_id=int(obj["id"]), client_order_id=client_order_id,
                order_id=int(obj["orderId"]), side="BUY" if obj["isBuyer"] else "SELL",
                price=_dec(obj["price"]), qty=_dec(obj["qty"]),
                commission=_dec(obj["commission"]), commission_asset=obj["commissionAsset"],
                time_ms=int(obj["time"]), is_maker=bool(obj.get("isMaker")))


def fills_from_order_response(obj: Mapping[str, Any]) -> list[Fill]:
    """The taker fills an order.place response (newOrderRespType FULL) carries."""
    coid = obj["clientOrderId"]
    return [Fill(symbol=obj["symbol"], trade_id=int(f["tradeId"]), client_order_id=coid,
                 order_id=int(obj["orderId"]), side=obj["side"], price=_dec(f["price"]),
                 qty=_dec(f["qty"]), commission=_dec(f["commission"]),
                 commission_asset=f["commissionAsset"], time_ms=int(obj["transactTime"]))
            for f in obj.get("fills", ())]
