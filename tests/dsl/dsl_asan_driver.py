"""Run under AddressSanitizer/UBSan by test_dsl_sanitize.py: the VM and broker over the
oracle strategies, the library, random mutations of valid bytecode and stepping."""
import importlib
import json
import pathlib
import random
import sys

sys.path.insert(0, sys.argv[1])
sys.modules["pyengine._core"] = importlib.import_module("_core_asan")

import dsl  # noqa: E402
from dsl.bytecode import MAGIC  # noqa: E402
from pyengine import bundled  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
ORACLE = HERE.parents[0] / "oracle" / "pynecore" / "strategy"
fx = dsl.load_csv(ORACLE / "ohlcv.csv").slice(0, 3000)
zec = dsl.load_csv(bundled.ZECUSDT_1M).slice(0, 5000)

programs = [dsl.compile_file(p) for p in sorted((HERE / "pine").glob("*.pine"))]
programs += [dsl.compile_file(p) for p in sorted((pathlib.Path(dsl.__path__[0]) / "library")
                                                  .glob("*.pine"))]
# every ta.* kernel of vm_ta.c, on na-laced sources too
programs.append(dsl.compile_source(
    "//@version=6\nstrategy(\"ta\")\nsrc = bar_index % 7 == 3 ? na : close\n"
    "late = ta.sma(close, 15)\n[v, u, l] = ta.vwap(src, bar_index % 50 == 1, 2)\n"
    "x = ta.sar(0.02, 0.02, 0.2) + ta.alma(src, 9, 0.85, 6) + ta.cog(late, 10) + "
    "ta.rci(src, 6) + ta.rci(late, 12) + ta.percentrank(src, 11) + ta.median(src, 8) + "
    "ta.mode(late, 5) + ta.percentile_linear_interpolation(src, 10, 35) + "
    "ta.percentile_nearest_rank(late, 10, 80) + ta.max(src) + ta.min(late) + ta.nvi + "
    "ta.pvi + ta.wvad + v + u + l + ta.vwap(close, bar_index % 9 == 0)\n"
    "if x > x[1]\n    strategy.entry(\"L\", strategy.long)\nplot(x)\n", "ta.pine"))
# Freqtrade's candle rules for exits (exit_fill_model="freqtrade"), long and short legs
from dsl.freqtrade.export import export_file  # noqa: E402

programs.append(dsl.compile_source(
    export_file(HERE.parent / "bridge" / "strategies" / "EmaCrossTrailing.py").pine, "ect.pine",
    symbol="ZECUSDT", timeframe="5"))
programs.append(dsl.compile_source(
    "//@version=6\nstrategy(\"ft\", exit_fill_model=\"freqtrade\", trail_entry_rise=0.5)\n"
    "if bar_index % 13 == 0\n    strategy.entry(\"L\", bar_index % 2 == 0 ? strategy.long : strategy.short)\n"
    "strategy.exit(\"X\", \"L\", limit=close * 1.003, stop=close * 0.997, trail_points=20, "
    "trail_percent=0.1)\n", "ft.pine"))
for program in programs:
    r = dsl.backtest(program, fx, mintick=0.00001, qty_step=0.1, mode="tradingview")
    vm = dsl.Vm(program, mintick=0.01, mode="tradingview")
    for i in range(300):
        vm.step(int(zec.time[i]), zec.open[i], zec.high[i], zec.low[i], zec.close[i])
    vm.describe_intents(vm.take_intents())
    vm.strings()
    live = dsl.Vm(program, mintick=0.01, mode="spot", emulate=False)   # as the engine runs it
    for i in range(300):
        if i % 7 == 0:
            live.set_position(0.5 * (i % 3), zec.close[i])
        live.step(int(zec.time[i]), zec.open[i], zec.high[i], zec.low[i], zec.close[i])
    live.trades()

rng = random.Random(7)
for program in programs[:5]:
    body = json.loads(program.to_bytes()[len(MAGIC):])
    for _ in range(80):
        b = json.loads(json.dumps(body))
        for _ in range(rng.randint(1, 4)):
            ins = rng.choice(b["code"])
            ins[rng.randrange(6)] = rng.choice([0, 1, -1, 47, 48, rng.randrange(1 << 31),
                                                rng.randrange(len(b["init"]) + 5)])
        try:
            p = dsl.Program.from_bytes(MAGIC + json.dumps(b).encode())
            v = dsl.Vm(p, mintick=0.00001, mode="tradingview")
            v.run(fx.time[:400], fx.open[:400], fx.high[:400], fx.low[:400], fx.close[:400],
                  fx.volume[:400])
            v.trades()
        except (dsl.BytecodeError, dsl.DslError):
            pass
print("dsl-asan-driver-ok")
