"""The engine's kline ledger warms up from the kline store, REST only for what is missing.
Klines come from the simulator, which builds them from the real BTCUSDT trades."""
from __future__ import annotations

import httpx
import orjson

from pyengine import bundled
from pyengine.history import KlineStore
from pyengine.history.warmup import store_first
from pyengine.ledger import KlineLedger, WeightBudget
from pyengine.sim.testing import running_sim


async def test_ledger_warm_up_reads_the_store_first(tmp_path):
    async with running_sim(speed="manual", data={"BTCUSDT": bundled.BTCUSDT_FEED},
                           rebase=False) as sim:
        await sim.advance(11 * 60_000)
        calls: list[tuple] = []
        async with httpx.AsyncClient(base_url=sim.rest_url) as client:
            async def rest(symbol, interval, start_ms, end_ms, limit):
                calls.append((start_ms, end_ms, limit))
                params = {"symbol": symbol, "interval": interval, "startTime": start_ms,
                          "endTime": end_ms, "limit": limit}
                r = await client.get("/api/v3/klines",
                                     params={k: v for k, v in params.items() if v is not None})
                r.raise_for_status()
                return orjson.loads(r.content)

            now_ms = 1723161253937 + 11 * 60_000          # market time after the replay
            with KlineStore(tmp_path / "k.sqlite") as store:
                fetch = store_first(store, rest, clock=lambda: now_ms / 1000)
                first = KlineLedger()
                first.track("BTCUSDT", "1m")
                await first.warm_up(fetch, WeightBudget(), bars=8, now_ms=now_ms)
                assert len(calls) == 1                     # the store was empty: REST
                stored = store.read("BTCUSDT", "1m")
                assert len(stored) == 8 and all(k.volume is not None for k in stored)

                second = KlineLedger()
                second.track("BTCUSDT", "1m")
                await second.warm_up(fetch, WeightBudget(), bars=8, now_ms=now_ms)
                assert len(calls) == 1                     # all 8 came from the store
                a, b = first.series("BTCUSDT", "1m"), second.series("BTCUSDT", "1m")
                assert a.last(8) == b.last(8) and a.last(8)[0].volume > 0

                third = KlineLedger()
                third.track("BTCUSDT", "1m")
                await third.warm_up(fetch, WeightBudget(), bars=10, now_ms=now_ms)
                assert len(calls) == 2                     # two more than stored: REST again
                assert third.series("BTCUSDT", "1m").last(8) == a.last(8)
