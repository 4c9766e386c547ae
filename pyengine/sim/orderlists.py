"""OCO order lists (``POST /api/v3/orderList/oco`` and the legacy ``/api/v3/order/oco``).

Both legs share one reservation, held by the leg that rests on the book first (the
LIMIT_MAKER / take-profit leg) and large enough for either leg. When one leg fills or
triggers, the other expires (``expiryReason`` ``OCO_TRIGGER``) and hands its reservation to
the leg that is working. Cancelling either leg cancels the list. Events: the legs'
executionReports, then ``listStatus``, then ``outboundAccountPosition``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyengine.sim.auth import random_token
from pyengine.sim.errors import ApiError, mandatory, rejected

if TYPE_CHECKING:
    from pyengine.sim.engine import Order

LIMIT_LEGS = ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
STOP_LEGS = ("STOP_LOSS", "STOP_LOSS_LIMIT")
BAD_PRICES = "The relationship of the prices for the orders is not correct."


@dataclass(eq=False)
class OrderList:
    list_id: int
    client_id: str
    symbol: str
    account: str
    time: int
    legs: list["Order"] = field(default_factory=list)
    status: str = "EXECUTING"           # listOrderStatus
    status_type: str = "EXEC_STARTED"   # listStatusType
    cancel_client_id: str = ""
    contingency: str = "OCO"            # OTO and OTOCO lists are reported as "OTO"
    working: "Order | None" = None      # OTO/OTOCO: the order whose full fill releases the others


class OrderListsMixin:
    """Order-list behaviour of :class:`~pyengine.sim.engine.Engine`."""

    lists: dict

    # -- placement ----------------------------------------------------------------------
    def place_oco(self, account: str, p: dict, now: int, legacy: bool = False) -> OrderList:
        info = self.symbol_info(p)
        if not info.get("ocoAllowed"):
            raise rejected("OCO orders are not supported for this symbol")
        for name in ("side", "quantity"):
            if not p.get(name):
                raise mandatory(name)
        side = p["side"]
        if side not in ("BUY", "SELL"):
            raise ApiError(-1117, "Invalid side.")
        legs = self._legacy_legs(p) if legacy else self._new_legs(p)
        # legs: (leg params, position "above"/"below")
        for lp, _ in legs:
            lp.update({"symbol": info["symbol"], "side": side, "quantity": p["quantity"]})
            if p.get("selfTradePreventionMode"):
                lp["selfTradePreventionMode"] = p["selfTradePreventionMode"]
        kinds = {pos: lp["type"] for lp, pos in legs}
        if side == "SELL" and not (kinds["above"] in LIMIT_LEGS and kinds["below"] in STOP_LEGS):
            raise ApiError(-1158, "Invalid OCO order: SELL needs a limit maker or take-profit leg above "
                                  "and a stop loss leg below.")
        if side == "BUY" and not (kinds["above"] in STOP_LEGS and kinds["below"] in LIMIT_LEGS):
            raise ApiError(-1158, "Invalid OCO order: BUY needs a stop loss leg above and a limit maker or "
                                  "take-profit leg below.")
        lcid = p.get("listClientOrderId") or random_token(22)
        if any(x.client_id == lcid and x.status == "EXECUTING" and x.account == account
               for x in self.lists.values()):
            raise rejected("Duplicate order sent.")
        orders = [self.validate_new(lp, account) for lp, _ in legs]
        market = self.markets[info["symbol"]]
        last = market.last_price or market.avg_price(0, now)
        for o, (_, pos) in zip(orders, legs):
            ref = o.price if o.type == "LIMIT_MAKER" else o.stop_price
            if last is not None and ((pos == "above" and ref <= last) or (pos == "below" and ref >= last)):
                raise rejected(BAD_PRICES)
        if info.get("status", "TRADING") != "TRADING":
            raise rejected("Market is closed.")
        for o in orders:
            if o.type == "LIMIT_MAKER" and self._would_cross(o, market):
                raise rejected("Order would immediately match and take.")
        acct = self.account(account)
        for o in orders:
            o.account = account
            if o.client_id:
                prev = self.by_client.get((account, o.symbol, o.client_id))
                if prev is not None and prev.is_open:
                    raise rejected("Duplicate order sent.")
            self._check_counts(account, o)
        # one reservation for both legs, on the leg that works first
        orders.sort(key=lambda o: o.type not in LIMIT_LEGS)
        holder, other = orders
        need_h = self._need(holder)
        need_o = self._need(other)
        self._reserve_amount(acct, holder, max(need_h, need_o))
        lst = OrderList(self._next(info["symbol"], "list"), lcid, info["symbol"], account, now)
        self.lists[(lst.symbol, lst.list_id)] = lst
        for o in orders:
            o.order_id = self._next(o.symbol, "order")
            o.client_id = o.client_id or random_token(22)
            o.list_id = lst.list_id
            o.time = o.update_time = now
            self._seq += 1
            o.seq = self._seq
            self.orders[(o.symbol, o.order_id)] = o
            self.by_client[(account, o.symbol, o.client_id)] = o
            lst.legs.append(o)
        for o in sorted(lst.legs, key=lambda o: o.order_id):
            if o.type in ("LIMIT_MAKER",):
                o.working_time = now
            else:
                o.triggered = False
            self.open[o.symbol].append(o)
            self.report(o, "NEW", now)
        self._list_status(lst, now)
        self.flush()
        return lst

    @staticmethod
    def _new_legs(p: dict) -> list[tuple[dict, str]]:
        legs = []
        for pos in ("above", "below"):
            kind = p.get(f"{pos}Type")
            if not kind:
                raise mandatory(f"{pos}Type")
            lp = {"type": kind}
            for src, dst in (("ClientOrderId", "newClientOrderId"), ("Price", "price"), ("StopPrice", "stopPrice"),
                             ("TimeInForce", "timeInForce"), ("IcebergQty", "icebergQty"),
                             ("StrategyId", "strategyId"), ("StrategyType", "strategyType"),
                             ("TrailingDelta", "trailingDelta")):
                v = p.get(pos + src)
                if v not in (None, ""):
                    lp[dst] = v
            legs.append((lp, pos))
        return legs

    @staticmethod
    def _legacy_legs(p: dict) -> list[tuple[dict, str]]:
        for name in ("price", "stopPrice"):
            if not p.get(name):
                raise mandatory(name)
        limit = {"type": "LIMIT_MAKER", "price": p["price"]}
        if p.get("limitClientOrderId"):
            limit["newClientOrderId"] = p["limitClientOrderId"]
        stop = {"type": "STOP_LOSS_LIMIT" if p.get("stopLimitPrice") else "STOP_LOSS", "stopPrice": p["stopPrice"]}
        if p.get("stopLimitPrice"):
            stop["price"] = p["stopLimitPrice"]
            stop["timeInForce"] = p.get("stopLimitTimeInForce") or "GTC"
        elif p.get("stopLimitTimeInForce"):
            raise ApiError(-1106, "Parameter 'stopLimitTimeInForce' sent when not required.")
        if p.get("stopClientOrderId"):
            stop["newClientOrderId"] = p["stopClientOrderId"]
        if p["side"] == "SELL":
            return [(limit, "above"), (stop, "below")]
        return [(stop, "above"), (limit, "below")]

    def _need(self, o: "Order") -> int:
        if o.side == "SELL":
            return o.qty
        if o.price:
            return self._quote(o.price, o.qty, True)
        return self._quote(o.stop_price, o.qty, True)

    def _reserve_amount(self, acct, o: "Order", need: int) -> None:
        info = self.symbols[o.symbol]
        asset = info["baseAsset"] if o.side == "SELL" else info["quoteAsset"]
        b = acct.bal(asset)
        if need > b[0]:
            from pyengine.sim.errors import INSUFFICIENT_BALANCE
            raise rejected(INSUFFICIENT_BALANCE)
        b[0] -= need
        b[1] += need
        o.locked, o.lock_asset = need, asset
        self._touch(acct.id, asset)

    # -- life cycle ---------------------------------------------------------------------
    def leg_started(self, o: "Order", now: int) -> None:
        """A leg filled or triggered: the other legs expire and hand over their reservation."""
        lst = self.lists.get((o.symbol, o.list_id))
        if lst is None or lst.status != "EXECUTING" or o is lst.working:
            return
        others = [x for x in lst.legs if x is not o and x is not lst.working and x.is_open]
        if not others:
            return                      # a single OTO pending order: the list ends when it does
        for other in others:
            if other.locked:
                o.locked += other.locked
                o.lock_asset = other.lock_asset
                other.locked = 0
            other.status, other.expiry_reason, other.update_time = "EXPIRED", "OCO_TRIGGER", now
            self._close(other)
            self.report(other, "EXPIRED", now)
        lst.status = lst.status_type = "ALL_DONE"
        self._list_status(lst, now)

    def leg_closed(self, o: "Order", now: int) -> None:
        """A leg reached a final state: release or expire what depends on it."""
        lst = self.lists.get((o.symbol, o.list_id))
        if lst is None or lst.status != "EXECUTING":
            return
        if o is lst.working:
            pending = [x for x in lst.legs if x.status == "PENDING_NEW"]
            if o.status == "FILLED":
                self._activate(lst, pending, now)
            else:
                for x in pending:
                    x.status, x.expiry_reason, x.update_time = "EXPIRED", "OTO_PHASE_ONE_EXPIRED", now
                    self.open[x.symbol].remove(x)
                    self.report(x, "EXPIRED", now)
        if lst.status == "EXECUTING" and not any(x.is_open for x in lst.legs):
            lst.status = lst.status_type = "ALL_DONE"
            self._list_status(lst, now)

    # -- OTO / OTOCO ----------------------------------------------------------------------
    def place_oto(self, account: str, p: dict, now: int, with_oco: bool) -> OrderList:
        info = self.symbol_info(p)
        if not info.get("otoAllowed") or (with_oco and not info.get("ocoAllowed")):
            raise rejected("OTO orders are not supported for this symbol.")
        wtype = p.get("workingType")
        if not wtype:
            raise mandatory("workingType")
        if wtype not in ("LIMIT", "LIMIT_MAKER"):
            raise ApiError(-1130, "Data sent for parameter 'workingType' is not valid.")
        wp = {"symbol": info["symbol"], "type": wtype}
        for src, dst in (("Side", "side"), ("ClientOrderId", "newClientOrderId"), ("Price", "price"),
                         ("Quantity", "quantity"), ("TimeInForce", "timeInForce"), ("IcebergQty", "icebergQty"),
                         ("StrategyId", "strategyId"), ("StrategyType", "strategyType")):
            if p.get("working" + src) not in (None, ""):
                wp[dst] = p["working" + src]
        for name in ("workingSide", "workingPrice", "workingQuantity"):
            if not p.get(name):
                raise mandatory(name)
        if p.get("selfTradePreventionMode"):
            wp["selfTradePreventionMode"] = p["selfTradePreventionMode"]
        for name in ("pendingSide", "pendingQuantity"):
            if not p.get(name):
                raise mandatory(name)
        if with_oco:
            legs = self._new_legs({k.replace("pendingAbove", "above").replace("pendingBelow", "below"): v
                                   for k, v in p.items() if k.startswith(("pendingAbove", "pendingBelow"))})
        else:
            if not p.get("pendingType"):
                raise mandatory("pendingType")
            pp = {"type": p["pendingType"]}
            for src, dst in (("ClientOrderId", "newClientOrderId"), ("Price", "price"), ("StopPrice", "stopPrice"),
                             ("TimeInForce", "timeInForce"), ("IcebergQty", "icebergQty"),
                             ("StrategyId", "strategyId"), ("StrategyType", "strategyType")):
                if p.get("pending" + src) not in (None, ""):
                    pp[dst] = p["pending" + src]
            legs = [(pp, "")]
        for lp, _ in legs:
            lp.update({"symbol": info["symbol"], "side": p["pendingSide"], "quantity": p["pendingQuantity"]})
            if p.get("selfTradePreventionMode"):
                lp["selfTradePreventionMode"] = p["selfTradePreventionMode"]
        if with_oco:
            kinds = {pos: lp["type"] for lp, pos in legs}
            side = p["pendingSide"]
            ok = (kinds["above"] in LIMIT_LEGS and kinds["below"] in STOP_LEGS) if side == "SELL" else \
                (kinds["above"] in STOP_LEGS and kinds["below"] in LIMIT_LEGS)
            if not ok:
                raise ApiError(-1158, "Invalid OCO order: the pending legs' types do not fit their side.")
        working = self.validate_new(wp, account)
        pending = [self.validate_new(lp, account) for lp, _ in legs]
        for x in pending:
            if x.quote_qty:
                raise ApiError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
        lcid = p.get("listClientOrderId") or random_token(22)
        if any(x.client_id == lcid and x.status == "EXECUTING" and x.account == account
               for x in self.lists.values()):
            raise rejected("Duplicate order sent.")
        self._admit(working, account, now)
        lst = OrderList(self._next(info["symbol"], "list"), lcid, info["symbol"], account, now,
                        contingency="OTO", working=working)
        self.lists[(lst.symbol, lst.list_id)] = lst
        working.list_id = lst.list_id
        lst.legs.append(working)
        for x in pending:
            x.account, x.list_id, x.status, x.triggered = account, lst.list_id, "PENDING_NEW", False
            self._register(x, now)
            lst.legs.append(x)
            self.open[x.symbol].append(x)
        # reports: working NEW, pending NEW/PENDING_NEW, then the working order starts matching
        self._start(working, now, [])
        for x in pending:
            if x.status == "PENDING_NEW":
                self.report(x, "NEW", now)
        if lst.status == "EXECUTING":
            self._list_status(lst, now)
        self.flush()
        return lst

    def _activate(self, lst: OrderList, pending: list["Order"], now: int) -> None:
        """The working order filled completely: place the pending order(s)."""
        if not pending:
            return
        acct = self.account(lst.account)
        for x in pending:
            self.open[x.symbol].remove(x)
            x.status = "NEW"
        try:
            if len(pending) == 1:
                x = pending[0]
                self._reserve(acct, x, self.markets[x.symbol])
            else:
                holder = next(x for x in pending if x.type in LIMIT_LEGS)
                self._reserve_amount(acct, holder, max(self._need(x) for x in pending))
        except ApiError:
            for x in pending:
                x.status, x.update_time = "REJECTED", now
                self.report(x, "REJECTED", now, reject="INSUFFICIENT_BALANCES")
            return
        for x in sorted(pending, key=lambda o: o.order_id):
            x.update_time = now
            if x.type == "LIMIT_MAKER" or len(pending) == 1:
                x.triggered = True
                self._start(x, now, [])
            else:
                self.open[x.symbol].append(x)
                self.report(x, "NEW", now)

    def cancel_list(self, account: str, p: dict, now: int) -> OrderList:
        info = self.symbol_info(p)
        lid = p.get("orderListId")
        lcid = p.get("listClientOrderId")
        if not lid and not lcid:
            raise ApiError(-1102, "Param 'listClientOrderId' or 'orderListId' must be sent, but both were "
                                  "empty/null!")
        lst = self._find_list(account, info["symbol"], lid, lcid)
        if lst is None or lst.status != "EXECUTING":
            raise ApiError(-2011, "Unknown order list sent.")
        self._cancel_list(lst, p.get("newClientOrderId") or random_token(22), now)
        self.flush()
        return lst

    def _cancel_list(self, lst: OrderList, new_cid: str, now: int) -> None:
        lst.status = lst.status_type = "ALL_DONE"      # no listStatus from the legs' own closing
        for leg in lst.legs:
            if leg.is_open:
                leg.cancel_client_id = random_token(22)
                leg.status, leg.update_time = "CANCELED", now
                self._close(leg)
                self.report(leg, "CANCELED", now)
        lst.status = lst.status_type = "ALL_DONE"
        lst.cancel_client_id = new_cid
        self._list_status(lst, now)

    def _find_list(self, account: str, symbol: str, lid, lcid) -> OrderList | None:
        if lid not in (None, ""):
            try:
                lst = self.lists.get((symbol, int(lid)))
            except ValueError:
                raise ApiError(-1100, "Illegal characters found in parameter 'orderListId'; legal range is "
                                      "'^[0-9]{1,20}$'.") from None
            return lst if lst is not None and lst.account == account else None
        found = [x for x in self.lists.values() if x.symbol == symbol and x.client_id == lcid and x.account == account]
        return found[-1] if found else None

    def query_list(self, account: str, symbol: str | None, p: dict) -> OrderList:
        lid, lcid = p.get("orderListId"), p.get("origClientOrderId")
        if not lid and not lcid:
            raise ApiError(-1102, "Param 'origClientOrderId' or 'orderListId' must be sent, but both were "
                                  "empty/null!")
        for (sym, _), lst in self.lists.items():
            if lst.account == account and (str(lst.list_id) == str(lid) if lid else lst.client_id == lcid):
                if symbol in (None, sym):
                    return lst
        raise ApiError(-2013, "Order list does not exist.")

    def list_object(self, lst: OrderList, now: int, reports: str | None) -> dict:
        out = {"orderListId": lst.list_id, "contingencyType": lst.contingency, "listStatusType": lst.status_type,
               "listOrderStatus": lst.status, "listClientOrderId": lst.client_id,
               "transactionTime": now if reports else lst.time, "symbol": lst.symbol,
               "orders": [{"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_id}
                          for o in lst.legs]}
        if reports == "CANCEL":
            out["orderReports"] = [self.cancel_object(o, now) for o in lst.legs]
        elif reports:
            out["orderReports"] = [self.placement_response(o, reports, now, []) for o in lst.legs]
        return out

    def _list_status(self, lst: OrderList, now: int) -> None:
        self._emit(lst.account, {"e": "listStatus", "E": now, "s": lst.symbol, "g": lst.list_id, "c": lst.contingency,
                                 "l": lst.status_type, "L": lst.status, "r": "NONE", "C": lst.client_id,
                                 "T": now, "O": [{"s": o.symbol, "i": o.order_id, "c": o.client_id}
                                                 for o in lst.legs]})
