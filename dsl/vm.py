"""The C VM from Python: one instance per strategy, stepped bar by bar (live) or run over
a whole bar array in one C call (backtest). Both paths run the same C code."""
from __future__ import annotations

import math

import numpy as np

from dsl.bytecode import Program
from dsl.errors import DslError
from pyengine._core import ffi, lib

INTENT_DTYPE = np.dtype([("bar", "<i4"), ("kind", "<i4"), ("id", "<i4"), ("dir", "<i4"),
                         ("from_entry", "<i4"), ("oca", "<i4"), ("oca_type", "<i4"),
                         ("comment", "<i4"), ("immediately", "<i4"), ("pad", "<i4"),
                         ("qty", "<f8"), ("qty_percent", "<f8"), ("limit", "<f8"),
                         ("stop", "<f8"), ("profit", "<f8"), ("loss", "<f8"),
                         ("trail_price", "<f8"), ("trail_points", "<f8"),
                         ("trail_offset", "<f8"), ("trail_percent", "<f8")])
_NO_INTENTS = np.zeros(0, dtype=INTENT_DTYPE)
_NO_INTENTS.flags.writeable = False
TRADE_DTYPE = np.dtype([("entry_bar", "<i4"), ("exit_bar", "<i4"), ("entry_sig", "<i4"),
                        ("exit_sig", "<i4"), ("dir", "<i4"), ("open", "<i4"),
                        ("entry_id", "<i4"), ("pad", "<i4"),
                        ("entry_price", "<f8"), ("exit_price", "<f8"), ("qty", "<f8"),
                        ("pnl", "<f8"), ("commission", "<f8"), ("runup", "<f8"),
                        ("drawdown", "<f8")])
assert INTENT_DTYPE.itemsize == ffi.sizeof("pe_vm_intent")
assert TRADE_DTYPE.itemsize == ffi.sizeof("pe_vm_trade")

INTENT_KINDS = {lib.PE_OP_ENTRY: "entry", lib.PE_OP_ORDER: "order", lib.PE_OP_EXIT: "exit",
                lib.PE_OP_CLOSE: "close", lib.PE_OP_CLOSE_ALL: "close_all",
                lib.PE_OP_CANCEL: "cancel", lib.PE_OP_CANCEL_ALL: "cancel_all"}
_QTY = {"fixed": lib.PE_QTY_FIXED, "cash": lib.PE_QTY_CASH,
        "percent_of_equity": lib.PE_QTY_PERCENT}
_COMM = {"percent": lib.PE_COMM_PERCENT, "cash_per_contract": lib.PE_COMM_PER_CONTRACT,
         "cash_per_order": lib.PE_COMM_PER_ORDER}
_ALLOW_ENTRY = {"all": 0, "long": 1, "short": -1}
MODES = ("spot", "tradingview")
EXIT_MODELS = ("tradingview", "freqtrade")   # strategy(exit_fill_model=...), pine-subset.md 13.9


