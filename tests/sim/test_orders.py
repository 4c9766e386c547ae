"""Signed REST trading against the simulator: signatures, filters, order outcomes, balances."""
from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal

import httpx
import pytest

from pyengine import bundled
from pyengine.book import ASK, BID
from pyengine.sim.auth import ApiKey, HMAC, verify, ws_payload as sim_ws_payload
from pyengine.sim.testing import running_sim
from .helpers import hmac_query, signed, ts

BTC = {"BTCUSDT": bundled.BTCUSDT_FEED}
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def test_digest_signature_vectors():
    key = ApiKey("k", HMAC, "a", secret=SECRET)
    payload = b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    assert verify(key, payload, "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")
    assert verify(key, payload, "C8DB56825AE71D6D79447849E617115F4A920FA2ACDCAB2B053C4B2838BD6B71")
    assert not verify(key, payload + b"0", "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")
    ws_params = {"apiKey": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A", "price": "52000.00",
                 "quantity": "0.01000000", "recvWindow": 100, "side": "SELL", "symbol": "BTCUSDT",
                 "timeInForce": "GTC", "timestamp": 1645423376532, "type": "LIMIT"}
    assert verify(key, sim_ws_payload(ws_params), "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24")


def _balances(acct: dict) -> dict[str, tuple[Decimal, Decimal]]:
    return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in acct["balances"]}


