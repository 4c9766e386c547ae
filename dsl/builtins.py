"""Built-in functions of the Pine subset: one handler per name, each checking its
arguments and emitting VM code through the compiler (``BUILTINS`` maps names to them)."""
from __future__ import annotations

import math
import re

from dsl import ast as A
from dsl.compiler import (CONST, INPUT, NUMERIC, REQUIRED, SERIES, Compiler, Val, ValNode,
                          math_code)
from dsl.errors import DslError
from pyengine._core import lib


def _src(cp: Compiler, node, fname: str) -> Val:
    v = cp.expr(node)
    if v.type not in NUMERIC + ("na",):
        raise cp.err(node, f"{fname}: source must be a number series, not {v.type}")
    return v


def _ta_window(op: str):
    def h(cp: Compiler, c: A.Call) -> Val:
        a = cp.bind(c, [("source", REQUIRED), ("length", REQUIRED)])
        src = _src(cp, a["source"], c.func)
        n = cp.length_arg(a["length"], c.func)
        return cp.emit_ta(op, a=src, b=n)
    return h


def _ta_stdev(op: str):
    def h(cp: Compiler, c: A.Call) -> Val:
        a = cp.bind(c, [("source", REQUIRED), ("length", REQUIRED), ("biased", None)])
        src = _src(cp, a["source"], c.func)
        n = cp.length_arg(a["length"], c.func)
        biased = cp.const("bool", True) if a["biased"] is None else \
            cp.arg_val(a["biased"], "biased", ("bool",))
        return cp.emit_ta(op, a=src, b=n, c=biased)
    return h


def _ta_sar(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("start", REQUIRED), ("inc", REQUIRED), ("max", REQUIRED)])
    start, inc, top = (cp.arg_val(a[k], k) for k in ("start", "inc", "max"))
    return cp.emit_ta("SAR", a=start, b=inc, c=top)


def _ta_alma(cp: Compiler, c: A.Call) -> Val:
    """The Gaussian weights are fixed when the VM loads, so offset/sigma/floor must be
    constants; they go to three consecutive slots (operand c)."""
    a = cp.bind(c, [("series", REQUIRED), ("length", REQUIRED), ("offset", REQUIRED),
                    ("sigma", REQUIRED), ("floor", None)])
    src = _src(cp, a["series"], c.func)
    n = cp.length_arg(a["length"], c.func)
    offset = cp.const_arg(a["offset"], "ta.alma: offset", NUMERIC)
    sigma = cp.const_arg(a["sigma"], "ta.alma: sigma", NUMERIC)
    if offset is None or sigma is None or not sigma > 0:
        raise cp.err(c, f"ta.alma: offset must be a number and sigma > 0, got "
                        f"offset={offset}, sigma={sigma}")
    floor = False if a["floor"] is None else cp.const_arg(a["floor"], "ta.alma: floor",
                                                          ("bool",))
    params = cp.new_slot(float(offset))
    cp.new_slot(float(sigma))
    cp.new_slot(1.0 if floor else 0.0)
    return cp.emit_ta("ALMA", a=src, b=n, c=Val(params, "float", CONST))


def _ta_percentile(op: str):
    def h(cp: Compiler, c: A.Call) -> Val:
        a = cp.bind(c, [("source", REQUIRED), ("length", REQUIRED), ("percentage", REQUIRED)])
        src = _src(cp, a["source"], c.func)
        n = cp.length_arg(a["length"], c.func)
        return cp.emit_ta(op, a=src, b=n, c=cp.arg_val(a["percentage"], "percentage"))
    return h


def _ta_all_time(op: str):
    def h(cp: Compiler, c: A.Call) -> Val:
        a = cp.bind(c, [("source", REQUIRED)])
        src = _src(cp, a["source"], c.func)
        return cp.emit_ta(op, a=src, typ=src.type if src.type != "na" else "float")
    return h


def _ta_extreme(op: str, default_src: str):
    def h(cp: Compiler, c: A.Call) -> Val:
        if len(c.args) + len(c.kwargs) == 1:
            a = cp.bind(c, [("length", REQUIRED)])
            src = cp.name(A.Name(c.line, c.col, default_src))
        else:
            a = cp.bind(c, [("source", REQUIRED), ("length", REQUIRED)])
            src = _src(cp, a["source"], c.func)
        n = cp.length_arg(a["length"], c.func)
        return cp.emit_ta(op, a=src, b=n)
    return h


def _ta_trend(rising: bool):
    """ta.rising/ta.falling: true once the source rose (fell) strictly on n bars in a row."""
    def h(cp: Compiler, c: A.Call) -> Val:
        a = cp.bind(c, [("source", REQUIRED), ("length", REQUIRED)])
        src = _src(cp, a["source"], c.func)
        n = cp.length_arg(a["length"], c.func)
        count = Val(cp.new_slot(0.0), "int", SERIES)  # slots keep their value across bars
        step = cp.binary(c, ">" if rising else "<", src, _prev(cp, c, src))
        jf = cp.emit("JF", a=step.slot)
        cp.emit("ADD", count.slot, count.slot, cp.const("int", 1).slot)
        jend = cp.emit("JMP")
        cp.patch(jf, cp.here())
        cp.emit("MOV", count.slot, cp.const("int", 0).slot)
        cp.patch(jend, cp.here())
        return cp.binary(c, ">=", count, n)
    return h


def _ta_cross(op: str):
    def h(cp: Compiler, c: A.Call) -> Val:
        a = cp.bind(c, [("source1", REQUIRED), ("source2", REQUIRED)])
        x = _src(cp, a["source1"], c.func)
        y = _src(cp, a["source2"], c.func)
        return cp.emit_ta(op, a=x, b=y, typ="bool")
    return h


def _ta_tr(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("handle_na", None)])
    h = cp.const("bool", False) if a["handle_na"] is None else \
        cp.arg_val(a["handle_na"], "handle_na", ("bool",))
    return cp.emit_ta("TR", a=h)


def _ta_atr(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("length", REQUIRED)])
    n = cp.length_arg(a["length"], c.func)
    tr = cp.emit_ta("TR", a=cp.const("bool", True))
    return cp.emit_ta("RMA", a=tr, b=n)


def _ta_change(kind: str):
    def h(cp: Compiler, c: A.Call) -> Val:
        a = cp.bind(c, [("source", REQUIRED), ("length", None)])
        src = cp.expr(a["source"])
        if src.type not in NUMERIC + ("bool", "na"):
            raise cp.err(a["source"], f"{c.func}: source must be a number or bool series")
        if kind != "change" and a["length"] is None:
            raise cp.err(c, f"{c.func}() is missing the argument 'length'")
        n = a["length"] if a["length"] is not None else A.Num(c.line, c.col, 1, False)
        cp.length_arg(n, c.func, min_value=0)
        prev = cp.history(A.History(c.line, c.col, ValNode(src), n))
        if src.type == "bool":
            return cp.binary(c, "!=", src, prev)
        diff = cp.binary(c, "-", src, prev)
        if kind == "roc":
            return cp.binary(c, "*", cp.const("float", 100.0), cp.binary(c, "/", diff, prev))
        return diff
    return h




def _ta_rsi(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("source", REQUIRED), ("length", REQUIRED)])
    return cp.emit_ta("RSI", a=_src(cp, a["source"], c.func), b=cp.length_arg(a["length"], c.func))


def _ta_macd(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("source", REQUIRED), ("fastlen", REQUIRED), ("slowlen", REQUIRED), ("siglen", REQUIRED)])
    src = _src(cp, a["source"], c.func)
    fast = cp.emit_ta("EMA", a=src, b=cp.length_arg(a["fastlen"], c.func, "fastlen"))
    slow = cp.emit_ta("EMA", a=src, b=cp.length_arg(a["slowlen"], c.func, "slowlen"))
    m = cp.binary(c, "-", fast, slow)
    s = cp.emit_ta("EMA", a=m, b=cp.length_arg(a["siglen"], c.func, "siglen"))
    return Val(0, "tuple", SERIES, items=(m, s, cp.binary(c, "-", m, s)))


