"""The strategy VMs follow the account in a paper session on the simulator: a strategy that
enters only while flat and closes only while long (by ``strategy.position_size``) runs under a
very tight protective stop, so the risk manager sells on its behalf again and again. Every
exit it decides finds a position to sell, every entry finds it flat, and after the engine's
protective exits it enters again (a VM that kept its own emulated position would stay long
forever after the first stop)."""
import dataclasses
import pathlib
from decimal import Decimal

from pyengine.engine import EngineOptions, StrategySpec

from tests.integration.harness import engine_on_sim

HOLD = pathlib.Path(__file__).with_name("hold_until_stopped.pine")


async def test_strategy_position_follows_protective_exits(tmp_path):
    strategies = [StrategySpec("hold", HOLD, ["BTCUSDT", "ETHUSDT"], "1s", "trades")]
    decisions = []       # (kind, symbol, the account held the strategy's position, order seq)
    opts = EngineOptions(status_every_s=0, handle_signals=False, end_grace_s=1.0)

    def log(d, fresh):
        if fresh:
            e = engine.execution
            pos = engine.state.portfolio.position(d.strategy_id, d.symbol)
            mark = engine.state.portfolio.mark_price(d.symbol) or Decimal(0)
            held = pos.qty * mark >= e.min_notional[d.symbol]
            decisions.append((d.kind, d.symbol, held, e.counts["protective"]))

    async with engine_on_sim(tmp_path, strategies, speed=20, options=opts,
                             decision_log=log) as (sim, engine):
        # a stop 0.02 % under every entry: the risk manager's exits come often
        engine.cfg.risk = dataclasses.replace(engine.cfg.risk, default_stop_pct=Decimal("0.02"))
        assert await engine.run() == 0
    counts = engine.execution.counts
    print(f"\ncounts {dict(counts)}; decisions {len(decisions)}")
    assert counts["protective"] >= 1, "the tight stop should have been hit"
    assert decisions and all(held for kind, _, held, _ in decisions if kind == "exit")
    assert all(not held for kind, _, held, _ in decisions if kind == "entry")
    assert any(kind == "entry" and n >= 1 for kind, _, _, n in decisions), \
        "after a protective exit the strategy must enter again"
