"""Every order type and outcome against the simulator, over the WS API (HMAC per-request
signatures and Ed25519 session.logon) and REST; local filter checks agree with the exchange."""
from __future__ import annotations

import pytest
import trio

from pyengine.venue.binance.errors import APIError, FilterError
from pyengine.venue.binance.orders import Order
from binance_sim_helpers import advance_until, next_event, sim_and_client

SYM = "BTCUSDT"


async def top(client, sim) -> tuple[int, int, int, int]:
    """(bid px, bid qty, ask px, ask qty) from the exchange's depth, at the symbol's scales."""
    d = await client.rest.request("GET", "/api/v3/depth", {"symbol": SYM, "limit": 5})
    spec = client.rules[SYM].spec
    (bp, bq), (ap, aq) = d["bids"][0], d["asks"][0]
    return spec.price_to_int(bp), spec.qty_to_int(bq), spec.price_to_int(ap), spec.qty_to_int(aq)


@pytest.mark.parametrize("kind", ["hmac", "ed25519"])
async def test_limit_rests_then_cancel_with_events(kind):
    async with sim_and_client(kind) as (sim, client):
        assert client.ws.frames.session == (kind == "ed25519")    # logon only with Ed25519
        bid, _, _, _ = await top(client, sim)
        o = Order(SYM, "BUY", "LIMIT", quantity=1_000, price=bid - 50_000, time_in_force="GTC",
                  client_order_id=f"rest-{kind}")
        placed = await client.place(o)
        assert placed.via == "ws" and placed.ack_ns > placed.sent_ns > 0
        r = placed.result
        assert r["status"] == "NEW" and r["clientOrderId"] == f"rest-{kind}" and r["fills"] == []
        assert r["price"].rstrip("0") == client.rules[SYM].fmt_price(bid - 50_000).rstrip("0")
        ev = await next_event(client, lambda e: e.get("e") == "executionReport")
        assert (ev["x"], ev["X"], ev["c"], ev["w"]) == ("NEW", "NEW", f"rest-{kind}", True)
        assert client.open.count(SYM)[0] == 1
        assert (await client.order_status(SYM, f"rest-{kind}"))["status"] == "NEW"
        canceled = await client.cancel(SYM, client_order_id=f"rest-{kind}")
        assert canceled["status"] == "CANCELED" and canceled["origClientOrderId"] == f"rest-{kind}"
        ev = await next_event(client, lambda e: e.get("e") == "executionReport" and e["x"] == "CANCELED")
        assert ev["C"] == f"rest-{kind}"
        assert client.open.count(SYM)[0] == 0
        with pytest.raises(APIError) as exc:
            await client.cancel(SYM, client_order_id=f"rest-{kind}")
        assert (exc.value.code, exc.value.msg) == (-2011, "Unknown order sent.")
        assert await client.order_status(SYM, "never-sent") is None
        sim.deposit("USDT", "5")
        ev = await next_event(client, lambda e: e.get("e") == "balanceUpdate")
        assert (ev["a"], ev["d"]) == ("USDT", "5.00000000")
        ev = await next_event(client, lambda e: e.get("e") == "outboundAccountPosition")
        assert any(b["a"] == "USDT" for b in ev["B"])


async def test_market_orders_by_quantity_and_quote_fill():
    async with sim_and_client() as (sim, client):
        placed = await client.place(Order(SYM, "BUY", "MARKET", quantity=2_000))
        r = placed.result
        assert r["status"] == "FILLED" and r["executedQty"].startswith("0.002") and r["fills"]
        assert all(f["commissionAsset"] == "BTC" for f in r["fills"])
        placed = await client.place(Order(SYM, "SELL", "MARKET", quote_qty=50_00))   # 50.00 USDT
        r = placed.result
        assert r["status"] == "FILLED" and r["type"] == "MARKET"
        assert 0 < float(r["cummulativeQuoteQty"]) <= 50.0          # display only, not money
        trades = await client.my_trades(SYM)
        assert {t["orderId"] for t in trades} == {1, 2}
        account = await client.account()
        btc = next(b for b in account["balances"] if b["asset"] == "BTC")
        assert btc["free"] != "1.00000000"


