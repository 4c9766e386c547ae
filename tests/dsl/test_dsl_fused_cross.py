"""ta.crossover / crossunder / cross fused with the JF that tests them (bytecode format 3):
the same intents, trades, equity and plots as the two instructions they replace."""
import dataclasses
import json

import numpy as np
import pytest

import dsl
from dsl.bytecode import MAGIC
from pyengine import bundled
from pyengine._core import lib

SRC = """//@version=5
strategy("t")
f = ta.ema(close, 5)
s = ta.ema(close, 13)
x = 0
if ta.cross(f, s)
    x := 1
if ta.crossover(f, s) and close > open
    strategy.entry("L", strategy.long)
if ta.crossunder(f, s)
    strategy.close("L")
plot(x, "x")
plot(ta.crossover(f, s) ? 1 : 0, "over")
"""
FUSED = {lib.PE_OP_JF_CROSSOVER: lib.PE_OP_CROSSOVER, lib.PE_OP_JF_CROSSUNDER: lib.PE_OP_CROSSUNDER,
         lib.PE_OP_JF_CROSS: lib.PE_OP_CROSS}
JUMPS = {lib.PE_OP_JMP, lib.PE_OP_JF, lib.PE_OP_JT, lib.PE_OP_VARJ}
COMPARE_JUMPS = set(range(lib.PE_OP_JF_LT, lib.PE_OP_JF_OR + 1))


def unfused(program):
    """The program with every fused cross split back into the cross and a JF."""
    where, n = [], 0
    for ins in program.code:
        where.append(n)
        n += 2 if ins[0] in FUSED else 1
    where.append(n)
    code, lines = [], []
    for ins, line in zip(program.code, program.lines):
        op, d, a, b, c, _ = ins
        if op in FUSED:
            code += [[FUSED[op], d, a, b, 0, 0], [lib.PE_OP_JF, 0, d, where[c], 0, 0]]
            lines += [line, line]
            continue
        ins = list(ins)
        if op in JUMPS:
            ins[3] = where[ins[3]]
        elif op in COMPARE_JUMPS:
            ins[4] = where[ins[4]]
        code.append(ins)
        lines.append(line)
    return dataclasses.replace(program, code=code, lines=lines)


@pytest.fixture(scope="module")
def bars():
    return dsl.load_csv(bundled.ZECUSDT_1M).slice(0, 30000)


def test_each_cross_in_an_if_is_fused():
    ops = [ins[0] for ins in dsl.compile_source(SRC, "t.pine").code]
    assert {lib.PE_OP_JF_CROSSOVER, lib.PE_OP_JF_CROSSUNDER, lib.PE_OP_JF_CROSS} <= set(ops)
    assert ops.count(lib.PE_OP_JF_CROSSOVER) == 2  # the if's and the ternary's
    assert not {lib.PE_OP_CROSSOVER, lib.PE_OP_CROSSUNDER, lib.PE_OP_CROSS} & set(ops)


def test_fused_and_unfused_crosses_run_alike(bars):
    program = dsl.compile_source(SRC, "t.pine")
    plain = unfused(program)
    assert not set(FUSED) & {ins[0] for ins in plain.code}
    results = [dsl.run_batch(p, bars, mintick=0.01, mode="spot") for p in (program, plain)]
    assert len(results[0].intents) > 100
    assert results[0].intents.tobytes() == results[1].intents.tobytes()
    assert np.array_equal(results[0].equity, results[1].equity)
    for title in ("x", "over"):
        assert np.array_equal(results[0].plots[title], results[1].plots[title])
    assert {0, 1} == set(results[0].plots["x"])
    trades = [dsl.backtest(p, bars, mintick=0.01).trades for p in (program, plain)]
    assert len(trades[0]) > 50 and trades[0] == trades[1]


def test_the_loader_checks_a_fused_cross_jump_target():
    body = json.loads(dsl.compile_source(SRC, "t.pine").to_bytes()[len(MAGIC):])
    pc = next(i for i, ins in enumerate(body["code"]) if ins[0] == lib.PE_OP_JF_CROSSOVER)
    for target in (len(body["code"]), -1):
        body["code"][pc][4] = target
        program = dsl.Program.from_bytes(MAGIC + json.dumps(body).encode())
        with pytest.raises(dsl.DslError, match="t.pine"):
            dsl.Vm(program, mintick=0.01)


def test_format_2_files_are_refused():
    body = json.loads(dsl.compile_source(SRC, "t.pine").to_bytes()[len(MAGIC):])
    assert body["format"] == 3
    body["format"] = 2
    with pytest.raises(dsl.BytecodeError, match="unsupported format 2 .*compile the .pine file again"):
        dsl.Program.from_bytes(MAGIC + json.dumps(body).encode())
