"""Live/batch parity: stepping bar by bar and the one-call batch run give bit-identical
intents, equity and trades."""
import pathlib

import numpy as np
import pytest

import dsl
from dsl_oracle import PINE
from pyengine import bundled

LIB = pathlib.Path(dsl.__path__[0]) / "library"
CASES = [(LIB / "dual_ma_trend.pine", "spot"), (LIB / "rsi_mean_reversion.pine", "spot"),
         (LIB / "bollinger_mean_reversion.pine", "spot"),
         (PINE / "channelbreakout.pine", "tradingview"), (PINE / "keltner.pine", "tradingview")]


@pytest.fixture(scope="module")
def zec():
    return dsl.load_csv(bundled.ZECUSDT_1M).slice(0, 6_000)


@pytest.mark.parametrize("path,mode", CASES, ids=[c[0].stem for c in CASES])
def test_step_equals_batch(zec, path, mode):
    program = dsl.compile_file(path)
    batch_vm = dsl.Vm(program, mintick=0.01, qty_step=0.001, mode=mode)
    equity, _ = batch_vm.run(zec.time, zec.open, zec.high, zec.low, zec.close, zec.volume)
    batch_intents = batch_vm.take_intents()
    live = dsl.Vm(program, mintick=0.01, qty_step=0.001, mode=mode)
    stepped, live_equity = [], np.empty(len(zec))
    for i in range(len(zec)):
        stepped.append(live.step(int(zec.time[i]), zec.open[i], zec.high[i], zec.low[i],
                                 zec.close[i], zec.volume[i]))
        live_equity[i] = live.slot(30)  # strategy.equity
    live_intents = np.concatenate(stepped)
    assert len(batch_intents) > 10
    assert live_intents.tobytes() == batch_intents.tobytes()
    assert live_equity.tobytes() == equity.tobytes()
    assert live.trades().tobytes() == batch_vm.trades().tobytes()


def test_intents_describe_the_order_calls(zec):
    program = dsl.compile_file(LIB / "dual_ma_trend.pine")
    vm = dsl.Vm(program, mintick=0.01)
    vm.run(zec.time[:2000], zec.open[:2000], zec.high[:2000], zec.low[:2000], zec.close[:2000])
    described = vm.describe_intents(vm.take_intents())
    kinds = {d["kind"] for d in described}
    assert {"entry", "exit", "close"} <= kinds
    entry = next(d for d in described if d["kind"] == "entry")
    assert entry["id"] == "Long" and entry["direction"] == "long"
    stop = next(d for d in described if d["kind"] == "exit" and d["stop"] is not None)
    assert stop["from_entry"] == "Long" and stop["stop"] > 0


def test_without_emulation_order_calls_only_become_intents(zec):
    program = dsl.compile_file(PINE / "rsi.pine")
    batch = dsl.Vm(program, mintick=0.01, mode="tradingview", emulate=False)
    batch.run(zec.time, zec.open, zec.high, zec.low, zec.close)
    intents = batch.take_intents()
    live = dsl.Vm(program, mintick=0.01, mode="tradingview", emulate=False)
    stepped = np.concatenate([live.step(int(zec.time[i]), zec.open[i], zec.high[i], zec.low[i],
                                        zec.close[i]) for i in range(len(zec))])
    assert len(intents) > 10 and stepped.tobytes() == intents.tobytes()
    assert len(batch.trades()) == 0 and batch.position_size == 0
    # the same order calls the emulating VM sees while it is flat or long/short
    emulated = dsl.Vm(program, mintick=0.01, mode="tradingview")
    emulated.run(zec.time, zec.open, zec.high, zec.low, zec.close)
    assert emulated.take_intents().tobytes() == intents.tobytes()