RICH = {"balances": {"USDT": "100000000", "BTC": "100"}}


async def test_ioc_partial_then_expired_and_fok_expired():
    async with sim_and_client(sim_options=RICH) as (sim, client):
        _, _, ask, ask_qty = await top(client, sim)
        r = (await client.place(Order(SYM, "BUY", "LIMIT", quantity=ask_qty + 1_000, price=ask,
                                      time_in_force="IOC", resp_type="FULL"))).result
        assert r["status"] == "EXPIRED"
        assert client.rules[SYM].spec.qty_to_int(r["executedQty"]) == ask_qty and r["fills"]
        _, _, ask, ask_qty = await top(client, sim)
        r = (await client.place(Order(SYM, "BUY", "LIMIT", quantity=ask_qty + 1_000, price=ask,
                                      time_in_force="FOK"))).result
        assert r["status"] == "EXPIRED" and float(r["executedQty"]) == 0 and r["fills"] == []


async def test_limit_maker_stop_limit_take_profit_and_rejections():
    async with sim_and_client() as (sim, client):
        bid, _, ask, _ = await top(client, sim)
        with pytest.raises(APIError) as exc:
            await client.place(Order(SYM, "BUY", "LIMIT_MAKER", quantity=1_000, price=ask))
        assert (exc.value.code, exc.value.msg) == (-2010, "Order would immediately match and take.")
        r = (await client.place(Order(SYM, "BUY", "LIMIT_MAKER", quantity=1_000, price=bid - 100))).result
        assert set(r) >= {"orderId", "clientOrderId", "transactTime"}           # ACK by default
        stop = Order(SYM, "SELL", "STOP_LOSS_LIMIT", quantity=1_000, price=bid - 20_000,
                     stop_price=bid - 10_000, time_in_force="GTC", resp_type="RESULT")
        r = (await client.place(stop)).result
        assert r["status"] == "NEW" and r["workingTime"] == -1
        tp = Order(SYM, "SELL", "TAKE_PROFIT_LIMIT", quantity=1_000, price=ask + 20_000,
                   stop_price=ask + 10_000, time_in_force="GTC", resp_type="RESULT")
        assert (await client.place(tp)).result["status"] == "NEW"
        assert client.open.count(SYM) == (4 - 1, 2, 3)
        stp = Order(SYM, "BUY", "LIMIT", quantity=1_000, price=bid - 300, time_in_force="GTC",
                    stp_mode="EXPIRE_TAKER", resp_type="RESULT")
        assert (await client.place(stp)).result["selfTradePreventionMode"] == "EXPIRE_TAKER"
        await client.cancel(SYM, client_order_id=(await client.open_orders(SYM))[-1]["clientOrderId"])
        with pytest.raises(APIError) as exc:
            await client.place(Order(SYM, "SELL", "STOP_LOSS_LIMIT", quantity=1_000, price=ask,
                                     stop_price=ask + 10_000, time_in_force="GTC"))
        assert (exc.value.code, exc.value.msg) == (-2010, "Order would trigger immediately.")
        with pytest.raises(APIError) as exc:
            await client.place(Order(SYM, "BUY", "LIMIT", quantity=10_000_000, price=bid,
                                     time_in_force="GTC"))     # 10 BTC > 100k USDT
        assert (exc.value.code, exc.value.msg) == (-2010, "Account has insufficient balance for requested action.")
        await client.place(Order(SYM, "BUY", "LIMIT", quantity=1_000, price=bid - 100, time_in_force="GTC",
                                 client_order_id="dup"))
        with pytest.raises(APIError) as exc:
            await client.place(Order(SYM, "BUY", "LIMIT", quantity=1_000, price=bid - 200,
                                     time_in_force="GTC", client_order_id="dup"))
        assert (exc.value.code, exc.value.msg) == (-2010, "Duplicate order sent.")
        assert len(await client.open_orders(SYM)) == 4
        canceled = await client.cancel_all(SYM)
        assert sorted(c["status"] for c in canceled) == ["CANCELED"] * 4
        assert client.open.count(SYM) == (0, 0, 0) and await client.open_orders(SYM) == []
        assert await client.cancel_all(SYM) == []


