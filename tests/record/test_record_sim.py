"""``Recorder`` against the simulator (no internet): rebuilt books, reconnects, rotation, budget."""
from __future__ import annotations

import gzip
import time

import orjson
import trio

from pyengine import bundled
from pyengine.record.check import check
from pyengine.recording import records
from pyengine.sim.testing import assert_book_equals_exchange, running_sim

from .helpers import FixedBackoff, play, recording

SYMBOLS = ("BTCUSDT", "ETHUSDT")
FEEDS = {"BTCUSDT": bundled.BTCUSDT_FEED, "ETHUSDT": bundled.ETHUSDT_FEED}


def _bundled_msgs(symbol: str) -> set[bytes]:
    return {r.msg for r in records(FEEDS[symbol])}


async def test_recording_rebuilds_the_simulators_books_byte_for_byte(tmp_path):
    # rebase=False: the simulator forwards the bundled frames unchanged, so byte equality is testable
    async with running_sim(speed="manual", rebase=False) as sim:
        async with recording(sim, tmp_path, snapshot_every=0.3) as rec:
            await play(sim, rec, 12_000)
            await trio.sleep(0.8)           # periodic snapshots of a quiet market
            rec.flush()
            results = check(tmp_path)
            for sym in SYMBOLS:
                res = results[sym]
                assert res.ok and res.synced, res.describe()
                assert res.gaps == [] and res.snapshots_loaded == 1
                # periodic snapshots at the book's own update id agree with the rebuilt book
                assert res.snapshots_compared >= 1 and res.snapshot_mismatches == 0
                assert res.applied > 50
                assert res.trade_gaps == []
                assert {"depth@100ms", "trade", "bookTicker", "aggTrade", "kline_1m"} <= set(res.frames)
                await assert_book_equals_exchange(sim, res.book)
    assert rec.connection.connects == 1 and rec.stats.stream_gaps == 0

    files = sorted(tmp_path.glob("*.jsonl.gz"))
    assert [f.name.split("-")[0] for f in files] == ["binance_sim_btcusdt", "binance_sim_ethusdt"]
    for f, sym in zip(files, SYMBOLS):
        recorded = list(records(f))
        # every frame of a recorded stream is the simulator's frame, byte for byte
        known = _bundled_msgs(sym)
        replayed = [r.msg for r in recorded if any(k in r.msg[:40] for k in (b"@depth", b"@trade", b"@book"))]
        assert len(replayed) > 500 and all(m in known for m in replayed)
        # receive times: wall clock and monotonic, in order; snapshots carry their REST url
        assert all(r.mono_ns is not None for r in recorded)
        assert all(a.mono_ns <= b.mono_ns for a, b in zip(recorded, recorded[1:]))
        snaps = [r for r in recorded if r.msg.startswith(b'{"lastUpdateId"')]
        assert snaps and all(r.url == f"{sim.rest_url}/api/v3/depth?symbol={sym}&limit=1000" for r in snaps)
        assert abs(recorded[0].recv_ts_ns - time.time_ns()) < 60 * 10**9
        # the same line layout as the bundled recordings
        first = gzip.decompress(f.read_bytes()).split(b"\n", 1)[0]
        assert first.startswith(b'{"recv_ts_ns":') and b',"msg":{' in first
    info = orjson.loads((tmp_path / "exchangeInfo.json").read_bytes())
    assert sorted(e["symbol"] for e in info["symbols"]) == list(SYMBOLS)


async def test_forced_disconnect_takes_a_new_snapshot_and_no_gap_is_silent(tmp_path):
    async with running_sim(speed="manual") as sim:
        async with recording(sim, tmp_path, backoff=FixedBackoff(1.0)) as rec:
            await play(sim, rec, 3_000)
            before_ids = {s: sim.markets[s].update_id for s in SYMBOLS}
            dropped_at = time.time_ns()
            with trio.move_on_after(2):     # the close handshake can hang; the drop is done at once
                await sim.faults.disconnect(streams=True, ws_api=False)
            with trio.fail_after(5):
                while rec.connected:
                    await trio.sleep(0.01)
            # the market moves on while the recorder waits to reconnect
            await sim.advance(2_000)
            assert rec.connection.connects == 1
            assert all(sim.markets[s].update_id > before_ids[s] for s in SYMBOLS)
            with trio.fail_after(10):
                while rec.connection.connects < 2:
                    await trio.sleep(0.02)
            await play(sim, rec, 3_000)
            results = check(tmp_path)
            for sym in SYMBOLS:
                res = results[sym]
                assert res.ok and res.synced, res.describe()
                await assert_book_equals_exchange(sim, res.book)
    assert rec.connection.failures >= 1
    for sym in SYMBOLS:
        res = results[sym]
        # the missed diffs are a reported gap, recovered by the snapshot taken after the reconnect
        assert len(res.gaps) == 1, res.describe()
        gap = res.gaps[0]
        assert gap.cause == "update ids skipped" and gap.recovered_ns is not None
        assert before_ids[sym] - 5 <= gap.after_id <= before_ids[sym]
        assert gap.lost_ns > dropped_at
        # the missed trades are visible too: one jump in the trade ids
        assert [g[0] for g in res.trade_gaps] == ["trade", "aggTrade"]
        lines = list(records(next(tmp_path.glob(f"binance_sim_{sym.lower()}-*"))))
        snaps_after = [r for r in lines if r.url and r.recv_ts_ns > dropped_at]
        assert snaps_after and snaps_after[0].recv_ts_ns <= gap.recovered_ns


