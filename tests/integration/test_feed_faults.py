"""Feed faults from the simulator while the engine trades: a sequence gap, stale depth (depth
frames withheld while trades go on) and a dropped stream connection. No decision is ever made
on an out-of-sync or stale book; the books resync after each fault (the time it took is
printed: the target is under a second)."""
import pathlib
import time

import trio

from pyengine.engine import EngineOptions, StrategySpec

from tests.integration.harness import engine_on_sim

FLIP = pathlib.Path(__file__).with_name("flip.pine")
SYM = "BTCUSDT"


async def _resync_time(engine) -> float:
    t0 = time.monotonic()
    book = engine.md.book(SYM)
    with trio.fail_after(30):
        while book.synced:                  # the fault has not reached us yet
            await trio.sleep(0.001)
        t0 = time.monotonic()
        while not book.synced:
            await trio.sleep(0.001)
    return time.monotonic() - t0


async def test_no_decision_on_stale_or_out_of_sync_books_and_resync(tmp_path):
    strategies = [StrategySpec("flip", FLIP, [SYM, "ETHUSDT"], "1s", "trades")]
    opts = EngineOptions(status_every_s=0, handle_signals=False, stale_ms=300)
    async with engine_on_sim(tmp_path, strategies, speed=20, options=opts) as (sim, engine):
        decisions = []

        async with trio.open_nursery() as n:
            n.start_soon(engine.run)
            await engine.ready.wait()
            decide = engine.runner.decide

            def checked(d):
                now = time.monotonic_ns()
                decisions.append((d.symbol, engine.md.book(d.symbol).synced,
                                  now - engine.hub.book_updated_ns.get(d.symbol, 0)))
                decide(d)

            engine.runner.decide = checked
            with trio.fail_after(30):
                while len(decisions) < 3:
                    await trio.sleep(0.05)
            before = len(decisions)

            sim.faults.skip_diff(SYM)
            gap_s = await _resync_time(engine)

            # withhold depth until a bar closes on stale data (how long that takes depends on
            # the machine's load, so wait for it rather than for a fixed time)
            skipped = engine.runner.skipped_stale
            depth = f"{SYM.lower()}@depth@100ms"
            sim.faults.drop_stream_frames(depth, count=1_000_000)
            with trio.move_on_after(20):
                while engine.runner.skipped_stale == skipped:
                    await trio.sleep(0.05)
            sim.faults.stream_frames_to_drop.pop(depth, None)
            stale_skips = engine.runner.skipped_stale - skipped

            await sim.faults.disconnect(streams=True, ws_api=False)
            reconnect_s = await _resync_time(engine)
            await trio.sleep(0.5)
            engine.request_shutdown("test over")

    print(f"\ndecisions {len(decisions)} ({before} before the faults); resync after a gap "
          f"{gap_s * 1000:.0f} ms, after a disconnect {reconnect_s * 1000:.0f} ms; "
          f"bars skipped on stale data {stale_skips}; resyncs {engine.md.sync.resyncs}, "
          f"connects {engine.md.stats.connects}")
    assert before > 0, "the strategy decides on every bar while data is fresh"
    assert all(synced for _, synced, _ in decisions)
    assert all(age <= 300_000_000 for _, _, age in decisions)
    assert stale_skips > 0, "bars closed by trades while the depth was stale were not acted on"
    assert engine.md.sync.resyncs >= 1 and engine.md.stats.connects >= 2
