"""Symbol selection and the ledger warm-up in a paper session on the simulator.

An aggressive strategy (flip: in and out on every 1 s bar) on BTCUSDT and ETHUSDT, with a
volatility rule read from the kline ledger (warmed up from REST within its weight budget),
re-evaluated every second. Mid-session the exchange puts ETHUSDT on BREAK: the engine
deactivates it at its next evaluation, journals why, shows it in the status, and sends no
entry on it from then on, while BTCUSDT trades on. After the warm-up no kline history is
asked of REST: the strategies and the selection read the ledger only."""
import pathlib

import trio

from pyengine.engine import EngineOptions, StrategySpec
from pyengine.engine.status import status_lines

from tests.integration.harness import engine_on_sim, journal_records

FLIP = pathlib.Path(__file__).with_name("flip.pine")


async def test_selection_deactivates_a_symbol_and_warm_up_stays_in_the_ledger(tmp_path):
    strategies = [StrategySpec("flip", FLIP, ["BTCUSDT", "ETHUSDT"], "1s", "trades")]
    opts = EngineOptions(status_every_s=0, handle_signals=False, end_grace_s=1.0)
    async with engine_on_sim(tmp_path, strategies, speed=100, options=opts) as (sim, engine):
        sel = engine.cfg.selection
        sel.reevaluate_s, sel.min_volatility_pct = 1.0, 0.0
        sel.volatility_interval, sel.volatility_bars = "1s", 3
        engine.cfg.ledger.warmup_weight_per_minute = 20
        rest_calls: list[str] = []
        with trio.fail_after(120):
            async with trio.open_nursery() as n:
                n.start_soon(engine.run)
                await engine.ready.wait()
                request = engine.client.rest.request

                async def counting(method, path, *a, **kw):
                    rest_calls.append(path)
                    return await request(method, path, *a, **kw)

                engine.client.rest.request = counting
                while not engine.active.is_active("ETHUSDT"):
                    await trio.sleep(0.1)
                await trio.sleep(2.0)
                sim.symbols["ETHUSDT"]["status"] = "BREAK"
                while engine.active.is_active("ETHUSDT"):
                    await trio.sleep(0.1)
                status = "\n".join(status_lines(engine))
        assert engine.stop_reason == "end of data"

    # warm-up through the ledger, within its budget; then the streams only
    assert 0 < engine.warmup_budget.spent <= 20
    assert len(engine.ledger.series("BTCUSDT", "1s")) >= 4
    assert "/api/v3/klines" not in rest_calls
    assert "/api/v3/exchangeInfo" in rest_calls          # statuses are re-read periodically

    # the journal tells when and why the active set changed
    notes = [r for r in journal_records(engine.cfg.journal.path, "note")
             if r.data.get("event") == "selection"]
    assert notes[0].data["excluded"]["SOLUSDT"] == "no strategy trades it"
    off = next(r for r in notes if "ETHUSDT" in r.data["excluded"]
               and "BREAK" in r.data["excluded"]["ETHUSDT"])
    assert off.data["excluded"]["ETHUSDT"] == "exchange status is BREAK, not TRADING"
    assert "ETHUSDT (exchange status is BREAK, not TRADING)" in status
    assert engine.controls.status()["excluded"].count("ETHUSDT: exchange status is BREAK") == 1

    # no entry on ETHUSDT once deactivated
    intents = journal_records(engine.cfg.journal.path, "intent")
    late_eth_buys = [r for r in intents if r.symbol == "ETHUSDT" and r.data["side"] == "BUY"
                     and r.seq > off.seq]
    assert late_eth_buys == []
    pos = engine.state.portfolio.position("flip", "ETHUSDT")
    if pos.qty * (engine.state.portfolio.mark_price("ETHUSDT") or 0) < 5:
        # flat since before the BREAK (a held position cannot be sold on BREAK): flip wanted
        # in on every fresh bar and was refused before the gate
        assert engine.execution.refused["INACTIVE"] > 0
    rm = engine.risk
    assert rm.native.sym[rm.index("ETHUSDT")].allowed == 0       # the gate refuses too
    assert rm.native.sym[rm.index("BTCUSDT")].allowed == 1
    assert any(r.symbol == "BTCUSDT" for r in intents), "BTCUSDT should have traded"