def _ta_bb(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("series", REQUIRED), ("length", REQUIRED), ("mult", REQUIRED)])
    src = _src(cp, a["series"], c.func)
    n = cp.length_arg(a["length"], c.func)
    mult = cp.arg_val(a["mult"], "mult")
    basis = cp.emit_ta("SMA", a=src, b=n)
    dev = cp.binary(c, "*", mult, cp.emit_ta("STDEV", a=src, b=n, c=cp.const("bool", True)))
    return Val(0, "tuple", SERIES, items=(basis, cp.binary(c, "+", basis, dev),
                                          cp.binary(c, "-", basis, dev)))


def _ta_kc(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("series", REQUIRED), ("length", REQUIRED), ("mult", REQUIRED), ("useTrueRange", None)])
    src = _src(cp, a["series"], c.func)
    n = cp.length_arg(a["length"], c.func)
    mult = cp.arg_val(a["mult"], "mult")
    use_tr = True if a["useTrueRange"] is None else cp.const_arg(a["useTrueRange"],
                                                                 "useTrueRange", ("bool",))
    basis = cp.emit_ta("EMA", a=src, b=n)
    if use_tr:  # the oracle (ta/kc.csv) shows the na-on-bar-0 true range here
        rng_src = cp.emit_ta("TR", a=cp.const("bool", False))
    else:
        rng_src = cp.binary(c, "-", cp.name(A.Name(c.line, c.col, "high")),
                            cp.name(A.Name(c.line, c.col, "low")))
    rng = cp.binary(c, "*", mult, cp.emit_ta("EMA", a=rng_src, b=n))
    return Val(0, "tuple", SERIES, items=(basis, cp.binary(c, "+", basis, rng),
                                          cp.binary(c, "-", basis, rng)))


def _ta_stoch(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("source", REQUIRED), ("high", REQUIRED), ("low", REQUIRED), ("length", REQUIRED)])
    src = _src(cp, a["source"], c.func)
    hi = _src(cp, a["high"], c.func)
    lo = _src(cp, a["low"], c.func)
    n = cp.length_arg(a["length"], c.func)
    hh = cp.emit_ta("HIGHEST", a=hi, b=n)
    ll = cp.emit_ta("LOWEST", a=lo, b=n)
    return cp.binary(c, "*", cp.const("float", 100.0),
                     cp.binary(c, "/", cp.binary(c, "-", src, ll), cp.binary(c, "-", hh, ll)))


def _ta_cci(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("source", REQUIRED), ("length", REQUIRED)])
    src = _src(cp, a["source"], c.func)
    n = cp.length_arg(a["length"], c.func)
    ma = cp.emit_ta("SMA", a=src, b=n)
    dev = cp.emit_ta("DEV", a=src, b=n)
    return cp.binary(c, "/", cp.binary(c, "-", src, ma),
                     cp.binary(c, "*", cp.const("float", 0.015), dev))


def _ta_vwma(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("source", REQUIRED), ("length", REQUIRED)])
    src = _src(cp, a["source"], c.func)
    n = cp.length_arg(a["length"], c.func)
    vol = cp.name(A.Name(c.line, c.col, "volume"))
    num = cp.emit_ta("SMA", a=cp.binary(c, "*", src, vol), b=n)
    return cp.binary(c, "/", num, cp.emit_ta("SMA", a=vol, b=n))


def _ta_hma(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("source", REQUIRED), ("length", REQUIRED)])
    src = _src(cp, a["source"], c.func)
    n = cp.length_arg(a["length"], c.func, min_value=2).value
    half = cp.emit_ta("WMA", a=src, b=cp.const("int", n // 2))
    full = cp.emit_ta("WMA", a=src, b=cp.const("int", n))
    diff = cp.binary(c, "-", cp.binary(c, "*", cp.const("float", 2.0), half), full)
    return cp.emit_ta("WMA", a=diff, b=cp.const("int", int(math.floor(math.sqrt(n)))))


def _ta_swma(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("source", REQUIRED)])
    src = _src(cp, a["source"], c.func)
    terms = []
    for k, w in ((3, 1 / 6), (2, 2 / 6), (1, 2 / 6), (0, 1 / 6)):
        x = cp.history(A.History(c.line, c.col, ValNode(src), A.Num(c.line, c.col, k, False)))
        terms.append(cp.binary(c, "*", x, cp.const("float", w)))
    acc = terms[0]
    for t in terms[1:]:
        acc = cp.binary(c, "+", acc, t)
    return acc


def _ta_wpr(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("length", REQUIRED)])
    n = cp.length_arg(a["length"], c.func)
    hh = cp.emit_ta("HIGHEST", a=cp.name(A.Name(c.line, c.col, "high")), b=n)
    ll = cp.emit_ta("LOWEST", a=cp.name(A.Name(c.line, c.col, "low")), b=n)
    close = cp.name(A.Name(c.line, c.col, "close"))
    return cp.binary(c, "*", cp.const("float", 100.0),
                     cp.binary(c, "/", cp.binary(c, "-", close, hh), cp.binary(c, "-", hh, ll)))


def _ta_dmi(cp: Compiler, c: A.Call) -> Val:
    """[+DI, -DI, ADX] with Wilder smoothing of the tr(false) range (pine-subset.md 10.3)."""
    a = cp.bind(c, [("diLength", REQUIRED), ("adxSmoothing", REQUIRED)])
    di = cp.length_arg(a["diLength"], c.func, "diLength")
    adx_len = cp.length_arg(a["adxSmoothing"], c.func, "adxSmoothing")
    zero = cp.const("float", 0.0)

    def change(name):
        v = cp.name(A.Name(c.line, c.col, name))
        prev = cp.history(A.History(c.line, c.col, ValNode(v), A.Num(c.line, c.col, 1, False)))
        return cp.binary(c, "-", v, prev)

    up = change("high")
    down = cp.binary(c, "-", zero, change("low"))

    def directional(x, y):  # x > y and x > 0 ? x : 0, na when x or y is na
        res = cp.temp("float")
        cond = cp.emit_ta("AND", a=cp.binary(c, ">", x, y), b=cp.binary(c, ">", x, zero),
                          typ="bool")
        jf = cp.emit("JF", a=cond.slot)
        cp.emit("MOV", res.slot, x.slot)
        jend = cp.emit("JMP")
        cp.patch(jf, cp.here())
        cp.emit("MOV", res.slot, zero.slot)
        cp.patch(jend, cp.here())
        nan_guard = cp.emit_ta("ISNA", a=cp.binary(c, "+", x, y), typ="bool")
        j2 = cp.emit("JF", a=nan_guard.slot)
        cp.emit("MOV", res.slot, cp.const("na", None).slot)
        cp.patch(j2, cp.here())
        return res

    plus_dm, minus_dm = directional(up, down), directional(down, up)
    trur = cp.emit_ta("RMA", a=cp.emit_ta("TR", a=cp.const("bool", False)), b=di)
    hundred = cp.const("float", 100.0)
    plus = cp.binary(c, "/", cp.binary(c, "*", hundred, cp.emit_ta("RMA", a=plus_dm, b=di)),
                     trur)
    minus = cp.binary(c, "/", cp.binary(c, "*", hundred, cp.emit_ta("RMA", a=minus_dm, b=di)),
                      trur)
    total = cp.binary(c, "+", plus, minus)
    denom = cp.temp("float")
    cp.emit("MOV", denom.slot, total.slot)
    is_zero = cp.binary(c, "==", total, zero)
    jf = cp.emit("JF", a=is_zero.slot)
    cp.emit("MOV", denom.slot, cp.const("float", 1.0).slot)
    cp.patch(jf, cp.here())
    spread = cp.temp("float")
    cp.emit("MATH1", spread.slot, cp.binary(c, "-", plus, minus).slot, c=math_code("ABS"))
    adx = cp.binary(c, "*", hundred,
                    cp.emit_ta("RMA", a=cp.binary(c, "/", spread, denom), b=adx_len))
    return Val(0, "tuple", SERIES, items=(plus, minus, adx))


