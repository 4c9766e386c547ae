"""hypothesis: random bytes and token streams never crash the parser or the bytecode
loader (they get an error); random well-formed programs never crash the VM."""
import json
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dsl
from dsl.bytecode import MAGIC
from dsl_oracle import ROOT

BARS = dsl.load_csv(ROOT / "strategy" / "ohlcv.csv").slice(0, 300)
FAST = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

TOKENS = ["//@version=5\n", "//@version=6\n", "strategy(\"s\")\n", "indicator(\"i\")\n",
          "\n", "    ", "\t", " ", "x", "y", "f", "=", ":=", "+=", "(", ")", "[", "]", ",",
          "?", ":", "=>", "if", "else", "for", "to", "by", "var", "and", "or", "not", "na",
          "true", "false", "1", "2.5", ".5", "1e3", "\"s\"", "'t'", "#ff0000", "+", "-", "*",
          "/", "%", "<", ">=", "==", "!=", "close", "ta.sma", "ta.ema", "math.max",
          "strategy.entry", "strategy.long", "plot", "//c", "\\", "@", "$", "switch",
          "array.new_float", "float", "int", "series", "simple", "=>\n    "]


@FAST
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_the_parser(data):
    text = data.decode("utf-8", errors="replace")
    try:
        dsl.compile_source(text, "fuzz.pine")
    except dsl.DslError as exc:
        assert str(exc).startswith("fuzz.pine")


@FAST
@given(st.lists(st.sampled_from(TOKENS), max_size=60))
def test_random_token_streams_never_crash_the_parser(tokens):
    text = "//@version=5\n" + " ".join(tokens)
    try:
        program = dsl.compile_source(text, "fuzz.pine")
    except dsl.DslError as exc:
        assert str(exc).startswith("fuzz.pine")
        return
    dsl.run_batch(program, BARS)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_loader(data):
    for blob in (data, MAGIC + data):
        try:
            dsl.Program.from_bytes(blob)
        except dsl.BytecodeError:
            pass


VALID = json.loads(dsl.compile_source(
    "//@version=5\nstrategy(\"s\")\nf = ta.ema(close, 5)\ns = ta.sma(close, 12)\n"
    "h = ta.highest(high, 7)\nv = ta.valuewhen(ta.crossover(f, s), close, 1)\n"
    "[st, d] = ta.supertrend(3, 10)\nx = close[2] + nz(v) + st\n"
    "for i = 0 to 3\n    x := x + i\n"
    "if ta.crossover(f, s)\n    strategy.entry(\"L\", strategy.long, stop=h)\n"
    "strategy.exit(\"X\", \"L\", loss=50, profit=80)\nplot(x)\n", "v").to_bytes()[len(MAGIC):])


@FAST
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 5),
                          st.integers(-5, 2 ** 31 - 1)), min_size=1, max_size=8))
def test_mutated_bytecode_never_crashes_the_vm(mutations):
    body = json.loads(json.dumps(VALID))
    code = body["code"]
    for where, field, value in mutations:
        code[where % len(code)][field] = value
    try:
        program = dsl.Program.from_bytes(MAGIC + json.dumps(body).encode())
        vm = dsl.Vm(program, mintick=0.00001, mode="tradingview")
        vm.run(BARS.time, BARS.open, BARS.high, BARS.low, BARS.close, BARS.volume)
    except (dsl.BytecodeError, dsl.DslError):
        pass


# ---- random well-formed programs ----
SERIES = ["close", "open", "high", "low", "hl2", "bar_index", "x"]


def exprs(depth):
    leaf = st.one_of(st.sampled_from(SERIES),
                     st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: repr(float(v))),
                     st.integers(1, 50).map(str), st.just("na"))
    if depth == 0:
        return leaf
    sub = exprs(depth - 1)
    length = st.integers(1, 30).map(str)
    return st.one_of(
        leaf,
        st.tuples(sub, st.sampled_from(["+", "-", "*", "/", "%"]), sub).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(sub, st.sampled_from([">", "<", "==", "!="]), sub, sub, sub).map(
            lambda t: f"({t[0]} {t[1]} {t[2]} ? {t[3]} : {t[4]})"),
        st.tuples(st.sampled_from(["ta.sma", "ta.ema", "ta.rma", "ta.wma", "ta.stdev",
                                   "ta.highest", "ta.lowest", "ta.rsi", "ta.dev",
                                   "math.sum", "ta.mom", "ta.roc", "ta.change",
                                   "ta.median", "ta.mode", "ta.rci", "ta.percentrank",
                                   "ta.cog"]),
                  sub, length).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(st.sampled_from(["math.abs", "math.sqrt", "math.log", "nz", "fixnan",
                                   "math.round", "math.sign"]), sub).map(
            lambda t: f"{t[0]}({t[1]})"),
        st.tuples(sub, st.integers(0, 20)).map(lambda t: f"({t[0]})[{t[1]}]"),
        st.tuples(sub, sub).map(lambda t: f"math.max({t[0]}, {t[1]})"),
        st.tuples(sub, sub).map(lambda t: f"(ta.crossover({t[0]}, {t[1]}) ? 1 : 0)"),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exprs(3), exprs(3), exprs(2), st.sampled_from(["strategy.long", "strategy.short"]))
def test_random_programs_run(e1, e2, e3, direction):
    src = ("//@version=5\nstrategy(\"r\", pyramiding=3)\nvar float x = 0.0\n"
           f"y = {e1}\nx := nz({e2}, x)\n"
           f"if {e3} > 0\n    strategy.entry(\"E\", {direction}, stop=close + x % 3)\n"
           f"if {e3} < 0\n    strategy.close_all()\n"
           "strategy.exit(\"X\", \"E\", loss=20, profit=30)\nplot(x)\nplot(y)\n")
    try:
        program = dsl.compile_source(src, "rand.pine")
    except dsl.DslError as exc:
        # only a constant length that folds below 1 may be refused
        assert "must be >= 1" in str(exc) or "must be >= 0" in str(exc), str(exc)
        return
    batch = dsl.run_batch(program, BARS, mintick=0.00001, mode="tradingview")
    assert len(batch.equity) == len(BARS)
    assert all(math.isfinite(v) or math.isnan(v) for v in batch.equity)
    assert np.isfinite(batch.equity[0])
