"""Binance's book-sync procedure (digest 11.4) on the C book, driven by the bundled real
BTCUSDT recording (diff-depth stream plus the REST snapshot recorded with it). Later snapshots
are served by a stand-in for ``RestClient.depth_raw``: the recorded snapshot with the recorded
diffs applied up to a chosen one, computed independently here with Decimal dictionaries."""
from __future__ import annotations

import gzip
from decimal import Decimal

import orjson
import pytest
import trio
import trio.testing

from pyengine import bundled
from pyengine.book import ASK, BID, BookNotReadable, Feed
from pyengine.venue.binance.errors import RateLimited
from pyengine.venue.binance.market import DepthSync


def load_recording(n: int) -> tuple[dict, list[dict]]:
    snapshot, frames = None, []
    with gzip.open(bundled.BTCUSDT_FEED, "rb") as fh:
        for line in fh:
            msg = orjson.loads(line)["msg"]
            if "lastUpdateId" in msg:
                snapshot = msg
            elif msg["stream"].endswith("@depth@100ms"):
                frames.append(msg)
                if len(frames) == n:
                    break
    return snapshot, frames


SNAPSHOT, FRAMES = load_recording(700)
SPEC = bundled.symbol_specs()["BTCUSDT"]
# index of the first diff after the recorded snapshot (it straddles lastUpdateId + 1)
S0 = next(i for i, f in enumerate(FRAMES) if f["data"]["u"] > SNAPSHOT["lastUpdateId"])


def reference_levels(upto_index: int) -> tuple[int, dict, dict]:
    """(lastUpdateId, bids, asks): the recorded snapshot plus diffs S0..upto_index."""
    bids = {Decimal(p): Decimal(q) for p, q in SNAPSHOT["bids"]}
    asks = {Decimal(p): Decimal(q) for p, q in SNAPSHOT["asks"]}
    lid = SNAPSHOT["lastUpdateId"]
    for f in FRAMES[S0:upto_index + 1]:
        assert f["data"]["U"] <= lid + 1, "recording has a gap"
        for side, key in ((bids, "b"), (asks, "a")):
            for p, q in f["data"][key]:
                if Decimal(q) == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = Decimal(q)
        lid = f["data"]["u"]
    return lid, bids, asks


def snapshot_body(upto_index: int | None) -> bytes:
    if upto_index is None:
        return orjson.dumps(SNAPSHOT)
    lid, bids, asks = reference_levels(upto_index)
    return orjson.dumps({"lastUpdateId": lid,
                         "bids": [[str(p), str(q)] for p, q in sorted(bids.items(), reverse=True)],
                         "asks": [[str(p), str(q)] for p, q in sorted(asks.items())]})


class SnapshotSource:
    """Stands in for RestClient.depth_raw: returns the scripted snapshots in turn."""

    def __init__(self, *indexes: int):
        self.indexes = list(indexes)
        self.calls = 0

    async def depth_raw(self, symbol: str, limit: int = 1000) -> bytes:
        assert symbol == "BTCUSDT"
        self.calls += 1
        await trio.sleep(0)
        return snapshot_body(self.indexes.pop(0))


def frame_bytes(i: int) -> bytes:
    return orjson.dumps(FRAMES[i])


def assert_matches_reference(book, upto_index: int) -> None:
    lid, bids, asks = reference_levels(upto_index)
    assert book.last_update_id == lid
    top = [(SPEC.price(p), SPEC.qty(q)) for p, q in book.top(BID, 20)]
    assert top == sorted(bids.items(), reverse=True)[:20]
    top = [(SPEC.price(p), SPEC.qty(q)) for p, q in book.top(ASK, 20)]
    assert top == sorted(asks.items())[:20]
    assert book.level_count(BID) == len(bids) and book.level_count(ASK) == len(asks)