def _series(cp: Compiler, node, name: str) -> Val:
    return cp.name(A.Name(node.line, node.col, name))


def _prev(cp: Compiler, node, v: Val, k: int = 1) -> Val:
    return cp.history(A.History(node.line, node.col, ValNode(v), A.Num(node.line, node.col, k,
                                                                       False)))


def _pick(cp: Compiler, cond: Val, a: Val, b: Val) -> Val:
    """cond ? a : b over already computed values."""
    res = cp.temp("float")
    jf = cp.emit("JF", a=cond.slot)
    cp.emit("MOV", res.slot, a.slot)
    jend = cp.emit("JMP")
    cp.patch(jf, cp.here())
    cp.emit("MOV", res.slot, b.slot)
    cp.patch(jend, cp.here())
    return res


def _ta_bandwidth(kind: str):
    def h(cp: Compiler, c: A.Call) -> Val:
        bands = (_ta_bb if kind == "bb" else _ta_kc)(cp, A.Call(
            c.line, c.col, "ta." + kind, c.args, c.kwargs))
        basis, upper, lower = bands.items
        width = cp.binary(c, "/", cp.binary(c, "-", upper, lower), basis)
        return cp.binary(c, "*", width, cp.const("float", 100.0)) if kind == "bb" else width
    return h


def _ta_range(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("source", REQUIRED), ("length", REQUIRED)])
    src = _src(cp, a["source"], c.func)
    n = cp.length_arg(a["length"], c.func)
    return cp.binary(c, "-", cp.emit_ta("HIGHEST", a=src, b=n), cp.emit_ta("LOWEST", a=src, b=n))


def _ta_cmo(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("series", REQUIRED), ("length", REQUIRED)])
    src = _src(cp, a["series"], c.func)
    n = cp.length_arg(a["length"], c.func)
    zero = cp.const("float", 0.0)
    mom = cp.binary(c, "-", src, _prev(cp, c, src))
    up = cp.emit_ta("SUM", a=_pick(cp, cp.binary(c, ">=", mom, zero), mom, zero), b=n)
    down = cp.emit_ta("SUM", a=_pick(cp, cp.binary(c, ">=", mom, zero), zero,
                                     cp.binary(c, "-", zero, mom)), b=n)
    return cp.binary(c, "*", cp.const("float", 100.0),
                     cp.binary(c, "/", cp.binary(c, "-", up, down), cp.binary(c, "+", up, down)))


def _ta_mfi(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("series", REQUIRED), ("length", REQUIRED)])
    src = _src(cp, a["series"], c.func)
    n = cp.length_arg(a["length"], c.func)
    zero = cp.const("float", 0.0)
    vol = _series(cp, c, "volume")
    change = cp.binary(c, "-", src, _prev(cp, c, src))
    flow = cp.binary(c, "*", vol, src)
    upper = cp.emit_ta("SUM", a=_pick(cp, cp.binary(c, "<=", change, zero), zero, flow), b=n)
    lower = cp.emit_ta("SUM", a=_pick(cp, cp.binary(c, ">=", change, zero), zero, flow), b=n)
    hundred = cp.const("float", 100.0)
    ratio = cp.binary(c, "/", upper, lower)
    return cp.binary(c, "-", hundred, cp.binary(c, "/", hundred,
                                                cp.binary(c, "+", cp.const("float", 1.0), ratio)))


def _ta_tsi(cp: Compiler, c: A.Call) -> Val:
    """True strength index in [-1, 1]: double-smoothed momentum over its absolute value."""
    a = cp.bind(c, [("source", REQUIRED), ("short_length", REQUIRED),
                    ("long_length", REQUIRED)])
    src = _src(cp, a["source"], c.func)
    short = cp.length_arg(a["short_length"], c.func, "short_length")
    long_ = cp.length_arg(a["long_length"], c.func, "long_length")
    pc = cp.binary(c, "-", src, _prev(cp, c, src))
    apc = cp.temp("float")
    cp.emit("MATH1", apc.slot, pc.slot, c=math_code("ABS"))
    num = cp.emit_ta("EMA", a=cp.emit_ta("EMA", a=pc, b=long_), b=short)
    den = cp.emit_ta("EMA", a=cp.emit_ta("EMA", a=apc, b=long_), b=short)
    return cp.binary(c, "/", num, den)


def _ta_linreg(cp: Compiler, c: A.Call) -> Val:
    """Least-squares line over the window, evaluated at x = length-1-offset (x = 0 is the
    oldest bar), from running sums: sum(y) and the weighted sum that ta.wma keeps."""
    a = cp.bind(c, [("source", REQUIRED), ("length", REQUIRED), ("offset", REQUIRED)])
    src = _src(cp, a["source"], c.func)
    nv = cp.length_arg(a["length"], c.func)
    n = nv.value
    off = cp.arg_val(a["offset"], "offset")
    f = lambda v: cp.const("float", float(v))  # noqa: E731
    sy = cp.emit_ta("SUM", a=src, b=nv)
    # wma weights the oldest bar 1 ... newest n, so sum(x*y) with x = 0..n-1 is
    # wma*n(n+1)/2 - sum(y)
    sxy = cp.binary(c, "-", cp.binary(c, "*", cp.emit_ta("WMA", a=src, b=nv),
                                      f(n * (n + 1) / 2)), sy)
    sx, sxx = n * (n - 1) / 2, (n - 1) * n * (2 * n - 1) / 6
    denom = n * sxx - sx * sx
    slope = cp.binary(c, "/", cp.binary(c, "-", cp.binary(c, "*", f(n), sxy),
                                        cp.binary(c, "*", f(sx), sy)), f(denom or math.nan))
    intercept = cp.binary(c, "/", cp.binary(c, "-", sy, cp.binary(c, "*", slope, f(sx))), f(n))
    x = cp.binary(c, "-", f(n - 1), off)
    return cp.binary(c, "+", intercept, cp.binary(c, "*", slope, x))


def _ta_correlation(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("source1", REQUIRED), ("source2", REQUIRED), ("length", REQUIRED)])
    x = _src(cp, a["source1"], c.func)
    y = _src(cp, a["source2"], c.func)
    n = cp.length_arg(a["length"], c.func)
    mx, my = cp.emit_ta("SMA", a=x, b=n), cp.emit_ta("SMA", a=y, b=n)
    cov = cp.binary(c, "-", cp.emit_ta("SMA", a=cp.binary(c, "*", x, y), b=n),
                    cp.binary(c, "*", mx, my))
    t = cp.const("bool", True)
    sd = cp.binary(c, "*", cp.emit_ta("STDEV", a=x, b=n, c=t), cp.emit_ta("STDEV", a=y, b=n, c=t))
    return cp.binary(c, "/", cov, sd)


