"""TA-Lib functions written in the Pine subset with TA-Lib's exact seeding and warm-up.

Every builder gets the emitter (to declare helper variables), the translated source series
and the call's parameters, and returns ``{output name: Series}``. A series carries ``lead``:
how many leading bars are NaN. TA-Lib skips leading NaNs of its input and then needs
``lookback`` more bars, so an output's lead is ``input lead + lookback``. Outputs whose
Pine formula would produce a value earlier than TA-Lib does are masked with
``bar_index >= lead ? x : na`` so that the two agree on every bar, warm-up included.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Series:
    code: str          # a Pine expression (a variable name once materialised)
    lead: int          # leading bars that are na
    kind: str = "float"  # "float" or "bool"


class Emitter:
    """Collects ``name = expr`` definitions, in order, with fresh helper names."""

    def __init__(self) -> None:
        self.defs: list[tuple[str, str]] = []
        self._n = 0

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"ft_{hint}_{self._n}"

    def define(self, name: str, code: str) -> str:
        self.defs.append((name, code))
        return name

    def tmp(self, hint: str, code: str) -> str:
        return self.define(self.fresh(hint), code)

    def var(self, s: Series, hint: str = "v") -> Series:
        """``s`` as a plain variable (history ``[n]`` is only taken of variables)."""
        if _is_name(s.code):
            return s
        return Series(self.tmp(hint, s.code), s.lead, s.kind)

    def mask(self, s: Series, lead: int, hint: str) -> Series:
        if lead <= 0:
            return Series(self.tmp(hint, s.code), lead)
        return Series(self.tmp(hint, f"bar_index >= {lead} ? {s.code} : na"), lead)


def talib_sma(e: Emitter, src: str, n: int | str) -> str:
    """TA-Lib's SMA operation for operation: a running total that adds the new value, divides,
    then drops the oldest, so that equal averages (a flat market) compare exactly as in TA-Lib."""
    tot, cnt, out = e.fresh("tot"), e.fresh("cnt"), e.fresh("sma")
    block = f"""
