"""Parser and checker: precise file:line:col diagnostics with a caret, explicit
"not supported" errors, the bytecode artefact and its loader."""
import pytest

import dsl
from dsl.bytecode import MAGIC

HEAD5 = '//@version=5\nindicator("t")\n'
HEAD6 = '//@version=6\nindicator("t")\n'
STRAT5 = '//@version=5\nstrategy("t")\n'

ERRORS = [
    ('strategy("x")\n', "1:1", "missing '//@version=N'"),
    ("//@version=3\nstudy(\"x\")\n", "1:1", "not supported: //@version=3"),
    (STRAT5 + "x = ta.sma(close, 10\nplot(x)\n", "4:1", "syntax error"),
    (STRAT5 + "y = foo + 1\n", "3:5", "undeclared identifier 'foo'"),
    (HEAD5 + "type Pt\n    float x\n", "3:1", "not supported: 'type'"),
    (HEAD5 + "line.new(bar_index, close, bar_index, close)\n", "3:1", "not supported: line.new"),
    (HEAD5 + 'x = request.security(syminfo.tickerid, "D", close)\n', "3:5",
     "not supported: request.security"),
    (HEAD5 + "var a = array.new_float(0)\n", "3:9", "not supported: array.new_float"),
    (HEAD5 + "x = 1\n    y = 2\n", "4:5", "unexpected indent"),
    (HEAD5 + "x = close\nx = 2\n", "4:1", "'x' is already declared"),
    (HEAD6 + "if close\n    plot(close)\n", "3:4", "condition must be bool, not float"),
    (HEAD5 + "b = close < open < high\n", "3:18", "comparisons do not chain"),
    (HEAD5 + 'strategy.entry("L", strategy.long)\n', "3:1", "can only be used in a strategy()"),
    (STRAT5 + "m = ta.sma(close, bar_index)\n", "3:19", "must be a simple int"),
    (HEAD5 + "f(x) => f(x)\nplot(f(1))\n", "3:9", "recursive call of 'f'"),
    (HEAD5 + "x = close)\n", "3:10", "unexpected ')'"),
    (HEAD5 + 'x = "abc\n', "3:5", "unexpected character"),
    (HEAD5 + "plot(ta.pivot_point_levels(\"Traditional\", true))\n", "3:6",
     "not supported: ta.pivot_point_levels"),
    (HEAD5 + "for i = 0 to 5\n    x = 1\n  y = 1\n", "5:3", "unindent does not match"),
    (HEAD5 + "x = 1\nx := 1.5\n", "4:1", "cannot assign a float value to 'x'"),
    (HEAD5 + "y := 1\n", "3:1", "cannot reassign undeclared variable 'y'"),
    (HEAD5 + "g = 1\nf() =>\n    g := 2\n    g\nplot(f())\n", "5:5",
     "cannot reassign the global variable 'g'"),
    (HEAD5 + "plot(ta.sma(close, 0))\n", "3:20", "length must be >= 1"),
    (HEAD5 + "plot(ta.sma(close))\n", "3:6", "missing the argument 'length'"),
    (HEAD5 + "plot(ta.sma(close, 5, foo=1))\n", "3:27", "has no argument 'foo'"),
    (HEAD5 + "x = na\ny = x.field\n", "4:5", "not supported: field access"),
    (HEAD5 + "i = 0\nwhile i < 3\n    i += 1\n    x = ta.sma(close, 3)\n", "4:1",
     "inside a while loop"),
    (STRAT5 + 'strategy.exit("x", trail_offset=10)\n', "3:33",
     "trail_offset needs trail_price or trail_points"),
    (HEAD5 + 'x = str.format("{0}", close)\n', "3:5", "not supported: str.format"),
    (HEAD5 + 'x = str.tostring(close, "$#")\n', "3:25", "not supported: str.tostring format"),
    ('//@version=5\nlibrary("x")\n', "2:1", "not supported: library scripts"),
    (HEAD5 + 'indicator("again")\n', "3:1", "only one strategy()/indicator()"),
]


@pytest.mark.parametrize("src,where,message", ERRORS, ids=[e[2][:30] for e in ERRORS])
def test_diagnostics(src, where, message):
    with pytest.raises(dsl.DslError) as exc:
        dsl.compile_source(src, "s.pine")
    text = str(exc.value)
    first = text.splitlines()[0]
    assert first.startswith(f"s.pine:{where}: "), text
    assert message in first, text
    # the source line and a caret under the reported column follow
    lines = text.splitlines()
    col = int(where.split(":")[1])
    assert lines[2].index("^") - 4 == len(lines[1][4:][: col - 1]), text