def volume_variable(cp: Compiler, node: A.Name) -> Val | None:
    """The cumulative volume indicators used as variables (ta.obv, ta.pvt, ...)."""
    name = node.id
    if name not in ("ta.obv", "ta.pvt", "ta.accdist", "ta.iii", "ta.wad", "ta.nvi", "ta.pvi",
                    "ta.wvad"):
        return None
    if name in ("ta.nvi", "ta.pvi"):  # stateful C ops that read close and volume
        return cp.emit_ta(name[3:].upper())
    close, high, low = (_series(cp, node, k) for k in ("close", "high", "low"))
    vol = _series(cp, node, "volume")
    zero = cp.const("float", 0.0)
    prev = _prev(cp, node, close)
    if name == "ta.obv":
        sign = cp.temp("float")
        cp.emit("MATH1", sign.slot, cp.binary(node, "-", close, prev).slot, c=math_code("SIGN"))
        return cp.emit_ta("CUM", a=cp.binary(node, "*", sign, vol))
    if name == "ta.pvt":
        rel = cp.binary(node, "/", cp.binary(node, "-", close, prev), prev)
        return cp.emit_ta("CUM", a=cp.binary(node, "*", rel, vol))
    spread = cp.binary(node, "-", high, low)
    if name == "ta.wvad":  # stateless: (close - open) / (high - low) * volume
        move = cp.binary(node, "-", close, _series(cp, node, "open"))
        return cp.binary(node, "*", cp.binary(node, "/", move, spread), vol)
    if name == "ta.iii":
        num = cp.binary(node, "-", cp.binary(node, "-", cp.binary(
            node, "*", cp.const("float", 2.0), close), high), low)
        return cp.binary(node, "/", num, cp.binary(node, "*", spread, vol))
    if name == "ta.accdist":
        mfm = cp.binary(node, "/", cp.binary(node, "-", cp.binary(node, "-", close, low),
                                             cp.binary(node, "-", high, close)), spread)
        flat = cp.binary(node, "==", high, low)
        return cp.emit_ta("CUM", a=cp.binary(node, "*", _pick(cp, flat, zero, mfm), vol))
    # ta.wad: Williams accumulation/distribution
    true_low = cp.temp("float")
    cp.emit("MATH2", true_low.slot, low.slot, prev.slot, math_code("MIN"))
    true_high = cp.temp("float")
    cp.emit("MATH2", true_high.slot, high.slot, prev.slot, math_code("MAX"))
    up = cp.binary(node, "-", close, true_low)
    down = cp.binary(node, "-", close, true_high)
    move = _pick(cp, cp.binary(node, ">", close, prev), up,
                 _pick(cp, cp.binary(node, "<", close, prev), down, zero))
    return cp.emit_ta("CUM", a=move)


def _ta_cum(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("source", REQUIRED)])
    return cp.emit_ta("CUM", a=_src(cp, a["source"], c.func))


def _ta_barssince(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("condition", REQUIRED)])
    cond = cp.expr(a["condition"])
    cp.check_boolish(a["condition"], cond)
    return cp.emit_ta("BARSSINCE", a=cond, typ="int")


def _ta_valuewhen(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("condition", REQUIRED), ("source", REQUIRED), ("occurrence", REQUIRED)])
    cond = cp.expr(a["condition"])
    cp.check_boolish(a["condition"], cond)
    src = cp.expr(a["source"])
    occ = cp.length_arg(a["occurrence"], c.func, "occurrence", min_value=0)
    return cp.emit_ta("VALUEWHEN", a=cond, b=src, c=occ, typ=src.type)


def _ta_pivot(op: str, default_src: str):
    def h(cp: Compiler, c: A.Call) -> Val:
        if len(c.args) + len(c.kwargs) == 2:
            a = cp.bind(c, [("leftbars", REQUIRED), ("rightbars", REQUIRED)])
            src = cp.name(A.Name(c.line, c.col, default_src))
        else:
            a = cp.bind(c, [("source", REQUIRED), ("leftbars", REQUIRED), ("rightbars", REQUIRED)])
            src = _src(cp, a["source"], c.func)
        left = cp.length_arg(a["leftbars"], c.func, "leftbars", min_value=0)
        right = cp.length_arg(a["rightbars"], c.func, "rightbars", min_value=0)
        return cp.emit_ta(op, a=src, b=left, c=right)
    return h


def _ta_vwap(cp: Compiler, c: A.Call) -> Val:
    """ta.vwap(src) restarts at each UTC day; with an anchor it restarts on the bars where
    the anchor is true, and with stdev_mult it returns [vwap, upper, lower]."""
    a = cp.bind(c, [("source", REQUIRED), ("anchor", None), ("stdev_mult", None)])
    src = _src(cp, a["source"], c.func)
    if a["anchor"] is None and a["stdev_mult"] is None:
        return cp.emit_ta("VWAP", a=src)
    if a["anchor"] is None:
        raise cp.err(c, "ta.vwap: stdev_mult needs an anchor (the session anchor of the "
                        "2-argument form is not supported with bands)")
    anchor = cp.expr(a["anchor"])
    cp.check_boolish(a["anchor"], anchor)
    mult = cp.const("na", None) if a["stdev_mult"] is None else \
        cp.arg_val(a["stdev_mult"], "stdev_mult")
    out = [cp.temp("float") for _ in range(3)]
    if [v.slot for v in out] != list(range(out[0].slot, out[0].slot + 3)):
        raise cp.err(c, "internal: vwap slots")
    cp.emit("VWAP_ANCHORED", out[0].slot, src.slot, anchor.slot, mult.slot)
    if a["stdev_mult"] is None:
        return out[0]
    return Val(0, "tuple", SERIES, items=tuple(out))


def _ta_supertrend(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("factor", REQUIRED), ("atrPeriod", REQUIRED)])
    factor = cp.arg_val(a["factor"], "factor")
    n = cp.length_arg(a["atrPeriod"], c.func, "atrPeriod")
    st = cp.temp("float")
    d = cp.temp("int")
    if d.slot != st.slot + 1:
        raise cp.err(c, "internal: supertrend slots")
    cp.emit("SUPERTREND", st.slot, factor.slot, n.slot)
    return Val(0, "tuple", SERIES, items=(st, d))


def _fixnan(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("source", REQUIRED)])
    src = cp.expr(a["source"])
    return cp.emit_ta("FIXNAN", a=src, typ=src.type)


def _na(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("x", REQUIRED)])
    v = cp.expr(a["x"])
    if v.is_const:
        return cp.const("bool", v.value is None or v.value != v.value)
    return cp.emit_ta("ISNA", a=v, typ="bool")


def _nz(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("source", REQUIRED), ("replacement", None)])
    v = cp.expr(a["source"])
    rep = cp.expr(a["replacement"]) if a["replacement"] is not None else \
        cp.const(v.type if v.type in NUMERIC else "float", 0)
    if v.is_const and v.value is not None and v.value == v.value:
        return v
    return cp.emit_ta("NZ", a=v, b=rep, typ=cp.unify(c, v, rep))


def _math1(fn: str, result: str | None = None):
    def h(cp: Compiler, c: A.Call) -> Val:
        a = cp.bind(c, [("x", REQUIRED)])
        v = cp.arg_val(a["x"], f"{c.func} argument")
        typ = result or ("int" if v.type == "int" else "float")
        if v.is_const:
            res = math.nan if v.value is None else _py_math1(fn, float(v.value))
            if res != res:
                return cp.const("na", None)
            return cp.const(typ, int(res) if typ == "int" else res)
        res = cp.temp(typ, v.qual)
        cp.emit("MATH1", res.slot, v.slot, c=math_code(fn))
        return res
    return h


def _py_math1(fn: str, x: float) -> float:
    try:
        return {"ABS": abs, "ROUND": lambda v: math.floor(v + 0.5), "FLOOR": math.floor,
                "CEIL": math.ceil, "SIGN": lambda v: (v > 0) - (v < 0), "SQRT": math.sqrt,
                "EXP": math.exp, "LOG": math.log, "LOG10": math.log10, "SIN": math.sin,
                "COS": math.cos, "TAN": math.tan, "ASIN": math.asin, "ACOS": math.acos,
                "ATAN": math.atan, "TODEG": math.degrees, "TORAD": math.radians}[fn](x)
    except (ValueError, OverflowError):
        return math.nan