var float {tot} = 0.0
var int {cnt} = 0
if not na({src})
    {cnt} += 1
    {tot} += {src}
{out} = {cnt} >= {n} and not na({src}) ? {tot} / {n} : na
if {cnt} >= {n} and not na({src})
    {tot} -= {src}[{n} - 1]"""
    e.define(out, block)
    return out


def _is_name(code: str) -> bool:
    return code.replace("_", "a").isalnum() and not code[0].isdigit()


def _num(x: float) -> str:
    text = repr(float(x))
    return text


# Each entry: (default params, price inputs, outputs, builder)
Builder = Callable[[Emitter, dict[str, Series], dict[str, float]], dict[str, Series]]


def _ma(fn: str) -> Builder:
    def build(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
        s = src["real"]
        n = p["timeperiod"] if isinstance(p["timeperiod"], str) else int(p["timeperiod"])
        lead = s.lead + n - 1 if isinstance(n, int) else s.lead
        if fn == "sma":
            return {"real": Series(talib_sma(e, e.var(s, "src").code, n), lead)}
        return {"real": Series(e.tmp(fn, f"ta.{fn}({s.code}, {n})"), lead)}
    return build


def _dema(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    s, n = src["real"], int(p["timeperiod"])
    e1 = e.tmp("ema", f"ta.ema({s.code}, {n})")
    e2 = e.tmp("ema", f"ta.ema({e1}, {n})")
    return {"real": Series(e.tmp("dema", f"(2.0 * {e1}) - {e2}"), s.lead + 2 * (n - 1))}


def _tema(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    s, n = src["real"], int(p["timeperiod"])
    e1 = e.tmp("ema", f"ta.ema({s.code}, {n})")
    e2 = e.tmp("ema", f"ta.ema({e1}, {n})")
    e3 = e.tmp("ema", f"ta.ema({e2}, {n})")
    # TA-Lib's summation order: t + 3*e1 - 3*e2
    return {"real": Series(e.tmp("tema", f"{e3} + (3.0 * {e1}) - (3.0 * {e2})"), s.lead + 3 * (n - 1))}


def _rsi(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    """TA-Lib 0.8's RSI operation for operation (Wilder averages updated as
    ``(avg*(n-1) + x) * (1/n)``, the ``100*g/(g+l)`` form and its zero test), so that ties such as
    ``rsi > rsi.shift(1)`` on a flat candle come out exactly as in TA-Lib, not just within rounding."""
    s = e.var(src["real"], "src")
    n = p["timeperiod"] if isinstance(p["timeperiod"], str) else int(p["timeperiod"])
    d, g, l, k, t, out = (e.fresh(x) for x in ("d", "gain", "loss", "k", "t", "rsi"))
    block = f"""
{d} = {s.code} - {s.code}[1]
var float {g} = 0.0
var float {l} = 0.0
var int {k} = 0
if not na({d})
    {k} += 1
    if {k} > {n}
        {l} *= ({n} - 1)
        {g} *= ({n} - 1)
    if {d} < 0
        {l} -= {d}
    else
        {g} += {d}
    if {k} == {n}
        {l} /= {n}
        {g} /= {n}
    else if {k} > {n}
        {l} *= (1.0 / {n})
        {g} *= (1.0 / {n})
{t} = {g} + {l}
{out} = {k} >= {n} ? ({t} > -0.00000001 and {t} < 0.00000001 ? 0.0 : 100.0 * ({g} / {t})) : na"""
    e.define(out, block)
    lead = s.lead + n if isinstance(n, int) else s.lead
    return {"real": Series(out, lead)}


def _macd(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    s = src["real"]
    fast, slow, sig = int(p["fastperiod"]), int(p["slowperiod"]), int(p["signalperiod"])
    if slow < fast:
        fast, slow = slow, fast
    # TA-Lib seeds the fast EMA on the window that ends where the slow EMA starts.
    start = s.lead + slow - fast
    gated = e.tmp("src", f"bar_index >= {start} ? {s.code} : na") if start > s.lead else s.code
    f = e.tmp("ema", f"ta.ema({gated}, {fast})")
    sl = e.tmp("ema", f"ta.ema({s.code}, {slow})")
    m = e.tmp("macd", f"{f} - {sl}")
    sg = e.tmp("ema", f"ta.ema({m}, {sig})")
    lead = s.lead + slow - 1 + sig - 1
    return {
        "macd": e.mask(Series(m, lead), lead, "macd"),
        "macdsignal": e.mask(Series(sg, lead), lead, "macdsignal"),
        "macdhist": e.mask(Series(f"{m} - {sg}", lead), lead, "macdhist"),
    }


def _bbands(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    s, n = src["real"], int(p["timeperiod"])
    if int(p.get("matype", 0)) != 0:
        raise ValueError("BBANDS with matype other than 0 (SMA)")
    up, dn = float(p["nbdevup"]), float(p["nbdevdn"])
    lead = s.lead + n - 1
    mid = talib_sma(e, e.var(s, "src").code, n)
    sd = e.tmp("bbsd", f"ta.stdev({s.code}, {n})")
    return {
        "upperband": Series(e.tmp("bbup", f"{mid} + ({sd} * {_num(up)})"), lead),
        "middleband": Series(mid, lead),
        "lowerband": Series(e.tmp("bblo", f"{mid} - ({sd} * {_num(dn)})"), lead),
    }


def _stddev(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    s, n, k = src["real"], int(p["timeperiod"]), float(p["nbdev"])
    code = f"ta.stdev({s.code}, {n})" + ("" if k == 1.0 else f" * {_num(k)}")
    return {"real": Series(e.tmp("stddev", code), s.lead + n - 1)}


def _trange(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    return {"real": Series(e.tmp("tr", "ta.tr(false)"), 1)}


def _atr(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    n = int(p["timeperiod"])
    return {"real": Series(e.tmp("atr", f"ta.rma(ta.tr(false), {n})"), n)}


def _fastk(e: Emitter, n: int) -> str:
    ll = e.tmp("ll", f"ta.lowest(low, {n})")
    hh = e.tmp("hh", f"ta.highest(high, {n})")
    d = e.tmp("rng", f"{hh} - {ll}")
    # TA-Lib 0.8 writes 100*((c-ll)/range), and 0 for a zero range; the mask keeps the warm-up na.
    return e.tmp("fastk", f"bar_index >= {n - 1} ? ({d} != 0 ? 100.0 * ((close - {ll}) / {d}) : 0.0) : na")


def _stochf(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    k, d = int(p["fastk_period"]), int(p["fastd_period"])
    if int(p.get("fastd_matype", 0)) != 0:
        raise ValueError("STOCHF with fastd_matype other than 0 (SMA)")
    fk = _fastk(e, k)
    fd = talib_sma(e, fk, d)
    lead = k - 1 + d - 1
    return {"fastk": e.mask(Series(fk, lead), lead, "fastk"), "fastd": Series(fd, lead)}


def _stoch(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    k, sk, sd = int(p["fastk_period"]), int(p["slowk_period"]), int(p["slowd_period"])
    if int(p.get("slowk_matype", 0)) != 0 or int(p.get("slowd_matype", 0)) != 0:
        raise ValueError("STOCH with a matype other than 0 (SMA)")
    fk = _fastk(e, k)
    slk = talib_sma(e, fk, sk)
    sld = talib_sma(e, slk, sd)
    lead = k - 1 + sk - 1 + sd - 1
    return {"slowk": e.mask(Series(slk, lead), lead, "slowk"), "slowd": Series(sld, lead)}


def _cci(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    n = int(p["timeperiod"])
    tp = e.tmp("tp", "(high + low + close) / 3.0")
    m = e.tmp("ccim", f"ta.sma({tp}, {n})")
    dv = e.tmp("ccid", f"ta.dev({tp}, {n})")
    x = e.tmp("ccix", f"{tp} - {m}")
    code = f"bar_index >= {n - 1} ? ({x} != 0 and {dv} != 0 ? {x} / (0.015 * {dv}) : 0.0) : na"
    return {"real": Series(e.tmp("cci", code), n - 1)}


def _mom(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    s, n = e.var(src["real"], "src"), int(p["timeperiod"])
    return {"real": Series(e.tmp("mom", f"{s.code} - {s.code}[{n}]"), s.lead + n)}


def _roc(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    s, n = e.var(src["real"], "src"), int(p["timeperiod"])
    lead = s.lead + n
    code = f"bar_index >= {lead} ? ({s.code}[{n}] != 0 ? (({s.code} / {s.code}[{n}]) - 1.0) * 100.0 : 0.0) : na"
    return {"real": Series(e.tmp("roc", code), lead)}


def _window(fn: str) -> Builder:
    def build(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
        s, n = src["real"], int(p["timeperiod"])
        lead = s.lead + n - 1
        out = Series(e.tmp(fn.split(".")[-1], f"{fn}({s.code}, {n})"), lead)
        return {"real": e.mask(out, lead, fn.split(".")[-1]) if s.lead else out}
    return build


def _willr(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    n = int(p["timeperiod"])
    hh = e.tmp("hh", f"ta.highest(high, {n})")
    ll = e.tmp("ll", f"ta.lowest(low, {n})")
    d = e.tmp("rng", f"{hh} - {ll}")
    code = f"bar_index >= {n - 1} ? ({d} != 0 ? -100.0 * (({hh} - close) / {d}) : 0.0) : na"
    return {"real": Series(e.tmp("willr", code), n - 1)}


def _adx(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    """TA-Lib's ADX transcribed: Wilder sums of +DM/-DM/TR over n-1 bars, then
    ``s -= s/n; s += x``, DX summed over n bars for the first ADX, then ``(adx*(n-1) + dx)/n``."""
    n = int(p["timeperiod"])
    k, pdm, mdm, tr, sdx, adx, dp, dm, t, dx, mdi, pdi, sdi = (e.fresh(x) for x in (
        "k", "pdm", "mdm", "tr", "sdx", "adx", "dp", "dm", "t", "dx", "mdi", "pdi", "sdi"))
    zero = "> -0.00000000000001 and {0} < 0.00000000000001"
    block = f"""