class Vm:
    """A running strategy instance.

    ``mintick``/``qty_step`` come from the symbol (Binance PRICE_FILTER tickSize and
    LOT_SIZE stepSize; qty_step 0 = no rounding); ``pointvalue`` is the price multiplier of
    one unit (1 for spot, a futures contract's multiplier). ``mode="spot"`` refuses short entries;
    ``"tradingview"`` reproduces TradingView's long/short broker emulator.
    ``emulate=False`` turns the broker emulator off: order calls only become intents and
    ``strategy.position_size`` and friends stay flat (for an engine that owns the fills).
    """

    def __init__(self, program: Program, *, mintick: float = 0.01, qty_step: float = 0.0,
                 mode: str = "spot", initial_capital: float | None = None,
                 emulate: bool = True, pointvalue: float = 1.0):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.program = program
        self.mode = mode
        cfg = program.config
        c = ffi.new("pe_vm_config *")
        c.initial_capital = float(initial_capital if initial_capital is not None
                                  else cfg.get("initial_capital", 1_000_000.0))
        c.qty_value = float(cfg.get("default_qty_value", 1.0))
        c.commission_value = float(cfg.get("commission_value", 0.0))
        c.slippage = float(cfg.get("slippage", 0))
        c.mintick = float(mintick)
        c.qty_step = float(qty_step)
        c.pointvalue = float(pointvalue)
        c.qty_type = _QTY[cfg.get("default_qty_type", "fixed")]
        c.commission_type = _COMM[cfg.get("commission_type", "percent")]
        c.pyramiding = int(cfg.get("pyramiding", 0))
        c.process_on_close = 1 if cfg.get("process_orders_on_close") else 0
        c.spot = 1 if mode == "spot" else 0
        c.allow_entry = _ALLOW_ENTRY[cfg.get("allow_entry_in", "all")]
        c.exit_model = EXIT_MODELS.index(cfg.get("exit_fill_model", "tradingview"))
        c.trail_entry_rise = float(cfg.get("trail_entry_rise", 0.0))
        c.n_strings = len(program.strings)
        code = np.asarray(program.code, dtype=np.int32).reshape(-1, 6)
        init = np.asarray(program.init, dtype=np.float64)
        hist = np.asarray(program.hist or np.zeros((0, 2)), dtype=np.int32).reshape(-1, 2)
        hist_slots = np.ascontiguousarray(hist[:, 0])
        hist_len = np.ascontiguousarray(hist[:, 1])
        err = ffi.new("int32_t *")
        err_pc = ffi.new("int32_t *")
        raw = lib.pe_vm_new(ffi.cast("pe_vm_ins *", ffi.from_buffer(code)), len(code),
                            ffi.cast("double *", ffi.from_buffer(init)), len(init),
                            ffi.cast("int32_t *", ffi.from_buffer(hist_slots)),
                            ffi.cast("int32_t *", ffi.from_buffer(hist_len)), len(hist),
                            program.n_var, c, err, err_pc)
        if raw == ffi.NULL:
            raise self._error(err[0], err_pc[0])
        self._vm = ffi.gc(raw, lib.pe_vm_free)
        lib.pe_vm_set_emulate(self._vm, 1 if emulate else 0)
        blob = b"".join(x.encode("utf-8") + b"\0" for x in program.strings)
        rc = lib.pe_vm_set_strings(self._vm, blob, len(blob))
        if rc != lib.PE_OK:
            raise DslError([f"{program.filename}: invalid bytecode (string table)"])
        self._cfg = c
        self._one_t = np.zeros(1, dtype=np.int64)
        self._one = np.zeros((5, 1), dtype=np.float64)

    @property
    def ptr(self):
        """The C VM (``pe_vm *``), for C code that runs it bar by bar itself (the replay's
        feed); its intents are then read with ``take_intents``."""
        return self._vm

    def runtime_error(self, code: int) -> DslError:
        """The error for a non-OK code a run of this VM returned."""
        return self._error(code, -1)

    def _error(self, code: int, pc: int) -> DslError:
        line = self.program.lines[pc] if 0 <= pc < len(self.program.lines) else 0
        where = f"{self.program.filename}:{line}"
        if code == lib.PE_VM_ERR_LENGTH:
            return DslError([f"{where}: runtime error: a ta.* length must be >= 1"])
        if code == lib.PE_VM_ERR_LOOP:
            return DslError([f"{where}: runtime error: loop ran too long on one bar"])
        if code == lib.PE_ERR_NOMEM:
            return DslError([f"{where}: runtime error: out of memory"])
        return DslError([f"{where}: invalid bytecode (instruction {pc}, code {code})"])

    def run(self, time: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
            close: np.ndarray, volume: np.ndarray | None = None, *, equity: bool = True,
            plots: bool = False, intents: bool = True, last_bar_index: int | None = None):
        """Run all bars in one C call. Returns (equity array or None, plots dict).
        ``intents=False`` skips recording order intents (a backtest needs only trades)."""
        lib.pe_vm_set_record_intents(self._vm, 1 if intents else 0)
        t = np.ascontiguousarray(time, dtype=np.int64)
        n = len(t)
        cols = [np.ascontiguousarray(x, dtype=np.float64) for x in (open_, high, low, close)]
        vol = np.ascontiguousarray(volume, dtype=np.float64) if volume is not None else None
        for x in cols + ([vol] if vol is not None else []):
            if len(x) != n:
                raise ValueError("bar arrays must have the same length")
        eq = np.empty(n, dtype=np.float64) if equity else None
        plot_buf = None
        if plots and self.program.plots:
            plot_buf = np.full((len(self.program.plots), n), np.nan)
            lib.pe_vm_set_plot_buffer(self._vm, ffi.cast("double *", ffi.from_buffer(plot_buf)),
                                      n, len(self.program.plots))
        start = lib.pe_vm_bar_index(self._vm)
        lib.pe_vm_set_last_bar_index(self._vm, last_bar_index if last_bar_index is not None
                                     else start + n - 1)
        p = [ffi.cast("double *", ffi.from_buffer(x)) for x in cols]
        rc = lib.pe_vm_run(self._vm, n, ffi.cast("int64_t *", ffi.from_buffer(t)), *p,
                           ffi.cast("double *", ffi.from_buffer(vol)) if vol is not None
                           else ffi.NULL,
                           ffi.cast("double *", ffi.from_buffer(eq)) if eq is not None
                           else ffi.NULL)
        if plot_buf is not None:
            lib.pe_vm_set_plot_buffer(self._vm, ffi.NULL, 0, 0)
        if rc != lib.PE_OK:
            raise self._error(rc, -1)
        out = {}
        if plot_buf is not None:
            for i, title in enumerate(self.program.plots):
                out.setdefault(title, plot_buf[i])
        return eq, out

    def step(self, time_ms: int, open_: float, high: float, low: float, close: float,
             volume: float = math.nan) -> np.ndarray:
        """Process one closed bar; returns the order intents it produced."""
        self._one_t[0] = time_ms
        self._one[:, 0] = (open_, high, low, close, volume)
        lib.pe_vm_set_record_intents(self._vm, 1)
        rc = lib.pe_vm_run(self._vm, 1, ffi.cast("int64_t *", ffi.from_buffer(self._one_t)),
                           *[ffi.cast("double *", ffi.from_buffer(self._one[i]))
                             for i in range(5)], ffi.NULL)
        if rc != lib.PE_OK:
            raise self._error(rc, -1)
        return self.take_intents()

    def take_intents(self) -> np.ndarray:
        n = lib.pe_vm_intent_count(self._vm)
        if not n:
            return _NO_INTENTS      # most bars leave none: one read-only empty array for all
        out = np.zeros(n, dtype=INTENT_DTYPE)
        lib.pe_vm_take_intents(self._vm, ffi.cast("pe_vm_intent *", ffi.from_buffer(out)), n)
        return out

    def trades(self) -> np.ndarray:
        n = lib.pe_vm_trade_count(self._vm)
        out = np.zeros(n, dtype=TRADE_DTYPE)
        if n:
            lib.pe_vm_trades(self._vm, ffi.cast("pe_vm_trade *", ffi.from_buffer(out)), n)
        return out

    @property
    def refused_shorts(self) -> int:
        return int(lib.pe_vm_refused_shorts(self._vm))

    def slot(self, index: int) -> float:
        return float(lib.pe_vm_slot(self._vm, index))

    @property
    def position_size(self) -> float:
        return self.slot(lib.PE_S_POSITION_SIZE)

    def set_position(self, qty: float, avg_price: float) -> None:
        """With ``emulate=False``: the position the engine's account holds for this strategy
        (long; 0 = flat), read by ``strategy.position_size`` and friends on later bars."""
        if lib.pe_vm_set_position(self._vm, float(qty), float(avg_price)) != lib.PE_OK:
            raise MemoryError("strategy VM: out of memory")

    def string(self, index: int) -> str | None:
        """String number ``index``: the program's, or one the script made while running."""
        p = lib.pe_vm_string(self._vm, int(index))
        return None if p == ffi.NULL else ffi.string(p).decode("utf-8", errors="replace")

    def strings(self) -> list[str]:
        """Every string the VM knows, by index."""
        return [self.string(i) for i in range(lib.pe_vm_string_count(self._vm))]

    def describe_intents(self, intents: np.ndarray) -> list[dict]:
        """Intents with strings and enums resolved (for logs, the engine and tests)."""
        s = self.string

        def f(x):
            return None if math.isnan(x) else float(x)

        return [{"bar": int(r["bar"]), "kind": INTENT_KINDS[int(r["kind"])], "id": s(r["id"]),
                 "direction": "long" if r["dir"] > 0 else "short" if r["dir"] < 0 else None,
                 "from_entry": s(r["from_entry"]), "comment": s(r["comment"]),
                 "oca_name": s(r["oca"]), "qty": f(r["qty"]), "qty_percent": f(r["qty_percent"]),
                 "limit": f(r["limit"]), "stop": f(r["stop"]), "profit": f(r["profit"]),
                 "loss": f(r["loss"]), "trail_price": f(r["trail_price"]),
                 "trail_points": f(r["trail_points"]), "trail_offset": f(r["trail_offset"]),
                 "trail_percent": f(r["trail_percent"]),
                 "immediately": bool(r["immediately"])}
                for r in intents]
