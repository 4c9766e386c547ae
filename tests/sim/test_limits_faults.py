"""Request weights, 429/418, order counts and the fault injector over REST and the admin endpoint."""
from __future__ import annotations

import httpx
import orjson
import pytest
import trio
import trio_websocket

from pyengine import bundled
from pyengine.book import BID
from pyengine.sim.ratelimit import Limits
from pyengine.sim.testing import running_sim, within_one_window

from .helpers import signed, ts

BTC = {"BTCUSDT": bundled.BTCUSDT_FEED}


async def test_weight_429_then_418_ban_with_retry_after():
    limits = Limits(weight_per_minute=50, requests_after_429_before_ban=3)
    async with running_sim(speed="manual", data=BTC, limits=limits) as sim:
        await within_one_window(sim, 60_000, 20_000)
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            info = (await c.get("/api/v3/exchangeInfo")).json()
            assert info["rateLimits"][0] == {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                                             "intervalNum": 1, "limit": 50}
            used = 20
            while True:
                r = await c.get("/api/v3/trades", params={"symbol": "BTCUSDT"})
                if r.status_code != 200:
                    break
                used += 25
                assert r.headers["x-mbx-used-weight-1m"] == str(used)
            assert r.status_code == 429 and r.json()["code"] == -1003
            assert "current limit is 50 request weight per 1 MINUTE" in r.json()["msg"]
            assert 1 <= int(r.headers["retry-after"]) <= 60
            statuses = [(await c.get("/api/v3/ping")).status_code for _ in range(4)]
            assert statuses[:3] == [429, 429, 429] and statuses[3] == 418
            r = await c.get("/api/v3/ping")
            assert r.status_code == 418 and "IP banned until" in r.json()["msg"]
            assert 100 <= int(r.headers["retry-after"]) <= 120


