"""Arbitrary parameters never break the simulator: every answer is a Binance error or a result."""
from __future__ import annotations

import httpx
import orjson
import trio_websocket
from hypothesis import HealthCheck, given, settings, strategies as st

from pyengine import bundled
from pyengine.sim.ratelimit import Limits
from pyengine.sim.testing import running_sim

from .helpers import signed, ts

NAMES = ["symbol", "side", "type", "timeInForce", "quantity", "quoteOrderQty", "price", "stopPrice",
         "newClientOrderId", "newOrderRespType", "selfTradePreventionMode", "icebergQty", "trailingDelta",
         "strategyType", "orderId", "origClientOrderId", "limit", "interval", "startTime", "recvWindow"]
VALUES = st.one_of(st.sampled_from(["BTCUSDT", "SOLUSDT", "BUY", "SELL", "LIMIT", "MARKET", "LIMIT_MAKER",
                                    "STOP_LOSS_LIMIT", "GTC", "IOC", "FOK", "FULL", "ACK", "1", "0", "-1",
                                    "0.001", "150", "150.5", "1e5", "NaN", "99999999999999999999999", "1m",
                                    "EXPIRE_BOTH", " ", "é"]),
                   st.text(min_size=1, max_size=12))
PARAMS = st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=8)
PATHS = st.sampled_from([("POST", "/api/v3/order"), ("POST", "/api/v3/order/test"), ("GET", "/api/v3/order"),
                         ("DELETE", "/api/v3/order"), ("GET", "/api/v3/klines"), ("GET", "/api/v3/depth"),
                         ("POST", "/api/v3/orderList/oco"), ("POST", "/api/v3/order/cancelReplace"),
                         ("GET", "/api/v3/myTrades"), ("GET", "/api/v3/aggTrades")])


async def test_random_rest_and_ws_api_requests_get_binance_shaped_answers():
    limits = Limits(weight_per_minute=10**9, orders_per_10s=10**9, orders_per_day=10**9)
    balances = {"USDT": "1000", "SOL": "10", "BTC": "0.5"}
    async with running_sim(speed="manual", data={"BTCUSDT": bundled.BTCUSDT_FEED}, balances=balances,
                           limits=limits) as sim:
        async with httpx.AsyncClient(base_url=sim.rest_url) as c, \
                trio_websocket.open_websocket_url(sim.ws_api_url) as ws:
            bodies = []

            @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
            @given(route=PATHS, params=PARAMS)
            def collect(route, params):
                bodies.append((route, params))
            collect()
            for (method, path), params in bodies:
                r = await signed(c, method, path, sim.hmac_key, params)
                assert r.status_code in (200, 400, 409), (path, params, r.text)
                body = r.json()
                assert r.status_code == 200 or (isinstance(body.get("code"), int) and body["code"] < 0
                                                 and isinstance(body["msg"], str)), (path, params, body)
                await ws.send_message(orjson.dumps({"id": 1, "method": "order.place", "params": {
                    **params, "apiKey": sim.hmac_key.key, "timestamp": ts(), "signature": "x"}}).decode())
                reply = orjson.loads(await ws.get_message())
                assert reply["status"] in (200, 400, 401) and "rateLimits" in reply