def _math_minmax(fn: str):
    def h(cp: Compiler, c: A.Call) -> Val:
        if c.kwargs or len(c.args) < 2:
            raise cp.err(c, f"{c.func}() needs two or more positional arguments")
        vals = [cp.arg_val(x, f"{c.func} argument") for x in c.args]
        acc = vals[0]
        for v in vals[1:]:
            typ = "int" if acc.type == v.type == "int" else "float"
            if acc.is_const and v.is_const:
                if acc.value is None or v.value is None:
                    acc = cp.const("na", None)
                    continue
                r = max(acc.value, v.value) if fn == "MAX" else min(acc.value, v.value)
                acc = cp.const(typ, r)
                continue
            res = cp.temp(typ, max(acc.qual, v.qual))
            cp.emit("MATH2", res.slot, acc.slot, v.slot, math_code(fn))
            acc = res
        return acc
    return h


def _math_avg(cp: Compiler, c: A.Call) -> Val:
    if c.kwargs or not c.args:
        raise cp.err(c, "math.avg() needs positional arguments")
    vals = [cp.arg_val(x, "math.avg argument") for x in c.args]
    acc = vals[0]
    for v in vals[1:]:
        acc = cp.binary(c, "+", acc, v)
    return cp.binary(c, "/", acc, cp.const("float", float(len(vals))))


def _math_pow(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("base", REQUIRED), ("exponent", REQUIRED)])
    x = cp.arg_val(a["base"], "base")
    y = cp.arg_val(a["exponent"], "exponent")
    res = cp.temp("float", max(x.qual, y.qual))
    cp.emit("MATH2", res.slot, x.slot, y.slot, math_code("POW"))
    return res


def _math_round(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("number", REQUIRED), ("precision", None)])
    if a["precision"] is None:
        return _math1("ROUND", "int")(cp, A.Call(c.line, c.col, c.func, [a["number"]], {}))
    x = cp.arg_val(a["number"], "number")
    p = cp.arg_val(a["precision"], "precision")
    res = cp.temp("float", max(x.qual, p.qual))
    cp.emit("MATH2", res.slot, x.slot, p.slot, math_code("ROUNDP"))
    return res


def _math_round_mintick(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("number", REQUIRED)])
    x = cp.arg_val(a["number"], "number")
    res = cp.temp("float", SERIES)
    cp.emit("MATH1", res.slot, x.slot, c=math_code("ROUND_MINTICK"))
    return res


def _math_sum(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("source", REQUIRED), ("length", REQUIRED)])
    return cp.emit_ta("SUM", a=_src(cp, a["source"], c.func), b=cp.length_arg(a["length"], c.func))


def _cast(typ: str):
    def h(cp: Compiler, c: A.Call) -> Val:
        a = cp.bind(c, [("x", REQUIRED)])
        v = cp.expr(a["x"])
        if typ == "int":
            if v.type not in NUMERIC + ("na",):
                raise cp.err(c, f"int() needs a number, not {v.type}")
            if v.is_const:
                return cp.const("na", None) if v.value is None else cp.const("int", int(v.value))
            return cp.emit_ta("TRUNC", a=v, typ="int")
        if typ == "float":
            if v.type not in NUMERIC + ("na",):
                raise cp.err(c, f"float() needs a number, not {v.type}")
            return Val(v.slot, "float", v.qual, v.value) if not v.is_const else \
                cp.const("float", v.value)
        if v.is_const:
            return cp.const("bool", cp.truthy(v.value))
        res = cp.temp("bool", v.qual)
        cp.emit("MATH1", res.slot, v.slot, c=math_code("BOOL"))
        return res
    return h


def _format_spec(cp: Compiler, node) -> tuple[int, int]:
    """(TOSTR format code, decimals) of a str.tostring format argument."""
    if node is None:
        return lib.PE_F_DEFAULT, 10
    fmt = cp.const_arg(node, "str.tostring format", ("string",))
    if fmt == "mintick":
        return lib.PE_F_MINTICK, 0
    if fmt == "percent":
        return lib.PE_F_PERCENT, 2
    if fmt in ("price", "volume", "inherit"):
        return lib.PE_F_DEFAULT, 10
    m = re.fullmatch(r"[#0,]*(?:\.(#+|0+))?", fmt or "")
    if not m:
        raise cp.err(node, f"not supported: str.tostring format {fmt!r} "
                           f"(use '#.##', '0.00', format.mintick or format.percent)")
    dec = m.group(1) or ""
    return (lib.PE_F_FIXED if dec.startswith("0") else lib.PE_F_MAXDEC), len(dec)


def format_number(x, fmt: int, decimals: int) -> str:
    """Python twin of the VM's str.tostring (csrc/vm_str.c), for constant folding."""
    if fmt == lib.PE_F_BOOL:
        return "true" if x else "false"
    if x is None or x != x:
        return "NaN"
    dec, strip, suffix = 10, True, ""
    if fmt == lib.PE_F_MAXDEC:
        dec = decimals
    elif fmt == lib.PE_F_FIXED:
        dec, strip = decimals, False
    elif fmt == lib.PE_F_PERCENT:
        dec, strip, suffix = 2, False, "%"
    dec = max(0, min(dec, 15))
    if abs(x) >= 1e17:
        dec = 0
    p = 10.0 ** dec
    r = -math.floor(-x * p + 0.5) / p if x < 0 else math.floor(x * p + 0.5) / p
    text = f"{r:.{dec}f}"
    if strip and dec > 0:
        text = text.rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return text + suffix


def _tostring(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("value", REQUIRED), ("format", None)])
    v = cp.expr(a["value"])
    if v.type == "string":
        return v
    if v.type not in NUMERIC + ("bool", "na"):
        raise cp.err(a["value"], f"str.tostring needs a number, bool or string, not {v.type}")
    fmt, dec = (lib.PE_F_BOOL, 0) if v.type == "bool" else _format_spec(cp, a["format"])
    if v.is_const and fmt != lib.PE_F_MINTICK:
        return cp.const("string", format_number(v.value, fmt, dec))
    res = cp.temp("string", v.qual)
    cp.emit("TOSTR", res.slot, v.slot, cp.const("int", dec).slot, fmt)
    return res


_TRADE_FIELDS = {
    "entry_price": ("ENTRY_PRICE", "float"), "entry_bar_index": ("ENTRY_BAR", "int"),
    "entry_id": ("ENTRY_ID", "string"), "size": ("SIZE", "float"), "profit": ("PROFIT", "float"),
    "commission": ("COMMISSION", "float"), "exit_price": ("EXIT_PRICE", "float"),
    "exit_bar_index": ("EXIT_BAR", "int")}


def _trade_field(closed: bool, field: str):
    code_name, typ = _TRADE_FIELDS[field]

    def h(cp: Compiler, c: A.Call) -> Val:
        _need_strategy(cp, c)
        a = cp.bind(c, [("trade_num", REQUIRED)])
        idx = cp.arg_val(a["trade_num"], "trade_num")
        code = getattr(lib, "PE_T_" + code_name) + (lib.PE_T_CLOSED if closed else 0)
        res = cp.temp(typ)
        cp.emit("TRADE", res.slot, idx.slot, c=code)
        return res
    return h