async def test_unfilled_order_count_and_first_fill_decrement():
    async with running_sim(speed="manual", data=BTC, limits=Limits(orders_per_10s=3)) as sim:
        bid = sim.markets["BTCUSDT"].best(BID)[0] / 1e8
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            def limit(i):
                return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                        "quantity": "0.001", "price": f"{bid - 100 - i:.2f}"}
            counts = []
            await within_one_window(sim, 10_000, 5_000)
            for i in range(3):
                r = await signed(c, "POST", "/api/v3/order", sim.hmac_key, limit(i))
                counts.append(r.headers.get("x-mbx-order-count-10s"))
            assert counts == ["1", "2", "3"]
            r = await signed(c, "POST", "/api/v3/order", sim.hmac_key, limit(9))
            assert r.status_code == 429 and r.json()["code"] == -1015
            assert r.json()["msg"] == "Too many new orders; current limit is 3 orders per 10 SECOND."
            rl = (await signed(c, "GET", "/api/v3/rateLimit/order", sim.hmac_key, {})).json()
            assert rl[0]["count"] == 3
        async with running_sim(speed="manual", data=BTC, limits=Limits(orders_per_10s=3)) as sim2:
            async with httpx.AsyncClient(base_url=sim2.rest_url) as c:
                # an order that fills at once is counted and uncounted by its first fill
                r = await signed(c, "POST", "/api/v3/order", sim2.hmac_key,
                                 {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"})
                assert r.json()["status"] == "FILLED" and r.headers["x-mbx-order-count-10s"] == "0"


async def test_rest_faults_unknown_status_5xx_drop_delay_and_admin_endpoint():
    async with running_sim(speed="manual", data=BTC) as sim:
        k = sim.hmac_key
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001",
                     "newClientOrderId": "maybe-1"}
            sim.faults.unknown_status("/api/v3/order", executed=False)
            r = await signed(c, "POST", "/api/v3/order", k, order)
            assert r.status_code == 503 and r.json()["code"] == -1007
            q = await signed(c, "GET", "/api/v3/order", k, {"symbol": "BTCUSDT", "origClientOrderId": "maybe-1"})
            assert q.json()["code"] == -2013          # not placed
            sim.faults.unknown_status("/api/v3/order", executed=True)
            r = await signed(c, "POST", "/api/v3/order", k, order)
            assert r.status_code == 503
            q = await signed(c, "GET", "/api/v3/order", k, {"symbol": "BTCUSDT", "origClientOrderId": "maybe-1"})
            assert q.json()["status"] == "FILLED"      # placed despite the error
            sim.faults.rate_limit_next("/api/v3/depth", retry_after_s=7)
            r = await c.get("/api/v3/depth", params={"symbol": "BTCUSDT"})
            assert r.status_code == 429 and r.headers["retry-after"] == "7"
            assert (await c.get("/api/v3/depth", params={"symbol": "BTCUSDT"})).status_code == 200
            sim.faults.drop_connection(rest_requests=1)
            with pytest.raises(httpx.TransportError):
                await c.get("/api/v3/ping")
            assert (await c.get("/api/v3/ping")).status_code == 200
            # out of process: the same faults through the admin endpoint
            r = await c.post("/sim/admin/fault", content=orjson.dumps(
                {"action": "fail_next", "path": "/api/v3/time", "status": 502, "code": -1001,
                 "msg": "Internal error; unable to process your request. Please try again."}))
            assert r.status_code == 200
            r = await c.get("/api/v3/time")
            assert r.status_code == 502 and r.json()["code"] == -1001
            r = await c.post("/sim/admin/fault", content=orjson.dumps({"action": "set_clock_skew", "ms": 30_000}))
            t = (await c.get("/api/v3/time")).json()["serverTime"]
            assert t - ts() > 25_000
            r = await c.post("/sim/admin/fault", content=orjson.dumps({"action": "explode"}))
            assert r.status_code == 400 and "unknown fault action" in r.json()["error"]
            r = await c.post("/sim/admin/advance", content=orjson.dumps({"ms": 1000}))
            assert r.json()["marketTime"] >= sim.market_clock.start_ms + 1000


async def test_ws_api_reorder_and_disconnect():
    async with running_sim(speed="manual", data=BTC) as sim:
        async with trio_websocket.open_websocket_url(sim.ws_api_url) as ws:
            sim.faults.reorder(1)
            await ws.send_message(orjson.dumps({"id": 1, "method": "ping"}).decode())
            await ws.send_message(orjson.dumps({"id": 2, "method": "time"}).decode())
            ids = [orjson.loads(await ws.get_message())["id"] for _ in range(2)]
            assert ids == [2, 1]
            await sim.faults.disconnect(streams=False, ws_api=True)
            with pytest.raises(trio_websocket.ConnectionClosed):
                with trio.fail_after(5):
                    while True:
                        await ws.get_message()
        async with trio_websocket.open_websocket_url(f"{sim.stream_url}/ws/btcusdt@trade") as ws:
            await ws.send_message(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}).decode())
            assert orjson.loads(await ws.get_message())["result"] == ["btcusdt@trade"]
            await sim.faults.disconnect(streams=True, ws_api=False)
            with pytest.raises(trio_websocket.ConnectionClosed):
                with trio.fail_after(5):
                    while True:
                        await ws.get_message()


async def test_stream_connection_lifetime_is_enforced():
    async with running_sim(speed="manual", data=BTC, connection_lifetime_s=0.5) as sim:
        async with trio_websocket.open_websocket_url(f"{sim.stream_url}/ws/btcusdt@trade") as ws:
            with pytest.raises(trio_websocket.ConnectionClosed):
                with trio.fail_after(10):
                    while True:
                        await ws.get_message()


