"""An in-memory exchange implementing the reconcile ``Venue`` protocol (Binance shapes)."""
from __future__ import annotations

from decimal import Decimal

FEE = Decimal("0.001")


class FakeVenue:
    def __init__(self, assets: dict[str, tuple[str, str]], balances: dict[str, Decimal]):
        self.assets = assets
        self.orders: dict[str, dict] = {}          # clientOrderId -> order object
        self.trades: dict[str, list[dict]] = {}    # symbol -> myTrades rows
        self.balances = dict(balances)
        self.time = 1_700_000_000_000
        self._next_order_id = 1
        self._next_trade_id = 1
        self.page_size = 3
        self.calls: list[tuple] = []

    def _tick(self) -> int:
        self.time += 1
        return self.time

    def place(self, symbol: str, coid: str, side: str, qty: str, price: str) -> dict:
        t = self._tick()
        obj = {"symbol": symbol, "orderId": self._next_order_id, "clientOrderId": coid,
               "price": price, "origQty": qty, "executedQty": "0", "cummulativeQuoteQty": "0",
               "status": "NEW", "type": "LIMIT", "side": side, "time": t, "updateTime": t,
               "transactTime": t}
        self._next_order_id += 1
        self.orders[coid] = obj
        return dict(obj)

    def fill(self, coid: str, qty: str) -> dict:
        """Fill part of an order at its price; fee 0.1 % in the received asset."""
        o = self.orders[coid]
        q, p = Decimal(qty), Decimal(o["price"])
        base, quote = self.assets[o["symbol"]]
        buy = o["side"] == "BUY"
        fee = (q if buy else q * p) * FEE
        fee_asset = base if buy else quote
        if buy:
            self.balances[quote] = self.balances.get(quote, Decimal(0)) - q * p
            self.balances[base] = self.balances.get(base, Decimal(0)) + q - fee
        else:
            self.balances[base] = self.balances.get(base, Decimal(0)) - q
            self.balances[quote] = self.balances.get(quote, Decimal(0)) + q * p - fee
        t = self._tick()
        trade = {"symbol": o["symbol"], "id": self._next_trade_id, "orderId": o["orderId"],
                 "orderListId": -1, "price": str(p), "qty": str(q), "quoteQty": str(q * p),
                 "commission": str(fee), "commissionAsset": fee_asset, "time": t,
                 "isBuyer": buy, "isMaker": True, "isBestMatch": True}
        self._next_trade_id += 1
        self.trades.setdefault(o["symbol"], []).append(trade)
        executed = Decimal(o["executedQty"]) + q
        o["executedQty"] = str(executed)
        o["cummulativeQuoteQty"] = str(Decimal(o["cummulativeQuoteQty"]) + q * p)
        o["status"] = "FILLED" if executed == Decimal(o["origQty"]) else "PARTIALLY_FILLED"
        o["updateTime"] = t
        return dict(trade)

    def cancel(self, coid: str) -> dict:
        o = self.orders[coid]
        o["status"] = "CANCELED"
        o["updateTime"] = self._tick()
        return dict(o)

    # ---- the Venue protocol
    async def open_orders(self) -> list[dict]:
        self.calls.append(("open_orders",))
        return [dict(o) for o in self.orders.values()
                if o["status"] in ("NEW", "PARTIALLY_FILLED")]

    async def my_trades(self, symbol: str, from_id: int | None) -> list[dict]:
        self.calls.append(("my_trades", symbol, from_id))
        rows = self.trades.get(symbol, [])
        if from_id is None:
            return [dict(r) for r in rows[-self.page_size:]]
        return [dict(r) for r in rows if r["id"] >= from_id][: self.page_size]

    async def account(self) -> dict:
        self.calls.append(("account",))
        return {"updateTime": self.time, "balances": [
            {"asset": a, "free": str(v), "locked": "0"} for a, v in self.balances.items()]}

    async def order_status(self, symbol: str, client_order_id: str) -> dict | None:
        self.calls.append(("order_status", symbol, client_order_id))
        o = self.orders.get(client_order_id)
        return dict(o) if o is not None and o["symbol"] == symbol else None