var int {k} = 0
var float {pdm} = 0.0
var float {mdm} = 0.0
var float {tr} = 0.0
var float {sdx} = 0.0
var float {adx} = na
if bar_index > 0
    {k} += 1
    {dp} = high - high[1]
    {dm} = low[1] - low
    {t} = math.max(high - low, math.max(math.abs(high - close[1]), math.abs(low - close[1])))
    if {k} >= {n}
        {mdm} -= {mdm} / {n}
        {pdm} -= {pdm} / {n}
    if {dm} > 0 and {dp} < {dm}
        {mdm} += {dm}
    else if {dp} > 0 and {dp} > {dm}
        {pdm} += {dp}
    if {k} < {n}
        {tr} += {t}
    else
        {tr} := {tr} - {tr} / {n} + {t}
        float {dx} = na
        if not ({tr} {zero.format(tr)})
            {mdi} = 100.0 * ({mdm} / {tr})
            {pdi} = 100.0 * ({pdm} / {tr})
            {sdi} = {mdi} + {pdi}
            if not ({sdi} {zero.format(sdi)})
                {dx} := 100.0 * (math.abs({mdi} - {pdi}) / {sdi})
        if {k} < 2 * {n}
            if not na({dx})
                {sdx} += {dx}
            if {k} == 2 * {n} - 1
                {adx} := {sdx} / {n}
        else if not na({dx})
            {adx} := (({adx} * ({n} - 1)) + {dx}) / {n}"""
    e.define(adx, block)
    return {"real": Series(adx, 2 * n - 1)}


def _mfi(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
    """TA-Lib's MFI: typical-price money flow split by the sign of the typical-price change,
    summed over n changes; 0 when the total flow is below 1. The sums are running sums, so the
    value agrees with TA-Lib to rounding (not bit for bit)."""
    n = int(p["timeperiod"])
    tp = e.tmp("tp", "(high + low + close) / 3.0")
    d = e.tmp("dtp", f"{tp} - {tp}[1]")
    mf = e.tmp("mf", f"{tp} * volume")
    # TA-Lib 0.8 treats a change within 1e-14 of the two typical prices as no change
    flat = e.tmp("flat", f"math.abs({d}) <= 0.00000000000001 * (math.abs({tp}) + math.abs({tp}[1]))")
    ps = e.tmp("pmf", f"math.sum(not {flat} and {d} > 0 ? {mf} : 0.0, {n})")
    ns = e.tmp("nmf", f"math.sum(not {flat} and {d} < 0 ? {mf} : 0.0, {n})")
    tot = e.tmp("tmf", f"{ps} + {ns}")
    return {"real": Series(e.tmp("mfi", f"bar_index >= {n} ? ({tot} < 1.0 ? 0.0 : 100.0 * ({ps} / {tot})) : na"), n)}


def _di(plus: bool) -> Builder:
    """TA-Lib's PLUS_DI / MINUS_DI: the same Wilder sums as ADX, ``100 * dm / tr`` from bar n."""
    def build(e: Emitter, src: dict[str, Series], p: dict[str, float]) -> dict[str, Series]:
        n = int(p["timeperiod"])
        k, dmsum, tr, dp, dm, t, out = (e.fresh(x) for x in ("k", "dms", "tr", "dp", "dm", "t", "di"))
        take = f"{dp} > 0 and {dp} > {dm}" if plus else f"{dm} > 0 and {dp} < {dm}"
        move = dp if plus else dm
        block = f"""
var int {k} = 0
var float {dmsum} = 0.0
var float {tr} = 0.0
float {out} = na
if bar_index > 0
    {k} += 1
    {dp} = high - high[1]
    {dm} = low[1] - low
    {t} = math.max(high - low, math.max(math.abs(high - close[1]), math.abs(low - close[1])))
    if {k} >= {n}
        {dmsum} -= {dmsum} / {n}
    if {take}
        {dmsum} += {move}
    if {k} < {n}
        {tr} += {t}
    else
        {tr} := {tr} - {tr} / {n} + {t}
        {out} := {tr} > -0.00000000000001 and {tr} < 0.00000000000001 ? 0.0 : 100.0 * ({dmsum} / {tr})"""
        e.define(out, block)
        return {"real": Series(out, n)}
    return build