async def test_rotation_and_disk_budget(tmp_path):
    rotate, budget = 30_000, 2 * 120_000
    # Sizes are checked at each write against what gzip has emitted so far; what zlib still holds
    # (at most one deflate block) can come on top until the next write.
    slack = 32_000
    async with running_sim(speed="manual") as sim:
        async with recording(sim, tmp_path, streams=["depth@100ms", "trade", "bookTicker"],
                             rotate_bytes=rotate, budget_bytes=budget, snapshot_every=3600) as rec:
            for _ in range(6):
                await play(sim, rec, 5_000)
                assert sum(f.stat().st_size for f in rec.files()) <= budget + 2 * slack
    files = rec.files()
    on_disk = sum(f.stat().st_size for f in files)
    assert on_disk <= budget, on_disk
    for sym in SYMBOLS:
        mine = [f for f in files if f.name.startswith(f"binance_sim_{sym.lower()}-")]
        stats = rec.writers[sym].stats
        assert stats.files_opened >= 4 and stats.files_deleted >= 1
        assert len(mine) == stats.files_opened - stats.files_deleted
        # rotation starts every file with its own snapshot: each file rebuilds the book alone
        for f in mine:
            res = check(f)[sym]
            assert res.ok and res.synced and res.gaps == [], res.describe()
            assert f.stat().st_size <= rotate + slack
    # the newest files are kept: together they end in sync with the exchange
    results = check(tmp_path)
    assert all(r.ok for r in results.values())


async def test_a_gap_in_the_stream_itself_is_followed_by_a_snapshot(tmp_path):
    async with running_sim(speed="manual") as sim:
        async with recording(sim, tmp_path, symbols=("BTCUSDT",), streams=["depth@100ms", "trade"]) as rec:
            await play(sim, rec, 2_000)
            sim.faults.skip_diff("BTCUSDT")         # one diff is never sent
            await play(sim, rec, 2_000)
            results = check(tmp_path)
            res = results["BTCUSDT"]
            assert res.ok and res.synced, res.describe()
            await assert_book_equals_exchange(sim, res.book)
    assert rec.stats.stream_gaps == 1 and rec.connection.connects == 1
    assert len(res.gaps) == 1 and res.gaps[0].recovered_ns is not None
    assert res.snapshots == 2 and res.snapshots_loaded == 2


async def test_the_simulator_replays_a_recording_and_recording_it_again_gives_the_same_frames(tmp_path):
    # the recorder's files are in the bundled layout: the simulator (which reads that layout)
    # serves one, and what is recorded from it is the original frames, byte for byte
    first, second = tmp_path / "first", tmp_path / "second"
    streams = ["depth@100ms", "trade", "bookTicker"]
    async with running_sim(speed="manual", rebase=False) as sim:
        async with recording(sim, first, symbols=("BTCUSDT",), streams=streams) as rec:
            await play(sim, rec, 6_000)
    (served,) = first.glob("*.jsonl.gz")
    async with running_sim(speed="manual", rebase=False, data={"BTCUSDT": served}) as sim:
        async with recording(sim, second, symbols=("BTCUSDT",), streams=streams) as rec:
            await play(sim, rec, 6_000)
    original = [r.msg for r in records(first) if r.msg.startswith(b'{"stream"')]
    again = [r.msg for r in records(second) if r.msg.startswith(b'{"stream"')]
    # the simulator starts at the recording's snapshot: the frames before it are not replayed
    assert len(again) > 500 and again == original[len(original) - len(again):]
    assert check(second)["BTCUSDT"].ok
