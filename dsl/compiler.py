"""Checker and code generator: ``dsl.ast.Script`` -> ``dsl.bytecode.Program``
(built-in functions live in ``dsl.builtins``).

One pass resolves names, checks types and qualifiers (pine-subset.md 4-9) and emits
register code for the C VM. Design choices:

- every expression result gets its own slot (slots are never reused), so the history
  operator can be applied to any value by giving its slot a ring buffer;
- user functions are inlined at each call site, which gives every call site its own
  ``ta.*`` and ``var`` state, as Pine requires;
- inputs are resolved at compile time (overrides by title), so expressions of
  constants and inputs fold to constants and ``ta.*`` lengths are known to the VM loader.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from dsl import ast as A
from dsl.bytecode import N_RESERVED, Program
from dsl.errors import DslError, diagnostic
from pyengine._core import lib

CONST, INPUT, SIMPLE, SERIES = 0, 1, 2, 3
NUMERIC = ("int", "float")
_NOVAL = object()
REQUIRED = object()


def _op(name: str) -> int:
    return getattr(lib, "PE_OP_" + name)


def math_code(name: str) -> int:
    return getattr(lib, "PE_M_" + name)


class CompileError(Exception):
    def __init__(self, node, message: str):
        super().__init__(message)
        self.line = getattr(node, "line", 1) or 1
        self.col = getattr(node, "col", 1) or 1


@dataclass
class Val:
    slot: int
    type: str          # int float bool string color na tuple void
    qual: int
    value: object = _NOVAL   # compile-time value when known
    fresh: bool = False      # a temporary nobody else refers to
    items: tuple = ()        # tuple members

    @property
    def is_const(self) -> bool:
        return self.value is not _NOVAL


@dataclass
class Var:
    val: Val
    declared_type: str
    is_var: bool
    mutable: bool
    func_level: int


_SERIES_BUILTINS = {
    "open": ("OPEN", "float"), "high": ("HIGH", "float"), "low": ("LOW", "float"),
    "close": ("CLOSE", "float"), "volume": ("VOLUME", "float"), "time": ("TIME", "int"),
    "time_close": ("TIME_CLOSE", "int"), "bar_index": ("BAR_INDEX", "int"),
    "hl2": ("HL2", "float"), "hlc3": ("HLC3", "float"), "ohlc4": ("OHLC4", "float"),
    "hlcc4": ("HLCC4", "float"), "last_bar_index": ("LAST_BAR_INDEX", "int"),
    "year": ("YEAR", "int"), "month": ("MONTH", "int"), "dayofmonth": ("DAYOFMONTH", "int"),
    "dayofweek": ("DAYOFWEEK", "int"), "hour": ("HOUR", "int"), "minute": ("MINUTE", "int"),
    "second": ("SECOND", "int"), "weekofyear": ("WEEKOFYEAR", "int"),
    "barstate.isfirst": ("ISFIRST", "bool"), "barstate.islast": ("ISLAST", "bool"),
    "strategy.position_size": ("POSITION_SIZE", "float"),
    "strategy.position_avg_price": ("POSITION_AVG_PRICE", "float"),
    "strategy.opentrades": ("OPENTRADES", "int"),
    "strategy.closedtrades": ("CLOSEDTRADES", "int"),
    "strategy.wintrades": ("WINTRADES", "int"), "strategy.losstrades": ("LOSSTRADES", "int"),
    "strategy.eventrades": ("EVENTRADES", "int"), "strategy.equity": ("EQUITY", "float"),
    "strategy.netprofit": ("NETPROFIT", "float"), "strategy.openprofit": ("OPENPROFIT", "float"),
    "strategy.grossprofit": ("GROSSPROFIT", "float"),
    "strategy.grossloss": ("GROSSLOSS", "float"),
    "strategy.initial_capital": ("INITIAL_CAPITAL", "float"),
    "syminfo.mintick": ("MINTICK", "float"), "syminfo.mincontract": ("MINCONTRACT", "float"),
    "syminfo.pointvalue": ("POINTVALUE", "float"),
    "strategy.position_entry_name": ("POSITION_ENTRY_NAME", "string"),
}
_SIMPLE_BUILTINS = {"syminfo.mintick", "syminfo.mincontract", "syminfo.pointvalue",
                    "strategy.initial_capital", "last_bar_index"}

_CONSTS = {
    "strategy.long": ("int", 1), "strategy.short": ("int", -1),
    "strategy.fixed": ("string", "fixed"), "strategy.cash": ("string", "cash"),
    "strategy.percent_of_equity": ("string", "percent_of_equity"),
    "strategy.commission.percent": ("string", "percent"),
    "strategy.commission.cash_per_contract": ("string", "cash_per_contract"),
    "strategy.commission.cash_per_order": ("string", "cash_per_order"),
    "strategy.oca.none": ("int", 0), "strategy.oca.cancel": ("int", 1),
    "strategy.oca.reduce": ("int", 2),
    "strategy.direction.all": ("string", "all"), "strategy.direction.long": ("string", "long"),
    "strategy.direction.short": ("string", "short"),
    "math.pi": ("float", math.pi), "math.e": ("float", math.e),
    "math.phi": ("float", (1 + math.sqrt(5)) / 2), "math.rphi": ("float", (math.sqrt(5) - 1) / 2),
    "barstate.ishistory": ("bool", True), "barstate.isrealtime": ("bool", False),
    "barstate.isconfirmed": ("bool", True), "barstate.isnew": ("bool", True),
    "barstate.islastconfirmedhistory": ("bool", False),
    "syminfo.timezone": ("string", "UTC"),
    "syminfo.currency": ("string", "USDT"),
    "timeframe.isintraday": ("bool", True), "timeframe.isminutes": ("bool", True),
    "timeframe.isdaily": ("bool", False), "timeframe.isweekly": ("bool", False),
    "timeframe.ismonthly": ("bool", False), "timeframe.isseconds": ("bool", False),
    "display.all": ("int", 0), "display.none": ("int", 0), "display.data_window": ("int", 0),
    "display.pane": ("int", 0), "display.status_line": ("int", 0),
    "location.abovebar": ("int", 0), "location.belowbar": ("int", 0),
    "location.top": ("int", 0), "location.bottom": ("int", 0),
    "location.absolute": ("int", 0),
    "size.tiny": ("int", 0), "size.small": ("int", 0), "size.normal": ("int", 0),
    "size.large": ("int", 0), "size.huge": ("int", 0), "size.auto": ("int", 0),
    "format.price": ("string", "price"), "format.volume": ("string", "volume"),
    "format.percent": ("string", "percent"), "format.inherit": ("string", "inherit"),
    "format.mintick": ("string", "mintick"),
    "scale.right": ("int", 0), "scale.left": ("int", 0), "scale.none": ("int", 0),
    "extend.none": ("int", 0), "extend.both": ("int", 0),
    "hline.style_dashed": ("int", 0), "hline.style_solid": ("int", 0),
    "hline.style_dotted": ("int", 0),
    "input.integer": ("string", "int"), "input.float": ("string", "float"),
    "input.bool": ("string", "bool"), "input.string": ("string", "string"),
    "input.source": ("string", "source"), "input.resolution": ("string", "timeframe"),
    "input.session": ("string", "session"),
}
_CONST_PREFIXES = ("color.", "shape.", "plot.style_", "plot.linestyle_", "line.style_",
                   "label.style_", "text.align_", "xloc.", "yloc.", "position.")

_V4_TA = set("sma ema rma wma vwma rsi macd stoch atr tr crossover crossunder cross highest "
             "lowest change stdev cci mom roc valuewhen barssince pivothigh pivotlow sar "
             "supertrend dmi variance dev cum swma hma alma linreg falling rising vwap "
             "bb kc".split())
_V4_MATH = set("abs max min round sqrt pow log exp log10 sign floor ceil avg".split())
_V4_TA_PLAIN_FN = {"sum": "math.sum", "tostring": "str.tostring", "study": "indicator",
                   "security": "request.security", "nz": "nz", "na": "na", "fixnan": "fixnan"}
_DISPLAY_CALLS = {"plotshape", "plotchar", "plotarrow", "plotcandle", "plotbar", "hline",
                  "fill", "bgcolor", "barcolor", "alertcondition", "alert", "log.info",
                  "log.warning", "log.error", "runtime.error"}
_UNSUPPORTED_NS = ("request.", "array.", "matrix.", "map.", "line.", "label.", "box.",
                   "table.", "polyline.", "linefill.", "str.", "ticker.", "chart.",
                   "strategy.risk.", "strategy.opentrades.", "strategy.closedtrades.",
                   "timeframe.change", "ta.", "security")


def _scan_reassigned(stmts, out: set) -> set:
    """Names that some statement reassigns (they cannot be folded to constants)."""
    for s in stmts:
        if isinstance(s, A.Reassign):
            out.add(s.name)
            if isinstance(s.value, (A.If, A.For, A.Switch)):
                _scan_reassigned([s.value], out)
        elif isinstance(s, A.If):
            _scan_reassigned(s.body, out)
            _scan_reassigned(s.orelse, out)
        elif isinstance(s, (A.For, A.While)):
            _scan_reassigned(s.body, out)
        elif isinstance(s, A.Switch):
            for _, body in s.arms:
                _scan_reassigned(body, out)
        elif isinstance(s, A.FuncDef):
            _scan_reassigned(s.body, out)
        elif isinstance(s, A.Decl) and isinstance(s.value, (A.If, A.For, A.Switch)):
            _scan_reassigned([s.value], out)
    return out


_FUSED = {"LT": "JF_LT", "LE": "JF_LE", "GT": "JF_GT", "GE": "JF_GE", "EQ": "JF_EQ",
          "NE": "JF_NE", "AND": "JF_AND", "OR": "JF_OR", "CROSSOVER": "JF_CROSSOVER",
          "CROSSUNDER": "JF_CROSSUNDER", "CROSS": "JF_CROSS"}
_JUMPS = ("JMP", "JF", "JT", "VARJ")


def fuse_branches(code: list, lines: list) -> tuple[list, list]:
    """Peephole: a comparison (or and/or, or a ta.cross*) followed by the JF that tests
    its result becomes one fused instruction, unless something jumps to the JF itself."""
    fused = {_op(k): _op(v) for k, v in _FUSED.items()}
    jumps = {_op(j) for j in _JUMPS}
    jf = _op("JF")
    targets = {ins[3] for ins in code if ins[0] in jumps}
    out, out_lines, remap = [], [], {}
    i = 0
    while i < len(code):
        ins = code[i]
        remap[i] = len(out)
        nxt = code[i + 1] if i + 1 < len(code) else None
        if ins[0] in fused and nxt is not None and nxt[0] == jf and nxt[2] == ins[1] \
                and i + 1 not in targets:
            out.append([fused[ins[0]], ins[1], ins[2], ins[3], nxt[3], 0])
            out_lines.append(lines[i])
            i += 2
            continue
        out.append(list(ins))
        out_lines.append(lines[i])
        i += 1
    remap[len(code)] = len(out)
    fused_ops = set(fused.values())
    for ins in out:
        if ins[0] in jumps:
            ins[3] = remap[ins[3]]
        elif ins[0] in fused_ops:
            ins[4] = remap[ins[4]]
    return out, out_lines


class ValNode(A.Node):
    """An already compiled value used where the compiler expects an AST node."""

    def __init__(self, val: Val):
        super().__init__(0, 0)
        self.val = val


class Compiler:
    def __init__(self, script: A.Script, inputs: dict | None, symbol: str, timeframe: str):
        self.script = script
        self.v = script.version
        self.input_overrides = dict(inputs or {})
        self.used_overrides: set = set()
        self.symbol = symbol
        self.timeframe = timeframe
        self.code: list = []
        self.lines: list = []
        self.init: list = [math.nan] * N_RESERVED
        self.hist: dict = {}      # slot -> [index, depth]
        self.n_var = 0
        self.strings: list = []
        self.str_index: dict = {}
        self.consts: dict = {}
        self.scopes: list = [{}]
        self.funcs: dict = {}
        self.inline_stack: list = []
        self.func_level = 0
        self.loops: list = []
        self.kind: str | None = None
        self.config = {"title": "", "initial_capital": 1_000_000.0, "default_qty_type": "fixed",
                       "default_qty_value": 1.0, "pyramiding": 0, "commission_type": "percent",
                       "commission_value": 0.0, "slippage": 0, "process_orders_on_close": False}
        self.plots: list = []
        self.inputs: list = []
        self.short_lines: list = []
        self.line = 1
        self.errors: list = []
        self.reassigned = _scan_reassigned(script.body, set())

    # ---- emission helpers ----
    def err(self, node, msg: str) -> CompileError:
        return CompileError(node, msg)

    def emit(self, op: str, d=0, a=0, b=0, c=0) -> int:
        self.code.append([_op(op), d, a, b, c, 0])
        self.lines.append(self.line)
        return len(self.code) - 1

    def patch(self, pc: int, target: int) -> None:
        self.code[pc][3] = target

    def here(self) -> int:
        return len(self.code)

    def new_slot(self, init: float = math.nan) -> int:
        self.init.append(init)
        return len(self.init) - 1

    def intern(self, s: str) -> int:
        if s not in self.str_index:
            self.str_index[s] = len(self.strings)
            self.strings.append(s)
        return self.str_index[s]

    def const(self, typ: str, value) -> Val:
        if typ == "string":
            num = float(self.intern(value))
        elif value is None or typ in ("na", "color"):
            num = math.nan
        else:
            num = float(value)
        key = (typ, "nan" if num != num else num)
        if key not in self.consts:
            self.consts[key] = self.new_slot(num)
        return Val(self.consts[key], typ, CONST, value)

    def temp(self, typ: str, qual: int = SERIES) -> Val:
        return Val(self.new_slot(), typ, qual, fresh=True)

    # ---- entry ----
    def compile(self) -> Program:
        body = self.script.body
        for stmt in body:
            if isinstance(stmt, A.FuncDef):
                self.funcs_define(stmt)
                continue
            try:
                self.stmt(stmt)
            except CompileError as exc:
                self.errors.append(diagnostic(self.script.filename, self.script.source,
                                              exc.line, exc.col, str(exc)))
                if isinstance(stmt, A.Decl) and stmt.name not in self.scopes[0]:
                    self.scopes[0][stmt.name] = Var(self.temp("float"), "float", False, True, 0)
            if len(self.errors) >= 20:
                break
        if not self.errors and self.kind is None:
            self.errors.append(diagnostic(self.script.filename, self.script.source, 1, 1,
                                          "missing declaration: the script needs strategy(...) "
                                          "or indicator(...)"))
        for title in self.input_overrides:
            if title not in self.used_overrides and not self.errors:
                known = ", ".join(repr(i["title"]) for i in self.inputs) or "none"
                raise DslError([f"{self.script.filename}: unknown input {title!r} "
                                f"(inputs: {known})"])
        if self.errors:
            raise DslError(self.errors)
        self.emit("HALT")
        self.code, self.lines = fuse_branches(self.code, self.lines)
        hist = [None] * len(self.hist)
        for slot, (idx, depth) in self.hist.items():
            hist[idx] = [slot, depth]
        return Program(code=self.code, lines=self.lines, init=self.init, hist=hist,
                       n_var=self.n_var, strings=self.strings, config=self.config,
                       plots=self.plots, inputs=self.inputs, kind=self.kind,
                       pine_version=self.v, filename=self.script.filename,
                       source_sha256=hashlib.sha256(self.script.source.encode()).hexdigest(),
                       # strategy.risk.allow_entry_in(long): short entries only close longs
                       short_lines=[] if self.config.get("allow_entry_in") == "long"
                       else self.short_lines)

    def funcs_define(self, f: A.FuncDef) -> None:
        if f.name in self.funcs:
            self.errors.append(diagnostic(self.script.filename, self.script.source, f.line,
                                          f.col, f"function '{f.name}' is already defined"))
            return
        self.funcs[f.name] = f

    # ---- scopes ----
    def lookup(self, name: str):
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def declare(self, node, name: str, var: Var) -> None:
        if name in self.scopes[-1]:
            raise self.err(node, f"'{name}' is already declared in this scope "
                                 f"(use ':=' to reassign)")
        self.scopes[-1][name] = var

    # ---- statements ----
    def stmt(self, s) -> None:
        self.line = s.line
        if isinstance(s, A.ExprStmt):
            self.expr(s.expr)
        elif isinstance(s, A.Decl):
            self.decl(s)
        elif isinstance(s, A.Reassign):
            self.reassign(s)
        elif isinstance(s, A.TupleDecl):
            self.tuple_decl(s)
        elif isinstance(s, A.If):
            self.if_stmt(s, None)
        elif isinstance(s, A.For):
            self.for_stmt(s)
        elif isinstance(s, A.While):
            self.while_stmt(s)
        elif isinstance(s, A.Switch):
            self.switch(s, False)
        elif isinstance(s, A.Break) or isinstance(s, A.Continue):
            if not self.loops:
                raise self.err(s, f"'{'break' if isinstance(s, A.Break) else 'continue'}' "
                                  f"outside a loop")
            self.loops[-1]["break" if isinstance(s, A.Break) else "continue"].append(
                self.emit("JMP"))
        elif isinstance(s, A.FuncDef):
            raise self.err(s, "functions must be defined at global scope")
        elif isinstance(s, A.Unsupported):
            raise self.err(s, f"not supported: {s.what}")
        else:
            raise self.err(s, "not supported: this statement")

    def block(self, stmts) -> None:
        self.scopes.append({})
        try:
            for s in stmts:
                self.stmt(s)
        finally:
            self.scopes.pop()

    def block_value(self, stmts, node) -> Val | None:
        """Compile a block whose last statement gives a value (if/function bodies)."""
        self.scopes.append({})
        try:
            for s in stmts[:-1]:
                self.stmt(s)
            last = stmts[-1]
            self.line = last.line
            if isinstance(last, A.ExprStmt):
                return self.expr(last.expr)
            if isinstance(last, A.If):
                return self.if_stmt(last, True)
            if isinstance(last, A.Switch):
                return self.switch(last, True)
            self.stmt(last)
            if isinstance(last, A.Decl):
                return self.lookup(last.name).val
            if isinstance(last, A.Reassign):
                return self.lookup(last.name).val
            return None
        finally:
            self.scopes.pop()

    def check_declared_type(self, node, typ: str | None, val: Val) -> str:
        if typ is None:
            if val.type == "na":
                return "float"
            if val.type in ("void", "tuple"):
                raise self.err(node, "this expression has no value to assign")
            return val.type
        if val.type == "na" or val.type == typ or (typ == "float" and val.type == "int"):
            return typ
        raise self.err(node, f"cannot assign a {val.type} value to a {typ} variable")

    def decl(self, s: A.Decl) -> None:
        if s.name in _SERIES_BUILTINS or s.name in _CONSTS:
            raise self.err(s, f"cannot redeclare the built-in '{s.name}'")
        if s.var:
            slot = self.new_slot()
            vi = self.n_var
            self.n_var += 1
            jump = self.emit("VARJ", a=vi)
            val = self.value_expr(s.value)
            typ = self.check_declared_type(s, s.type, val)
            self.emit("MOV", slot, val.slot)
            self.patch(jump, self.here())
            self.declare(s, s.name, Var(Val(slot, typ, SERIES), typ, True, True,
                                        self.func_level))
            return
        val = self.value_expr(s.value)
        typ = self.check_declared_type(s, s.type, val)
        if val.is_const and s.name not in self.reassigned:
            if typ == "float" and val.type == "int":
                val = self.const("float", val.value)
            self.declare(s, s.name, Var(val, typ, False, False, self.func_level))
            return
        if val.fresh and s.name not in self.reassigned:
            self.declare(s, s.name, Var(Val(val.slot, typ, val.qual), typ, False, False,
                                        self.func_level))
            return
        slot = self.new_slot()
        self.emit("MOV", slot, val.slot)
        qual = SERIES if s.name in self.reassigned else val.qual
        self.declare(s, s.name, Var(Val(slot, typ, qual), typ, False, True, self.func_level))

    def value_expr(self, node) -> Val:
        if isinstance(node, A.If):
            return self.if_stmt(node, True)
        if isinstance(node, A.Switch):
            return self.switch(node, True)
        if isinstance(node, A.For):
            raise self.err(node, "not supported: 'for' used as an expression")
        return self.expr(node)

    def reassign(self, s: A.Reassign) -> None:
        var = self.lookup(s.name)
        if var is None:
            raise self.err(s, f"cannot reassign undeclared variable '{s.name}' "
                              f"(declare it first with '=')")
        if not var.mutable:
            raise self.err(s, f"cannot reassign '{s.name}'")
        if var.func_level < self.func_level and self.func_level > 0:
            raise self.err(s, f"a function cannot reassign the global variable '{s.name}'")
        val = self.value_expr(s.value)
        if s.op != ":=":
            val = self.binary(s, s.op[0], var.val, val)
        if val.type not in ("na",) and not (val.type == var.declared_type or
                                            (var.declared_type == "float" and val.type == "int")):
            raise self.err(s, f"cannot assign a {val.type} value to '{s.name}' "
                              f"(declared {var.declared_type})")
        self.emit("MOV", var.val.slot, val.slot)

    def tuple_decl(self, s: A.TupleDecl) -> None:
        for n in s.names:
            if not isinstance(n, A.Name) or "." in n.id:
                raise self.err(s, "the left side of a tuple declaration must be names")
        val = self.expr(s.value)
        if val.type != "tuple":
            raise self.err(s, "the right side does not return a tuple")
        if len(val.items) != len(s.names):
            raise self.err(s, f"tuple has {len(val.items)} values but "
                              f"{len(s.names)} names are given")
        for n, item in zip(s.names, val.items):
            if n.id == "_":
                continue
            slot = self.new_slot()
            self.emit("MOV", slot, item.slot)
            typ = "float" if item.type == "na" else item.type
            self.declare(n, n.id, Var(Val(slot, typ, item.qual), typ, False, True,
                                      self.func_level))

    def cond_val(self, node) -> Val:
        c = self.expr(node)
        if c.type == "bool" or (self.v < 6 and c.type in NUMERIC + ("na",)):
            return c
        raise self.err(node, f"condition must be bool, not {c.type}"
                       + (" (v6 has no implicit number-to-bool conversion)" if self.v >= 6
                          and c.type in NUMERIC else ""))

    def pure(self, n) -> bool:
        """Whether evaluating n can change nothing but its own temporaries: literals,
        variables and series built-ins combined by operators (no calls, no history)."""
        if isinstance(n, (A.Num, A.Str, A.Bool, A.Na, A.Color)):
            return True
        if isinstance(n, A.Name):
            return self.lookup(n.id) is not None or n.id in _SERIES_BUILTINS or n.id in _CONSTS
        if isinstance(n, A.Unary):
            return self.pure(n.expr)
        if isinstance(n, A.Binary):
            return self.pure(n.left) and self.pure(n.right)
        return False

    def and_jumps(self, node) -> list | None:
        """An if condition `a and b and c` as one false-jump per operand, so the first false
        operand skips the rest: one dispatch instead of a compare, an and and a jump per
        operand. v6 evaluates `and` lazily anyway; for v5's strict `and` only when the
        operands after the first are pure, so skipping them is unobservable. None when
        the condition has no such form or is constant (if_stmt then folds it)."""
        if not (isinstance(node, A.Binary) and node.op == "and"):
            return None
        leaves = []

        def flatten(n):
            if isinstance(n, A.Binary) and n.op == "and":
                flatten(n.left)
                flatten(n.right)
            else:
                leaves.append(n)

        flatten(node)
        if self.v < 6 and not all(self.pure(x) for x in leaves[1:]):
            return None
        start, jumps, const = self.here(), [], True
        for leaf in leaves:
            v = self.expr(leaf)
            self.check_boolish(leaf, v)
            const = const and v.is_const
            jumps.append(self.emit("JF", a=v.slot))
        if const:  # constant operands emit no code: only the jumps to take back
            del self.code[start:], self.lines[start:]
            return None
        return jumps

    def if_stmt(self, s: A.If, want_value) -> Val | None:
        jumps = self.and_jumps(s.cond)
        if jumps is None:
            cond = self.cond_val(s.cond)
            if cond.is_const and not want_value:
                truthy = cond.value not in (None, 0, False) and cond.value == cond.value
                self.block(s.body if truthy else s.orelse)
                return None
            jumps = [self.emit("JF", a=cond.slot)]

        def to_else():
            for jf in jumps:
                self.patch(jf, self.here())

        if not want_value:
            self.block(s.body)
            if s.orelse:
                jend = self.emit("JMP")
                to_else()
                self.block(s.orelse)
                self.patch(jend, self.here())
            else:
                to_else()
            return None
        res = self.temp("na")
        v1 = self.block_value(s.body, s)
        self.emit("MOV", res.slot, v1.slot if v1 else self.const("na", None).slot)
        jend = self.emit("JMP")
        to_else()
        v2 = self.block_value(s.orelse, s) if s.orelse else None
        typ = self.unify(s, v1, v2)
        if v2 is None and typ == "bool" and self.v >= 6:
            v2 = self.const("bool", False)
        self.emit("MOV", res.slot, v2.slot if v2 else self.const("na", None).slot)
        self.patch(jend, self.here())
        res.type = typ
        return res

    def switch(self, s: A.Switch, want_value) -> Val | None:
        """switch as an if/else-if chain; the subject is evaluated once."""
        subject = None
        if s.subject is not None:
            subject = self.expr(s.subject)
            if subject.type in ("tuple", "void"):
                raise self.err(s.subject, "switch needs a value to compare")
        defaults = [body for value, body in s.arms if value is None]
        if len(defaults) > 1:
            raise self.err(s, "switch has more than one default arm")
        orelse = defaults[0] if defaults else []
        for value, body in reversed([arm for arm in s.arms if arm[0] is not None]):
            cond = value if subject is None else \
                A.Binary(value.line, value.col, "==", ValNode(subject), value)
            orelse = [A.If(value.line, value.col, cond, body, orelse)]
        if len(orelse) == 1 and isinstance(orelse[0], A.If):
            return self.if_stmt(orelse[0], want_value)
        if want_value:
            return self.block_value(orelse, s) if orelse else self.const("na", None)
        self.block(orelse)
        return None

    def while_stmt(self, s: A.While) -> None:
        if self.stateful([s.cond] + s.body):
            raise self.err(s, "not supported: ta.*/var/function calls inside a while loop")
        self.scopes.append({})
        try:
            top = self.here()
            cond = self.cond_val(s.cond)
            j_exit = self.emit("JF", a=cond.slot)
            self.loops.append({"break": [], "continue": []})
            self.block(s.body)
            loop = self.loops.pop()
            self.emit("JMP", b=top)
            end = self.here()
            self.patch(j_exit, end)
            for pc in loop["break"]:
                self.patch(pc, end)
            for pc in loop["continue"]:
                self.patch(pc, top)
        finally:
            self.scopes.pop()

    def unify(self, node, a: Val | None, b: Val | None) -> str:
        ta = a.type if a else "na"
        tb = b.type if b else "na"
        if ta == "na":
            return "float" if tb == "na" else tb
        if tb == "na" or ta == tb:
            return ta
        if ta in NUMERIC and tb in NUMERIC:
            return "float"
        raise self.err(node, f"branches have incompatible types {ta} and {tb}")

    def for_stmt(self, s: A.For) -> None:
        if self.stateful(s.body):
            self.unrolled_for(s)
            return
        self.scopes.append({})
        try:
            start = self.num(s.start, "for start")
            i_slot = self.new_slot()
            self.emit("MOV", i_slot, start.slot)
            end = self.num(s.end, "for end")
            end_slot = self.new_slot()
            self.emit("MOV", end_slot, end.slot)
            down = self.new_slot()
            self.emit("GT", down, i_slot, end_slot)
            step = self.num(s.step, "for step") if s.step is not None else self.const("int", 1)
            st = self.new_slot()
            self.emit("MATH1", st, step.slot, c=math_code("ABS"))
            dstep = self.new_slot()
            neg = self.new_slot()
            self.emit("NEG", neg, st)
            self.emit("MOV", dstep, st)
            j = self.emit("JF", a=down)
            self.emit("MOV", dstep, neg)
            self.patch(j, self.here())
            typ = "float" if "float" in (start.type, step.type) else "int"
            self.scopes[-1][s.var] = Var(Val(i_slot, typ, SERIES), typ, False, False,
                                         self.func_level)
            top = self.here()
            if self.v >= 6:
                e2 = self.num(s.end, "for end")
                self.emit("MOV", end_slot, e2.slot)
            ok = self.new_slot()
            j_up = self.emit("JF", a=down)
            self.emit("GE", ok, i_slot, end_slot)
            j_chk = self.emit("JMP")
            self.patch(j_up, self.here())
            self.emit("LE", ok, i_slot, end_slot)
            self.patch(j_chk, self.here())
            j_exit = self.emit("JF", a=ok)
            self.loops.append({"break": [], "continue": []})
            self.block(s.body)
            loop = self.loops.pop()
            cont = self.here()
            self.emit("ADD", i_slot, i_slot, dstep)
            self.emit("JMP", b=top)
            end_pc = self.here()
            self.patch(j_exit, end_pc)
            for pc in loop["break"]:
                self.patch(pc, end_pc)
            for pc in loop["continue"]:
                self.patch(pc, cont)
        finally:
            self.scopes.pop()

    def stateful(self, stmts) -> bool:
        """Whether a block holds ta.* calls, var declarations or user-function calls."""
        found = False

        def visit(n):
            nonlocal found
            if found:
                return
            if isinstance(n, A.Call) and (n.func.startswith("ta.") or n.func in self.funcs
                                          or n.func in ("fixnan", "math.sum") or
                                          (self.v == 4 and n.func in _V4_TA)):
                found = True
            elif isinstance(n, A.Decl) and n.var:
                found = True
            elif isinstance(n, A.Name) and n.id in ("ta.tr", "ta.vwap"):
                found = True
            if isinstance(n, list):
                for x in n:
                    visit(x)
            elif isinstance(n, A.Node):
                for v in vars(n).values():
                    if isinstance(v, (A.Node, list)):
                        visit(v)
                    elif isinstance(v, dict):
                        visit(list(v.values()))

        visit(stmts)
        return found

    def unrolled_for(self, s: A.For) -> None:
        """A loop whose body keeps state: each iteration is its own instance of that state
        (oracle base/series_if_for.csv), so the loop is unrolled over constant bounds."""
        bounds = [self.expr(x) if x is not None else None for x in (s.start, s.end, s.step)]
        if not all(b is None or (b.is_const and b.value is not None) for b in bounds):
            raise self.err(s, "not supported: ta.*/var/function calls inside a for loop "
                              "whose bounds are not constants")
        start, end = bounds[0].value, bounds[1].value
        step = abs(bounds[2].value) if bounds[2] is not None else 1
        if step == 0:
            raise self.err(s, "for loop step must not be 0")
        values, x = [], start
        while (x <= end if start <= end else x >= end) and len(values) <= 1000:
            values.append(x)
            x = x + step if start <= end else x - step
        if len(values) > 1000:
            raise self.err(s, "for loop with stateful calls has more than 1000 iterations")
        typ = "float" if any(isinstance(v, float) and not float(v).is_integer()
                             for v in values) else "int"
        breaks = []
        for v in values:
            self.scopes.append({s.var: Var(self.const(typ, v), typ, False, False,
                                           self.func_level)})
            self.loops.append({"break": [], "continue": []})
            try:
                self.block(s.body)
            finally:
                loop = self.loops.pop()
                self.scopes.pop()
            for pc in loop["continue"]:
                self.patch(pc, self.here())
            breaks += loop["break"]
        for pc in breaks:
            self.patch(pc, self.here())

    # ---- expressions ----
    def num(self, node, what: str) -> Val:
        v = self.expr(node)
        if v.type not in NUMERIC + ("na",):
            raise self.err(node, f"{what} must be a number, not {v.type}")
        return v

    def expr(self, n) -> Val:
        if isinstance(n, ValNode):
            return n.val
        if isinstance(n, A.Num):
            return self.const("float" if n.is_float else "int",
                              n.value if n.is_float else int(n.value))
        if isinstance(n, A.Str):
            return self.const("string", n.value)
        if isinstance(n, A.Bool):
            return self.const("bool", n.value)
        if isinstance(n, A.Na):
            return self.const("na", None)
        if isinstance(n, A.Color):
            return self.const("color", None)
        if isinstance(n, A.Name):
            return self.name(n)
        if isinstance(n, A.Call):
            return self.call(n)
        if isinstance(n, A.Binary):
            if n.op in ("and", "or"):
                return self.logic(n)
            left = self.expr(n.left)
            right = self.expr(n.right)
            return self.binary(n, n.op, left, right)
        if isinstance(n, A.Unary):
            return self.unary(n)
        if isinstance(n, A.Ternary):
            return self.ternary(n)
        if isinstance(n, A.History):
            return self.history(n)
        if isinstance(n, A.Member):
            raise self.err(n, "not supported: field access on a value (user-defined types)")
        if isinstance(n, A.ListLit):
            items = tuple(self.expr(i) for i in n.items)
            for it in items:
                if it.type == "tuple":
                    raise self.err(n, "nested tuples are not supported")
            return Val(0, "tuple", SERIES, items=items)
        if isinstance(n, (A.If, A.For)):
            raise self.err(n, "not supported: if/for in this position")
        raise self.err(n, "not supported: this expression")

    def name(self, n: A.Name) -> Val:
        var = self.lookup(n.id)
        if var is not None:
            return var.val
        if n.id in self.funcs:
            raise self.err(n, f"'{n.id}' is a function; call it with ()")
        if "." in n.id and self.lookup(n.id.split(".")[0]) is not None:
            raise self.err(n, f"not supported: field access on a value ('{n.id}'; "
                              f"user-defined types are LATER)")
        if n.id in _SERIES_BUILTINS:
            slot_name, typ = _SERIES_BUILTINS[n.id]
            qual = SIMPLE if n.id in _SIMPLE_BUILTINS else SERIES
            return Val(getattr(lib, "PE_S_" + slot_name), typ, qual)
        if n.id in _CONSTS:
            typ, value = _CONSTS[n.id]
            return self.const(typ, value)
        if n.id.startswith(_CONST_PREFIXES):
            return self.const("color", None)
        if n.id.startswith("currency."):
            return self.const("string", n.id.split(".", 1)[1])
        if n.id in ("syminfo.ticker", "syminfo.tickerid", "syminfo.root", "syminfo.description"):
            return self.const("string", self.symbol)
        if n.id == "syminfo.basecurrency":
            return self.const("string", self.symbol.removesuffix("USDT"))
        if n.id == "timeframe.period":
            return self.const("string", self.timeframe)
        if n.id == "timeframe.multiplier":
            return self.const("int", int("".join(c for c in self.timeframe if c.isdigit()) or 1))
        if self.v == 4 and n.id in ("tr", "vwap"):  # v4 bare built-in variables
            return self.name(A.Name(n.line, n.col, "ta." + n.id))
        from dsl.builtins import volume_variable
        indicator = volume_variable(self, n)
        if indicator is not None:
            return indicator
        if n.id == "ta.tr":
            return self.emit_ta("TR", a=self.const("bool", False), typ="float")
        if n.id == "ta.vwap":
            return self.emit_ta("VWAP", a=self.name(A.Name(n.line, n.col, "hlc3")), typ="float")
        if n.id.startswith(_UNSUPPORTED_NS):
            raise self.err(n, f"not supported: {n.id}")
        raise self.err(n, f"undeclared identifier '{n.id}'")

    def logic(self, n: A.Binary) -> Val:
        left = self.expr(n.left)
        self.check_boolish(n.left, left)
        if self.v >= 6:
            res = self.temp("bool")
            self.emit("MATH1", res.slot, left.slot, c=math_code("BOOL"))
            j = self.emit("JF" if n.op == "and" else "JT", a=res.slot)
            right = self.expr(n.right)
            self.check_boolish(n.right, right)
            self.emit("MATH1", res.slot, right.slot, c=math_code("BOOL"))
            self.patch(j, self.here())
            return res
        right = self.expr(n.right)
        self.check_boolish(n.right, right)
        if left.is_const and right.is_const:
            lt, rt = self.truthy(left.value), self.truthy(right.value)
            return self.const("bool", (lt and rt) if n.op == "and" else (lt or rt))
        res = self.temp("bool", max(left.qual, right.qual))
        self.emit("AND" if n.op == "and" else "OR", res.slot, left.slot, right.slot)
        return res

    def check_boolish(self, node, v: Val) -> None:
        if v.type == "bool" or (self.v < 6 and v.type in NUMERIC + ("na",)):
            return
        raise self.err(node, f"expected a bool operand, got {v.type}")

    @staticmethod
    def truthy(x) -> bool:
        return x is not None and x == x and bool(x)

    def binary(self, node, op: str, a: Val, b: Val) -> Val:
        if a.type in ("tuple", "void") or b.type in ("tuple", "void"):
            raise self.err(node, f"operator '{op}' needs values, not a {a.type}/{b.type}")
        arith = op in "+-*/%"
        if op == "+" and (a.type == "string" or b.type == "string"):
            if a.type == b.type == "string" and a.is_const and b.is_const:
                return self.const("string", a.value + b.value)
            if a.type == b.type == "string":
                res = self.temp("string", max(a.qual, b.qual))
                self.emit("SCONCAT", res.slot, a.slot, b.slot)
                return res
            raise self.err(node, f"cannot add {a.type} and {b.type}")
        if arith:
            for v in (a, b):
                if v.type not in NUMERIC + ("na",):
                    raise self.err(node, f"operator '{op}' needs numbers, not {v.type}")
            if op == "/":
                typ = "float"
            else:
                typ = "int" if a.type == b.type == "int" else "float"
        else:
            if op in ("<", "<=", ">", ">="):
                for v in (a, b):
                    if v.type not in NUMERIC + ("na",):
                        raise self.err(node, f"cannot compare {v.type} with '{op}'"
                                       + (" (comparisons do not chain)" if v.type == "bool"
                                          else ""))
            elif not (a.type == b.type or "na" in (a.type, b.type) or
                      (a.type in NUMERIC and b.type in NUMERIC)):
                raise self.err(node, f"cannot compare {a.type} with {b.type}")
            typ = "bool"
        qual = max(a.qual, b.qual)
        if a.is_const and b.is_const:
            value, typ = self.fold(op, a, b, typ)
            return self.const(typ, value) if value is not None or typ != "na" else \
                self.const("na", None)
        opname = {"+": "ADD", "-": "SUB", "*": "MUL", "/": "DIV", "%": "MOD", "<": "LT",
                  "<=": "LE", ">": "GT", ">=": "GE", "==": "EQ", "!=": "NE"}[op]
        res = self.temp(typ, qual)
        self.emit(opname, res.slot, a.slot, b.slot)
        return res

    def fold(self, op: str, a: Val, b: Val, typ: str):
        x, y = a.value, b.value
        if x is None or y is None or (isinstance(x, float) and x != x) or \
                (isinstance(y, float) and y != y):
            return (None, "na") if op in "+-*/%" else (False, "bool")
        if a.type == "string" or b.type == "string":
            return {"==": x == y, "!=": x != y}[op], "bool"
        x, y = float(x), float(y)
        if op in "/%" and y == 0:
            return None, "na"
        if op == "/":
            if self.v < 6 and a.type == b.type == "int":
                return int(x / y), "int"
            return x / y, "float"
        r = {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y,
             "%": lambda: math.fmod(x, y), "<": lambda: x < y, "<=": lambda: x <= y,
             ">": lambda: x > y, ">=": lambda: x >= y, "==": lambda: x == y,
             "!=": lambda: x != y}[op]()
        if typ == "int":
            r = int(r)
        return r, typ

    def unary(self, n: A.Unary) -> Val:
        v = self.expr(n.expr)
        if n.op == "not":
            self.check_boolish(n.expr, v)
            if v.is_const:
                return self.const("bool", not self.truthy(v.value))
            res = self.temp("bool", v.qual)
            self.emit("NOT", res.slot, v.slot)
            return res
        if v.type not in NUMERIC + ("na",):
            raise self.err(n, f"unary '{n.op}' needs a number, not {v.type}")
        if n.op == "+":
            return v
        if v.is_const:
            return self.const(v.type, None if v.value is None else -v.value)
        res = self.temp(v.type, v.qual)
        self.emit("NEG", res.slot, v.slot)
        return res

    def ternary(self, n: A.Ternary) -> Val:
        cond = self.cond_val(n.cond)
        if cond.is_const:
            return self.expr(n.then if self.truthy(cond.value) else n.orelse)
        res = self.temp("na")
        jf = self.emit("JF", a=cond.slot)
        a = self.expr(n.then)
        self.emit("MOV", res.slot, a.slot)
        jend = self.emit("JMP")
        self.patch(jf, self.here())
        b = self.expr(n.orelse)
        self.emit("MOV", res.slot, b.slot)
        self.patch(jend, self.here())
        res.type = self.unify(n, a, b)
        return res

    def hist_index(self, slot: int, depth: int) -> int:
        if slot not in self.hist:
            self.hist[slot] = [len(self.hist), depth]
        else:
            self.hist[slot][1] = max(self.hist[slot][1], depth)
        return self.hist[slot][0]

    def history(self, n: A.History) -> Val:
        v = self.expr(n.expr)
        if v.type in ("tuple", "void"):
            raise self.err(n, "the history operator [] needs a series value")
        off = self.expr(n.offset)
        if off.type not in ("int", "float"):
            raise self.err(n.offset, f"history offset must be an int, not {off.type}")
        if v.is_const:
            return v
        if off.is_const:
            if off.value is None or off.value != off.value or off.value < 0:
                raise self.err(n.offset, "history offset must be a non-negative int")
            k = int(off.value)
            if k == 0:
                return v
            if k > 10_000_000:
                raise self.err(n.offset, "history offset too large")
            off = self.const("int", k)
            depth = k
        else:
            depth = 5000
        res = self.temp("bool" if v.type == "bool" else v.type)
        if v.type == "bool" and self.v >= 6:
            tmp = self.temp("float")
            self.emit("HIST", tmp.slot, v.slot, off.slot, self.hist_index(v.slot, depth))
            self.emit("NZ", res.slot, tmp.slot, self.const("bool", False).slot)
            return res
        self.emit("HIST", res.slot, v.slot, off.slot, self.hist_index(v.slot, depth))
        return res

    # ---- calls ----
    def bind(self, call: A.Call, params: list, name: str | None = None) -> dict:
        """params: [(name, default)]; returns name -> AST node (or default)."""
        name = name or call.func
        names = [p for p, _ in params]
        if len(call.args) > len(params):
            raise self.err(call, f"{name}() takes at most {len(params)} arguments, "
                                 f"got {len(call.args)}")
        out = {}
        for (p, _), arg in zip(params, call.args):
            out[p] = arg
        for k, arg in call.kwargs.items():
            if k not in names:
                raise self.err(arg, f"{name}() has no argument '{k}'")
            if k in out:
                raise self.err(arg, f"{name}() got argument '{k}' twice")
            out[k] = arg
        for p, default in params:
            if p not in out:
                if default is REQUIRED:
                    raise self.err(call, f"{name}() is missing the argument '{p}'")
                out[p] = default
        return out

    def call(self, c: A.Call) -> Val:
        fname = c.func
        if fname in self.funcs and self.lookup(fname) is None:
            return self.inline(self.funcs[fname], c)
        if self.v == 4 and self.lookup(fname) is None:
            if fname in _V4_TA:
                fname = "ta." + fname
            elif fname in _V4_MATH:
                fname = "math." + fname
            elif fname in _V4_TA_PLAIN_FN:
                fname = _V4_TA_PLAIN_FN[fname]
            elif fname == "iff":
                a = self.bind(c, [("condition", REQUIRED), ("then", REQUIRED), ("_else", REQUIRED)], "iff")
                return self.ternary(A.Ternary(c.line, c.col, a["condition"], a["then"],
                                              a["_else"]))
        c = A.Call(c.line, c.col, fname, c.args, c.kwargs)
        from dsl.builtins import BUILTINS, plot_id
        handler = BUILTINS.get(fname)
        if handler is not None:
            return handler(self, c)
        if fname in _DISPLAY_CALLS or fname.startswith(("color.", "plot")):
            for arg in list(c.args) + list(c.kwargs.values()):
                self.expr(arg)
            if fname.startswith("color."):
                return self.const("color", None)
            return plot_id(self) if fname == "hline" else Val(0, "void", CONST)
        if fname.startswith("strategy.risk."):
            raise self.err(c, f"not supported yet: {fname} (LATER in the Pine subset)")
        if fname == "library":
            raise self.err(c, "not supported: library scripts")
        if fname.startswith(_UNSUPPORTED_NS) or fname in ("max_bars_back",):
            raise self.err(c, f"not supported: {fname}")
        raise self.err(c, f"unknown function '{fname}'")

    def inline(self, f: A.FuncDef, c: A.Call) -> Val:
        if f.name in self.inline_stack:
            raise self.err(c, f"recursive call of '{f.name}' (recursion is not allowed)")
        if len(self.inline_stack) > 50:
            raise self.err(c, "function calls nested too deeply")
        args = self.bind(c, [(p.name, p.default if p.default is not None else REQUIRED)
                             for p in f.params], f.name)
        scope = {}
        for p in f.params:
            v = self.expr(args[p.name])
            if p.type:
                typ = self.check_declared_type(c, p.type, v)
                if typ == "float" and v.type == "int" and v.is_const:
                    v = self.const("float", v.value)
                elif typ != v.type and v.type != "na":
                    v = Val(v.slot, typ, v.qual, v.value)
            if p.qual == "simple" and v.qual == SERIES:
                raise self.err(args[p.name], f"argument '{p.name}' of {f.name}() must be "
                                             f"simple, not series")
            scope[p.name] = Var(v, v.type if v.type != "na" else "float", False, False,
                                self.func_level + 1)
        saved_scopes, saved_loops, saved_line = self.scopes, self.loops, self.line
        saved_reassigned = self.reassigned
        self.scopes = [self.scopes[0], scope]
        self.loops = []
        self.func_level += 1
        self.inline_stack.append(f.name)
        self.reassigned = _scan_reassigned(f.body, set(saved_reassigned))
        try:
            result = self.block_value(f.body, f)
        finally:
            self.scopes, self.loops, self.line = saved_scopes, saved_loops, saved_line
            self.func_level -= 1
            self.inline_stack.pop()
            self.reassigned = saved_reassigned
        return result if result is not None else Val(0, "void", CONST)

    # helpers used by builtin handlers
    def arg_val(self, node, what: str, types=NUMERIC + ("na",)) -> Val:
        v = self.expr(node) if isinstance(node, A.Node) else node
        if v.type not in types:
            raise self.err(node if isinstance(node, A.Node) else None,
                           f"{what} must be {'/'.join(t for t in types if t != 'na')}, "
                           f"not {v.type}")
        return v

    def const_arg(self, node, what: str, types=None):
        v = self.expr(node)
        if not v.is_const:
            raise self.err(node, f"{what} must be a constant")
        if types and v.type not in types and v.type != "na":
            raise self.err(node, f"{what} must be {'/'.join(types)}, not {v.type}")
        return v.value

    def length_arg(self, node, fname: str, what: str = "length", min_value: int = 1) -> Val:
        v = self.expr(node)
        if v.type not in NUMERIC:
            raise self.err(node, f"{fname}: {what} must be an int, not {v.type}")
        if not v.is_const:
            raise self.err(node, f"{fname}: {what} must be a simple int known before the "
                                 f"first bar (series lengths are not supported yet)")
        if v.value is None or v.value != v.value or int(v.value) < min_value:
            raise self.err(node, f"{fname}: {what} must be >= {min_value}, got {v.value}")
        return self.const("int", int(v.value))

    def emit_ta(self, op: str, d=None, a=None, b=None, c=None, typ="float") -> Val:
        res = self.temp(typ)
        self.emit(op, res.slot if d is None else d, a.slot if a else 0, b.slot if b else 0,
                  c.slot if c else 0)
        return res


def compile_script(script: A.Script, inputs: dict | None = None, symbol: str = "SYMBOL",
                   timeframe: str = "1") -> Program:
    try:
        return Compiler(script, inputs, symbol, timeframe).compile()
    except RecursionError:
        raise DslError([f"{script.filename}:1:1: expression nested too deeply"]) from None
