"""OCO order lists: placement, list objects, cancel-one-cancels-all, trigger of one leg expiring the other."""
from __future__ import annotations

from decimal import Decimal

import httpx
import orjson
import trio_websocket

from pyengine import bundled
from pyengine.sim.testing import running_sim

from .helpers import signed
from .test_ws_api import Client, logon

BTC = {"BTCUSDT": bundled.BTCUSDT_FEED}


def _px(p8: int) -> str:
    return f"{Decimal(p8) / 10**8:.2f}"


async def test_oco_place_query_cancel_over_rest():
    async with running_sim(speed="manual", data=BTC) as sim:
        await sim.advance(2000)
        last = sim.markets["BTCUSDT"].last_price
        k = sim.hmac_key
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            bad = await signed(c, "POST", "/api/v3/orderList/oco", k, {
                "symbol": "BTCUSDT", "side": "SELL", "quantity": "0.01", "aboveType": "LIMIT_MAKER",
                "abovePrice": _px(last - 100_000_000_000), "belowType": "STOP_LOSS_LIMIT",
                "belowStopPrice": _px(last - 200_000_000_000), "belowPrice": _px(last - 210_000_000_000),
                "belowTimeInForce": "GTC"})
            assert bad.json() == {"code": -2010, "msg": "The relationship of the prices for the orders is not correct."}
            r = await signed(c, "POST", "/api/v3/orderList/oco", k, {
                "symbol": "BTCUSDT", "side": "SELL", "quantity": "0.01", "listClientOrderId": "list-1",
                "aboveType": "LIMIT_MAKER", "abovePrice": _px(last + 100_000_000_000), "aboveClientOrderId": "tp-1",
                "belowType": "STOP_LOSS_LIMIT", "belowStopPrice": _px(last - 100_000_000_000),
                "belowPrice": _px(last - 110_000_000_000), "belowTimeInForce": "GTC"}, in_body=True)
            lst = r.json()
            assert r.status_code == 200, lst
            assert lst["contingencyType"] == "OCO" and lst["listStatusType"] == "EXEC_STARTED"
            assert lst["listOrderStatus"] == "EXECUTING" and lst["listClientOrderId"] == "list-1"
            assert len(lst["orders"]) == 2 and len(lst["orderReports"]) == 2 and "transactionTime" in lst
            assert r.headers["x-mbx-order-count-10s"] == "2"
            acct = (await signed(c, "GET", "/api/v3/account", k, {})).json()
            btc = next(b for b in acct["balances"] if b["asset"] == "BTC")
            assert btc == {"asset": "BTC", "free": "0.99000000", "locked": "0.01000000"}   # one reservation
            q = (await signed(c, "GET", "/api/v3/orderList", k, {"orderListId": lst["orderListId"]})).json()
            assert q["orderListId"] == lst["orderListId"] and "orderReports" not in q
            assert len((await signed(c, "GET", "/api/v3/openOrderList", k, {})).json()) == 1
            stop_leg = next(o for o in lst["orderReports"] if o["clientOrderId"] != "tp-1")
            r = await signed(c, "DELETE", "/api/v3/order", k, {"symbol": "BTCUSDT", "orderId": stop_leg["orderId"]})
            cancelled = r.json()
            assert cancelled["listStatusType"] == "ALL_DONE" and cancelled["listOrderStatus"] == "ALL_DONE"
            assert [o["status"] for o in cancelled["orderReports"]] == ["CANCELED", "CANCELED"]
            acct = (await signed(c, "GET", "/api/v3/account", k, {})).json()
            btc = next(b for b in acct["balances"] if b["asset"] == "BTC")
            assert btc == {"asset": "BTC", "free": "1.00000000", "locked": "0.00000000"}
            assert (await signed(c, "GET", "/api/v3/openOrderList", k, {})).json() == []
            # the legacy endpoint builds the same list
            r = await signed(c, "POST", "/api/v3/order/oco", k, {
                "symbol": "BTCUSDT", "side": "SELL", "quantity": "0.01", "price": _px(last + 100_000_000_000),
                "stopPrice": _px(last - 100_000_000_000), "stopLimitPrice": _px(last - 110_000_000_000),
                "stopLimitTimeInForce": "GTC", "newOrderRespType": "RESULT"})
            assert r.status_code == 200
            assert sorted(o["type"] for o in r.json()["orderReports"]) == ["LIMIT_MAKER", "STOP_LOSS_LIMIT"]
            r = await signed(c, "DELETE", "/api/v3/orderList", k, {"symbol": "BTCUSDT",
                                                                   "orderListId": r.json()["orderListId"]})
            assert r.json()["listOrderStatus"] == "ALL_DONE"
            assert len((await signed(c, "GET", "/api/v3/allOrderList", k, {})).json()) == 2


