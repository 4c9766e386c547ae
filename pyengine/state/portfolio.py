"""Balances (free/locked per asset) and per-strategy positions and PnL, all in Decimal.

Engine-facing API::

    b = Balances(); b.apply(asset, free, locked, update_time_ms, source) -> bool  # newest wins
    b.get("USDT") -> Balance | None; b.snapshot() -> {asset: Balance}
    balances_from_account(obj)            # GET /api/v3/account, account.status -> [(asset,...)]
    balances_from_account_position(ev)    # outboundAccountPosition event -> [(asset,...)]

    p = Portfolio({"BTCUSDT": ("BTC", "USDT"), ...})   # symbol_assets_from_exchange_info(info)
    p.apply_fill(strategy_id, fill); p.mark(symbol, price)
    p.position(strategy_id, symbol) -> Position; p.pnl(strategy_id=None) -> PnL

Accounting (spot, long only, average cost): a buy adds its quantity less any commission paid
in the base asset, at the fill price, to the position and its cost; a sell realises
``price * units - their share of the cost`` on the units that leave the position (including
base-asset commission). Fees are kept apart, valued in the
quote asset (commission in base: at the fill price; in a third asset such as BNB: at that
asset's marked price against the quote, else kept in ``fees_other``). Hence, marked at the same
prices: ``realised + unrealised - fees`` = change of (quote cash + position value).
Selling more than the strategy holds never makes a short: the excess is recorded in
``oversold`` (it came from holdings the strategy did not buy).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Mapping

from pyengine.state.orders import ZERO, Fill


# The share of cost leaving on a partial sell is the one inexact step (a division); rounding
# it to a fixed quantum keeps every later sum exact, so realised + unrealised never drifts.
COST_QUANTUM = Decimal("1e-18")


@dataclass(frozen=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal
    update_time_ms: int
    source: str

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


class Balances:
    def __init__(self) -> None:
        self._by_asset: dict[str, Balance] = {}
        self.stale = 0

    def apply(self, asset: str, free: Decimal, locked: Decimal, update_time_ms: int,
              source: str) -> bool:
        """Take this snapshot of one asset unless a newer one is already held."""
        cur = self._by_asset.get(asset)
        if cur is not None and update_time_ms < cur.update_time_ms:
            self.stale += 1
            return False
        new = Balance(asset, Decimal(free), Decimal(locked), update_time_ms, source)
        if cur is not None and (cur.free, cur.locked) == (new.free, new.locked) \
                and update_time_ms == cur.update_time_ms:
            return False
        self._by_asset[asset] = new
        return True

    def get(self, asset: str) -> Balance | None:
        return self._by_asset.get(asset)

    def snapshot(self) -> dict[str, Balance]:
        return dict(self._by_asset)


def balances_from_account(obj: Mapping[str, Any]) -> list[tuple[str, Decimal, Decimal, int]]:
    t = int(obj.get("updateTime") or 0)
    return [(b["asset"], Decimal(b["free"]), Decimal(b["locked"]), t) for b in obj["balances"]]


def balances_from_account_position(ev: Mapping[str, Any]
                                   ) -> list[tuple[str, Decimal, Decimal, int]]:
    t = int(ev["u"])
    return [(b["a"], Decimal(b["f"]), Decimal(b["l"]), t) for b in ev["B"]]


def symbol_assets_from_exchange_info(info: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    return {s["symbol"]: (s["baseAsset"], s["quoteAsset"]) for s in info["symbols"]}


@dataclass
class Position:
    strategy_id: str
    symbol: str
    qty: Decimal = ZERO
    cost: Decimal = ZERO                   # quote paid for the units held (average cost)
    realised: Decimal = ZERO
    fees: Decimal = ZERO                   # in the quote asset
    fees_other: dict[str, Decimal] = field(default_factory=dict)
    oversold: Decimal = ZERO
    fills: int = 0

    @property
    def avg_price(self) -> Decimal:
        return self.cost / self.qty if self.qty else ZERO

    def unrealised(self, mark: Decimal | None) -> Decimal:
        # mark * qty - cost, not (mark - avg) * qty: the rounding of the average cancels out
        # between realised and unrealised, so their sum stays exact.
        return mark * self.qty - self.cost if mark is not None and self.qty else ZERO


@dataclass(frozen=True)
class PnL:
    realised: Decimal
    unrealised: Decimal
    fees: Decimal

    @property
    def net(self) -> Decimal:
        return self.realised + self.unrealised - self.fees


class Portfolio:
    def __init__(self, symbol_assets: Mapping[str, tuple[str, str]]):
        self._assets = dict(symbol_assets)
        self._positions: dict[tuple[str, str], Position] = {}
        self._marks: dict[str, Decimal] = {}

    def assets(self, symbol: str) -> tuple[str, str]:
        try:
            return self._assets[symbol]
        except KeyError:
            raise KeyError(f"base/quote assets of {symbol} unknown (not in exchangeInfo)") \
                from None

    def position(self, strategy_id: str, symbol: str) -> Position:
        key = (strategy_id, symbol)
        pos = self._positions.get(key)
        if pos is None:
            pos = self._positions[key] = Position(strategy_id, symbol)
        return pos

    def positions(self) -> list[Position]:
        return list(self._positions.values())

    def mark(self, symbol: str, price: Decimal) -> None:
        self._marks[symbol] = Decimal(price)

    def mark_price(self, symbol: str) -> Decimal | None:
        return self._marks.get(symbol)

    def _fee_value(self, fill: Fill, base: str, quote: str) -> Decimal | None:
        asset, c = fill.commission_asset, fill.commission
        if not c:
            return ZERO
        if asset == quote:
            return c
        if asset == base:
            return c * fill.price
        mark = self._marks.get(asset + quote)
        return c * mark if mark is not None else None

    def apply_fill(self, strategy_id: str, fill: Fill) -> Position:
        base, quote = self.assets(fill.symbol)
        pos = self.position(strategy_id, fill.symbol)
        base_fee = fill.commission if fill.commission_asset == base else ZERO
        fee = self._fee_value(fill, base, quote)
        if fee is None:
            pos.fees_other[fill.commission_asset] = \
                pos.fees_other.get(fill.commission_asset, ZERO) + fill.commission
        else:
            pos.fees += fee
        if fill.side == "BUY":
            added = fill.qty - base_fee
            pos.qty += added
            pos.cost += added * fill.price
        else:
            leaving = fill.qty + base_fee
            held = min(leaving, pos.qty)
            cost_out = pos.cost if held == pos.qty else \
                (pos.cost * held / pos.qty).quantize(COST_QUANTUM)
            pos.realised += fill.price * held - cost_out
            pos.cost -= cost_out
            pos.oversold += leaving - held
            pos.qty -= held
        pos.fills += 1
        return pos

    def pnl(self, strategy_id: str | None = None) -> PnL:
        r = u = f = ZERO
        for pos in self._positions.values():
            if strategy_id is not None and pos.strategy_id != strategy_id:
                continue
            r += pos.realised
            u += pos.unrealised(self._marks.get(pos.symbol))
            f += pos.fees
        return PnL(r, u, f)

    def strategies(self) -> Iterable[str]:
        return sorted({k[0] for k in self._positions})
