"""Freqtrade ``IStrategy`` (interface 3) -> Pine subset, by reading the source with ``ast``.

The strategy is never imported or executed. Indicators, signals, parameters and the risk
settings are translated one construct at a time; anything without an exact translation is an
:class:`ExportError` naming file:line:col. Columns that no signal uses are dropped, so an
unsupported indicator only fails the export when a signal depends on it.

The emitted script reproduces Freqtrade's backtesting rules with ``strategy.*`` calls (see
``risk_rules.py`` for the order logic and the documented residual differences).

TA-Lib functions are written so that they give TA-Lib 0.8's values (``talib_map.py``), most of
them bit for bit. One pandas corner has no Pine equivalent: a division by zero is +-inf in pandas
and na in Pine, so a condition on such a ratio (``x / 0 > 1``) is true in pandas and false here.
It only happens on a zero denominator (a flat Bollinger band, a zero-volume window).
"""
from __future__ import annotations

import ast
import json
import operator
import pathlib
import re
from dataclasses import dataclass, field
from typing import Any

from dsl.freqtrade import risk_rules
from dsl.freqtrade.errors import ExportError
from dsl.freqtrade.talib_map import FIXED_PRICES, FUNCTIONS, Emitter, Series

BASE_COLUMNS = {"open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume"}
PINE_RESERVED = set(
    "and or not if else for to by in while break continue switch var varip true false na import "
    "export method type enum int float bool string color line label box table array matrix map "
    "open high low close volume time time_close bar_index last_bar_index hl2 hlc3 ohlc4 hlcc4 "
    "year month dayofmonth dayofweek hour minute second weekofyear strategy ta math input syminfo "
    "timeframe barstate plot plotshape hline fill bgcolor str nz fixnan".split())
SIGNALS = ("enter_long", "exit_long")
SHORT_SIGNALS = ("enter_short", "exit_short")
PARAM_TYPES = {"IntParameter": "int", "DecimalParameter": "float", "RealParameter": "float",
               "BooleanParameter": "bool", "CategoricalParameter": "cat"}
# Callbacks that change prices, exits or entries in ways the Pine script cannot know.
FORBIDDEN_METHODS = {
    "custom_exit": "custom_exit runs arbitrary Python per candle",
    "custom_entry_price": "custom entry prices",
    "custom_exit_price": "custom exit prices",
    "confirm_trade_entry": "confirm_trade_entry can veto entries",
    "confirm_trade_exit": "confirm_trade_exit can veto exits",
    "order_filled": "order_filled callbacks",
}
CONDITIONAL_METHODS = {  # method -> the attribute that switches it on
    "custom_stoploss": "use_custom_stoploss",
    "custom_roi": "use_custom_roi",
    "adjust_trade_position": "position_adjustment_enable",
}


@dataclass
class Param:
    name: str
    ptype: str           # int | float | bool | cat
    default: Any
    low: Any = None
    high: Any = None
    options: list | None = None


@dataclass
class Strategy:
    """Everything the Pine writer needs, gathered from the class body."""
    name: str
    timeframe: str = "5m"
    minimal_roi: dict[int, float] = field(default_factory=lambda: {0: 10.0})
    stoploss: float = -0.10
    trailing_stop: bool = False
    trailing_stop_positive: float | None = None
    trailing_stop_positive_offset: float = 0.0
    trailing_only_offset_is_reached: bool = False
    use_exit_signal: bool = True
    ignore_roi_if_entry_signal: bool = False
    startup_candle_count: int = 0
    params: dict[str, Param] = field(default_factory=dict)


@dataclass
class Value:
    """A translated Python expression."""
    kind: str                     # series | bool | const | param | frame | multi | list
    code: str = ""
    lead: int = 0
    py: Any = None                # python value of consts (and params' defaults)
    outputs: dict[str, "Value"] | None = None
    items: list["Value"] | None = None


class _Lazy(Exception):
    """A column whose definition failed; raised only if a signal needs it."""

    def __init__(self, error: ExportError) -> None:
        self.error = error