def test_several_errors_are_all_reported():
    src = HEAD5 + "a = foo\nb = bar\nc = 1\n"
    with pytest.raises(dsl.DslError) as exc:
        dsl.compile_source(src, "s.pine")
    assert len(exc.value.diagnostics) == 2
    assert "s.pine:3:5" in exc.value.diagnostics[0] and "s.pine:4:5" in exc.value.diagnostics[1]


def test_accepted_syntax():
    src = """//@version=5
// comments, annotations, continuation lines, tabs, typed declarations
//@description demo
strategy("All syntax", overlay=true, pyramiding=2,
     initial_capital=5000)
int n = input.int(14, "Length", minval=1)
float x = na
var int count = 0
simple float k = 2.0
a = 1, b = 2
f(src, len = 3) => ta.sma(src, len) * k
g(float src, simple int p) =>
    s = ta.ema(src, p)
    [s, s * 2]
[e1, e2] = g(close, n)
[_, e3] = g(open, 5)
cond = close > open and
     volume >= 0 or
     high > low
y = cond ? f(close) :
     f(open)
z = if close > open
    1
else if close < open
    -1
else
    0
if cond
\tcount += 1
for i = 0 to 4 by 2
    if i == 2
        continue
    x := nz(x) + i
plot(e1 + e2 + e3 + y + z + x + a + b + count + close[1] + ta.change(close)[2],
     "sum", color=color.new(#ff0000, 50))
"""
    p = dsl.compile_source(src, "all.pine")
    assert p.kind == "strategy" and p.config["pyramiding"] == 2
    assert p.config["initial_capital"] == 5000
    assert [i["title"] for i in p.inputs] == ["Length"]


def test_v4_compatibility_names():
    src = """//@version=4
study("v4")
len = input(14, type=input.integer)
r = rsi(close, len)
s = sma(close, 10)
c = iff(crossover(s, close), 1, 0)
plot(max(r, 50) + abs(c) + nz(s[1]))
"""
    p = dsl.compile_source(src, "v4.pine")
    assert p.kind == "indicator" and p.inputs[0]["value"] == 14


def test_input_overrides_are_checked():
    src = STRAT5 + 'n = input.int(14, "Length", minval=2, maxval=50)\n' \
                   'm = input.string("SMA", "MA", options=["SMA", "EMA"])\nplot(ta.sma(close, n))\n'
    assert dsl.compile_source(src, "s", inputs={"Length": 20}).inputs[0]["value"] == 20
    with pytest.raises(dsl.DslError, match="outside minval"):
        dsl.compile_source(src, "s", inputs={"Length": 1})
    with pytest.raises(dsl.DslError, match="not one of the options"):
        dsl.compile_source(src, "s", inputs={"MA": "WMA"})
    with pytest.raises(dsl.DslError, match="unknown input 'Nope'"):
        dsl.compile_source(src, "s", inputs={"Nope": 1})


def test_bytecode_round_trip_and_loader_errors(tmp_path):
    p = dsl.compile_file(dsl.__path__[0] + "/library/rsi_mean_reversion.pine")
    data = p.to_bytes()
    assert data.startswith(MAGIC)
    q = dsl.Program.from_bytes(data)
    assert q.to_bytes() == data and q.sha256() == p.sha256()
    for bad, msg in [(b"", "bad magic"), (MAGIC + b"{", "corrupt"),
                     (MAGIC + b'{"format": 1}', "unsupported format 1 .*compile the .pine file again"),
                     (data.replace(b'"code":[[', b'"code":[["x",'), "instruction shape")]:
        with pytest.raises(dsl.BytecodeError, match=msg):
            dsl.Program.from_bytes(bad)
    f = tmp_path / "x.bc"
    f.write_bytes(b"junk")
    with pytest.raises(dsl.DslError, match="x.bc: not a pyengine bytecode file"):
        dsl.load_program(f)


def test_vm_rejects_out_of_range_operands():
    p = dsl.compile_source(HEAD5 + "plot(close + 1)\n", "s")
    p.code[0][2] = 10 ** 6  # operand slot far outside the slot table
    with pytest.raises(dsl.DslError, match="invalid bytecode"):
        dsl.Vm(p)
