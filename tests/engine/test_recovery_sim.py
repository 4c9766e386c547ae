"""Recovery against the simulator through the real connector: the engine's order path in
miniature (journal the intent, send, apply answers), a crash that loses unflushed records,
fills while the engine is down, then recover() with the BinanceClient as the venue."""
import os
from decimal import Decimal

import orjson

from pyengine import bundled
from pyengine.ids import client_order_id, strategy_tags
from pyengine.journal import Journal
from pyengine.sim.testing import running_sim
from pyengine.state import (Order, OrderStatus, Portfolio, fact_from_order_query,
                            fills_from_order_response, recover,
                            symbol_assets_from_exchange_info)
from pyengine.venue.binance.client import open_client
from pyengine.venue.binance.endpoints import Endpoints
from pyengine.venue.binance.orders import Order as WireOrder
from pyengine.venue.binance.signing import HmacSigner

SYM = "BTCUSDT"
ASSETS = symbol_assets_from_exchange_info(orjson.loads(bundled.EXCHANGE_INFO.read_bytes()))


async def send(state, client, seq, side, type_, qty, price=None):
    spec = client.rules[SYM].spec
    coid = client_order_id("ema", SYM, seq)
    state.submit(Order(client_order_id=coid, strategy_id="ema", symbol=SYM, side=side,
                       type=type_, qty=spec.qty(qty), price=None if price is None
                       else spec.price(price)))
    placed = await client.place(WireOrder(SYM, side, type_, quantity=qty, price=price,
                                          time_in_force="GTC" if type_ == "LIMIT" else None,
                                          client_order_id=coid, resp_type="FULL"))
    state.apply_order_fact(fact_from_order_query(placed.result, source="ws-api"))
    for f in fills_from_order_response(placed.result):
        state.apply_fill(f)
    return coid


async def test_crash_with_fills_while_down_recovers_to_the_exchange_state(tmp_path):
    async with running_sim(speed="manual") as sim:
        await sim.advance(1_000)
        endpoints = Endpoints.local(sim.rest_url, sim.ws_api_url, sim.stream_url, "sim")
        signer = HmacSigner(sim.hmac_key.key, sim.hmac_key.secret)
        async with open_client(endpoints, signer) as client:
            path = tmp_path / "journal.sqlite"
            journal = Journal(path)
            state, report = await recover(journal, Portfolio(ASSETS), client, [SYM])
            start = {a: b.total for a, b in state.balances.snapshot().items()}
            assert report.not_on_exchange == [] and "BTC" in start

            d = await client.rest.request("GET", "/api/v3/depth", {"symbol": SYM, "limit": 5})
            spec = client.rules[SYM].spec
            bid = spec.price_to_int(d["bids"][0][0])
            bought = await send(state, client, 1, "BUY", "MARKET", spec.qty_to_int("0.002"))
            resting = await send(state, client, 2, "BUY", "LIMIT", spec.qty_to_int("0.001"),
                                 bid)
            far = await send(state, client, 3, "BUY", "LIMIT", spec.qty_to_int("0.001"),
                             bid // 2)
            assert state.orders[bought].status is OrderStatus.FILLED
            journal.flush()
            unsent = client_order_id("ema", SYM, 4)
            state.submit(Order(client_order_id=unsent, strategy_id="ema", symbol=SYM,
                               side="SELL", type="MARKET", qty=Decimal("0.001")))
            # crash: the process dies right after journaling the 4th intent
            journal._pending.clear()
            journal._conn.close()
            os.close(journal._lock_fd)

            # while the engine is down the market trades through the resting bid
            for _ in range(240):
                o = await client.order_status(SYM, resting)
                if o["status"] == "FILLED":
                    break
                await sim.advance(500)
            await client.cancel(SYM, client_order_id=far)

            journal = Journal(path)
            tags = strategy_tags([("ema", [SYM])])
            state, report = await recover(journal, Portfolio(ASSETS), client, [SYM],
                                          strategy_tags=tags)
            assert report.not_on_exchange == [unsent]
            assert state.orders[resting].status is OrderStatus.FILLED
            assert report.recovered_fills                  # its fills, from myTrades
            assert (far, "NEW", "CANCELED") in report.resolved
            account = await client.account()
            for b in account["balances"]:
                assert state.balances.get(b["asset"]).free == Decimal(b["free"])
            for coid in (bought, resting, far):
                ex = await client.order_status(SYM, coid)
                o = state.orders[coid]
                assert o.status is OrderStatus.from_binance(ex["status"])
                assert o.executed_qty == Decimal(ex["executedQty"])
            # the strategy's position is exactly what the account gained in BTC
            btc = sum(Decimal(b["free"]) + Decimal(b["locked"]) for b in account["balances"]
                      if b["asset"] == "BTC")
            assert state.portfolio.position("ema", SYM).qty == btc - start["BTC"]
            trades = await client.my_trades(SYM)
            assert sorted(t for s, t in state._trades) == sorted(t["id"] for t in trades)
            journal.close()
