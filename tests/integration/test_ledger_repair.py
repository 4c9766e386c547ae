"""Kline bars lost by the stream while the engine runs are fetched from REST before the
strategies see the bar after them, so a strategy's VM steps every bar in order."""
import trio

from pyengine.engine import EngineOptions, StrategySpec

from tests.integration.harness import LIBRARY, engine_on_sim

SYM, STREAM, MINUTE = "ZECUSDT", "zecusdt@kline_1m", 60_000


async def test_bars_lost_by_the_stream_are_refilled_before_strategies_step_on(tmp_path):
    strategies = [StrategySpec("ma", LIBRARY / "dual_ma_trend.pine", [SYM], "1m", "kline")]
    opts = EngineOptions(status_every_s=0, handle_signals=False)
    async with engine_on_sim(tmp_path, strategies, speed=20, options=opts) as (sim, engine):
        async with trio.open_nursery() as n:
            n.start_soon(engine.run)
            await engine.ready.wait()
            series = engine.ledger.series(SYM, "1m")
            inst = engine.runner.instances[(SYM, "1m")][0]
            with trio.fail_after(60):
                first = series[-1].open_time
                while series[-1].open_time == first:          # one bar from the stream
                    await trio.sleep(0.02)
                lost_from = series[-1].open_time
                sim.faults.drop_stream_frames(STREAM, count=1_000_000)
                while sim.market_clock.now_ms() < lost_from + 4 * MINUTE:
                    await trio.sleep(0.02)
                sim.faults.stream_frames_to_drop.pop(STREAM, None)
                while not series.unfilled and (series.seen_to <= lost_from + 3 * MINUTE
                                               or series.held or series.gaps):
                    await trio.sleep(0.02)
            engine.request_shutdown("test over")

    times = [b.open_time for b in series.bars]
    assert series.unfilled == [] and series.late == 0
    assert times == list(range(times[0], times[-1] + 1, MINUTE)), "no hole in the ledger"
    # the VM stepped the warm-up bars and every later bar once: as many steps as bars
    assert inst.bars == len(times)
