"""Strategy DSL: a Pine Script subset compiled to bytecode and run by the C VM.

Stable public API (other packages import only these names):

- ``compile_source(text, filename="<string>", inputs=None, symbol="SYMBOL",
  timeframe="1") -> Program``: parse, check and compile. ``inputs`` overrides
  ``input.*()`` values by title (or by declaration index as ``"#0"``). Raises
  ``DslError`` (a ``pyengine.errors.UserError``) whose text is one
  ``file:line:col: message`` diagnostic with source line and caret per error.
- ``compile_file(path, inputs=None, ...) -> Program``.
- ``Program.to_bytes() / Program.from_bytes(data)``: the stored artefact
  (format in ``dsl.bytecode``); ``load_program(path)`` reads a ``.bc`` file.
- ``Vm(program, mintick=0.01, qty_step=0.0, mode="spot"|"tradingview")``: one live
  instance. ``vm.step(time_ms, open, high, low, close, volume) -> intents`` (numpy
  structured array, ``dsl.vm.INTENT_DTYPE``); ``vm.describe_intents(intents)`` gives
  dicts (kind entry/order/exit/close/close_all/cancel/cancel_all, id, direction, qty,
  limit, stop, ...); ``vm.position_size``.
- ``run_batch(program, bars, **vm_kwargs) -> Batch(intents, plots, equity)``: the same VM
  over a whole ``Bars`` array in one C call (bit-identical intents to stepping).
- ``signals(program, bars, **vm_kwargs) -> dict`` of bool arrays ``enter_long``,
  ``exit_long``, ``enter_short``, ``exit_short`` (market-order calls per bar).
- ``backtest(program, bars, mintick=..., qty_step=..., mode="spot") -> Result`` with
  ``trades`` (list of ``Trade``), ``equity`` (per bar) and ``summary`` (dict).
- ``Bars``, ``load_csv(path, cache_dir=None)``: bars as numpy arrays; Binance klines
  CSV(.gz) loader (empty volume cells become na).

Symbol settings come from the caller: ``mintick`` (PRICE_FILTER tickSize) and
``qty_step`` (LOT_SIZE stepSize); ``dsl.symbol`` derives them from the bundled
exchangeInfo and the data. ``Vm.step`` leaves ``last_bar_index`` unknown (-1), so
``barstate.islast`` is false while stepping live.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np

from dsl.backtest import Result, Trade, backtest
from dsl.bytecode import BytecodeError, Program
from dsl.compiler import compile_script
from dsl.data import Bars, load_csv
from dsl.errors import DslError
from dsl.parser import parse
from dsl.vm import INTENT_DTYPE, INTENT_KINDS, Vm

__all__ = ["compile_source", "compile_file", "load_program", "Program", "Vm", "run_batch",
           "signals", "backtest", "Result", "Trade", "Bars", "load_csv", "DslError",
           "BytecodeError", "INTENT_DTYPE", "Batch"]


def compile_source(text: str, filename: str = "<string>", inputs: dict | None = None,
                   symbol: str = "SYMBOL", timeframe: str = "1") -> Program:
    return compile_script(parse(text, filename), inputs=inputs, symbol=symbol,
                          timeframe=timeframe)


def compile_file(path, inputs: dict | None = None, symbol: str = "SYMBOL",
                 timeframe: str = "1") -> Program:
    p = pathlib.Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DslError([f"{p}: file not found"]) from None
    except UnicodeDecodeError as exc:
        raise DslError([f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    return compile_source(text, str(p), inputs=inputs, symbol=symbol, timeframe=timeframe)


def load_program(path) -> Program:
    p = pathlib.Path(path)
    try:
        return Program.from_bytes(p.read_bytes())
    except FileNotFoundError:
        raise DslError([f"{p}: file not found"]) from None
    except BytecodeError as exc:
        raise DslError([f"{p}: {exc}"]) from None


@dataclass
class Batch:
    intents: np.ndarray
    plots: dict
    equity: np.ndarray


def run_batch(program: Program, bars: Bars, **vm_kwargs) -> Batch:
    vm = Vm(program, **vm_kwargs)
    equity, plots = vm.run(bars.time, bars.open, bars.high, bars.low, bars.close, bars.volume,
                           plots=True)
    return Batch(vm.take_intents(), plots, equity)


def signals(program: Program, bars: Bars, **vm_kwargs) -> dict:
    it = run_batch(program, bars, **vm_kwargs).intents
    n = len(bars)
    out = {k: np.zeros(n, dtype=bool) for k in ("enter_long", "exit_long", "enter_short",
                                                "exit_short")}
    entry = it["kind"] == INTENT_KINDS_BY_NAME["entry"]
    out["enter_long"][it["bar"][entry & (it["dir"] > 0)]] = True
    out["enter_short"][it["bar"][entry & (it["dir"] < 0)]] = True
    closing = np.isin(it["kind"], [INTENT_KINDS_BY_NAME["close"],
                                   INTENT_KINDS_BY_NAME["close_all"]])
    out["exit_long"][it["bar"][closing]] = True
    out["exit_short"][it["bar"][closing]] = True
    return out


INTENT_KINDS_BY_NAME = {v: k for k, v in INTENT_KINDS.items()}