def _timestamp(cp: Compiler, c: A.Call) -> Val:
    """timestamp(...) with constant arguments, in UTC (the exchange time zone)."""
    from datetime import datetime, timezone
    args = [cp.const_arg(x, "timestamp argument") for x in c.args]
    if c.kwargs:
        raise cp.err(c, "timestamp() takes positional arguments")
    if args and isinstance(args[0], str) and len(args) > 1:
        zone = args.pop(0).upper()
        if zone not in ("UTC", "GMT", "GMT+0", "UTC+0", "ETC/UTC"):
            raise cp.err(c, f"not supported: timestamp in time zone {zone!r} (UTC only)")
    try:
        if len(args) == 1 and isinstance(args[0], str):
            text = args[0].strip()
            for fmt in ("%d %b %Y %H:%M %z", "%d %b %Y %H:%M:%S %z", "%d %b %Y %H:%M",
                        "%d %b %Y"):
                try:
                    dt = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    dt = None
            dt = dt or datetime.fromisoformat(text.replace("Z", "+00:00"))
        elif 3 <= len(args) <= 6 and all(isinstance(a, (int, float)) for a in args):
            dt = datetime(*[int(a) for a in args])
        else:
            raise ValueError("expected (year, month, day[, hour, minute, second]) or a date")
    except (ValueError, TypeError) as exc:
        raise cp.err(c, f"timestamp(): {exc}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return cp.const("int", int(dt.timestamp() * 1000))


def _in_seconds(cp: Compiler, c: A.Call) -> Val:
    tf = cp.timeframe
    digits = int("".join(ch for ch in tf if ch.isdigit()) or 1)
    unit = {"S": 1, "D": 86400, "W": 604800, "M": 2592000}.get(tf[-1:], 60)
    return cp.const("int", digits * unit)


# ---- declarations and inputs ----

_STRATEGY_PARAMS = [("title", REQUIRED), ("shorttitle", None), ("overlay", None), ("format", None),
                    ("precision", None), ("scale", None), ("pyramiding", None),
                    ("calc_on_order_fills", None), ("calc_on_every_tick", None),
                    ("max_bars_back", None), ("backtest_fill_limits_assumption", None),
                    ("default_qty_type", None), ("default_qty_value", None),
                    ("initial_capital", None), ("currency", None), ("slippage", None),
                    ("commission_type", None), ("commission_value", None),
                    ("process_orders_on_close", None), ("close_entries_rule", None),
                    ("margin_long", None), ("margin_short", None),
                    ("explicit_plot_zorder", None), ("max_lines_count", None),
                    ("max_labels_count", None), ("max_boxes_count", None),
                    ("calc_bars_count", None), ("risk_free_rate", None),
                    ("use_bar_magnifier", None), ("fill_orders_on_standard_ohlc", None),
                    ("max_polylines_count", None), ("dynamic_requests", None),
                    ("behind_chart", None), ("linktoseries", None), ("exit_fill_model", None),
                    ("trail_entry_rise", None)]
_INDICATOR_PARAMS = [p for p in _STRATEGY_PARAMS if p[0] in (
    "title", "shorttitle", "overlay", "format", "precision", "scale", "max_bars_back",
    "explicit_plot_zorder", "max_lines_count", "max_labels_count", "max_boxes_count",
    "calc_bars_count", "dynamic_requests", "behind_chart", "max_polylines_count")] + \
    [("timeframe", None), ("timeframe_gaps", None), ("resolution", None)]


def _declaration(kind: str):
    def h(cp: Compiler, c: A.Call) -> Val:
        if cp.kind is not None:
            raise cp.err(c, "only one strategy()/indicator() declaration is allowed")
        if cp.code:
            raise cp.err(c, f"{c.func}() must come before any other statement")
        params = _STRATEGY_PARAMS if kind == "strategy" else _INDICATOR_PARAMS
        a = cp.bind(c, params)
        cp.kind = kind
        cfg = cp.config
        for k, node in a.items():
            if node is None:
                continue
            v = cp.const_arg(node, f"{c.func}({k}=...)")
            if k == "title":
                cfg["title"] = v
            elif k in ("initial_capital", "default_qty_value", "commission_value", "trail_entry_rise"):
                if v is None or not isinstance(v, (int, float)) or v < 0:
                    raise cp.err(node, f"{k} must be a non-negative number")
                cfg[k] = float(v)
            elif k in ("pyramiding", "slippage"):
                if v is None or not isinstance(v, (int, float)) or v < 0:
                    raise cp.err(node, f"{k} must be a non-negative int")
                cfg[k] = int(v)
            elif k == "default_qty_type":
                if v not in ("fixed", "cash", "percent_of_equity"):
                    raise cp.err(node, "default_qty_type must be strategy.fixed, strategy.cash "
                                       "or strategy.percent_of_equity")
                cfg[k] = v
            elif k == "commission_type":
                if v not in ("percent", "cash_per_contract", "cash_per_order"):
                    raise cp.err(node, "commission_type must be strategy.commission.*")
                cfg[k] = v
            elif k == "process_orders_on_close":
                cfg[k] = bool(v)
            elif k == "exit_fill_model":
                if v not in ("tradingview", "freqtrade"):
                    raise cp.err(node, 'exit_fill_model must be "tradingview" or "freqtrade"')
                cfg[k] = v
            elif k == "close_entries_rule" and v not in ("FIFO", None):
                raise cp.err(node, f"not supported yet: close_entries_rule={v!r} (LATER)")
            elif k in ("calc_on_order_fills", "use_bar_magnifier") and v:
                raise cp.err(node, f"not supported yet: {k}=true (LATER)")
            elif k in ("timeframe", "resolution") and v:
                raise cp.err(node, "not supported: indicator timeframe (multi-timeframe)")
        return Val(0, "void", CONST)
    return h


_INPUT_KW = [("title", None), ("minval", None), ("maxval", None), ("step", None),
             ("tooltip", None), ("inline", None), ("group", None), ("confirm", None),
             ("options", None), ("display", None), ("type", None)]
_INPUT_KINDS = {"input.int": "int", "input.float": "float", "input.bool": "bool",
                "input.string": "string", "input.price": "float", "input.timeframe": "string",
                "input.session": "string", "input.symbol": "string", "input.text_area": "string",
                "input.color": "color", "input.time": "int", "input.source": "source",
                "input": None}
_SOURCES = ("open", "high", "low", "close", "volume", "hl2", "hlc3", "ohlc4", "hlcc4")


def _input(cp: Compiler, c: A.Call) -> Val:
    kind = _INPUT_KINDS[c.func]
    a = cp.bind(c, [("defval", REQUIRED)] + _INPUT_KW)
    title_node = a["title"]
    title = cp.const_arg(title_node, "input title", ("string",)) if title_node is not None \
        else None
    index = len(cp.inputs)
    key = title if title is not None else f"#{index}"
    if a["type"] is not None:
        kind = cp.const_arg(a["type"], "input type", ("string",))
    default_node = a["defval"]
    if kind == "source" or (kind is None and isinstance(default_node, A.Name)
                            and default_node.id in _SOURCES):
        if not isinstance(default_node, A.Name) or default_node.id not in _SOURCES:
            raise cp.err(default_node, f"input.source default must be one of {_SOURCES}")
        chosen = default_node.id
        for k in (key, title, str(index)):
            if k is not None and k in cp.input_overrides:
                chosen = str(cp.input_overrides[k])
                cp.used_overrides.add(k)
                if chosen not in _SOURCES:
                    raise DslError([f"input {key!r}: source must be one of {_SOURCES}, "
                                    f"got {chosen!r}"])
        cp.inputs.append({"title": key, "kind": "source", "value": chosen})
        return cp.name(A.Name(c.line, c.col, chosen))
    dv = cp.expr(default_node)
    if not dv.is_const:
        raise cp.err(default_node, "input default must be a constant")
    if kind is None:
        kind = dv.type
    value = dv.value
    for k in (key, title, str(index)):
        if k is not None and k in cp.input_overrides:
            value = cp.input_overrides[k]
            cp.used_overrides.add(k)
            _check_override(cp, c, key, kind, value, a)
    typ = {"int": "int", "float": "float", "bool": "bool", "color": "color"}.get(kind, "string")
    if typ == "int" and isinstance(value, float) and value.is_integer():
        value = int(value)
    if typ in NUMERIC and (value is None or isinstance(value, bool) or
                           not isinstance(value, (int, float))):
        raise cp.err(default_node, f"input {key!r} needs a {typ} value")
    cp.inputs.append({"title": key, "kind": kind, "value": value})
    v = cp.const(typ, value)
    v.qual = INPUT
    return v


def _check_override(cp: Compiler, c: A.Call, key: str, kind: str, value, a: dict) -> None:
    def bad(msg):
        return DslError([f"input {key!r}: {msg}"])

    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"expected a number, got {value!r}")
        if kind == "int" and not float(value).is_integer():
            raise bad(f"expected an int, got {value!r}")
        for bound, cmp in (("minval", lambda x, b: x < b), ("maxval", lambda x, b: x > b)):
            if a[bound] is not None:
                b = cp.const_arg(a[bound], bound)
                if b is not None and cmp(value, b):
                    raise bad(f"{value!r} is outside {bound}={b}")
    if kind == "bool" and not isinstance(value, bool):
        raise bad(f"expected true/false, got {value!r}")
    if a["options"] is not None:
        opts = cp.expr(a["options"])
        allowed = [i.value for i in opts.items] if opts.type == "tuple" else []
        if value not in allowed:
            raise bad(f"{value!r} is not one of the options {allowed}")


