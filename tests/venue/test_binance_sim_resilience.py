"""Unknown order status, rate limits, bans, clock skew and WS API reconnects, injected by the
simulator's fault controls (pyengine.sim.faults)."""
from __future__ import annotations

import random

import pytest
import trio

from pyengine.sim.ratelimit import Limits
from pyengine.venue.binance.connection import Backoff
from pyengine.venue.binance.errors import IpBanned, RateLimited
from pyengine.venue.binance.orders import Order
from pyengine.venue.binance.wsapi import STREAM_RESET
from binance_sim_helpers import next_event, sim_and_client

SYM = "BTCUSDT"
FAST_RESOLVE = {"unknown_query_delay": 0.02}


def resting(cid: str, price: int = 2_000_000) -> Order:
    return Order(SYM, "BUY", "LIMIT", quantity=1_000, price=price, time_in_force="GTC", client_order_id=cid)


@pytest.mark.parametrize("executed", [True, False])
async def test_ws_unknown_status_is_resolved_by_query(executed):
    async with sim_and_client(**FAST_RESOLVE) as (sim, client):
        sim.faults.unknown_status("order.place", executed=executed)
        placed = await client.place(resting("u1"))
        # executed: the query finds it; not executed: absent -> sent again under the same id
        assert placed.via == ("query" if executed else "ws")
        assert placed.result["clientOrderId"] == "u1" and placed.result["status"] == "NEW"
        assert client.unknown_resolved == 1
        assert [o["clientOrderId"] for o in await client.open_orders(SYM)] == ["u1"]


@pytest.mark.parametrize("fault", ["unknown-executed", "5xx-not-executed", "dropped-connection"])
async def test_rest_unknown_outcomes_never_duplicate(fault):
    async with sim_and_client(use_ws_api=False, user_data=False, **FAST_RESOLVE) as (sim, client):
        if fault == "unknown-executed":
            sim.faults.unknown_status("/api/v3/order", executed=True)
        elif fault == "5xx-not-executed":
            sim.faults.fail_next("/api/v3/order", status=502, code=-1001,
                                 msg="Internal error; unable to process your request. Please try again.")
        else:
            sim.faults.drop_connection(rest_requests=1)
        placed = await client.place(resting("r1"))
        assert placed.via == ("query" if fault == "unknown-executed" else "rest")
        assert [o["clientOrderId"] for o in await client.open_orders(SYM)] == ["r1"]


async def test_get_is_retried_after_429_retry_after():
    async with sim_and_client(user_data=False) as (sim, client):
        sim.faults.rate_limit_next("/api/v3/depth", retry_after_s=1)
        depth = await client.rest.request("GET", "/api/v3/depth", {"symbol": SYM, "limit": 5})
        assert depth["bids"] and client.rest.limiter.rejections == 1
        assert trio.current_time() >= client.rest.limiter.blocked_until > 0


async def test_order_429_beyond_allowed_wait_is_not_sent_again():
    async with sim_and_client(order_max_wait=0.5) as (sim, client):
        sim.faults.fail_next("order.place", status=429, code=-1015,
                             msg="Too many new orders; current limit is 50 orders per 10 SECOND.",
                             retry_after_s=2)
        with pytest.raises(RateLimited):
            await client.place(resting("t1"))
        with pytest.raises(RateLimited, match="next request allowed in"):
            await client.place(resting("t2"))      # still inside the back-off: refused locally
        assert await client.open_orders(SYM) == []  # (this query waits for the back-off to end)
        assert trio.current_time() >= client.rest.limiter.blocked_until
        assert (await client.place(resting("t3"))).result["status"] == "NEW"


async def test_418_ban_is_a_full_stop_until_it_ends():
    async with sim_and_client(use_ws_api=False, user_data=False) as (sim, client):
        sim.faults.ban(2)
        with pytest.raises(IpBanned):
            await client.rest.request("GET", "/api/v3/ping", max_wait=0.1)
        limiter = client.rest.limiter
        assert limiter.banned_until > trio.current_time()
        with pytest.raises(IpBanned, match="IP banned"):     # refused before anything is sent
            await client.rest.request("GET", "/api/v3/time", max_wait=0.1)
        assert await client.rest.request("GET", "/api/v3/ping", max_wait=5) == {}
        assert trio.current_time() >= limiter.banned_until


@pytest.mark.parametrize("skew_ms", [-3_000, 8_000])
async def test_clock_skew_is_detected_and_corrected(skew_ms):
    async with sim_and_client() as (sim, client):
        before = client.rest.clock.offset_ms
        sim.faults.set_clock_skew(skew_ms)
        # WS API: -1021, re-measure, resend
        assert (await client.place(resting("c1"))).result["status"] == "NEW"
        assert client.rest.clock.offset_ms - before == pytest.approx(skew_ms, abs=500)
        # REST: same recovery, the clock jumping 11 s the other way
        other = -3_000 if skew_ms > 0 else 8_000
        sim.faults.set_clock_skew(other)
        account = await client.rest.request("GET", "/api/v3/account", signed=True)
        assert account["balances"]
        assert client.rest.clock.offset_ms - before == pytest.approx(other, abs=500)


class _SlowestBackoff(random.Random):
    def uniform(self, a, b):
        return b