async def test_auth_errors_in_binance_order():
    async with running_sim(speed="manual", data=BTC) as sim:
        k = sim.hmac_key
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            r = await c.get("/api/v3/account?" + hmac_query(k.secret, {}))
            assert r.status_code == 401 and r.json()["code"] == -2014
            r = await c.get("/api/v3/account?" + hmac_query(k.secret, {}), headers={"X-MBX-APIKEY": "x" * 64})
            assert r.status_code == 401 and r.json() == {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
            r = await c.get("/api/v3/account?" + hmac_query("wrong", {}), headers={"X-MBX-APIKEY": k.key})
            assert r.status_code == 400 and r.json() == {"code": -1022, "msg": "Signature for this request is not valid."}
            r = await c.get("/api/v3/account", headers={"X-MBX-APIKEY": k.key})
            assert r.json()["code"] == -1102 and "'timestamp'" in r.json()["msg"]
            r = await c.get("/api/v3/account?" + hmac_query(k.secret, {"timestamp": ts() - 6000}),
                            headers={"X-MBX-APIKEY": k.key})
            assert r.json() == {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
            r = await c.get("/api/v3/account?" + hmac_query(k.secret, {"timestamp": ts() + 3000}),
                            headers={"X-MBX-APIKEY": k.key})
            assert r.json()["msg"] == "Timestamp for this request was 1000ms ahead of the server's time."
            r = await c.get("/api/v3/account?" + hmac_query(k.secret, {"timestamp": ts() - 6000, "recvWindow": "7000.5"}),
                            headers={"X-MBX-APIKEY": k.key})
            assert r.status_code == 200
            # clock skew injected: the client's own clock is now 5 s ahead of the server
            sim.faults.set_clock_skew(-5000)
            r = await signed(c, "GET", "/api/v3/account", k, {})
            assert r.json()["code"] == -1021
            sim.faults.set_clock_skew(0)
            # signature over the body (ccxt style) and over query + body
            r = await signed(c, "POST", "/api/v3/order/test", k, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                             "timeInForce": "GTC", "quantity": "0.001", "price": "60000"}, in_body=True)
            assert r.status_code == 200 and r.json() == {}


async def test_filters_and_parameter_errors():
    async with running_sim(speed="manual", data=BTC) as sim:
        k = sim.hmac_key
        base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
        cases = [
            ({**base, "quantity": "0.001", "price": "60000.000000001"}, -1111,
             "Parameter 'price' has too much precision."),
            ({**base, "quantity": "0.001", "price": "60000.005"}, -1013, "Filter failure: PRICE_FILTER"),
            ({**base, "quantity": "0.0000001", "price": "60000"}, -1013, "Filter failure: LOT_SIZE"),
            ({**base, "quantity": "0.0001", "price": "60000"}, -1013, "Filter failure: MIN_NOTIONAL"),
            ({**base, "quantity": "0.001", "price": "500000"}, -1013, "Filter failure: PERCENT_PRICE"),
            ({**base, "quantity": "0.001"}, -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed."),
            ({**base, "type": "MARKET", "quantity": "0.001", "price": "1"}, -1106, "Parameter 'price' sent when not required."),
            ({**base, "type": "LIMIT_MAKER", "quantity": "0.001", "price": "60000"}, -1114,
             "TimeInForce parameter sent when not required."),
            ({**base, "side": "HOLD", "quantity": "0.001", "price": "60000"}, -1117, "Invalid side."),
            ({**base, "type": "STOP", "quantity": "0.001", "price": "60000"}, -1116, "Invalid orderType."),
            ({**base, "timeInForce": "GTX", "quantity": "0.001", "price": "60000"}, -1115, "Invalid timeInForce."),
            ({**base, "quantity": "0.001", "price": "60000", "newClientOrderId": "bad id!"}, -1100, None),
            ({**base, "symbol": "XYZUSDT", "quantity": "0.001", "price": "60000"}, -1121, "Invalid symbol."),
            ({"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS", "quantity": "0.001", "stopPrice": "50000"},
             -2010, "Stop loss orders are not supported for this symbol."),
            ({**base, "quantity": "100", "price": "60000"}, -2010, "Account has insufficient balance for requested action."),
            ({**base, "type": "LIMIT_MAKER", "timeInForce": None, "quantity": "0.001", "price": "70000"}, -2010,
             "Order would immediately match and take."),
        ]
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            for params, code, msg in cases:
                params = {k2: v for k2, v in params.items() if v is not None}
                r = await signed(c, "POST", "/api/v3/order", k, params)
                body = r.json()
                assert r.status_code == 400, (params, body)
                assert body["code"] == code, (params, body)
                if msg:
                    assert body["msg"] == msg
            acct = (await signed(c, "GET", "/api/v3/account", k, {})).json()
            assert _balances(acct)["USDT"] == (Decimal(100000), Decimal(0))   # nothing was reserved


async def test_limit_rest_cancel_and_market_fill_move_balances_exactly():
    async with running_sim(speed="manual", data=BTC, commission="0.001") as sim:
        k = sim.hmac_key
        m = sim.markets["BTCUSDT"]
        bid = Decimal(m.best(BID)[0]) / 10**8
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            price = bid - Decimal("100")
            r = await signed(c, "POST", "/api/v3/order", k, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                             "timeInForce": "GTC", "quantity": "0.01", "price": str(price),
                             "newClientOrderId": "rest-1"})
            assert r.status_code == 200, r.text
            o = r.json()
            assert o["status"] == "NEW" and o["fills"] == [] and o["clientOrderId"] == "rest-1"
            assert r.headers["x-mbx-order-count-10s"] == "1" and r.headers["x-mbx-order-count-1d"] == "1"
            bal = _balances((await signed(c, "GET", "/api/v3/account", k, {})).json())
            assert bal["USDT"] == (Decimal(100000) - price * Decimal("0.01"), price * Decimal("0.01"))
            dup = await signed(c, "POST", "/api/v3/order", k, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                               "timeInForce": "GTC", "quantity": "0.01", "price": str(price),
                               "newClientOrderId": "rest-1"})
            assert dup.json() == {"code": -2010, "msg": "Duplicate order sent."}
            q = (await signed(c, "GET", "/api/v3/order", k, {"symbol": "BTCUSDT", "origClientOrderId": "rest-1"})).json()
            assert q["orderId"] == o["orderId"] and q["isWorking"] and q["stopPrice"] == "0.00000000"
            opened = (await signed(c, "GET", "/api/v3/openOrders", k, {"symbol": "BTCUSDT"})).json()
            assert [x["orderId"] for x in opened] == [o["orderId"]]
            cx = (await signed(c, "DELETE", "/api/v3/order", k, {"symbol": "BTCUSDT", "orderId": o["orderId"],
                               "newClientOrderId": "cancel-1"})).json()
            assert cx["status"] == "CANCELED" and cx["origClientOrderId"] == "rest-1" and cx["clientOrderId"] == "cancel-1"
            again = await signed(c, "DELETE", "/api/v3/order", k, {"symbol": "BTCUSDT", "orderId": o["orderId"]})
            assert again.json() == {"code": -2011, "msg": "Unknown order sent."}
            missing = await signed(c, "GET", "/api/v3/order", k, {"symbol": "BTCUSDT", "orderId": 999})
            assert missing.json() == {"code": -2013, "msg": "Order does not exist."}
            bal = _balances((await signed(c, "GET", "/api/v3/account", k, {})).json())
            assert bal["USDT"] == (Decimal(100000), Decimal(0))

            # market buy walks the recorded asks
            asks = [(Decimal(p) / 10**8, Decimal(q) / 10**8) for p, q in m.levels(ASK, 50)]
            qty = Decimal("0.5")
            r = await signed(c, "POST", "/api/v3/order", k, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                             "quantity": str(qty)})
            o = r.json()
            assert o["status"] == "FILLED" and o["timeInForce"] == "GTC", o
            left, cost, expect = qty, Decimal(0), []
            for p, q in asks:
                take = min(q, left)
                expect.append((p, take))
                cost += p * take
                left -= take
                if not left:
                    break
            assert [(Decimal(f["price"]), Decimal(f["qty"])) for f in o["fills"]] == expect
            assert Decimal(o["cummulativeQuoteQty"]) == cost
            fee = sum(Decimal(f["commission"]) for f in o["fills"])
            assert all(f["commissionAsset"] == "BTC" for f in o["fills"])
            assert fee == sum((q * Decimal("0.001")).quantize(Decimal("1e-8")) for _, q in expect)
            bal = _balances((await signed(c, "GET", "/api/v3/account", k, {})).json())
            assert bal["USDT"][0] == Decimal(100000) - cost
            assert bal["BTC"][0] == 1 + qty - fee
            trades = (await signed(c, "GET", "/api/v3/myTrades", k, {"symbol": "BTCUSDT"})).json()
            assert [(Decimal(t["price"]), Decimal(t["qty"])) for t in trades] == expect
            assert all(not t["isMaker"] and t["isBuyer"] for t in trades)
            # the consumed liquidity is gone for the next taker until the level changes
            assert m.best(ASK)[0] / 1e8 >= float(expect[-1][0])