def _plot(cp: Compiler, c: A.Call) -> Val:
    a = cp.bind(c, [("series", REQUIRED), ("title", None), ("color", None), ("linewidth", None),
                    ("style", None), ("trackprice", None), ("histbase", None),
                    ("offset", None), ("join", None), ("editable", None),
                    ("show_last", None), ("display", None), ("format", None),
                    ("precision", None), ("force_overlay", None), ("linestyle", None),
                    ("transp", None)])
    v = cp.expr(a["series"])
    if v.type not in NUMERIC + ("na", "bool"):
        raise cp.err(a["series"], f"plot() needs a number series, not {v.type}")
    title = cp.const_arg(a["title"], "plot title", ("string",)) if a["title"] is not None \
        else f"Plot {len(cp.plots)}"
    for k, node in a.items():
        if k not in ("series", "title") and node is not None:
            cp.expr(node)
    cp.emit("PLOT", a=v.slot, c=len(cp.plots))
    cp.plots.append(title)
    return plot_id(cp)


def plot_id(cp: Compiler) -> Val:
    """plot()/hline() give an id that only fill() uses: carried as a constant na."""
    return Val(cp.const("na", None).slot, "plot", CONST, None)


# ---- strategy order calls ----

def _order_block(cp: Compiler, values: list) -> int:
    """Allocate a contiguous argument block; constants are preset, others copied."""
    base = len(cp.init)
    for _ in values:
        cp.new_slot()
    for i, v in enumerate(values):
        if v.is_const:
            cp.init[base + i] = cp.init[v.slot]
        else:
            cp.emit("MOV", base + i, v.slot)
    return base


def _need_strategy(cp: Compiler, c: A.Call) -> None:
    if cp.kind != "strategy":
        raise cp.err(c, f"{c.func}() can only be used in a strategy() script")


def _opt(cp: Compiler, node, what: str, types) -> Val:
    if node is None:
        return cp.const("na", None)
    return cp.arg_val(node, what, tuple(types) + ("na",))


def _with_when(cp: Compiler, c: A.Call, a: dict, body) -> Val:
    when = a.get("when")
    if when is None:
        body()
        return Val(0, "void", CONST)
    if cp.v >= 6:
        raise cp.err(when, "the 'when' argument was removed in v6; use an if block")
    w = cp.expr(when)
    cp.check_boolish(when, w)
    if w.is_const:
        if cp.truthy(w.value):
            body()
        return Val(0, "void", CONST)
    jf = cp.emit("JF", a=w.slot)
    body()
    cp.patch(jf, cp.here())
    return Val(0, "void", CONST)


def _direction(cp: Compiler, node) -> Val:
    d = cp.expr(node)
    if d.type == "bool":  # v4: strategy.long/short were true/false
        if d.is_const:
            return cp.const("int", 1 if d.value else -1)
        res = cp.temp("int")
        cp.emit("MUL", res.slot, d.slot, cp.const("int", 2).slot)
        cp.emit("SUB", res.slot, res.slot, cp.const("int", 1).slot)
        return res
    if d.type not in NUMERIC:
        raise cp.err(node, "direction must be strategy.long or strategy.short")
    return d


def _strategy_entry(op: str):
    def h(cp: Compiler, c: A.Call) -> Val:
        _need_strategy(cp, c)
        a = cp.bind(c, [("id", REQUIRED), ("direction", REQUIRED), ("qty", None), ("limit", None),
                        ("stop", None), ("oca_name", None), ("oca_type", None),
                        ("comment", None), ("alert_message", None), ("disable_alert", None),
                        ("when", None)])

        def body():
            id_ = cp.arg_val(a["id"], "order id", ("string",))
            d = _direction(cp, a["direction"])
            if d.is_const and d.value is not None and d.value < 0 and op == "ENTRY":
                cp.short_lines.append(c.line)
            vals = [id_, d, _opt(cp, a["qty"], "qty", NUMERIC),
                    _opt(cp, a["limit"], "limit", NUMERIC), _opt(cp, a["stop"], "stop", NUMERIC),
                    _opt(cp, a["oca_name"], "oca_name", ("string",)),
                    _opt(cp, a["oca_type"], "oca_type", NUMERIC),
                    _opt(cp, a["comment"], "comment", ("string",))]
            for k in ("alert_message", "disable_alert"):
                if a[k] is not None:
                    cp.expr(a[k])
            cp.emit(op, a=_order_block(cp, vals))
        return _with_when(cp, c, a, body)
    return h


_TRAIL_ARGS = ("trail_price", "trail_points", "trail_offset", "trail_percent")


def _strategy_exit(cp: Compiler, c: A.Call) -> Val:
    _need_strategy(cp, c)
    a = cp.bind(c, [("id", REQUIRED), ("from_entry", None), ("qty", None), ("qty_percent", None),
                    ("profit", None), ("limit", None), ("loss", None), ("stop", None),
                    ("trail_price", None), ("trail_points", None), ("trail_offset", None),
                    ("oca_name", None), ("comment", None), ("comment_profit", None),
                    ("comment_loss", None), ("comment_trailing", None),
                    ("alert_message", None), ("alert_profit", None), ("alert_loss", None),
                    ("alert_trailing", None), ("disable_alert", None), ("when", None),
                    ("trail_percent", None)])
    trail = [k for k in _TRAIL_ARGS if a[k] is not None and not isinstance(a[k], A.Na)]
    for k in ("trail_offset", "trail_percent"):
        if k in trail and "trail_price" not in trail and "trail_points" not in trail:
            raise cp.err(a[k], f"strategy.exit: {k} needs trail_price or trail_points (the "
                               f"trailing stop's activation level)")
    if "trail_offset" in trail and "trail_percent" in trail:
        raise cp.err(a["trail_percent"], "strategy.exit: give trail_offset (ticks) or "
                                         "trail_percent, not both")
    for k in ("comment_profit", "comment_loss", "comment_trailing"):
        if a[k] is not None:
            raise cp.err(a[k], f"not supported yet: {k} (use comment)")

    def body():
        vals = [cp.arg_val(a["id"], "exit id", ("string",)),
                _opt(cp, a["from_entry"], "from_entry", ("string",)),
                _opt(cp, a["qty"], "qty", NUMERIC), _opt(cp, a["qty_percent"], "qty_percent",
                                                         NUMERIC),
                _opt(cp, a["profit"], "profit", NUMERIC), _opt(cp, a["limit"], "limit", NUMERIC),
                _opt(cp, a["loss"], "loss", NUMERIC), _opt(cp, a["stop"], "stop", NUMERIC),
                _opt(cp, a["comment"], "comment", ("string",))]
        if trail:
            vals += [_opt(cp, a[k], k, NUMERIC) for k in _TRAIL_ARGS]
        if a["oca_name"] is not None:
            cp.expr(a["oca_name"])
        cp.emit("EXIT_TRAIL" if trail else "EXIT", a=_order_block(cp, vals))
    return _with_when(cp, c, a, body)


