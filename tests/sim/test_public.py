"""REST market-data endpoints against the replayed bundled data."""
from __future__ import annotations

import httpx
import orjson

from pyengine.book import ASK, BID
from pyengine.sim.testing import running_sim


async def test_ping_time_exchange_info_and_404():
    async with running_sim(speed="manual") as sim:
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            r = await c.get("/api/v3/ping")
            assert r.status_code == 200 and r.json() == {}
            assert r.headers["content-type"] == "application/json;charset=UTF-8"
            assert r.headers["x-mbx-used-weight-1m"] == "1"
            t = (await c.get("/api/v3/time")).json()["serverTime"]
            assert abs(t - sim.clock.now_ms()) < 5_000
            info = (await c.get("/api/v3/exchangeInfo")).json()
            assert {s["symbol"] for s in info["symbols"]} == {"BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "ZECUSDT"}
            btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
            flt = {f["filterType"]: f for f in btc["filters"]}
            assert flt["PRICE_FILTER"]["tickSize"] == "0.01000000"
            assert btc["permissionSets"] and btc["defaultSelfTradePreventionMode"]
            one = (await c.get("/api/v3/exchangeInfo", params={"symbol": "ETHUSDT"})).json()
            assert [s["symbol"] for s in one["symbols"]] == ["ETHUSDT"]
            bad = await c.get("/api/v3/exchangeInfo", params={"symbol": "NOPE"})
            assert bad.status_code == 400 and bad.json() == {"code": -1121, "msg": "Invalid symbol."}
            assert (await c.get("/api/v3/nothing")).status_code == 404
            r = await c.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 1000})
            assert r.headers["x-mbx-used-weight-1m"] == str(1 + 1 + 20 + 20 + 20 + 50)  # failures are charged, 404s are not


async def test_depth_matches_the_recording_snapshot_and_is_sorted():
    async with running_sim(speed="manual", data={"BTCUSDT": __import__("pyengine.bundled").bundled.BTCUSDT_FEED}) \
            as sim:
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            body = (await c.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5000})).json()
        # the recording's snapshot is 50093239218; the straddling diff before it ends at ...224
        assert body["lastUpdateId"] >= 50093239218
        bids = [float(p) for p, _ in body["bids"]]
        asks = [float(p) for p, _ in body["asks"]]
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        assert bids[0] < asks[0]
        assert all(len(p.split(".")[1]) == 8 for p, _ in body["bids"][:10])


async def test_klines_trades_and_tickers_follow_the_replay():
    async with running_sim(speed="manual") as sim:
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            await sim.advance(130_000)
            trades = (await c.get("/api/v3/trades", params={"symbol": "BTCUSDT", "limit": 1000})).json()
            assert len(trades) == 1000
            ids = [t["id"] for t in trades]
            assert ids == sorted(ids)
            kl = (await c.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m"})).json()
            assert len(kl) >= 2 and all(len(k) == 12 and k[6] == k[0] + 59_999 for k in kl)
            total = sum(float(k[5]) for k in kl)
            allt = sim.markets["BTCUSDT"].trades
            assert abs(total - sum(t.qty for t in allt) / 1e8) < 1e-6
            last = (await c.get("/api/v3/ticker/price", params={"symbol": "BTCUSDT"})).json()
            assert last["price"] == trades[-1]["price"]
            agg = (await c.get("/api/v3/aggTrades", params={"symbol": "BTCUSDT", "limit": 3})).json()
            assert [a["a"] for a in agg] == ids[-3:]
            bad = await c.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "7m"})
            assert bad.json() == {"code": -1120, "msg": "Invalid interval."}
            zec = (await c.get("/api/v3/klines", params={"symbol": "ZECUSDT", "interval": "1m", "limit": 3})).json()
            # the bundled ZECUSDT bars are real: the history bar right before the replay start
            assert zec[-1][0] % 60_000 == 0
            book = (await c.get("/api/v3/ticker/bookTicker", params={"symbol": "ETHUSDT"})).json()
            m = sim.markets["ETHUSDT"]
            assert float(book["bidPrice"]) == m.best(BID)[0] / 1e8
            assert float(book["askPrice"]) == m.best(ASK)[0] / 1e8
            many = (await c.get("/api/v3/ticker/24hr", params={"symbols": orjson.dumps(["BTCUSDT", "ETHUSDT"]).decode()}))
            assert [t["symbol"] for t in many.json()] == ["BTCUSDT", "ETHUSDT"]


async def test_microsecond_time_unit_on_rest_and_ws_api():
    import trio_websocket

    async with running_sim(speed="manual", data={"ZECUSDT": __import__("pyengine.bundled").bundled.ZECUSDT_1M}) as sim:
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            ms = (await c.get("/api/v3/time")).json()["serverTime"]
            us = (await c.get("/api/v3/time", headers={"X-MBX-TIME-UNIT": "MICROSECOND"})).json()["serverTime"]
            assert 10**15 < us and us // 1000 >= ms
            rows = (await c.get("/api/v3/klines", params={"symbol": "ZECUSDT", "interval": "1m", "limit": 2},
                                headers={"X-MBX-TIME-UNIT": "microsecond"})).json()
            assert rows[0][0] % 60_000_000 == 0 and rows[0][6] == rows[0][0] + 59_999_999
            bad = await c.get("/api/v3/time", headers={"X-MBX-TIME-UNIT": "NANOSECOND"})
            assert bad.json()["code"] == -1194
        async with trio_websocket.open_websocket_url(sim.ws_api_url + "?timeUnit=MICROSECOND") as ws:
            await ws.send_message(orjson.dumps({"id": 1, "method": "time"}).decode())
            assert orjson.loads(await ws.get_message())["result"]["serverTime"] > 10**15
