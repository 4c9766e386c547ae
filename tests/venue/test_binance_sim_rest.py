"""REST surface against the simulator: weights and order counts tracked as the exchange counts
them, throttling before its limit, JSON-array parameters, the REST-only order path, and the
WS keep-alive (server pings answered)."""
from __future__ import annotations

import httpx
import pytest
import trio

from pyengine.sim.ratelimit import Limits
from pyengine.sim.testing import running_sim, within_one_window
from pyengine.venue.binance.client import open_client
from pyengine.venue.binance.endpoints import Endpoints
from pyengine.venue.binance.errors import APIError, BinanceError, RateLimited
from pyengine.venue.binance.orders import Order
from pyengine.venue.binance.rest import RestClient
from pyengine.venue.binance.signing import HmacSigner
from binance_sim_helpers import endpoints_of, sim_and_client, signer_of

SYM = "BTCUSDT"
PUBLIC_CALLS = [
    ("/api/v3/exchangeInfo", {}), ("/api/v3/depth", {"symbol": SYM, "limit": 1000}),
    ("/api/v3/depth", {"symbol": SYM, "limit": 5}), ("/api/v3/trades", {"symbol": SYM}),
    ("/api/v3/aggTrades", {"symbol": SYM}), ("/api/v3/klines", {"symbol": SYM, "interval": "1m"}),
    ("/api/v3/avgPrice", {"symbol": SYM}), ("/api/v3/ticker/24hr", {"symbol": SYM}),
    ("/api/v3/ticker/24hr", {}), ("/api/v3/ticker/24hr", {"symbols": f'["{SYM}"]', "type": "MINI"}),
    ("/api/v3/time", {}), ("/api/v3/ping", {}),
]


async def used_weight_header(sim) -> int:
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        r = await http.get("/api/v3/ping")           # weight 1
        return int(r.headers["X-MBX-USED-WEIGHT-1M"]) - 1


async def test_request_weights_match_the_exchange_accounting():
    async with running_sim(speed="manual") as sim:
        await sim.advance(1_000)
        await within_one_window(sim, 60_000, 20_000)
        async with RestClient(endpoints_of(sim), signer_of(sim, "hmac")) as rest:
            for path, params in PUBLIC_CALLS:
                await rest.request("GET", path, params)
                assert rest.limiter.used("REQUEST_WEIGHT", 60_000) == await used_weight_header(sim), path
                rest.limiter.update_from_headers({"X-MBX-USED-WEIGHT-1M": str(await used_weight_header(sim))})
            await rest.request("GET", "/api/v3/account", signed=True)
            await rest.request("GET", "/api/v3/openOrders", {"symbol": SYM}, signed=True)
            assert rest.limiter.used("REQUEST_WEIGHT", 60_000) == await used_weight_header(sim)


async def test_throttles_before_the_exchange_limit_is_hit():
    async with running_sim(speed="manual", limits=Limits(weight_per_minute=300)) as sim:
        await sim.advance(1_000)
        await within_one_window(sim, 60_000, 20_000)
        async with RestClient(endpoints_of(sim), max_wait=0.0) as rest:
            await rest.exchange_info()                  # learns the 300/min limit (weight 20)
            with pytest.raises(RateLimited, match="would exceed REQUEST_WEIGHT 300 per 60 s"):
                for _ in range(100):
                    await rest.request("GET", "/api/v3/depth", {"symbol": SYM, "limit": 500})   # 25
            assert rest.limiter.rejections == 0          # never got a 429
            assert 270 - 25 < await used_weight_header(sim) <= 270