async def test_server_shutdown_notice_duplicate_params_and_cancel_only_mode():
    async with running_sim(speed="manual", data=BTC, limits=Limits(orders_per_10s=1)) as sim:
        k = sim.hmac_key
        async with trio_websocket.open_websocket_url(f"{sim.stream_url}/stream?streams=btcusdt@trade") as st, \
                trio_websocket.open_websocket_url(f"{sim.stream_url}/ws/btcusdt@trade") as raw, \
                trio_websocket.open_websocket_url(sim.ws_api_url) as api:
            await api.send_message(orjson.dumps({"id": 1, "method": "ping"}).decode())
            await api.get_message()
            sim.faults.server_shutdown()
            with trio.fail_after(5):
                combined = orjson.loads(await st.get_message())
                bare = orjson.loads(await raw.get_message())
                event = orjson.loads(await api.get_message())
            assert combined["stream"] == "!serverShutdown" and combined["data"]["e"] == "serverShutdown"
            assert bare["e"] == "serverShutdown" and event["event"]["e"] == "serverShutdown"
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            r = await c.get("/api/v3/depth?symbol=BTCUSDT&symbol=ETHUSDT")
            assert r.json() == {"code": -1101, "msg": "Duplicate values for parameter 'symbol'."}
            bid = sim.markets["BTCUSDT"].best(BID)[0] / 1e8
            await within_one_window(sim, 10_000, 5_000)
            o = (await signed(c, "POST", "/api/v3/order", k, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                              "timeInForce": "GTC", "quantity": "0.001", "price": f"{bid - 100:.2f}"})).json()
            replace = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
                       "price": f"{bid - 101:.2f}", "cancelReplaceMode": "STOP_ON_FAILURE",
                       "cancelOrderId": o["orderId"]}
            r = await signed(c, "POST", "/api/v3/order/cancelReplace", k, replace)
            assert r.status_code == 429 and r.json()["code"] == -1015
            q = (await signed(c, "GET", "/api/v3/order", k, {"symbol": "BTCUSDT", "orderId": o["orderId"]})).json()
            assert q["status"] == "NEW"                       # DO_NOTHING (default): nothing happened
            r = await signed(c, "POST", "/api/v3/order/cancelReplace", k,
                             {**replace, "orderRateLimitExceededMode": "CANCEL_ONLY"})
            assert r.status_code == 429
            q = (await signed(c, "GET", "/api/v3/order", k, {"symbol": "BTCUSDT", "orderId": o["orderId"]})).json()
            assert q["status"] == "CANCELED"


async def test_ticker_streams_once_per_second_of_market_time():
    async with running_sim(speed="manual", data=BTC) as sim:
        async with trio_websocket.open_websocket_url(
                f"{sim.stream_url}/stream?streams=btcusdt@ticker/btcusdt@miniTicker/btcusdt@avgPrice") as ws:
            frames: list = []

            async def reader():
                while True:
                    frames.append(orjson.loads(await ws.get_message()))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(reader)
                await sim.advance(10_000)
                await trio.sleep(0.5)
                nursery.cancel_scope.cancel()
        by = {}
        for f in frames:
            by.setdefault(f["stream"], []).append(f["data"])
        assert set(by) == {"btcusdt@ticker", "btcusdt@miniTicker", "btcusdt@avgPrice"}
        seconds = [d["E"] // 1000 for d in by["btcusdt@ticker"]]
        assert len(seconds) == len(set(seconds)) >= 5
        last = by["btcusdt@ticker"][-1]
        assert last["e"] == "24hrTicker" and float(last["c"]) > 0 and last["n"] > 0
        assert by["btcusdt@miniTicker"][-1]["e"] == "24hrMiniTicker"


async def test_ws_api_ban_answers_418_and_closes_the_socket():
    async with running_sim(speed="manual", data={}) as sim:
        async with trio_websocket.open_websocket_url(sim.ws_api_url) as ws:
            sim.faults.ban(60)
            await ws.send_message(orjson.dumps({"id": "a", "method": "ping"}).decode())
            reply = orjson.loads(await ws.get_message())
            assert reply["status"] == 418 and reply["error"]["code"] == -1003
            assert reply["error"]["data"]["retryAfter"] > reply["error"]["data"]["serverTime"]
            with pytest.raises(trio_websocket.ConnectionClosed):
                with trio.fail_after(5):
                    await ws.get_message()


async def test_ws_api_injected_faults_reach_session_methods_and_carry_retry_after():
    async with running_sim(speed="manual", data=BTC) as sim:
        async with trio_websocket.open_websocket_url(sim.ws_api_url) as ws:
            sim.faults.rate_limit_next("ping", retry_after_s=3)
            sim.faults.fail_next("session.status", status=400, code=-1022, msg="Signature for this request is not valid.")
            await ws.send_message(orjson.dumps({"id": 1, "method": "ping"}).decode())
            reply = orjson.loads(await ws.get_message())
            assert reply["status"] == 429 and reply["error"]["code"] == -1003
            data = reply["error"]["data"]
            assert data["retryAfter"] - data["serverTime"] == 3000
            await ws.send_message(orjson.dumps({"id": 2, "method": "session.status"}).decode())
            reply = orjson.loads(await ws.get_message())
            assert reply["status"] == 400 and reply["error"]["code"] == -1022
            await ws.send_message(orjson.dumps({"id": 3, "method": "session.status"}).decode())
            assert orjson.loads(await ws.get_message())["status"] == 200