async def test_resting_order_partially_filled_by_market_trades():
    async with sim_and_client() as (sim, client):
        bid, _, _, _ = await top(client, sim)
        o = Order(SYM, "BUY", "LIMIT", quantity=300_000, price=bid, time_in_force="GTC",
                  client_order_id="maker")          # 0.3 BTC resting at the best bid
        assert (await client.place(o)).result["status"] == "NEW"
        reports = []

        async def collect():
            async for ev in client.events:
                if ev.get("e") == "executionReport" and ev["x"] == "TRADE":
                    reports.append(ev)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect)
            await advance_until(sim, lambda: any(r["X"] == "PARTIALLY_FILLED" for r in reports), step_ms=500)
            nursery.cancel_scope.cancel()
        first = reports[0]
        assert first["m"] is True and first["X"] == "PARTIALLY_FILLED" and first["N"] == "BTC"
        assert 0 < float(first["l"]) < 0.3 and first["t"] > 0
        q = await client.order_status(SYM, "maker")
        assert q["status"] in ("PARTIALLY_FILLED", "FILLED") and float(q["executedQty"]) > 0


INVALID = [
    Order(SYM, "BUY", "LIMIT", quantity=1_000, price=100_000_001, time_in_force="GTC"),  # > maxPrice
    Order(SYM, "BUY", "LIMIT", quantity=9, price=3_000_000, time_in_force="GTC"),        # < minQty
    Order(SYM, "BUY", "LIMIT", quantity=100, price=3_000_000, time_in_force="GTC"),      # 3 USDT
    Order(SYM, "SELL", "MARKET", quantity=100_053_819),                                  # MARKET_LOT_SIZE
    Order(SYM, "BUY", "LIMIT", quantity=1_000, price=3_000_000),                         # no TIF
    Order(SYM, "BUY", "MARKET", quantity=1_000, price=3_000_000),                        # price on MARKET
    Order(SYM, "BUY", "LIMIT_MAKER", quantity=1_000, price=3_000_000, time_in_force="GTC"),
    Order(SYM, "BUY", "STOP_LOSS", quantity=1_000, stop_price=3_000_000),                # type not allowed
]


async def test_local_filter_rejections_match_the_exchange_word_for_word():
    async with sim_and_client() as (sim, client):
        rules = client.rules[SYM]
        avg = await client.rest.request("GET", "/api/v3/avgPrice", {"symbol": SYM})
        ref = rules.spec.price_to_int(avg["price"][:avg["price"].index(".") + 3])
        far = Order(SYM, "SELL", "LIMIT", quantity=1_000, price=ref * 6, time_in_force="GTC")
        for o in INVALID + [far]:
            with pytest.raises(FilterError) as local:
                await client.place(o, ref_price=ref)
            with pytest.raises(APIError) as remote:       # the same order sent unchecked
                await client.rest.request("POST", "/api/v3/order", rules.params(o), signed=True, orders=1)
            assert (local.value.code, local.value.msg) == (remote.value.code, remote.value.msg), o
        assert await client.open_orders(SYM) == []


async def test_stop_limit_triggers_when_the_market_trades_through():
    async with sim_and_client() as (sim, client):
        bid, _, ask, _ = await top(client, sim)
        placed = await client.place(Order(SYM, "SELL", "STOP_LOSS_LIMIT", quantity=1_000,
                                          price=bid - 10_000, stop_price=bid - 100,
                                          time_in_force="GTC", client_order_id="stop"))
        assert "status" not in placed.result                      # ACK for stop orders
        reports = []

        async def collect():
            async for ev in client.events:
                if ev.get("e") == "executionReport" and ev["c"] == "stop":
                    reports.append(ev)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect)
            await advance_until(sim, lambda: any(r["w"] or r["x"] == "TRADE" for r in reports), step_ms=500)
            nursery.cancel_scope.cancel()
        assert reports[0]["x"] == "NEW" and reports[0]["w"] is False       # dormant on placement
        assert any(r["w"] or r["x"] == "TRADE" for r in reports[1:])        # triggered later
