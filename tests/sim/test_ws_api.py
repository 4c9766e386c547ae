"""The WebSocket API: Ed25519 logon, orders, user-data events in Binance's canonical order."""
from __future__ import annotations

import itertools

import orjson
import trio
import trio_websocket

from pyengine import bundled
from pyengine.book import ASK, BID
from pyengine.sim.testing import running_sim
from .helpers import ed25519_sign, ts, ws_payload

import hashlib
import hmac

BTC = {"BTCUSDT": bundled.BTCUSDT_FEED}
REPORT_FIELDS = set("e E s c S o f q p P F g C x X r i l z L n N T t I w m M O Z Y Q V".split())
_ids = itertools.count(1)


class Client:
    def __init__(self, ws):
        self.ws, self.events, self.replies = ws, [], {}

    async def call(self, method, params=None):
        rid = f"r{next(_ids)}"
        await self.ws.send_message(orjson.dumps({"id": rid, "method": method, "params": params or {}}).decode())
        while rid not in self.replies:
            msg = orjson.loads(await self.ws.get_message())
            if "event" in msg:
                self.events.append(msg)
            else:
                self.replies[msg["id"]] = msg
        return self.replies.pop(rid)

    async def drain(self, quiet=0.3):
        while True:
            with trio.move_on_after(quiet) as cs:
                msg = orjson.loads(await self.ws.get_message())
            if cs.cancelled_caught:
                return
            self.events.append(msg) if "event" in msg else None


async def logon(c, sim):
    k = sim.ed25519_key
    p = {"apiKey": k.key, "timestamp": ts()}
    p["signature"] = ed25519_sign(k.private_pem, ws_payload(p))
    return await c.call("session.logon", p)