async def test_resting_order_fills_when_the_market_trades_through_it():
    async with running_sim(speed="manual", data=BTC) as sim:
        m = sim.markets["BTCUSDT"]
        await sim.advance(1)
        # the recording's trades over the next minute tell where a sell must rest to be hit
        start = m.last_trade_time
        await sim.advance(60_000)
        high = max(t.price for t in m.trades_between(start + 1, None))
    # place a SELL just below the highest later trade, in a fresh simulator at the start
        async with running_sim(speed="manual", data=BTC) as sim2:
            m2 = sim2.markets["BTCUSDT"]
            await sim2.advance(1)
            price = Decimal(high) / 10**8 - Decimal("0.01")
            assert m2.best(ASK)[0] <= high - 1_000_000, "the recording moves up within a minute"
            async with httpx.AsyncClient(base_url=sim2.rest_url) as c:
                r = await signed(c, "POST", "/api/v3/order", sim2.hmac_key, {"symbol": "BTCUSDT", "side": "SELL",
                                 "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.00100", "price": str(price)})
                assert r.json()["status"] == "NEW", r.text
                await sim2.advance(60_000)
                q = (await signed(c, "GET", "/api/v3/order", sim2.hmac_key,
                                  {"symbol": "BTCUSDT", "orderId": r.json()["orderId"]})).json()
                assert q["status"] == "FILLED" and Decimal(q["executedQty"]) == Decimal("0.001")
                assert Decimal(q["cummulativeQuoteQty"]) == price * Decimal("0.001")
                t = (await signed(c, "GET", "/api/v3/myTrades", sim2.hmac_key, {"symbol": "BTCUSDT"})).json()
                assert t[0]["isMaker"] and t[0]["commissionAsset"] == "USDT"