async def run_sync(source, feed_indexes, *, settle_after=None):
    feed = Feed([SPEC])
    sync = DepthSync(feed, source, retry_delay=0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sync.run)
        for n, i in enumerate(feed_indexes):
            sync.on_frame(frame_bytes(i))
            if settle_after is not None and n in settle_after:
                await trio.testing.wait_all_tasks_blocked()
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    return feed, sync


async def test_buffer_snapshot_replay_then_live():
    # diffs from before and after the recorded snapshot are buffered until it is back
    source = SnapshotSource(None)
    feed, sync = await run_sync(source, range(0, 200), settle_after={S0 + 5})
    book = feed.book("BTCUSDT")
    assert sync.snapshots == 1 and source.calls == 1 and book.synced
    assert_matches_reference(book, 199)


async def test_snapshot_older_than_buffer_is_fetched_again():
    # buffering starts 50 diffs after the recorded snapshot, which is therefore too old
    # (step 4); the next snapshot, 60 diffs later, fits
    source = SnapshotSource(None, S0 + 60)
    feed, sync = await run_sync(source, range(S0 + 50, 150 + S0), settle_after={30})
    assert sync.snapshots == 2 and feed.book("BTCUSDT").synced
    assert_matches_reference(feed.book("BTCUSDT"), 149 + S0)


async def test_gap_triggers_resnapshot_and_book_is_unreadable_meanwhile():
    source = SnapshotSource(None, 120)
    feed = Feed([SPEC])
    sync = DepthSync(feed, source, retry_delay=0)
    book = feed.book("BTCUSDT")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sync.run)
        for i in range(0, 100):
            sync.on_frame(frame_bytes(i))
        await trio.testing.wait_all_tasks_blocked()
        assert book.synced
        sync.on_frame(frame_bytes(101))          # diff #100 lost: gap
        assert not book.synced and sync.resyncs == 1
        with pytest.raises(BookNotReadable):
            book.best_bid()
        for i in range(102, 130):
            sync.on_frame(frame_bytes(i))
        await trio.testing.wait_all_tasks_blocked()
        for i in range(130, 300):
            sync.on_frame(frame_bytes(i))
        await sync.wait_synced("BTCUSDT")
        nursery.cancel_scope.cancel()
    assert sync.snapshots == 2
    assert_matches_reference(book, 299)


async def test_disconnect_invalidates_until_resynced():
    source = SnapshotSource(None, 260)
    feed = Feed([SPEC])
    sync = DepthSync(feed, source, retry_delay=0)
    book = feed.book("BTCUSDT")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sync.run)
        for i in range(0, 100):
            sync.on_frame(frame_bytes(i))
        await sync.wait_synced("BTCUSDT")
        sync.invalidate_all()                     # connection dropped
        assert not book.synced
        with pytest.raises(BookNotReadable):
            book.best_ask()
        for i in range(250, 400):                 # new connection: diffs resume later
            sync.on_frame(frame_bytes(i))
            if i == 255:
                await trio.testing.wait_all_tasks_blocked()
        await sync.wait_synced("BTCUSDT")
        nursery.cancel_scope.cancel()
    assert_matches_reference(book, 399)


class FailingFirst(SnapshotSource):
    """The first snapshot request is rate limited (as a 429 would make it)."""

    async def depth_raw(self, symbol: str, limit: int = 1000) -> bytes:
        if self.calls == 0:
            self.calls += 1
            raise RateLimited("GET /api/v3/depth: Too much request weight used", trio.current_time() + 0.05)
        return await super().depth_raw(symbol, limit)


async def test_failed_snapshot_request_is_retried_after_retry_at():
    sync = DepthSync(Feed([SPEC]), FailingFirst(None), retry_delay=0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sync.run)
        for i in range(0, 10):
            sync.on_frame(frame_bytes(i))
        await sync.wait_synced("BTCUSDT")       # after the retry, with diffs arriving meanwhile
        nursery.cancel_scope.cancel()
    assert sync.snapshots == 1 and sync.rest.calls == 2
