"""Market data against the simulator: book sync, injected gaps, reconnects (digest 11)."""
from __future__ import annotations

from collections import Counter

import pytest
import trio

from pyengine.book import KIND_NAMES, BookNotReadable
from pyengine.sim.testing import assert_book_equals_exchange
from binance_sim_helpers import advance_until, sim_and_client


async def test_book_syncs_and_matches_exchange_depth():
    async with sim_and_client(user_data=False) as (sim, client):
        kinds = Counter()

        stamps = []

        def on_message(msg, symbol):
            kinds[(KIND_NAMES[msg.kind], symbol)] += 1
            stamps.append(md.frame_ns)

        md = client.market_data(["BTCUSDT", "ETHUSDT"], extra_streams=("trade", "kline_1m"),
                                on_message=on_message)
        async with trio.open_nursery() as nursery:
            await nursery.start(md.run)
            await advance_until(sim, lambda: md.book("BTCUSDT").synced and md.book("ETHUSDT").synced)
            await sim.advance(2_000)
            await trio.sleep(0.05)
            for kind in ("depthUpdate", "trade", "kline"):
                assert kinds[(kind, "BTCUSDT")] > 0, kind
            assert stamps == sorted(stamps) and 0 < stamps[0]
            for sym in ("BTCUSDT", "ETHUSDT"):
                assert md.book(sym).synced
                await assert_book_equals_exchange(sim, md.book(sym))
            assert md.sync.resyncs == 0 and md.sync.snapshots == 2
            nursery.cancel_scope.cancel()


async def test_injected_gap_forces_resnapshot():
    async with sim_and_client(user_data=False) as (sim, client):
        md = client.market_data(["BTCUSDT"])
        async with trio.open_nursery() as nursery:
            await nursery.start(md.run)
            book = md.book("BTCUSDT")
            await advance_until(sim, lambda: book.synced)
            snapshots = md.sync.snapshots
            sim.faults.skip_diff("BTCUSDT")
            await advance_until(sim, lambda: md.sync.resyncs == 1, step_ms=100)
            await advance_until(sim, lambda: book.synced)
            assert md.sync.snapshots == snapshots + 1
            await assert_book_equals_exchange(sim, book)
            nursery.cancel_scope.cancel()


async def test_disconnect_marks_books_out_of_sync_then_reconnects_and_resubscribes():
    async with sim_and_client(user_data=False) as (sim, client):
        md = client.market_data(["BTCUSDT"], backoff=None)
        async with trio.open_nursery() as nursery:
            await nursery.start(md.run)
            book = md.book("BTCUSDT")
            await advance_until(sim, lambda: book.synced)
            with trio.move_on_after(2):   # the simulator's close handshake can hang; the drop is done
                await sim.faults.disconnect(streams=True, ws_api=False)
            with trio.fail_after(5):
                while book.synced:
                    await trio.sleep(0.01)
            with pytest.raises(BookNotReadable):
                book.best_bid()
            await advance_until(sim, lambda: md.stats.connects == 2 and book.synced)
            await assert_book_equals_exchange(sim, book)
            assert md.stats.failures >= 1
            nursery.cancel_scope.cancel()


async def test_proactive_reconnect_before_connection_age_limit():
    async with sim_and_client(user_data=False) as (sim, client):
        # max_age stands in for the 23.5 h default: the connection is retired on schedule
        md = client.market_data(["BTCUSDT"], max_age=0.5)
        async with trio.open_nursery() as nursery:
            await nursery.start(md.run)
            await advance_until(sim, lambda: md.stats.proactive_reconnects >= 1, step_ms=50)
            await advance_until(sim, lambda: md.stats.connects >= 2 and md.book("BTCUSDT").synced)
            assert md.stats.failures == 0
            await assert_book_equals_exchange(sim, md.book("BTCUSDT"))
            nursery.cancel_scope.cancel()