async def test_logon_orders_and_user_data_event_sequences():
    async with running_sim(speed="manual", data=BTC) as sim:
        m = sim.markets["BTCUSDT"]
        async with trio_websocket.open_websocket_url(sim.ws_api_url) as ws:
            c = Client(ws)
            r = await c.call("order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timestamp": ts()})
            assert r["status"] == 400 and r["error"]["code"] == -1102
            r = await logon(c, sim)
            assert r["status"] == 200 and r["result"]["apiKey"] == sim.ed25519_key.key
            assert r["result"]["authorizedSince"] is not None
            r = await c.call("userDataStream.subscribe")
            assert r["result"] == {"subscriptionId": 0}
            assert (await c.call("userDataStream.subscribe"))["error"]["code"] == -2035

            low = f"{(m.best(BID)[0] - 50_000_000_000) / 1e8:.2f}"
            r = await c.call("order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                             "price": low, "quantity": "0.01", "newClientOrderId": "ws-1",
                                             "timestamp": ts()})
            assert r["status"] == 200 and r["result"]["status"] == "NEW"
            assert {x["rateLimitType"] for x in r["rateLimits"]} == {"ORDERS", "REQUEST_WEIGHT"}
            await c.drain()
            ev = [e["event"] for e in c.events]
            assert [e["e"] for e in ev] == ["executionReport", "outboundAccountPosition"]
            assert REPORT_FIELDS <= set(ev[0]) and ev[0]["x"] == ev[0]["X"] == "NEW" and ev[0]["w"] is True
            assert ev[0]["n"] == "0" and ev[0]["N"] is None and ev[0]["t"] == -1 and ev[0]["c"] == "ws-1"
            assert ev[1]["B"] == [{"a": "USDT", "f": f"{100000 - float(low) * 0.01:.8f}", "l": f"{float(low) * 0.01:.8f}"}]
            c.events.clear()

            r = await c.call("order.status", {"symbol": "BTCUSDT", "origClientOrderId": "ws-1", "timestamp": ts()})
            assert r["result"]["status"] == "NEW"
            r = await c.call("order.cancel", {"symbol": "BTCUSDT", "origClientOrderId": "ws-1",
                                              "newClientOrderId": "ws-cx", "timestamp": ts()})
            assert r["result"]["status"] == "CANCELED"
            await c.drain()
            ev = [e["event"] for e in c.events]
            assert [e["e"] for e in ev] == ["executionReport", "outboundAccountPosition"]
            assert ev[0]["x"] == "CANCELED" and ev[0]["c"] == "ws-cx" and ev[0]["C"] == "ws-1"
            c.events.clear()

            asks = m.levels(ASK, 3)
            qty = (asks[0][1] + asks[1][1] // 2) / 1e8
            r = await c.call("order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                             "quantity": f"{qty:.8f}", "timestamp": ts()})
            assert r["result"]["status"] == "FILLED" and len(r["result"]["fills"]) == 2
            await c.drain()
            ev = [e["event"] for e in c.events]
            assert [(e["e"], e.get("x"), e.get("X")) for e in ev] == [
                ("executionReport", "NEW", "NEW"), ("executionReport", "TRADE", "PARTIALLY_FILLED"),
                ("executionReport", "TRADE", "FILLED"), ("outboundAccountPosition", None, None)]
            assert ev[1]["t"] == r["result"]["fills"][0]["tradeId"] and ev[1]["N"] == "BTC" and ev[1]["m"] is False
            assert ev[2]["z"] == f"{qty:.8f}" and ev[2]["I"] > ev[1]["I"] > ev[0]["I"]
            assert {b["a"] for b in ev[3]["B"]} == {"BTC", "USDT"}
            c.events.clear()

            sim.deposit("BNB", "1.5")
            await c.drain()
            ev = [e["event"] for e in c.events]
            assert ev[0]["e"] == "balanceUpdate" and ev[0]["d"] == "1.50000000" and ev[0]["a"] == "BNB"
            assert ev[1]["e"] == "outboundAccountPosition"
            c.events.clear()

            r = await c.call("account.status", {"timestamp": ts(), "omitZeroBalances": True})
            assert {b["asset"] for b in r["result"]["balances"]} >= {"BTC", "USDT", "BNB"}
            r = await c.call("userDataStream.unsubscribe")
            assert r["result"] == {}
            await c.drain()
            assert c.events[-1]["event"]["e"] == "eventStreamTerminated"


async def test_per_request_hmac_signature_hmac_logon_refused_and_unknown_status():
    async with running_sim(speed="manual", data=BTC) as sim:
        k = sim.hmac_key
        async with trio_websocket.open_websocket_url(sim.ws_api_url) as ws:
            c = Client(ws)
            p = {"apiKey": k.key, "timestamp": ts()}
            p["signature"] = hmac.new(k.secret.encode(), ws_payload(p), hashlib.sha256).hexdigest()
            r = await c.call("session.logon", p)
            assert r["status"] == 400 and r["error"]["code"] == -4056
            sim.faults.unknown_status("order.place", executed=True)
            p = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001", "newClientOrderId": "u-1",
                 "apiKey": k.key, "timestamp": ts()}
            p["signature"] = hmac.new(k.secret.encode(), ws_payload(p), hashlib.sha256).hexdigest()
            r = await c.call("order.place", p)
            assert r["status"] == 503 and r["error"]["code"] == -1007
            # the order was placed: the status query resolves the unknown outcome
            q = {"symbol": "BTCUSDT", "origClientOrderId": "u-1", "apiKey": k.key, "timestamp": ts()}
            q["signature"] = hmac.new(k.secret.encode(), ws_payload(q), hashlib.sha256).hexdigest()
            r = await c.call("order.status", q)
            assert r["status"] == 200 and r["result"]["status"] == "FILLED"
            q["signature"] = "0" * 64
            r = await c.call("order.status", q)
            assert r["error"] == {"code": -1022, "msg": "Signature for this request is not valid."}


async def test_maker_partial_then_final_fill_events():
    async with running_sim(speed="manual", data={}) as sim:
        other = sim.add_account("counterparty", {"USDT": "10000"})
        async with trio_websocket.open_websocket_url(sim.ws_api_url) as ws:
            c = Client(ws)
            await logon(c, sim)
            await c.call("userDataStream.subscribe")
            r = await c.call("order.place", {"symbol": "SOLUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
                                             "price": "150", "quantity": "3", "timestamp": ts()})
            oid = r["result"]["orderId"]
            await c.drain()
            c.events.clear()
            for qty in ("1", "2"):
                p = {"symbol": "SOLUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "price": "150",
                     "quantity": qty, "apiKey": other.key, "timestamp": ts()}
                p["signature"] = hmac.new(other.secret.encode(), ws_payload(p), hashlib.sha256).hexdigest()
                assert (await c.call("order.place", p))["result"]["status"] == "FILLED"
            await c.drain()
            ev = [e["event"] for e in c.events]
            assert [(e["e"], e.get("x"), e.get("X"), e.get("m"), e.get("w")) for e in ev] == [
                ("executionReport", "TRADE", "PARTIALLY_FILLED", True, True), ("outboundAccountPosition", None, None, None, None),
                ("executionReport", "TRADE", "FILLED", True, False), ("outboundAccountPosition", None, None, None, None)]
            assert ev[0]["i"] == ev[2]["i"] == oid and ev[0]["l"] == "1.00000000" and ev[2]["z"] == "3.00000000"
            assert ev[2]["Z"] == "450.00000000" and ev[2]["N"] == "USDT" and ev[2]["n"] == "0.30000000"
            assert {b["a"]: b for b in ev[3]["B"]}["SOL"] == {"a": "SOL", "f": "97.00000000", "l": "0.00000000"}