async def test_ioc_fok_quote_qty_and_cancel_replace():
    async with running_sim(speed="manual", data=BTC, balances={"USDT": "1000000", "BTC": "1"}) as sim:
        k = sim.hmac_key
        m = sim.markets["BTCUSDT"]
        ask_p, ask_q = m.best(ASK)
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            px = str(Decimal(ask_p) / 10**8)
            big = str(Decimal(ask_q) / 10**8 + Decimal("0.5"))
            r = (await signed(c, "POST", "/api/v3/order", k, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                              "timeInForce": "IOC", "quantity": big, "price": px})).json()
            assert r["status"] == "EXPIRED" and r["expiryReason"] == "UNFILLED_IOC_QUANTITY_EXPIRED"
            assert Decimal(r["executedQty"]) == Decimal(ask_q) / 10**8
            r = (await signed(c, "POST", "/api/v3/order", k, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                              "timeInForce": "FOK", "quantity": "5", "price": px})).json()
            assert r["status"] == "EXPIRED" and r["executedQty"] == "0.00000000" and r["fills"] == []
            r = (await signed(c, "POST", "/api/v3/order", k, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                              "quoteOrderQty": "1000"})).json()
            assert r["status"] == "FILLED" and Decimal(r["cummulativeQuoteQty"]) <= 1000
            assert Decimal(r["origQuoteOrderQty"]) == 1000
            assert Decimal(r["cummulativeQuoteQty"]) > 1000 - Decimal(m.best(ASK)[0]) / 10**8 * Decimal("0.000001") - 1
            low = str((Decimal(m.best(BID)[0]) / 10**8 - 500).quantize(Decimal("0.01")))
            o = (await signed(c, "POST", "/api/v3/order", k, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                              "timeInForce": "GTC", "quantity": "0.01", "price": low})).json()
            low2 = str(Decimal(low) - 1)
            r = await signed(c, "POST", "/api/v3/order/cancelReplace", k, {
                "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
                "price": low2, "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": o["orderId"]})
            body = r.json()
            assert r.status_code == 200 and body["cancelResult"] == "SUCCESS" and body["newOrderResult"] == "SUCCESS"
            r = await signed(c, "POST", "/api/v3/order/cancelReplace", k, {
                "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
                "price": low2, "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": o["orderId"]})
            assert r.status_code == 400 and r.json()["code"] == -2022
            assert r.json()["data"]["cancelResponse"] == {"code": -2011, "msg": "Unknown order sent."}
            assert r.json()["data"]["newOrderResult"] == "NOT_ATTEMPTED"
            cancelled = (await signed(c, "DELETE", "/api/v3/openOrders", k, {"symbol": "BTCUSDT"})).json()
            assert len(cancelled) == 1 and cancelled[0]["status"] == "CANCELED"
            allo = (await signed(c, "GET", "/api/v3/allOrders", k, {"symbol": "BTCUSDT"})).json()
            assert [x["status"] for x in allo] == ["EXPIRED", "EXPIRED", "FILLED", "CANCELED", "CANCELED"]


async def test_stop_limit_triggers_on_the_replayed_trades_and_stp():
    async with running_sim(speed="manual", data=BTC) as sim:
        k = sim.hmac_key
        m = sim.markets["BTCUSDT"]
        await sim.advance(2000)
        last = Decimal(m.last_price) / 10**8
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            r = await signed(c, "POST", "/api/v3/order", k, {"symbol": "BTCUSDT", "side": "SELL",
                             "type": "STOP_LOSS_LIMIT", "timeInForce": "GTC", "quantity": "0.001",
                             "price": str(last + 10), "stopPrice": str(last + 5)})
            assert r.json() == {"code": -2010, "msg": "Order would trigger immediately."}
            # STP: a resting sell then a crossing buy of the same account (EXPIRE_MAKER default)
            ask = Decimal(m.best(ASK)[0]) / 10**8
            sell = (await signed(c, "POST", "/api/v3/order", k, {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT",
                                 "timeInForce": "GTC", "quantity": "0.001", "price": str(ask)})).json()
            assert sell["status"] == "NEW", sell
            buy = (await signed(c, "POST", "/api/v3/order", k, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                "timeInForce": "IOC", "quantity": "0.001", "price": str(ask)})).json()
            q = (await signed(c, "GET", "/api/v3/order", k, {"symbol": "BTCUSDT", "orderId": sell["orderId"]})).json()
            # the own resting sell comes first at that price and is expired by STP; the buy then
            # takes the public ask at the same price
            assert q["status"] == "EXPIRED_IN_MATCH" and q["preventedQuantity"] == "0.00100000"
            assert buy["status"] == "FILLED" and [f["price"] for f in buy["fills"]] == [f"{ask:.8f}"]
            trades = (await signed(c, "GET", "/api/v3/myTrades", k, {"symbol": "BTCUSDT"})).json()
            assert len(trades) == 1 and not trades[0]["isMaker"]
            bal = _balances((await signed(c, "GET", "/api/v3/account", k, {})).json())
            assert bal["BTC"] == (Decimal("1.001") - Decimal(trades[0]["commission"]), Decimal(0))