async def test_ws_api_reconnect_falls_back_to_rest_and_resubscribes_user_data():
    # The simulator cuts every connection after 3 s (its stand-in for the 24 h limit); the
    # client waits exactly 1 s before reconnecting, so the gap is known.
    backoff = Backoff(base=1.0, cap=1.0, rng=_SlowestBackoff())
    async with sim_and_client("ed25519", sim_options={"connection_lifetime_s": 3.0},
                              ws_options={"backoff": backoff}) as (sim, client):
        with trio.fail_after(5):
            while client.ws.connected:
                await trio.sleep(0.005)
        placed = await client.place(resting("down"))           # WS API down: REST
        assert placed.via == "rest" and placed.result["status"] == "NEW"
        await client.ws.wait_connected()
        assert client.ws.stats.connects == 2 and client.ws.frames.session
        await next_event(client, lambda e: e.get("e") == STREAM_RESET)
        placed = await client.place(resting("up"))
        assert placed.via == "ws"
        ev = await next_event(client, lambda e: e.get("e") == "executionReport" and e["c"] == "up")
        assert ev["X"] == "NEW"


async def test_ws_timeout_is_unknown_status_resolved_by_query():
    async with sim_and_client(ws_timeout=0.3, **FAST_RESOLVE) as (sim, client):
        sim.faults.delay(ws_api_s=0.6)            # answers arrive after the client gave up
        placed = await client.place(resting("slow"))
        # the WS status query times out too, so the query is repeated over REST and finds it
        assert placed.via == "query" and placed.result["clientOrderId"] == "slow"
        sim.faults.delay()
        assert [o["clientOrderId"] for o in await client.open_orders(SYM)] == ["slow"]


async def test_reordered_ws_answers_reach_their_requests():
    async with sim_and_client() as (sim, client):
        sim.faults.reorder(2)
        results = {}

        async def place(cid, price):
            results[cid] = (await client.place(resting(cid, price))).result

        async with trio.open_nursery() as nursery:
            for i in range(4):
                nursery.start_soon(place, f"o{i}", 2_000_000 + i)
        assert {cid: r["clientOrderId"] for cid, r in results.items()} == {f"o{i}": f"o{i}" for i in range(4)}
        assert {r["price"] for r in results.values()} == {f"20000.0{i}000000" for i in range(4)}


async def test_logon_after_reconnect_survives_a_clock_jump():
    backoff = Backoff(base=0.2, cap=0.2, rng=_SlowestBackoff())
    async with sim_and_client("ed25519", sim_options={"connection_lifetime_s": 2.0},
                              ws_options={"backoff": backoff}) as (sim, client):
        sim.faults.set_clock_skew(-4_000)         # our timestamps now 4 s ahead: -1021 on logon
        with trio.fail_after(5):
            while client.ws.connected:
                await trio.sleep(0.005)
        await client.ws.wait_connected()
        assert client.ws.frames.session and client.ws.stats.connects == 2
        assert (await client.place(resting("after"))).via == "ws"


async def test_late_landing_first_attempt_is_adopted_not_duplicated():
    # The order lands although the answer says "unknown" and the status query (wrongly, as a
    # lagging backend would) says it does not exist; the resend under the same client id is
    # refused as a duplicate, and the client adopts the first order.
    async with sim_and_client(unknown_queries=1, **FAST_RESOLVE) as (sim, client):
        sim.faults.unknown_status("order.place", executed=True)
        sim.faults.fail_next("order.status", status=400, code=-2013, msg="Order does not exist.")
        placed = await client.place(resting("late"))
        assert placed.via == "query" and placed.result["clientOrderId"] == "late"
        assert [o["clientOrderId"] for o in await client.open_orders(SYM)] == ["late"]


async def test_failed_logon_after_reconnect_is_retried_not_fatal():
    backoff = Backoff(base=0.2, cap=0.2, rng=_SlowestBackoff())
    async with sim_and_client("ed25519", sim_options={"connection_lifetime_s": 2.0},
                              ws_options={"backoff": backoff}) as (sim, client):
        key = sim.keys.pop(sim.ed25519_key.key)     # the key stops working (-2015 on logon)
        with trio.fail_after(10):
            while client.ws.stats.failures < 3:      # cut by the server, then logons refused
                await trio.sleep(0.01)
        assert not client.ws.connected
        sim.add_key(key)                             # the key works again
        with trio.fail_after(10):
            await client.ws.wait_connected()
        await next_event(client, lambda e: e.get("e") == STREAM_RESET)
        assert (await client.place(resting("back"))).via == "ws"


async def test_proactive_ws_api_reconnect_lets_requests_in_flight_finish():
    many = {"limits": Limits(orders_per_10s=10_000)}
    async with sim_and_client(sim_options=many, ws_options={"max_age": 1.0}) as (sim, client):
        sim.faults.delay(rest_s=0.05, ws_api_s=0.15)     # keep an order in flight most of the time
        vias = []
        deadline = trio.current_time() + 2.5
        while trio.current_time() < deadline:
            i = len(vias)
            vias.append((await client.place(resting(f"p{i}", 2_000_000 + i))).via)
        assert client.ws.stats.proactive_reconnects >= 1 and client.ws.stats.failures == 0
        assert "query" not in vias and "ws" in vias      # nothing was left in an unknown state
        sim.faults.delay()
        assert len(await client.open_orders(SYM)) == len(vias)