# name: (defaults, price inputs (abstract API order), outputs, builder)
FUNCTIONS: dict[str, tuple[dict[str, float], tuple[str, ...], tuple[str, ...], Builder]] = {
    "SMA": ({"timeperiod": 30}, ("real",), ("real",), _ma("sma")),
    "EMA": ({"timeperiod": 30}, ("real",), ("real",), _ma("ema")),
    "WMA": ({"timeperiod": 30}, ("real",), ("real",), _ma("wma")),
    "DEMA": ({"timeperiod": 30}, ("real",), ("real",), _dema),
    "TEMA": ({"timeperiod": 30}, ("real",), ("real",), _tema),
    "RSI": ({"timeperiod": 14}, ("real",), ("real",), _rsi),
    "MACD": ({"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}, ("real",),
             ("macd", "macdsignal", "macdhist"), _macd),
    "BBANDS": ({"timeperiod": 5, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 0}, ("real",),
               ("upperband", "middleband", "lowerband"), _bbands),
    "STDDEV": ({"timeperiod": 5, "nbdev": 1.0}, ("real",), ("real",), _stddev),
    "TRANGE": ({}, ("high", "low", "close"), ("real",), _trange),
    "ATR": ({"timeperiod": 14}, ("high", "low", "close"), ("real",), _atr),
    "STOCHF": ({"fastk_period": 5, "fastd_period": 3, "fastd_matype": 0}, ("high", "low", "close"),
               ("fastk", "fastd"), _stochf),
    "STOCH": ({"fastk_period": 5, "slowk_period": 3, "slowk_matype": 0, "slowd_period": 3,
               "slowd_matype": 0}, ("high", "low", "close"), ("slowk", "slowd"), _stoch),
    "CCI": ({"timeperiod": 14}, ("high", "low", "close"), ("real",), _cci),
    "WILLR": ({"timeperiod": 14}, ("high", "low", "close"), ("real",), _willr),
    "ADX": ({"timeperiod": 14}, ("high", "low", "close"), ("real",), _adx),
    "MFI": ({"timeperiod": 14}, ("high", "low", "close", "volume"), ("real",), _mfi),
    "PLUS_DI": ({"timeperiod": 14}, ("high", "low", "close"), ("real",), _di(True)),
    "MINUS_DI": ({"timeperiod": 14}, ("high", "low", "close"), ("real",), _di(False)),
    "MOM": ({"timeperiod": 10}, ("real",), ("real",), _mom),
    "ROC": ({"timeperiod": 10}, ("real",), ("real",), _roc),
    "MAX": ({"timeperiod": 30}, ("real",), ("real",), _window("ta.highest")),
    "MIN": ({"timeperiod": 30}, ("real",), ("real",), _window("ta.lowest")),
    "SUM": ({"timeperiod": 30}, ("real",), ("real",), _window("math.sum")),
}

# Functions whose price inputs are fixed OHLC columns (their source cannot be chosen).
FIXED_PRICES = {name for name, spec in FUNCTIONS.items() if spec[1] != ("real",)}
