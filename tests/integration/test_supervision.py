"""Supervision inside the engine: a child that raises is restarted and trading goes on; one
that keeps failing escalates to a clean shutdown (exit code 1) with a critical alert, and the
shutdown leaves no open order on the exchange."""
import trio

from pyengine.engine import EngineOptions
from pyengine.supervisor import Child, RestartPolicy, Supervisor
from pyengine.venue.binance import Order

from tests.integration.harness import (engine_on_sim, exchange_view, fast_strategies,
                                       journal_records)

FAST = RestartPolicy(initial_s=0.01, max_s=0.05, max_failures=3, window_s=60)


async def test_a_raising_task_is_restarted(tmp_path):
    runs = []

    async def flaky():
        runs.append(trio.current_time())
        if len(runs) == 1:
            raise RuntimeError("transient")
        await trio.sleep_forever()

    opts = EngineOptions(status_every_s=0, handle_signals=False)
    async with engine_on_sim(tmp_path, fast_strategies(), speed=50, options=opts,
                             extra_supervisors=[Supervisor("flaky", [Child("task", flaky)], FAST)]
                             ) as (sim, engine):
        async with trio.open_nursery() as n:
            n.start_soon(engine.run)
            await engine.ready.wait()
            with trio.fail_after(10):
                while len(runs) < 2:
                    await trio.sleep(0.01)
            frames = engine.md.frames
            await trio.sleep(0.3)
            assert engine.md.frames > frames, "market data flows on"
            engine.request_shutdown("test over")
    assert engine.root.restarts == {"flaky/task": 1}
    assert engine.stop_reason == "test over"


async def test_repeated_failure_escalates_to_clean_shutdown_without_open_orders(tmp_path):
    placed = trio.Event()

    async def broken():
        await placed.wait()
        raise RuntimeError("always")

    opts = EngineOptions(status_every_s=0, handle_signals=False)
    async with engine_on_sim(tmp_path, fast_strategies(), speed=20, options=opts,
                             extra_supervisors=[Supervisor("broken", [Child("task", broken)], FAST)]
                             ) as (sim, engine):
        async with trio.open_nursery() as n:
            result = []

            async def run():
                result.append(await engine.run())

            n.start_soon(run)
            await engine.ready.wait()
            book = engine.md.book("BTCUSDT")
            await engine.md.wait_synced("BTCUSDT")
            bid = book.best_bid()[0]
            spec = engine.specs["BTCUSDT"]
            price = bid * 97 // 100
            price -= price % int(spec.tick_size.scaleb(spec.price_scale))
            await engine.client.place(Order("BTCUSDT", "BUY", "LIMIT", quantity=spec.qty_to_int("0.001"), price=price,
                                            time_in_force="GTC", client_order_id="resting-1"))
            assert len(await engine.client.open_orders()) == 1
            placed.set()
        async with exchange_view(sim.rest_url, sim.ws_api_url, sim.stream_url,
                                 sim.hmac_key.key, sim.hmac_key.secret) as client:
            left_open = await client.open_orders()
    assert result == [1]
    assert engine.stop_reason == "broken/task keeps failing"
    assert left_open == []
    notes = [r.data for r in journal_records(engine.cfg.journal.path, "note")
             if r.data.get("event") == "supervisor"]
    assert any(n["level"] == "critical" and n["source"] == "broken/task" for n in notes)
    assert any(a["title"] == "broken/task" and a["severity"] == "CRITICAL"
               for a in engine.tel.dashboard.snapshot().get("alerts", []))


async def test_halt_cancels_every_open_order_and_stops_entries(tmp_path):
    opts = EngineOptions(status_every_s=0, handle_signals=False)
    async with engine_on_sim(tmp_path, fast_strategies(), speed=20, options=opts) as (sim, engine):
        async with trio.open_nursery() as n:
            n.start_soon(engine.run)
            await engine.ready.wait()
            await engine.md.wait_synced("BTCUSDT")
            spec = engine.specs["BTCUSDT"]
            price = engine.md.book("BTCUSDT").best_bid()[0] * 97 // 100
            price -= price % int(spec.tick_size.scaleb(spec.price_scale))
            await engine.client.place(Order("BTCUSDT", "BUY", "LIMIT", quantity=spec.qty_to_int("0.001"),
                                            price=price, time_in_force="GTC", client_order_id="resting-2"))
            print("\n" + engine.controls.halt("test kill switch"))
            with trio.fail_after(10):
                while await engine.client.open_orders():
                    await trio.sleep(0.05)
            sent = engine.execution.counts["sent"]
            await trio.sleep(1.0)
            assert engine.execution.counts["sent"] == sent     # no new entry while HALTED
            engine.request_shutdown("test over")
    assert engine.risk.state == "HALTED"