class Translator:
    def __init__(self, filename: str, tree: ast.Module, class_name: str | None,
                 overrides: dict[str, Any] | None) -> None:
        self.filename = filename
        self.tree = tree
        self.overrides = overrides or {}
        self.cls = self._find_class(class_name)
        self.strategy = Strategy(name=self.cls.name)
        self.emit = Emitter()
        self.columns: dict[str, Value | _Lazy] = {k: Value("series", v) for k, v in BASE_COLUMNS.items()}
        self.column_vars: dict[str, str] = {}
        self.used_names: set[str] = set()
        self.signals: dict[str, list[Value]] = {s: [] for s in SIGNALS}
        self.aliases = self._imports()
        self.attr_nodes: dict[str, ast.stmt] = {}

    # ------------------------------------------------------------------ helpers
    def err(self, node: ast.AST | None, construct: str, hint: str = "") -> ExportError:
        return ExportError(self.filename, node, construct, hint)

    def _find_class(self, class_name: str | None) -> ast.ClassDef:
        classes = [n for n in self.tree.body if isinstance(n, ast.ClassDef)]
        if class_name:
            for c in classes:
                if c.name == class_name:
                    return c
            raise self.err(None, f"class {class_name!r}", f"classes in the file: {[c.name for c in classes]}")
        candidates = [c for c in classes if any(_base_name(b) == "IStrategy" for b in c.bases)]
        if len(candidates) != 1:
            candidates = [c for c in classes if any(isinstance(f, ast.FunctionDef)
                                                    and f.name == "populate_indicators" for f in c.body)]
        if len(candidates) != 1:
            raise self.err(None, "choosing the strategy class",
                           f"found {[c.name for c in candidates] or 'none'}; pass --class NAME")
        return candidates[0]

    def _imports(self) -> dict[str, str]:
        """Local name -> 'talib' | 'abstract' | 'qtpylib' | 'numpy' | 'pandas' | 'functools'."""
        out: dict[str, str] = {}
        for node in self.tree.body:
            if isinstance(node, ast.Import):
                for a in node.names:
                    local = a.asname or a.name.split(".")[0]
                    kind = _module_kind(a.name)
                    if kind and (a.asname or "." not in a.name):
                        out[local] = kind
                    elif kind == "abstract" and not a.asname:
                        out["talib"] = "talib"
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    kind = _module_kind(f"{node.module}.{a.name}")
                    if kind:
                        out[a.asname or a.name] = kind
        return out

    # ------------------------------------------------------------------ class body
    def read_class(self) -> None:
        methods: dict[str, ast.FunctionDef] = {}
        attrs: dict[str, Any] = {}
        param_calls: dict[str, ast.Call] = {}
        for node in self.cls.body:
            if isinstance(node, ast.FunctionDef):
                methods[node.name] = node
                for dec in node.decorator_list:
                    if "informative" in ast.unparse(dec):
                        raise self.err(dec, "@informative (informative pairs/timeframes)",
                                       "export strategies that use only the traded pair's own candles")
                continue
            target, value = _assignment(node)
            if target is None:
                continue
            self.attr_nodes[target] = node
            if isinstance(value, ast.Call) and _call_name(value) in PARAM_TYPES:
                param_calls[target] = value
                continue
            try:
                attrs[target] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                attrs[target] = value
        # Freqtrade's precedence for parameter values: the parameter file, then the class's
        # buy_params/sell_params/... dicts, then each parameter's default.
        class_values: dict[str, Any] = {}
        for key, value in attrs.items():
            if key.endswith("_params") and isinstance(value, dict):
                class_values.update(value)
        for name, call in param_calls.items():
            self.strategy.params[name] = self._param(name, call, class_values)
        self._settings(attrs)
        for name, why in FORBIDDEN_METHODS.items():
            if name in methods:
                raise self.err(methods[name], f"{name}() ({why})",
                               "express the rule as entry/exit signals, ROI or stoploss")
        for name, switch in CONDITIONAL_METHODS.items():
            if name in methods and attrs.get(switch) is True:
                raise self.err(methods[name], f"{name}() with {switch} = True (arbitrary Python per trade)",
                               "use the stoploss / trailing_stop / minimal_roi attributes")
        if "informative_pairs" in methods and not _returns_empty_list(methods["informative_pairs"]):
            raise self.err(methods["informative_pairs"], "informative_pairs() (other pairs or timeframes)",
                           "only the traded pair's own candles can be exported")
        for needed in ("populate_indicators", "populate_entry_trend", "populate_exit_trend"):
            if needed not in methods:
                legacy = {"populate_entry_trend": "populate_buy_trend", "populate_exit_trend": "populate_sell_trend"}
                if legacy.get(needed) in methods:
                    raise self.err(methods[legacy[needed]], f"{legacy[needed]}() (strategy interface 2)",
                                   f"migrate to interface 3: rename it {needed} and use enter_long/exit_long")
                raise self.err(self.cls, f"a strategy without {needed}()")
        self._method(methods["populate_indicators"], signals_allowed=False)
        self._method(methods["populate_entry_trend"], signals_allowed=True)
        self._method(methods["populate_exit_trend"], signals_allowed=True)

    def _settings(self, attrs: dict[str, Any]) -> None:
        s = self.strategy
        ov = self.overrides
        at = self.attr_nodes.get
        if attrs.get("can_short") is True:
            raise self.err(at("can_short"), "can_short = True", "spot only: the engine never shorts")
        if attrs.get("exit_profit_only") is True:
            raise self.err(at("exit_profit_only"), "exit_profit_only = True",
                           "the exit condition needs the fill price of the next candle")
        if attrs.get("protections"):
            raise self.err(at("protections"), "protections (pair locks change when entries happen)")
        roi = ov.get("minimal_roi", attrs.get("minimal_roi", {"0": 10.0}))
        if not isinstance(roi, dict):
            raise self.err(at("minimal_roi"), "minimal_roi that is not a literal dict")
        s.minimal_roi = {int(float(k)): float(v) for k, v in roi.items()}
        for key in ("stoploss", "trailing_stop", "trailing_stop_positive", "trailing_stop_positive_offset",
                    "trailing_only_offset_is_reached", "use_exit_signal", "ignore_roi_if_entry_signal",
                    "timeframe", "startup_candle_count"):
            value = ov.get(key, attrs.get(key, getattr(s, key)))
            if isinstance(value, ast.AST):
                raise self.err(value, f"{key} computed by an expression", "use a literal value")
            setattr(s, key, value)
        if s.stoploss is None or not isinstance(s.stoploss, (int, float)):
            raise self.err(self.cls, "a strategy without a numeric stoploss")
        if not re.fullmatch(r"\d+[mhd]", str(s.timeframe)):
            raise self.err(self.cls, f"timeframe {s.timeframe!r}", "use minutes, hours or days, e.g. '5m'")
        try:
            risk_rules.trailing_leg(s)
        except ValueError as exc:
            raise self.err(at("trailing_stop") or self.cls, f"this trailing stop ({exc})",
                           "use a trailing ratio below 0.3") from None

    def _param(self, name: str, call: ast.Call, class_values: dict[str, Any]) -> Param:
        ptype = PARAM_TYPES[_call_name(call)]
        kw = {k.arg: k.value for k in call.keywords if k.arg}
        pos = list(call.args)
        try:
            if ptype in ("int", "float"):
                low = ast.literal_eval(kw.get("low", pos[0] if pos else None))
                high = ast.literal_eval(kw.get("high", pos[1] if len(pos) > 1 else None))
                if isinstance(low, (list, tuple)):
                    low, high = low
                default = ast.literal_eval(kw["default"])
                p = Param(name, ptype, default, low, high)
            elif ptype == "bool":
                p = Param(name, "bool", ast.literal_eval(kw["default"]))
            else:
                options = ast.literal_eval(kw.get("categories", pos[0] if pos else None))
                p = Param(name, "cat", ast.literal_eval(kw["default"]) if "default" in kw else options[0],
                          options=list(options))
        except (KeyError, ValueError, IndexError, TypeError):
            raise self.err(call, f"{_call_name(call)} {name!r} with non-literal arguments",
                           "give low/high/default as literals") from None
        if name in class_values:
            p.default = class_values[name]
        if name in self.overrides.get("params", {}):
            p.default = self.overrides["params"][name]
        return p

    # ------------------------------------------------------------------ methods
    def _method(self, fn: ast.FunctionDef, signals_allowed: bool) -> None:
        args = [a.arg for a in fn.args.args]
        if len(args) < 2:
            raise self.err(fn, f"{fn.name}() without a dataframe argument")
        self.df = args[1]
        self.meta = args[2] if len(args) > 2 else None
        self.locals: dict[str, Value | _Lazy] = {}
        self._block(fn.body, signals_allowed, guard=None)

    def _block(self, body: list[ast.stmt], signals_allowed: bool, guard: Value | None) -> None:
        for st in body:
            if isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant):
                continue  # docstring / disabled code in a string
            if isinstance(st, ast.Return):
                if not (isinstance(st.value, ast.Name) and st.value.id == self.df):
                    raise self.err(st, "returning something other than the dataframe")
                return
            if isinstance(st, ast.Pass):
                continue
            if isinstance(st, ast.Assign) and len(st.targets) == 1:
                self._assign(st.targets[0], st.value, st, signals_allowed, guard)
                continue
            if isinstance(st, ast.Expr) and isinstance(st.value, ast.Call) and _is_append(st.value):
                lst = st.value.func.value.id  # type: ignore[attr-defined]
                target = self.locals.get(lst)
                if not isinstance(target, Value) or target.kind != "list":
                    raise self.err(st, f"{lst}.append() on something that is not a list of conditions")
                item = self._expr(st.value.args[0])
                if guard is not None:
                    item = Value("bool", f"(not {guard.code} or {_paren(self._as_bool(item, st).code)})")
                target.items.append(item)  # type: ignore[union-attr]
                continue
            if isinstance(st, ast.If):
                self._if(st, signals_allowed, guard)
                continue
            if isinstance(st, ast.For) and self._param_loop(st):
                self._block(st.body, signals_allowed, guard)
                del self.locals[st.target.id]  # type: ignore[attr-defined]
                continue
            if isinstance(st, (ast.For, ast.While)):
                raise self.err(st, "a loop in a populate_* method",
                               "loops over rows or parameter ranges have no per-bar translation; "
                               "compute each column with one vectorised expression")
            raise self.err(st, f"statement {type(st).__name__}: {ast.unparse(st)[:60]}")

    def _param_loop(self, st: ast.For) -> bool:
        """``for v in self.p.range:`` (the hyperopt idiom: one column per candidate value, read back
        as ``dataframe[f"...{self.p.value}"]``). The body is translated once with ``v`` standing
        for the parameter's input, so the one column a run uses is exactly the one computed."""
        it = st.iter
        if not (isinstance(st.target, ast.Name) and not st.orelse and isinstance(it, ast.Attribute)
                and it.attr == "range" and isinstance(it.value, ast.Attribute)
                and _is_name(it.value.value, "self") and it.value.attr in self.strategy.params):
            return False
        p = self.strategy.params[it.value.attr]
        self.locals[st.target.id] = Value("param", p.name, py=p.default)
        return True

    def _key(self, node: ast.AST) -> str | None:
        """A column name: a string literal, or an f-string over parameters (``f"ema_{val}"`` in a
        parameter loop and ``f"ema_{self.p.value}"`` both give ``"ema_{p}"``)."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if not isinstance(node, ast.JoinedStr):
            return None
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
                continue
            inner = v.value if isinstance(v, ast.FormattedValue) and v.format_spec is None else None
            if isinstance(inner, ast.Name) and isinstance(self.locals.get(inner.id), Value) \
                    and self.locals[inner.id].kind == "param":  # type: ignore[union-attr]
                parts.append("{" + self.locals[inner.id].code + "}")  # type: ignore[union-attr]
            elif isinstance(inner, ast.Attribute) and inner.attr == "value" and isinstance(inner.value, ast.Attribute) \
                    and _is_name(inner.value.value, "self") and inner.value.attr in self.strategy.params:
                parts.append("{" + inner.value.attr + "}")
            else:
                return None
        return "".join(parts)

    def _if(self, st: ast.If, signals_allowed: bool, guard: Value | None) -> None:
        test = st.test
        if isinstance(test, ast.Name) and isinstance(self.locals.get(test.id), Value) \
                and self.locals[test.id].kind == "list":  # type: ignore[union-attr]
            if self.locals[test.id].items:  # type: ignore[union-attr]
                self._block(st.body, signals_allowed, guard)
            else:
                self._block(st.orelse, signals_allowed, guard)
            return
        cond = self._expr(test)
        if cond.kind == "const":
            self._block(st.body if cond.py else st.orelse, signals_allowed, guard)
            return
        if cond.kind == "param" and not st.orelse:
            # Only condition appends are guarded this way; assignments would need per-branch columns.
            for inner in st.body:
                if not (isinstance(inner, ast.Expr) and isinstance(inner.value, ast.Call) and _is_append(inner.value)):
                    raise self.err(inner, "statements other than conditions.append() under a parameter test")
            both = cond if guard is None else Value("bool", f"({guard.code} and {cond.code})")
            self._block(st.body, signals_allowed, both)
            return
        raise self.err(st, f"if on {ast.unparse(test)[:50]}",
                       "use np.where(...) or combine conditions with & and |")

    def _assign(self, target: ast.expr, value: ast.expr, st: ast.stmt, signals_allowed: bool,
                guard: Value | None) -> None:
        if guard is not None:
            raise self.err(st, "assignment under a parameter-dependent if")
        if isinstance(target, ast.Name):
            if isinstance(value, ast.List) and not value.elts:
                self.locals[target.id] = Value("list", items=[])
                return
            try:
                self.locals[target.id] = self._materialise(self._expr(value), target.id)
            except ExportError as exc:
                self.locals[target.id] = _Lazy(exc)
            return
        if isinstance(target, ast.Subscript) and _is_name(target.value, self.df):
            col = self._key(target.slice)
            if col is None:
                raise self.err(target, "a dataframe column whose name is not a string literal",
                               "name every column with a literal string (or an f-string over parameters)")
            if col in SIGNALS + SHORT_SIGNALS or col in ("enter_tag", "exit_tag", "buy", "sell"):
                if self._reset_to_default(col, value):
                    return
                raise self.err(st, f"assigning the whole {col!r} column",
                               f"use {self.df}.loc[condition, {col!r}] = 1")
            if col in BASE_COLUMNS:
                raise self.err(st, f"overwriting the {col!r} column")
            try:
                v = self._materialise(self._expr(value), self._column_var(col))
                self.columns[col] = v
            except ExportError as exc:
                self.columns[col] = _Lazy(exc)
            return
        if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute) \
                and target.value.attr == "loc" and _is_name(target.value.value, self.df):
            if not signals_allowed:
                raise self.err(st, ".loc assignment in populate_indicators")
            self._loc(target, value, st)
            return
        raise self.err(st, f"assignment to {ast.unparse(target)[:50]}")

    def _loc(self, target: ast.Subscript, value: ast.expr, st: ast.stmt) -> None:
        sl = target.slice
        if not (isinstance(sl, ast.Tuple) and len(sl.elts) == 2):
            raise self.err(st, f"{ast.unparse(target)[:60]}", "use df.loc[condition, 'enter_long'] = 1")
        cond_node, cols_node = sl.elts
        if isinstance(cols_node, (ast.List, ast.Tuple)):
            cols = [_const_str(c) for c in cols_node.elts]
            vals = value.elts if isinstance(value, (ast.Tuple, ast.List)) else [value] * len(cols)
        else:
            cols, vals = [_const_str(cols_node)], [value]
        every_row = isinstance(cond_node, ast.Slice) and cond_node.lower is None and cond_node.upper is None
        for col, val in zip(cols, vals):
            if col in ("enter_tag", "exit_tag"):
                continue
            if every_row and self._reset_to_default(col, val):
                continue
            if col in SHORT_SIGNALS:
                continue  # can_short is False: Freqtrade ignores short signals in spot
            if col not in SIGNALS:
                raise self.err(st, f".loc assignment to column {col!r}", "only enter_long/exit_long are signals")
            if not (isinstance(val, ast.Constant) and val.value in (1, True)):
                raise self.err(val, f"setting {col!r} to {ast.unparse(val)}", "signals are set to 1")
            self.signals[col].append(self._as_bool(self._expr(cond_node), cond_node))

    def _reset_to_default(self, col: str, value: ast.expr) -> bool:
        """``df["enter_long"] = 0`` before any signal is set: the default, nothing to export."""
        zero = isinstance(value, ast.Constant) and value.value in (0, False, None)
        return zero and (col in SHORT_SIGNALS or (col in SIGNALS and not self.signals[col]))

    # ------------------------------------------------------------------ expressions
    def _column_var(self, col: str) -> str:
        if col in self.column_vars:
            return self.column_vars[col]
        name = re.sub(r"\W", "_", col)
        if not name or name[0].isdigit() or name in PINE_RESERVED or name.startswith("ft_") \
                or name in self.used_names:
            name = "c_" + name
        while name in self.used_names:
            name += "_"
        self.used_names.add(name)
        self.column_vars[col] = name
        return name

    def _materialise(self, v: Value, name: str) -> Value:
        if v.kind in ("series", "bool"):
            self.emit.define(name, v.code)
            return Value(v.kind, name, v.lead)
        if v.kind == "multi":
            outs = {}
            for key, out in v.outputs.items():  # type: ignore[union-attr]
                var = f"{name}_{re.sub(r'[^A-Za-z0-9_]', '_', key)}"
                while var in self.used_names:
                    var += "_"
                self.used_names.add(var)
                outs[key] = self._materialise(out, var)
            return Value("multi", outputs=outs)
        return v

    def _get_column(self, col: str, node: ast.AST) -> Value:
        if col not in self.columns:
            if col == "date":
                raise self.err(node, "the 'date' column", "time-based rules are not exported")
            raise self.err(node, f"column {col!r} that populate_indicators never defines")
        v = self.columns[col]
        if isinstance(v, _Lazy):
            raise v.error
        return v

    def _as_bool(self, v: Value, node: ast.AST) -> Value:
        if v.kind == "bool":
            return v
        raise self.err(node, f"{ast.unparse(node)[:60]} used as a condition",
                       "conditions are comparisons joined with & | ~")

    def _expr(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return Value("const", "true" if node.value else "false", py=node.value)
            if isinstance(node.value, (int, float)):
                return Value("const", _num(node.value), py=node.value)
            if isinstance(node.value, str):
                return Value("const", json.dumps(node.value), py=node.value)
            raise self.err(node, f"constant {node.value!r}")
        if isinstance(node, ast.Name):
            if node.id == self.df:
                return Value("frame")
            if node.id in self.locals:
                v = self.locals[node.id]
                if isinstance(v, _Lazy):
                    raise v.error
                return v
            if node.id in ("True", "False"):
                return Value("const", node.id.lower(), py=node.id == "True")
            raise self.err(node, f"name {node.id!r}", "only columns, parameters and literals can be used")
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.UnaryOp):
            v = self._expr(node.operand)
            if isinstance(node.op, ast.Invert):
                return Value("bool", f"not {_paren(self._as_bool(v, node.operand).code)}")
            if isinstance(node.op, ast.USub):
                if v.kind == "const":
                    return Value("const", _num(-v.py), py=-v.py)
                return Value(self._numeric(v, node).kind, f"-{_paren(v.code)}", v.lead)
            if isinstance(node.op, ast.Not):
                raise self.err(node, "'not' on a column", "use ~ for element-wise negation")
            raise self.err(node, f"unary {type(node.op).__name__}")
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                raise self.err(node, "a chained comparison", "split it into two comparisons joined with &")
            a, b = self._expr(node.left), self._expr(node.comparators[0])
            op = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!="}.get(
                type(node.ops[0]))
            if op is None:
                raise self.err(node, f"comparison {type(node.ops[0]).__name__}")
            self._numeric(a, node.left), self._numeric(b, node.comparators[0])
            if a.kind == "bool" or b.kind == "bool":
                raise self.err(node, "comparing conditions", "combine conditions with & | ~")
            return Value("bool", f"{_paren(a.code)} {op} {_paren(b.code)}", max(a.lead, b.lead))
        if isinstance(node, ast.BoolOp):
            raise self.err(node, f"'{'and' if isinstance(node.op, ast.And) else 'or'}' between columns",
                           "pandas needs & and | (with parentheses) for element-wise logic")
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.IfExp):
            c = self._expr(node.test)
            if c.kind == "const":
                return self._expr(node.body if c.py else node.orelse)
            if c.kind == "param":
                a, b = self._expr(node.body), self._expr(node.orelse)
                kind = a.kind if a.kind == b.kind else ("series" if {a.kind, b.kind} <= {"series", "const", "param"}
                                                        else None)
                if kind is None:
                    raise self.err(node, "a conditional expression mixing kinds")
                return Value(kind, f"({c.code} ? {a.code} : {b.code})", max(a.lead, b.lead))
            raise self.err(node, "a Python conditional expression on a column", "use np.where(cond, a, b)")
        raise self.err(node, f"expression {type(node).__name__}: {ast.unparse(node)[:60]}")

    def _numeric(self, v: Value, node: ast.AST) -> Value:
        if v.kind in ("series", "const", "param"):
            if v.kind in ("const", "param") and isinstance(v.py, str):
                raise self.err(node, f"text value {v.py!r} in arithmetic")
            return v
        if v.kind == "bool":
            return v
        raise self.err(node, f"{ast.unparse(node)[:60]} ({v.kind}) in arithmetic")

    def _binop(self, node: ast.BinOp) -> Value:
        a, b = self._expr(node.left), self._expr(node.right)
        if isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            a, b = self._as_bool(a, node.left), self._as_bool(b, node.right)
            word = "and" if isinstance(node.op, ast.BitAnd) else "or"
            return Value("bool", f"({a.code} {word} {b.code})")
        ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
        for x, n in ((a, node.left), (b, node.right)):
            if self._numeric(x, n).kind == "bool":
                raise self.err(n, "arithmetic on a condition")
        if a.kind == "const" and b.kind == "const" and type(node.op) in ops:
            fold = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
                    ast.Div: operator.truediv}[type(node.op)]
            try:
                py = fold(a.py, b.py)
            except ZeroDivisionError:
                raise self.err(node, "division of constants by zero") from None
            return Value("const", _num(py), py=py)
        if isinstance(node.op, ast.Pow):
            return Value("series", f"math.pow({a.code}, {b.code})", max(a.lead, b.lead))
        if type(node.op) not in ops:
            raise self.err(node, f"operator {type(node.op).__name__}",
                           "only + - * / ** have an exact Pine equivalent")
        kind = "series" if "series" in (a.kind, b.kind) else "const_expr"
        code = f"{_paren(a.code)} {ops[type(node.op)]} {_paren(b.code)}"
        if kind == "const_expr":
            return Value("param", f"({code})", py=None)
        return Value("series", code, max(a.lead, b.lead))

    def _subscript(self, node: ast.Subscript) -> Value:
        base = self._expr(node.value)
        key = self._key(node.slice)
        if base.kind == "frame":
            if key is None:
                raise self.err(node, "a dataframe column whose name is not a string literal")
            return self._get_column(key, node)
        if base.kind == "multi":
            if key is None or key not in base.outputs:  # type: ignore[operator]
                raise self.err(node, f"output {ast.unparse(node.slice)}",
                               f"outputs are {list(base.outputs)}")  # type: ignore[arg-type]
            return base.outputs[key]  # type: ignore[index]
        if isinstance(node.value, ast.Name) and node.value.id == self.meta:
            raise self.err(node, "metadata (pair-dependent logic)")
        raise self.err(node, f"indexing {ast.unparse(node)[:60]}")

    def _attribute(self, node: ast.Attribute) -> Value:
        # self.<param>.value / self.<constant>
        if isinstance(node.value, ast.Attribute) and _is_name(node.value.value, "self"):
            p = self.strategy.params.get(node.value.attr)
            if p is None:
                raise self.err(node, f"self.{node.value.attr}.{node.attr}")
            if node.attr != "value":
                raise self.err(node, f"parameter attribute .{node.attr}", "use .value")
            return Value("param", p.name, py=p.default)
        if _is_name(node.value, "self"):
            if node.attr == "dp":
                raise self.err(node, "self.dp (data provider)", "live order book / other pairs are not exported")
            value = self._class_constant(node.attr)
            if value is None:
                raise self.err(node, f"self.{node.attr}")
            return value
        base = self._expr(node.value)
        if base.kind == "frame" and node.attr in self.columns:
            return self._get_column(node.attr, node)
        raise self.err(node, f"attribute .{node.attr}")

    def _class_constant(self, attr: str) -> Value | None:
        for st in self.cls.body:
            target, value = _assignment(st)
            if target == attr:
                try:
                    py = ast.literal_eval(value)
                except (ValueError, SyntaxError):
                    return None
                if isinstance(py, bool):
                    return Value("const", "true" if py else "false", py=py)
                if isinstance(py, (int, float)):
                    return Value("const", _num(py), py=py)
        return None

    # ------------------------------------------------------------------ calls
    def _call(self, node: ast.Call) -> Value:
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in self.aliases:
            kind = self.aliases[func.value.id]
            if kind in ("talib", "abstract"):
                return self._talib(node, func.attr, abstract=(kind == "abstract"))
            if kind == "qtpylib":
                return self._qtpylib(node, func.attr)
            if kind == "numpy":
                return self._numpy(node, func.attr)
            raise self.err(node, f"{func.value.id}.{func.attr}()")
        if isinstance(func, ast.Name):
            if func.id == "abs" and len(node.args) == 1:
                v = self._series(node.args[0])
                return Value("series", f"math.abs({v.code})", v.lead)
            if func.id == "reduce" and self.aliases.get("reduce") == "functools":
                return self._reduce(node)
            if self.aliases.get(func.id) in ("talib", "abstract"):
                return self._talib(node, func.id, abstract=self.aliases[func.id] == "abstract")
            if self.aliases.get(func.id) == "qtpylib":
                return self._qtpylib(node, func.id)
            raise self.err(node, f"call to {func.id}()")
        if isinstance(func, ast.Attribute):
            return self._method_call(node, func)
        raise self.err(node, f"call {ast.unparse(node)[:60]}")

    def _series(self, node: ast.expr) -> Value:
        v = self._expr(node)
        if v.kind not in ("series", "const", "param"):
            raise self.err(node, f"{ast.unparse(node)[:60]} where a numeric column is needed")
        return v

    def _var(self, v: Value, hint: str) -> Value:
        if v.kind in ("const", "param") or re.fullmatch(r"[A-Za-z_]\w*", v.code):
            return v
        return Value(v.kind, self.emit.tmp(hint, v.code), v.lead)

    def _int_arg(self, node: ast.expr | None, default: int | None, what: str) -> str:
        if node is None:
            if default is None:
                raise self.err(node, f"missing {what}")
            return str(default)
        v = self._expr(node)
        if v.kind == "const" and isinstance(v.py, (int, float)) and float(v.py).is_integer():
            return str(int(v.py))
        if v.kind == "param" and isinstance(v.py, int) and not isinstance(v.py, bool):
            return v.code
        raise self.err(node, f"{what} = {ast.unparse(node)}", "a literal int or an IntParameter's .value")

    def _method_call(self, node: ast.Call, func: ast.Attribute) -> Value:
        name = func.attr
        kw = {k.arg: k.value for k in node.keywords}
        if name == "shift":
            base = self._expr(func.value)
            arg = node.args[0] if node.args else kw.get("periods")
            n = self._int_arg(arg, 1, "shift periods")
            if n.startswith("-"):
                raise self.err(node, "shift with a negative period (looks into the future)")
            if not n.isdigit():
                raise self.err(node, "shift by a parameter", "use a literal shift")
            if base.kind not in ("series", "bool"):
                raise self.err(node, f"shift of {base.kind}")
            v = self._var(base, "s")
            return Value(base.kind, f"{v.code}[{n}]", base.lead + int(n))
        if name == "rolling":
            return Value("rolling", outputs={"src": self._series(func.value)},
                         code=self._int_arg(node.args[0] if node.args else kw.get("window"), None, "rolling window"),
                         py=kw.get("min_periods"))
        if isinstance(func.value, ast.Call) and isinstance(func.value.func, ast.Attribute) \
                and func.value.func.attr == "rolling":
            r = self._expr(func.value)
            if r.py is not None:
                raise self.err(func.value, "rolling(..., min_periods=...)", "use the default full window")
            src, n = r.outputs["src"], r.code  # type: ignore[index]
            fn = {"mean": "ta.sma({s}, {n})", "sum": "math.sum({s}, {n})", "max": "ta.highest({s}, {n})",
                  "min": "ta.lowest({s}, {n})", "std": "ta.stdev({s}, {n}, false)"}.get(name)
            if fn is None:
                raise self.err(node, f"rolling().{name}()", "mean, sum, max, min and std are exported")
            lead = src.lead + (int(n) - 1 if n.isdigit() else 0)
            if src.lead and name in ("max", "min"):
                if not n.isdigit():
                    raise self.err(node, "rolling max/min with a parameter window on a column with warm-up")
                full = self.emit.tmp(name, fn.format(s=src.code, n=n))
                return Value("series", f"bar_index >= {lead} ? {full} : na", lead)
            return Value("series", fn.format(s=src.code, n=n), lead)
        if name == "diff":
            base = self._var(self._series(func.value), "s")
            n = self._int_arg(node.args[0] if node.args else kw.get("periods"), 1, "diff periods")
            return Value("series", f"{base.code} - {base.code}[{n}]", base.lead + int(n))
        if name == "pct_change":
            base = self._var(self._series(func.value), "s")
            n = self._int_arg(node.args[0] if node.args else kw.get("periods"), 1, "pct_change periods")
            return Value("series", f"{base.code} / {base.code}[{n}] - 1", base.lead + int(n))
        if name == "abs" and not node.args:
            base = self._series(func.value)
            return Value("series", f"math.abs({base.code})", base.lead)
        if name == "astype":
            base = self._expr(func.value)
            if base.kind == "bool":  # True/False -> 1/0
                return Value("series", f"({base.code} ? 1 : 0)", base.lead)
            return base
        if isinstance(func.value, ast.Call):
            self._expr(func.value)  # the receiver's own error comes first (x.ewm(...).mean())
        if name in ("ewm", "expanding", "fillna", "ffill", "bfill", "cumsum", "apply", "mean", "max", "min"):
            raise self.err(node, f".{name}()", {
                "ewm": "use ta.EMA (TA-Lib seeds with the SMA; pandas ewm seeds with the first value)",
                "fillna": "fill values change warm-up semantics", "apply": "arbitrary Python per row",
                "bfill": "looks into the future"}.get(name, "whole-column reductions look into the future"))
        self._expr(func.value)  # an unsupported receiver (self.dp, metadata, ...) is the better message
        raise self.err(node, f"method .{name}()")

    def _numpy(self, node: ast.Call, name: str) -> Value:
        if name == "where" and len(node.args) == 3:
            c = self._as_bool(self._expr(node.args[0]), node.args[0])
            a, b = self._expr(node.args[1]), self._expr(node.args[2])
            kind = "bool" if a.kind == b.kind == "bool" else "series"
            return Value(kind, f"({c.code} ? {a.code} : {b.code})", max(a.lead, b.lead))
        if name in ("maximum", "minimum", "fmax", "fmin") and len(node.args) == 2:
            if name in ("fmax", "fmin"):
                raise self.err(node, f"np.{name} (ignores NaN)", "use np.maximum / np.minimum")
            a, b = self._series(node.args[0]), self._series(node.args[1])
            return Value("series", f"math.{name[:3]}({a.code}, {b.code})", max(a.lead, b.lead))
        unary = {"abs": "math.abs", "log": "math.log", "sqrt": "math.sqrt", "exp": "math.exp", "log10": "math.log10"}
        if name in unary and len(node.args) == 1:
            a = self._series(node.args[0])
            return Value("series", f"{unary[name]}({a.code})", a.lead)
        raise self.err(node, f"np.{name}()")

    def _reduce(self, node: ast.Call) -> Value:
        if len(node.args) != 2 or not isinstance(node.args[0], ast.Lambda):
            raise self.err(node, "reduce() other than reduce(lambda x, y: x & y, conditions)")
        body = node.args[0].body
        if not isinstance(body, ast.BinOp) or not isinstance(body.op, (ast.BitAnd, ast.BitOr)):
            raise self.err(node, "reduce() with a lambda other than x & y or x | y")
        lst = self._expr(node.args[1])
        if lst.kind != "list" or not lst.items:
            raise self.err(node, "reduce() over an empty or unknown list")
        word = " and " if isinstance(body.op, ast.BitAnd) else " or "
        return Value("bool", "(" + word.join(_paren(i.code) for i in lst.items) + ")")

    def _qtpylib(self, node: ast.Call, name: str) -> Value:
        kw = {k.arg: k.value for k in node.keywords}
        if name in ("crossed_above", "crossed_below"):
            if len(node.args) != 2:
                raise self.err(node, f"{name} with {len(node.args)} arguments")
            a = self._var(self._series(node.args[0]), "x")
            b = self._var(self._series(node.args[1]), "y")
            b1 = f"{b.code}[1]" if b.kind == "series" else b.code
            if name == "crossed_above":
                code = f"({a.code} > {b.code} and {a.code}[1] <= {b1})"
            else:
                code = f"({a.code} < {b.code} and {a.code}[1] >= {b1})"
            return Value("bool", code, max(a.lead, b.lead) + 1)
        if name == "typical_price":
            return Value("series", "(high + low + close) / 3.0")
        if name == "mid_price":
            return Value("series", "(high + low) / 2.0")
        if name == "bollinger_bands":
            src = self._var(self._series(node.args[0]), "bbsrc")
            if src.lead:
                raise self.err(node, "qtpylib.bollinger_bands of a column with warm-up",
                               "its partial first windows (min_periods=1) are exported for OHLC-derived sources only")
            n = int(self._int_arg(node.args[1] if len(node.args) > 1 else kw.get("window"), 20, "window"))
            k_node = node.args[2] if len(node.args) > 2 else kw.get("stds")
            k = self._expr(k_node) if k_node is not None else Value("const", "2", py=2)
            e = self.emit
            cnt = "(bar_index + 1)"
            # Stateful calls are hoisted out of the ternaries so they run on every bar.
            sma = e.tmp("sma", f"ta.sma({src.code}, {n})")
            sdv = e.tmp("stdev", f"ta.stdev({src.code}, {n}, false)")
            cum = e.tmp("cum", f"ta.cum({src.code})")
            cum2 = e.tmp("cum2", f"ta.cum({src.code} * {src.code})")
            mid = e.tmp("bbmid", f"bar_index >= {n - 1} ? {sma} : {cum} / {cnt}")
            part = f"bar_index == 0 ? na : math.sqrt(math.max(({cum2} - {cum} * {cum} / {cnt}) / bar_index, 0.0))"
            sd = e.tmp("bbsd", f"bar_index >= {n - 1} ? {sdv} : {part}")
            return Value("multi", outputs={
                "upper": Value("series", f"{mid} + {sd} * {k.code}", 1),
                "mid": Value("series", mid, 0),
                "lower": Value("series", f"{mid} - {sd} * {k.code}", 1),
            })
        if name in ("sma", "rolling_mean", "rolling_std", "rolling_min", "rolling_max"):
            if "min_periods" in kw or len(node.args) > 2:
                raise self.err(node, f"qtpylib.{name} with min_periods")
            src = self._series(node.args[0])
            n = self._int_arg(node.args[1] if len(node.args) > 1 else kw.get("window"),
                              200 if name in ("sma", "rolling_mean", "rolling_std") else 14, "window")
            fn = {"sma": "ta.sma", "rolling_mean": "ta.sma", "rolling_min": "ta.lowest",
                  "rolling_max": "ta.highest"}.get(name)
            if name == "rolling_std":
                return Value("series", f"ta.stdev({src.code}, {n}, false)", src.lead + int(n) - 1)
            return Value("series", f"{fn}({src.code}, {n})", src.lead + int(n) - 1)
        raise self.err(node, f"qtpylib.{name}()")

    def _talib(self, node: ast.Call, name: str, abstract: bool) -> Value:
        spec = FUNCTIONS.get(name.upper() if name.isupper() else name)
        if spec is None:
            raise self.err(node, f"TA-Lib {name}", "supported: " + ", ".join(sorted(FUNCTIONS)))
        defaults, inputs, outputs, build = spec
        kw = {k.arg: k.value for k in node.keywords}
        args = list(node.args)
        src: dict[str, Series] = {}
        if abstract and args and self._expr(args[0]).kind == "frame":
            args.pop(0)
            price = kw.pop("price", None)
            col = _const_str(price) if price is not None else "close"
            if price is not None and name in FIXED_PRICES:
                raise self.err(price, f"{name} with price=")
            if col is None:
                raise self.err(price, "price= that is not a literal column name")
            c = self._get_column(col, node)
            src["real"] = Series(c.code, c.lead)
        else:
            for inp in inputs:
                if not args:
                    raise self.err(node, f"{name}() without its {inp} input")
                v = self._series(args.pop(0))
                if name in FIXED_PRICES and v.code != inp:
                    raise self.err(node, f"{name} on {ast.unparse(node)[:40]}", "pass high, low, close columns")
                src[inp] = Series(v.code, v.lead)
        params = dict(defaults)
        names = list(defaults)
        for i, a in enumerate(args):
            if i >= len(names):
                raise self.err(a, f"extra argument to {name}")
            kw[names[i]] = a
        for key, val in kw.items():
            if key not in params:
                raise self.err(val, f"{name}({key}=...)")
            v = self._expr(val)
            if v.kind == "const":
                params[key] = v.py
            elif v.kind == "param" and isinstance(v.py, int) and key.endswith("period"):
                params[key] = v.code  # type: ignore[assignment]
            else:
                raise self.err(val, f"{name}({key}={ast.unparse(val)})", "a literal or an IntParameter's .value")
        if any(isinstance(v, str) for v in params.values()) and name in ("MACD", "STOCH", "STOCHF", "TEMA",
                                                                          "DEMA", "ATR", "CCI", "WILLR", "BBANDS"):
            raise self.err(node, f"{name} with a parameter period", "warm-up lengths must be literals")
        try:
            out = _build_with_params(build, self.emit, src, params)
        except ValueError as exc:
            raise self.err(node, str(exc)) from None
        vals = {k: Value("series", s.code, s.lead) for k, s in out.items()}
        if len(outputs) == 1:
            return vals[outputs[0]]
        return Value("multi", outputs=vals)

    # ------------------------------------------------------------------ result
    def signal(self, name: str) -> str:
        conds = self.signals[name]
        if not conds:
            return "false"
        return " or ".join(_paren(c.code) for c in conds)


def _build_with_params(build, emit: Emitter, src: dict[str, Series], params: dict[str, Any]) -> dict[str, Series]:
    # A parameter period (an input name) keeps the warm-up unknown: only the simple MAs accept it.
    if any(isinstance(v, str) for v in params.values()):
        name = build.__qualname__
        if "_ma" in name or name == "_rsi":
            return build(emit, src, params)
        raise ValueError("this TA-Lib function with a parameter period")
    return build(emit, src, params)


# ---------------------------------------------------------------------- small AST helpers
def _base_name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _call_name(node: ast.Call) -> str:
    return _base_name(node.func)


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id, node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        return node.target.id, node.value
    return None, None


def _module_kind(path: str) -> str | None:
    if path in ("talib.abstract", "talib.abstract.*") or path.endswith("talib.abstract"):
        return "abstract"
    if path == "talib":
        return "talib"
    if "qtpylib" in path:
        return "qtpylib"
    if path == "numpy":
        return "numpy"
    if path == "functools.reduce":
        return "functools"
    return None


def _is_name(node: ast.AST, name: str | None) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _const_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _is_append(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Attribute) and call.func.attr == "append" \
        and isinstance(call.func.value, ast.Name) and len(call.args) == 1


def _returns_empty_list(fn: ast.FunctionDef) -> bool:
    body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(body[0].value, ast.List) \
        and not body[0].value.elts


def _num(x: Any) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    return repr(float(x))


def _paren(code: str) -> str:
    if re.fullmatch(r"[A-Za-z_][\w.]*(\[\d+\])?|-?\d+(\.\d+)?(e-?\d+)?", code):
        return code
    if code.startswith("(") and code.endswith(")") and _balanced(code[1:-1]):
        return code
    return f"({code})"


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return False
    return depth == 0


# ---------------------------------------------------------------------- entry point
@dataclass
class Export:
    pine: str
    strategy: Strategy


def load_hyperopt_result(path: pathlib.Path) -> dict[str, Any]:
    """Freqtrade's parameter file (``StrategyName.json``) or ``hyperopt --print-json`` output."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ExportError(str(path), None, f"hyperopt result file ({exc})") from None
    params = data.get("params", data)
    out: dict[str, Any] = {"params": {}}
    for space, values in params.items():
        if space == "roi":
            out["minimal_roi"] = values
        elif space == "stoploss":
            out["stoploss"] = values["stoploss"] if isinstance(values, dict) else values
        elif space == "trailing":
            out.update(values)
        elif space == "minimal_roi":
            out["minimal_roi"] = values
        elif isinstance(values, dict) and space in ("buy", "sell", "protection", "enter", "exit"):
            out["params"].update(values)
        elif space in ("max_open_trades",):
            continue
        else:
            out["params"][space] = values
    return out


def export_source(source: str, filename: str, class_name: str | None = None,
                  overrides: dict[str, Any] | None = None, fee: float = 0.001) -> Export:
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        raise ExportError(filename, None, f"Python syntax error at line {exc.lineno}: {exc.msg}") from None
    t = Translator(filename, tree, class_name, overrides)
    t.read_class()
    enter, exit_ = t.signal("enter_long"), t.signal("exit_long")
    body = risk_rules.write_pine(t.strategy, t.emit.defs, enter, exit_, fee, filename)
    return Export(body, t.strategy)


def export_file(path: str | pathlib.Path, class_name: str | None = None,
                hyperopt: str | pathlib.Path | None = None, fee: float = 0.001) -> Export:
    p = pathlib.Path(path)
    try:
        source = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExportError(str(p), None, f"reading the strategy ({exc.strerror})") from None
    if hyperopt is None and p.with_suffix(".json").is_file():
        hyperopt = p.with_suffix(".json")  # Freqtrade loads this parameter file too
    overrides = load_hyperopt_result(pathlib.Path(hyperopt)) if hyperopt else None
    return export_source(source, str(p), class_name, overrides, fee)
