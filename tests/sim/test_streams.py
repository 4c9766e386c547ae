"""Market streams: diff depth rebuilds a pyengine Book with zero gaps; control messages; gaps on demand."""
from __future__ import annotations

import httpx
import orjson
import trio
import trio_websocket

from pyengine import bundled
from pyengine.book import ASK, BID, OK, SYNC_GAP, Book, STALE
from pyengine.sim.testing import running_sim

BTC = {"BTCUSDT": bundled.BTCUSDT_FEED}
ZEC = {"ZECUSDT": bundled.ZECUSDT_1M}


async def _collect(ws, n_ms_sim, sim, frames):
    """Replay ``n_ms_sim`` of market time, then read until the socket has been quiet for 0.4 s."""
    async def reader():
        while True:
            frames.append(await ws.get_message())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await sim.advance(n_ms_sim)
        seen = -1
        while seen != len(frames):
            seen = len(frames)
            await trio.sleep(0.4)
        nursery.cancel_scope.cancel()


async def _sync_book(sim, symbol, stream, advance_ms, gap: int = 0):
    """Digest 11.4: subscribe, snapshot, apply; returns (book, statuses, events)."""
    spec = sim.markets[symbol].spec
    async with trio_websocket.open_websocket_url(f"{sim.stream_url}/ws/{stream}") as ws:
        await sim.advance(500)
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            snap = (await c.get("/api/v3/depth", params={"symbol": symbol, "limit": 5000})).content
        if gap:
            await sim.advance(3000)
            sim.faults.skip_diff(symbol, gap)
        frames: list = []
        await _collect(ws, advance_ms, sim, frames)
    book = Book(spec)
    book.load_snapshot(snap)
    statuses, events = [], [orjson.loads(f) for f in frames]
    for ev in events:
        statuses.append(book.apply_diff(ev["U"], ev["u"], [(spec.price_to_int(p), spec.qty_to_int(q)) for p, q in ev["b"]],
                                        [(spec.price_to_int(p), spec.qty_to_int(q)) for p, q in ev["a"]]))
    return book, statuses, events


async def test_recorded_diff_depth_rebuilds_the_book_with_zero_gaps():
    async with running_sim(speed="manual", data=BTC) as sim:
        book, statuses, events = await _sync_book(sim, "BTCUSDT", "btcusdt@depth@100ms", 60_000)
        assert len(events) > 400
        assert all(s in (OK, STALE) for s in statuses) and statuses.count(OK) > 400
        for a, b in zip(events, events[1:]):
            assert b["U"] == a["u"] + 1
        m = sim.markets["BTCUSDT"]
        assert book.last_update_id == m.update_id
        assert book.top(BID, 20) == m.book.top(BID, 20) and book.top(ASK, 20) == m.book.top(ASK, 20)


async def test_recorded_frames_pass_through_byte_for_byte_without_rebase():
    async with running_sim(speed="manual", data=BTC, rebase=False) as sim:
        async with trio_websocket.open_websocket_url(f"{sim.stream_url}/stream?streams=btcusdt@depth@100ms/btcusdt@trade") as ws:
            frames: list = []
            await _collect(ws, 5_000, sim, frames)
        recorded = set()
        import gzip
        with gzip.open(bundled.BTCUSDT_FEED, "rb") as fh:
            for line in fh:
                start = line.index(b'"msg":') + 6
                recorded.add(line[start:line.rindex(b"}")].decode())
        assert len(frames) > 50 and all(f in recorded for f in frames)


async def test_one_second_diffs_and_synthetic_kline_market_are_contiguous():
    async with running_sim(speed="manual", data=ZEC) as sim:
        book, statuses, events = await _sync_book(sim, "ZECUSDT", "zecusdt@depth", 600_000)
        assert len(events) >= 5 and all(s in (OK, STALE) for s in statuses)
        for a, b in zip(events, events[1:]):
            assert b["U"] == a["u"] + 1
        # the last second is still being merged on the server: the client is exactly one batch behind
        assert book.last_update_id == events[-1]["u"] < sim.markets["ZECUSDT"].update_id
        assert book.best_bid()[0] < book.best_ask()[0]


async def test_injected_gap_is_seen_by_the_client():
    async with running_sim(speed="manual", data=BTC) as sim:
        _, statuses, _ = await _sync_book(sim, "BTCUSDT", "btcusdt@depth@100ms", 5_000, gap=1)
        assert SYNC_GAP in statuses


async def test_subscribe_list_unsubscribe_and_payload_shapes():
    async with running_sim(speed="manual", data=BTC) as sim:
        async with trio_websocket.open_websocket_url(f"{sim.stream_url}/ws/1") as ws:
            await ws.send_message(orjson.dumps({"method": "SUBSCRIBE", "params": [
                "btcusdt@trade", "btcusdt@aggTrade", "btcusdt@bookTicker", "btcusdt@depth5@100ms",
                "btcusdt@kline_1m"], "id": 1}).decode())
            assert orjson.loads(await ws.get_message()) == {"result": None, "id": 1}
            await ws.send_message(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": "x"}).decode())
            assert orjson.loads(await ws.get_message())["result"] == sorted([
                "btcusdt@trade", "btcusdt@aggTrade", "btcusdt@bookTicker", "btcusdt@depth5@100ms", "btcusdt@kline_1m"])
            await ws.send_message(orjson.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 2}).decode())
            assert orjson.loads(await ws.get_message()) == {"result": False, "id": 2}
            await ws.send_message("{not json")
            assert orjson.loads(await ws.get_message())["code"] == 3
            await ws.send_message(orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@nonsense"], "id": 3}).decode())
            assert orjson.loads(await ws.get_message())["code"] == 2
            frames: list = []
            await _collect(ws, 65_000, sim, frames)
            kinds = {}
            for f in map(orjson.loads, frames):
                k = f.get("e") or ("partial" if "lastUpdateId" in f else "bookTicker")
                kinds.setdefault(k, f)
            assert set(kinds) == {"trade", "aggTrade", "bookTicker", "partial", "kline"}
            assert len(kinds["partial"]["bids"]) == 5 and "e" not in kinds["bookTicker"]
            closed = [f for f in map(orjson.loads, frames) if f.get("e") == "kline" and f["k"]["x"]]
            # data are rebased to the wall clock, so 65 s of market time cross one or two minute boundaries
            assert 1 <= len(closed) <= 2 and all(c["k"]["T"] == c["k"]["t"] + 59_999 for c in closed)
            assert [c["k"]["t"] - closed[0]["k"]["t"] for c in closed] == [60_000 * i for i in range(len(closed))]
            await ws.send_message(orjson.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 4}).decode())
            while True:
                msg = orjson.loads(await ws.get_message())
                if msg.get("id") == 4:
                    break
            assert msg == {"result": None, "id": 4}