async def test_two_accounts_trade_with_each_other_and_small_endpoints():
    async with running_sim(speed="manual", data=BTC) as sim:
        k = sim.hmac_key
        other = sim.add_account("counterparty", {"SOL": "20", "USDT": "0"})
        px = "150.00"       # SOLUSDT has no market data here: only the two accounts trade
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            sell = (await signed(c, "POST", "/api/v3/order", other, {"symbol": "SOLUSDT", "side": "SELL",
                                 "type": "LIMIT", "timeInForce": "GTC", "quantity": "5", "price": px})).json()
            assert sell["status"] == "NEW"
            buy = (await signed(c, "POST", "/api/v3/order", k, {"symbol": "SOLUSDT", "side": "BUY", "type": "LIMIT",
                                "timeInForce": "GTC", "quantity": "2", "price": px})).json()
            assert buy["status"] == "FILLED" and buy["fills"][0]["price"] == f"{Decimal(px):.8f}"
            theirs = (await signed(c, "GET", "/api/v3/myTrades", other, {"symbol": "SOLUSDT"})).json()
            assert theirs[0]["id"] == buy["fills"][0]["tradeId"] and theirs[0]["isMaker"] and not theirs[0]["isBuyer"]
            q = (await signed(c, "GET", "/api/v3/order", other, {"symbol": "SOLUSDT", "orderId": sell["orderId"]})).json()
            assert q["status"] == "PARTIALLY_FILLED" and q["executedQty"] == "2.00000000"
            # an order id of another account is unknown to this one
            r = await signed(c, "GET", "/api/v3/order", k, {"symbol": "SOLUSDT", "orderId": sell["orderId"]})
            assert r.json()["code"] == -2013
            bal = _balances((await signed(c, "GET", "/api/v3/account", other, {})).json())
            assert bal["SOL"] == (Decimal("15"), Decimal("3"))
            assert bal["USDT"][0] == Decimal(px) * 2 * Decimal("0.999")
            mine = _balances((await signed(c, "GET", "/api/v3/account", k, {})).json())
            assert mine["SOL"][0] == 100 + 2 * Decimal("0.999")
            m = sim.markets["BTCUSDT"]
            r = await signed(c, "POST", "/api/v3/order/test", k, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                             "timeInForce": "GTC", "quantity": "0.001", "price": "60000",
                             "computeCommissionRates": "true"})
            assert r.json()["standardCommissionForOrder"] == {"maker": "0.00100000", "taker": "0.00100000"}
            assert r.headers["x-mbx-used-weight-1m"]
            r = await c.post("/api/v3/userDataStream", headers={"X-MBX-APIKEY": k.key})
            assert r.status_code == 410
            await sim.advance(60_000)
            t = (await c.get("/api/v3/ticker", params={"symbol": "BTCUSDT", "windowSize": "1m"})).json()
            assert t["lastPrice"] == f"{Decimal(m.last_price) / 10**8:.8f}" and t["count"] > 0
            bad = await c.get("/api/v3/ticker", params={"symbol": "BTCUSDT", "windowSize": "90m"})
            assert bad.json()["code"] == -1130