async def test_order_counts_follow_headers_and_ws_rate_limits():
    async with sim_and_client() as (sim, client):
        limiter = client.rest.limiter
        for i in range(3):                          # WS API: rateLimits arrays
            await client.place(Order(SYM, "BUY", "LIMIT", quantity=1_000, price=2_000_000 + i,
                                     time_in_force="GTC"))
        assert limiter.used("ORDERS", 10_000) == 3 and limiter.used("ORDERS", 86_400_000) == 3
        rules = client.rules[SYM]
        o = Order(SYM, "BUY", "LIMIT", quantity=1_000, price=2_000_100, time_in_force="GTC",
                  client_order_id="via-rest")
        await client.rest.request("POST", "/api/v3/order", rules.params(o), signed=True, orders=1)
        assert limiter.used("ORDERS", 10_000) == 4 and limiter.used("ORDERS", 86_400_000) == 4


async def test_json_array_parameter_is_percent_encoded_and_accepted():
    async with running_sim(speed="manual") as sim:
        async with RestClient(endpoints_of(sim)) as rest:
            with pytest.raises(APIError) as exc:
                await rest.request("GET", "/api/v3/no-such-endpoint")
            assert exc.value.status == 404
            info = await rest.exchange_info(["BTCUSDT", "ETHUSDT"])
            assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT"]
            assert rest.limiter.windows[0].limit == 6000


@pytest.mark.parametrize("kind", ["hmac", "ed25519"])
async def test_rest_only_client_full_order_cycle(kind):
    async with sim_and_client(kind, use_ws_api=False, user_data=False) as (sim, client):
        placed = await client.place(Order(SYM, "BUY", "LIMIT", quantity=1_000, price=2_000_000,
                                          time_in_force="GTC", client_order_id="r"))
        assert placed.via == "rest" and placed.result["status"] == "NEW"
        assert (await client.order_status(SYM, "r"))["orderId"] == placed.result["orderId"]
        assert [o["clientOrderId"] for o in await client.open_orders()] == ["r"]
        assert client.open.count(SYM) == (1, 0, 1)
        canceled = await client.cancel(SYM, order_id=placed.result["orderId"])
        assert canceled["status"] == "CANCELED" and client.open.count(SYM) == (0, 0, 0)
        filled = await client.place(Order(SYM, "SELL", "MARKET", quantity=1_000))
        trades = await client.my_trades(SYM, from_id=0)
        assert [t["orderId"] for t in trades] == [filled.result["orderId"]] * len(trades) and trades
        balances = {b["asset"]: b for b in (await client.account())["balances"]}
        assert balances["BTC"]["free"] == "0.99900000"


async def test_server_pings_are_answered_and_connections_survive():
    opts = {"ping_interval_s": 0.2, "pong_timeout_s": 0.6}
    async with sim_and_client("ed25519", sim_options=opts) as (sim, client):
        md = client.market_data([SYM])
        async with trio.open_nursery() as nursery:
            await nursery.start(md.run)
            await trio.sleep(2.0)                   # ten server pings on each connection
            assert client.ws.stats.connects == 1 and md.stats.connects == 1
            assert client.ws.connected and (await client.account())["balances"]
            nursery.cancel_scope.cancel()


async def test_unreachable_ws_api_fails_open_client_clearly():
    async with running_sim(speed="manual") as sim:
        dead = Endpoints.local(sim.rest_url, "ws://127.0.0.1:1/ws-api/v3", sim.stream_url)
        with pytest.raises(BinanceError, match="ws://127.0.0.1:1/ws-api/v3 not reachable within 1 s"):
            async with open_client(dead, signer_of(sim, "hmac"), ws_connect_timeout=1.0):
                pass


async def test_bad_key_fails_open_client_with_binances_error():
    async with running_sim(speed="manual") as sim:
        with pytest.raises(APIError) as exc:
            async with open_client(endpoints_of(sim), HmacSigner("unknownkey", "secret"), user_data=True):
                pass
        assert exc.value.code == -2015


async def test_errors_from_the_body_come_out_unwrapped():
    async with running_sim(speed="manual") as sim:
        with pytest.raises(APIError) as exc:
            async with open_client(endpoints_of(sim), signer_of(sim, "hmac")) as client:
                await client.cancel(SYM, client_order_id="nothing-here")
        assert (exc.value.code, exc.value.msg) == (-2011, "Unknown order sent.")