def _strategy_close(cp: Compiler, c: A.Call) -> Val:
    _need_strategy(cp, c)
    a = cp.bind(c, [("id", REQUIRED), ("comment", None), ("qty", None), ("qty_percent", None),
                    ("alert_message", None), ("immediately", None), ("disable_alert", None),
                    ("when", None)])

    def body():
        vals = [cp.arg_val(a["id"], "order id", ("string",)), _opt(cp, a["qty"], "qty", NUMERIC),
                _opt(cp, a["qty_percent"], "qty_percent", NUMERIC),
                _opt(cp, a["comment"], "comment", ("string",)),
                _opt(cp, a["immediately"], "immediately", ("bool",))]
        cp.emit("CLOSE", a=_order_block(cp, vals))
    return _with_when(cp, c, a, body)


def _strategy_close_all(cp: Compiler, c: A.Call) -> Val:
    _need_strategy(cp, c)
    a = cp.bind(c, [("comment", None), ("alert_message", None), ("immediately", None),
                    ("disable_alert", None), ("when", None)])

    def body():
        vals = [_opt(cp, a["comment"], "comment", ("string",)),
                _opt(cp, a["immediately"], "immediately", ("bool",))]
        cp.emit("CLOSE_ALL", a=_order_block(cp, vals))
    return _with_when(cp, c, a, body)


def _strategy_cancel(cp: Compiler, c: A.Call) -> Val:
    _need_strategy(cp, c)
    a = cp.bind(c, [("id", REQUIRED), ("when", None)])

    def body():
        cp.emit("CANCEL", a=_order_block(cp, [cp.arg_val(a["id"], "order id", ("string",))]))
    return _with_when(cp, c, a, body)


def _strategy_cancel_all(cp: Compiler, c: A.Call) -> Val:
    _need_strategy(cp, c)
    a = cp.bind(c, [("when", None)])

    def body():
        cp.emit("CANCEL_ALL", a=_order_block(cp, [cp.const("na", None)]))
    return _with_when(cp, c, a, body)


def _risk_allow_entry_in(cp: Compiler, c: A.Call) -> Val:
    _need_strategy(cp, c)
    a = cp.bind(c, [("value", REQUIRED)])
    if len(cp.scopes) > 1:
        raise cp.err(c, "not supported: strategy.risk.allow_entry_in inside a block or "
                        "function (call it once at the top level)")
    v = cp.const_arg(a["value"], "strategy.risk.allow_entry_in direction", ("string",))
    if v not in ("all", "long", "short"):
        raise cp.err(a["value"], "strategy.risk.allow_entry_in needs strategy.direction.all, "
                                 ".long or .short")
    cp.config["allow_entry_in"] = v
    return Val(0, "void", CONST)


BUILTINS = {
    "strategy": _declaration("strategy"), "indicator": _declaration("indicator"),
    "study": _declaration("indicator"),
    "ta.sma": _ta_window("SMA"), "ta.ema": _ta_window("EMA"), "ta.rma": _ta_window("RMA"),
    "ta.wma": _ta_window("WMA"), "ta.dev": _ta_window("DEV"),
    "ta.stdev": _ta_stdev("STDEV"), "ta.variance": _ta_stdev("VARIANCE"),
    "ta.highest": _ta_extreme("HIGHEST", "high"), "ta.lowest": _ta_extreme("LOWEST", "low"),
    "ta.crossover": _ta_cross("CROSSOVER"), "ta.crossunder": _ta_cross("CROSSUNDER"),
    "ta.cross": _ta_cross("CROSS"), "ta.tr": _ta_tr, "ta.atr": _ta_atr,
    "ta.change": _ta_change("change"), "ta.mom": _ta_change("mom"),
    "ta.roc": _ta_change("roc"), "ta.rsi": _ta_rsi, "ta.macd": _ta_macd, "ta.bb": _ta_bb,
    "ta.kc": _ta_kc, "ta.stoch": _ta_stoch, "ta.cci": _ta_cci, "ta.vwma": _ta_vwma,
    "ta.cum": _ta_cum, "ta.hma": _ta_hma, "ta.swma": _ta_swma, "ta.wpr": _ta_wpr,
    "ta.dmi": _ta_dmi, "ta.bbw": _ta_bandwidth("bb"), "ta.kcw": _ta_bandwidth("kc"),
    "ta.range": _ta_range, "ta.cmo": _ta_cmo, "ta.mfi": _ta_mfi,
    "ta.highestbars": _ta_extreme("HIGHESTBARS", "high"),
    "ta.lowestbars": _ta_extreme("LOWESTBARS", "low"),
    "ta.rising": _ta_trend(True), "ta.falling": _ta_trend(False), "ta.tsi": _ta_tsi,
    "ta.linreg": _ta_linreg, "ta.correlation": _ta_correlation, "ta.barssince": _ta_barssince, "ta.valuewhen": _ta_valuewhen,
    "ta.pivothigh": _ta_pivot("PIVOTHIGH", "high"), "ta.pivotlow": _ta_pivot("PIVOTLOW", "low"),
    "ta.vwap": _ta_vwap, "ta.supertrend": _ta_supertrend,
    "ta.sar": _ta_sar, "ta.alma": _ta_alma, "ta.cog": _ta_window("COG"),
    "ta.rci": _ta_window("RCI"), "ta.percentrank": _ta_window("PERCENTRANK"),
    "ta.median": _ta_window("MEDIAN"), "ta.mode": _ta_window("MODE"),
    "ta.percentile_linear_interpolation": _ta_percentile("PCTL_LINEAR"),
    "ta.percentile_nearest_rank": _ta_percentile("PCTL_NEAREST"),
    "ta.max": _ta_all_time("MAX_ALL"), "ta.min": _ta_all_time("MIN_ALL"), "fixnan": _fixnan, "na": _na,
    "nz": _nz, "math.abs": _math1("ABS"), "math.floor": _math1("FLOOR", "int"),
    "math.ceil": _math1("CEIL", "int"), "math.sign": _math1("SIGN", "float"),
    "math.sqrt": _math1("SQRT", "float"), "math.exp": _math1("EXP", "float"),
    "math.log": _math1("LOG", "float"), "math.log10": _math1("LOG10", "float"),
    "math.sin": _math1("SIN", "float"), "math.cos": _math1("COS", "float"),
    "math.tan": _math1("TAN", "float"), "math.asin": _math1("ASIN", "float"),
    "math.acos": _math1("ACOS", "float"), "math.atan": _math1("ATAN", "float"),
    "math.todegrees": _math1("TODEG", "float"), "math.toradians": _math1("TORAD", "float"),
    "math.max": _math_minmax("MAX"), "math.min": _math_minmax("MIN"), "math.avg": _math_avg,
    "math.pow": _math_pow, "math.round": _math_round,
    "math.round_to_mintick": _math_round_mintick, "math.sum": _math_sum,
    "int": _cast("int"), "float": _cast("float"), "bool": _cast("bool"),
    "str.tostring": _tostring, "timeframe.in_seconds": _in_seconds, "plot": _plot,
    "timestamp": _timestamp,
    "strategy.entry": _strategy_entry("ENTRY"), "strategy.order": _strategy_entry("ORDER"),
    "strategy.exit": _strategy_exit, "strategy.close": _strategy_close,
    "strategy.close_all": _strategy_close_all, "strategy.cancel": _strategy_cancel,
    "strategy.cancel_all": _strategy_cancel_all,
    "strategy.risk.allow_entry_in": _risk_allow_entry_in,
}
for _name in _INPUT_KINDS:
    BUILTINS[_name] = _input
for _field in _TRADE_FIELDS:
    if _field not in ("exit_price", "exit_bar_index"):
        BUILTINS["strategy.opentrades." + _field] = _trade_field(False, _field)
    BUILTINS["strategy.closedtrades." + _field] = _trade_field(True, _field)