@pytest.mark.parametrize("mode,taker_status,maker_status,maker_left", [
    ("EXPIRE_TAKER", "EXPIRED_IN_MATCH", "NEW", "3"),
    ("EXPIRE_MAKER", "NEW", "EXPIRED_IN_MATCH", None),
    ("EXPIRE_BOTH", "EXPIRED_IN_MATCH", "EXPIRED_IN_MATCH", None),
    ("DECREMENT", "EXPIRED_IN_MATCH", "NEW", "1"),
    ("NONE", "FILLED", "PARTIALLY_FILLED", "1"),
])
async def test_self_trade_prevention_modes(mode, taker_status, maker_status, maker_left):
    async with running_sim(speed="manual", data={}) as sim:      # SOLUSDT: only our own orders
        k = sim.hmac_key
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            maker = (await signed(c, "POST", "/api/v3/order", k, {"symbol": "SOLUSDT", "side": "SELL", "type": "LIMIT",
                                  "timeInForce": "GTC", "quantity": "3", "price": "150"})).json()
            taker = (await signed(c, "POST", "/api/v3/order", k, {"symbol": "SOLUSDT", "side": "BUY", "type": "LIMIT",
                                  "timeInForce": "GTC", "quantity": "2", "price": "150",
                                  "selfTradePreventionMode": mode})).json()
            assert taker["status"] == taker_status and taker["selfTradePreventionMode"] == mode
            m = (await signed(c, "GET", "/api/v3/order", k, {"symbol": "SOLUSDT", "orderId": maker["orderId"]})).json()
            assert m["status"] == maker_status
            victims = [x for x in (taker, m) if x["status"] == "EXPIRED_IN_MATCH" or mode == "DECREMENT"]
            assert len({v["preventedMatchId"] for v in victims}) == (1 if victims else 0)
            if maker_left is not None:
                left = Decimal(m["origQty"]) - Decimal(m["executedQty"]) - Decimal(m.get("preventedQuantity", "0"))
                assert left == Decimal(maker_left)
            bal = _balances((await signed(c, "GET", "/api/v3/account", k, {})).json())
            open_orders = (await signed(c, "GET", "/api/v3/openOrders", k, {"symbol": "SOLUSDT"})).json()
            locked_sol = sum(Decimal(o["origQty"]) - Decimal(o["executedQty"]) - Decimal(o.get("preventedQuantity", "0"))
                             for o in open_orders if o["side"] == "SELL")
            assert bal["SOL"][1] == locked_sol
            locked_usdt = sum((Decimal(o["origQty"]) - Decimal(o["executedQty"]) - Decimal(o.get("preventedQuantity", "0")))
                              * Decimal(o["price"]) for o in open_orders if o["side"] == "BUY")
            assert bal["USDT"][1] == locked_usdt
            bal_total_sol = bal["SOL"][0] + bal["SOL"][1]
            fills = [f for f in taker.get("fills", [])]
            assert bal_total_sol == 100 - sum(Decimal(f["commission"]) for f in fills)


async def test_rsa_and_ed25519_rest_signatures_and_non_ascii_payloads():
    import base64
    import urllib.parse

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from pyengine.sim.auth import new_rsa_key

    from .helpers import ed25519_sign

    async with running_sim(speed="manual", data={}) as sim:
        priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = priv.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        rsa_key = sim.add_key(new_rsa_key("main", pem))
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            for key, sign in ((rsa_key, lambda q: base64.b64encode(priv.sign(q, padding.PKCS1v15(), hashes.SHA256()))),
                              (sim.ed25519_key, lambda q: ed25519_sign(sim.ed25519_key.private_pem, q).encode())):
                q = urllib.parse.urlencode({"omitZeroBalances": "true", "timestamp": ts()}).encode()
                sig = urllib.parse.quote(sign(q).decode(), safe="")
                r = await c.get(f"/api/v3/account?{q.decode()}&signature={sig}", headers={"X-MBX-APIKEY": key.key})
                assert r.status_code == 200, r.text
                r = await c.get(f"/api/v3/account?{q.decode()}&signature={sig[:-6]}AAAA%3D", headers={"X-MBX-APIKEY": key.key})
                assert r.json()["code"] == -1022
            # a non-ASCII client order id is signed in its percent-encoded form; signing the raw text fails
            k = sim.hmac_key
            params = {"symbol": "SOLUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1",
                      "price": "150", "newClientOrderId": "１２３", "timestamp": ts()}
            encoded = urllib.parse.urlencode(params)
            raw = "&".join(f"{a}={b}" for a, b in params.items())
            good = hmac.new(k.secret.encode(), encoded.encode(), hashlib.sha256).hexdigest()
            bad = hmac.new(k.secret.encode(), raw.encode(), hashlib.sha256).hexdigest()
            r = await c.post(f"/api/v3/order/test?{encoded}&signature={bad}", headers={"X-MBX-APIKEY": k.key})
            assert r.json()["code"] == -1022
            r = await c.post(f"/api/v3/order/test?{encoded}&signature={good}", headers={"X-MBX-APIKEY": k.key})
            assert r.json()["code"] == -1100          # signature fine; the id itself is not in Binance's charset
