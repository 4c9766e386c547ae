"""strategy.exit legs in paper trading on the simulator with the bundled real data.

A Freqtrade strategy (EmaCrossTrailing with a hyperopt result: a small ROI table and a
trailing stop) is exported with ``pyengine ft-export`` and paper-traded: its ROI take-profit
fires engine-side, goes through the gate and the write-ahead journal with an exit-leg id and
fills on the exchange. An armed trailing leg and its water mark survive an engine restart."""
import pathlib
import subprocess
import sys

import trio

from pyengine.engine import Engine, EngineOptions, StrategySpec
from pyengine.engine.paper import PAPER_BALANCES, paper_data
from pyengine.ids import parse_client_order_id
from pyengine.engine.execution import EXIT_LEG
from pyengine.sim.server import SimConfig
from pyengine.sim.testing import running_sim
from pyengine.venue.binance import Endpoints, signer_from_pem

from tests.integration.harness import (engine_config, engine_on_sim, exchange_facts,
                                       exchange_view, journal_records)

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOLD = pathlib.Path(__file__).with_name("trail_hold.pine")
HYPEROPT = ('{"params": {"roi": {"0": 0.0005}, "stoploss": {"stoploss": -0.01}, '
            '"trailing": {"trailing_stop": true, "trailing_stop_positive": 0.0003, '
            '"trailing_stop_positive_offset": 0.0006, "trailing_only_offset_is_reached": true}}}')


def export(tmp: pathlib.Path) -> pathlib.Path:
    (tmp / "EmaCrossTrailing.json").write_text(HYPEROPT)
    out = tmp / "ema_cross_trailing.pine"
    subprocess.run([sys.executable, "-m", "pyengine.cli", "ft-export",
                    str(ROOT / "tests/bridge/strategies/EmaCrossTrailing.py"), "--hyperopt-result",
                    str(tmp / "EmaCrossTrailing.json"), "--fee", "0", "-o", str(out)],
                   check=True, capture_output=True)
    return out


async def test_exported_roi_and_trailing_strategy_paper_trades_its_exit_legs(tmp_path):
    pine = export(tmp_path)
    strategies = [StrategySpec("ema_roi", pine, ["BTCUSDT", "ETHUSDT"], "1s", "trades")]
    async with engine_on_sim(tmp_path, strategies, speed=100) as (sim, engine):
        assert await engine.run() == 0 and engine.stop_reason == "end of data"
        async with exchange_view(sim.rest_url, sim.ws_api_url, sim.stream_url,
                                 sim.hmac_key.key, sim.hmac_key.secret) as client:
            ex = await exchange_facts(client, engine.symbols)
    path = engine.cfg.journal.path
    fired = [r.data for r in journal_records(path, "note") if r.data.get("event") == "exit_leg"]
    print(f"\ncounts {dict(engine.execution.counts)}; exit legs {fired}")
    assert fired and {f["reason"] for f in fired} <= {"TAKE_PROFIT", "STOP", "TRAIL"}
    assert any(f["reason"] == "TAKE_PROFIT" for f in fired)
    intents = {r.client_order_id: r for r in journal_records(path, "intent")}
    filled = {t["orderId"] for t in ex["trades"]}
    for f in fired:
        coid = f["client_order_id"]
        assert parse_client_order_id(coid).leg == EXIT_LEG
        assert intents[coid].data["side"] == "SELL" and intents[coid].data["type"] == "MARKET"
        order = next(o for o in ex["orders"] if o["clientOrderId"] == coid)
        assert order["orderId"] in filled
    # the legs were journaled as they changed: the take-profit (profit ticks on the entry
    # bar, the ROI price on later bars) and the stop
    legs = [r.data["leg"] for r in journal_records(path, "exit") if r.data["leg"]]
    assert any(x["limit"] or x["profit"] is not None for x in legs)
    assert all(x["stop"] or x["loss"] is not None for x in legs)


async def _until(cond, timeout: float = 120) -> None:
    with trio.fail_after(timeout):
        while not cond():
            await trio.sleep(0.05)


async def test_an_armed_trailing_leg_and_its_water_mark_survive_a_restart(tmp_path):
    strategies = [StrategySpec("hold", HOLD, ["BTCUSDT"], "1s", "trades")]
    data, _ = paper_data(tmp_path)
    cfg = engine_config(tmp_path)
    opts = EngineOptions(status_every_s=0, handle_signals=False, end_grace_s=1.0)
    async with running_sim(SimConfig(data=data, speed=10, balances=dict(PAPER_BALANCES),
                                     pace_to_readers=True)) as sim:
        endpoints = Endpoints.local(sim.rest_url, sim.ws_api_url, sim.stream_url, "sim")
        signer = signer_from_pem(sim.ed25519_key.key, sim.ed25519_key.private_pem)

        def ratcheted():
            legs = [r.data["leg"] for r in journal_records(cfg.journal.path, "exit")
                    if r.data["leg"]]
            armed = [x for x in legs if x["armed"]]
            return len({x["hw"] for x in armed}) >= 2      # armed, then raised at least once

        first = Engine(cfg, endpoints, signer, strategies, ["BTCUSDT"], options=opts)
        async with trio.open_nursery() as n:
            n.start_soon(sim.hold_market_until, first.ready.wait)
            n.start_soon(first.run)
            with trio.fail_after(60):
                await first.ready.wait()
            await _until(ratcheted)             # armed, and raised by a later trade
            first.request_shutdown("restart test")
        last = [r.data for r in journal_records(cfg.journal.path, "exit")][-1]
        assert last["leg"]["armed"] and last["opened"]

        second = Engine(cfg, endpoints, signer, strategies, ["BTCUSDT"], options=opts)
        async with trio.open_nursery() as n:
            n.start_soon(second.run)
            with trio.fail_after(60):
                await second.ready.wait()
            # before the second engine has seen a single trade: the legs it restored
            pos = second.exits.positions[("hold", "BTCUSDT")]
            leg = pos.legs["T"]
            assert pos.held and leg.armed and leg.hw == last["leg"]["hw"]
            second.request_shutdown("done")
    print(f"\nwater mark {leg.hw} restored")