async def test_stop_leg_triggers_and_expires_the_other_leg_with_events():
    # where does the recording trade over the next 3 minutes?
    async with running_sim(speed="manual", data=BTC) as probe:
        await probe.advance(2000)
        m = probe.markets["BTCUSDT"]
        start_last, t0 = m.last_price, m.last_trade_time
        await probe.advance(180_000)
        low = min(t.price for t in m.trades_between(t0 + 1, None))
    assert low < start_last - 2_000_000, "the recording falls by more than 0.02 within 3 minutes"
    async with running_sim(speed="manual", data=BTC) as sim:
        await sim.advance(2000)
        async with trio_websocket.open_websocket_url(sim.ws_api_url) as ws:
            c = Client(ws)
            await logon(c, sim)
            await c.call("userDataStream.subscribe")
            stop = low + 1_000_000
            r = await c.call("orderList.place.oco", {
                "symbol": "BTCUSDT", "side": "SELL", "quantity": "0.01", "aboveType": "LIMIT_MAKER",
                "abovePrice": _px(start_last + 500_000_000_000), "belowType": "STOP_LOSS_LIMIT",
                "belowStopPrice": _px(stop), "belowPrice": _px(stop - 5_000_000_000), "belowTimeInForce": "GTC",
                "timestamp": __import__("time").time_ns() // 1_000_000})
            assert r["status"] == 200, r
            await c.drain()
            kinds = [e["event"]["e"] for e in c.events]
            assert kinds == ["executionReport", "executionReport", "listStatus", "outboundAccountPosition"]
            stop_report = next(e["event"] for e in c.events if e["event"].get("o") == "STOP_LOSS_LIMIT")
            assert stop_report["w"] is False and "W" not in stop_report and stop_report["g"] == r["result"]["orderListId"]
            c.events.clear()
            await sim.advance(180_000)
            await c.drain()
            ev = [e["event"] for e in c.events]
            seq = [(e["e"], e.get("o"), e.get("x"), e.get("X")) for e in ev]
            assert seq[0] == ("executionReport", "STOP_LOSS_LIMIT", "NEW", "NEW") and ev[0]["w"] is True
            assert ("executionReport", "LIMIT_MAKER", "EXPIRED", "EXPIRED") in seq
            expired = next(e for e in ev if e.get("x") == "EXPIRED")
            assert expired["eR"] == "OCO_TRIGGER"
            done = next(e for e in ev if e["e"] == "listStatus")
            assert done["l"] == "ALL_DONE" and done["L"] == "ALL_DONE"
            assert any(e.get("x") == "TRADE" and e["X"] == "FILLED" for e in ev)
            assert ev[-1]["e"] == "outboundAccountPosition"
            acct = sim.engine.account("main")
            assert acct.bal("BTC") == [99_000_000, 0]
            assert orjson.dumps(ev)   # every event is plain JSON


async def test_oto_pending_order_waits_for_the_full_fill_of_the_working_order():
    async with running_sim(speed="manual", data={}, balances={"USDT": "1000"}) as sim:
        other = sim.add_account("counterparty", {"SOL": "10"})
        async with trio_websocket.open_websocket_url(sim.ws_api_url) as ws:
            c = Client(ws)
            await logon(c, sim)
            await c.call("userDataStream.subscribe")
            r = await c.call("orderList.place.oto", {
                "symbol": "SOLUSDT", "workingType": "LIMIT", "workingSide": "BUY", "workingPrice": "150",
                "workingQuantity": "2", "workingTimeInForce": "GTC", "pendingType": "LIMIT_MAKER",
                "pendingSide": "SELL", "pendingPrice": "160", "pendingQuantity": "1.99", "newOrderRespType": "RESULT",
                "timestamp": __import__("time").time_ns() // 1_000_000})
            assert r["status"] == 200, r
            lst = r["result"]
            assert lst["contingencyType"] == "OTO" and [o["status"] for o in lst["orderReports"]] == ["NEW", "PENDING_NEW"]
            await c.drain()
            assert [(e["event"]["e"], e["event"].get("X")) for e in c.events] == [
                ("executionReport", "NEW"), ("executionReport", "PENDING_NEW"), ("listStatus", None),
                ("outboundAccountPosition", None)]
            c.events.clear()
            async with httpx.AsyncClient(base_url=sim.rest_url) as h:
                # a partial fill of the working order does not release the pending one
                await signed(h, "POST", "/api/v3/order", other, {"symbol": "SOLUSDT", "side": "SELL", "type": "LIMIT",
                             "timeInForce": "IOC", "quantity": "1", "price": "150"})
                pend = lst["orderReports"][1]["orderId"]
                q = (await signed(h, "GET", "/api/v3/order", sim.hmac_key, {"symbol": "SOLUSDT", "orderId": pend})).json()
                assert q["status"] == "PENDING_NEW" and q["isWorking"] is False
                await signed(h, "POST", "/api/v3/order", other, {"symbol": "SOLUSDT", "side": "SELL", "type": "LIMIT",
                             "timeInForce": "IOC", "quantity": "1", "price": "150"})
                q = (await signed(h, "GET", "/api/v3/order", sim.hmac_key, {"symbol": "SOLUSDT", "orderId": pend})).json()
                assert q["status"] == "NEW" and q["isWorking"] is True
                acct = (await signed(h, "GET", "/api/v3/account", sim.hmac_key, {})).json()
                sol = next(b for b in acct["balances"] if b["asset"] == "SOL")
                # 2 SOL bought minus the 0.1 % fee; 1.99 of it reserved by the released sell
                assert sol == {"asset": "SOL", "free": "0.00800000", "locked": "1.99000000"}
            await c.drain()
            kinds = [(e["event"]["e"], e["event"].get("x"), e["event"].get("X")) for e in c.events]
            assert ("executionReport", "TRADE", "FILLED") in kinds


async def test_otoco_places_a_bracket_after_the_entry_fills_and_cancel_cancels_all():
    async with running_sim(speed="manual", data={}, balances={"USDT": "1000", "SOL": "0"}) as sim:
        other = sim.add_account("counterparty", {"SOL": "10"})
        async with httpx.AsyncClient(base_url=sim.rest_url) as h:
            params = {"symbol": "SOLUSDT", "workingType": "LIMIT", "workingSide": "BUY", "workingPrice": "150",
                      "workingQuantity": "2", "workingTimeInForce": "GTC", "pendingSide": "SELL",
                      "pendingQuantity": "1", "pendingAboveType": "LIMIT_MAKER", "pendingAbovePrice": "170",
                      "pendingBelowType": "STOP_LOSS_LIMIT", "pendingBelowStopPrice": "140",
                      "pendingBelowPrice": "139", "pendingBelowTimeInForce": "GTC", "newOrderRespType": "RESULT"}
            r = await signed(h, "POST", "/api/v3/orderList/otoco", sim.hmac_key, params)
            assert r.status_code == 200, r.text
            lst = r.json()
            assert r.headers["x-mbx-order-count-10s"] == "3"
            assert [o["status"] for o in lst["orderReports"]] == ["NEW", "PENDING_NEW", "PENDING_NEW"]
            cancelled = (await signed(h, "DELETE", "/api/v3/orderList", sim.hmac_key,
                                      {"symbol": "SOLUSDT", "orderListId": lst["orderListId"]})).json()
            assert [o["status"] for o in cancelled["orderReports"]] == ["CANCELED"] * 3
            r = await signed(h, "POST", "/api/v3/orderList/otoco", sim.hmac_key, params)
            lst = r.json()
            await signed(h, "POST", "/api/v3/order", other, {"symbol": "SOLUSDT", "side": "SELL", "type": "LIMIT",
                         "timeInForce": "IOC", "quantity": "2", "price": "150"})
            statuses = {}
            for o in lst["orderReports"]:
                q = (await signed(h, "GET", "/api/v3/order", sim.hmac_key,
                                  {"symbol": "SOLUSDT", "orderId": o["orderId"]})).json()
                statuses[q["type"]] = (q["status"], q["isWorking"])
            assert statuses == {"LIMIT": ("FILLED", True), "LIMIT_MAKER": ("NEW", True),
                                "STOP_LOSS_LIMIT": ("NEW", False)}
            acct = (await signed(h, "GET", "/api/v3/account", sim.hmac_key, {})).json()
            sol = next(b for b in acct["balances"] if b["asset"] == "SOL")
            assert sol["locked"] == "1.00000000"          # one reservation for the bracket
            # the take-profit leg fills: the stop leg expires, the list is done
            other_usdt = sim.add_account("buyer", {"USDT": "1000"})
            await signed(h, "POST", "/api/v3/order", other_usdt, {"symbol": "SOLUSDT", "side": "BUY", "type": "LIMIT",
                         "timeInForce": "IOC", "quantity": "1", "price": "170"})
            q = (await signed(h, "GET", "/api/v3/orderList", sim.hmac_key, {"orderListId": lst["orderListId"]})).json()
            assert q["listOrderStatus"] == "ALL_DONE" and q["contingencyType"] == "OTO"
            stop = next(o for o in lst["orderReports"] if o["type"] == "STOP_LOSS_LIMIT")
            q = (await signed(h, "GET", "/api/v3/order", sim.hmac_key, {"symbol": "SOLUSDT", "orderId": stop["orderId"]})).json()
            assert q["status"] == "EXPIRED" and q["expiryReason"] == "OCO_TRIGGER"
