"""The compiled-strategy artefact and its file format.

File format, version 3: the 6 bytes ``PEBC1\\n`` followed by one UTF-8 JSON object:

- ``format``: 1; ``pine_version``: 4/5/6; ``filename``; ``source_sha256``
- ``code``: list of instructions ``[op, d, a, b, c, e]`` (opcodes: ``PE_OP_*`` in
  ``csrc/vm.h``; ``d`` destination slot, ``a``/``b``/``c`` operand slots, jump target in
  ``b`` for JMP/JF/JT/VARJ, function code in ``c`` for MATH1/MATH2, history index in
  ``c`` for HIST, plot index in ``c`` for PLOT; the fused compare-and-branch opcodes
  ``JF_LT .. JF_OR`` compute ``d = a OP b`` and jump to ``c`` when it is false, and
  ``JF_CROSSOVER``, ``JF_CROSSUNDER``, ``JF_CROSS`` (format 3) compute ``d =
  ta.crossover(a, b)`` (...) with that call site's state and jump to ``c`` when it is
  false; ``e`` is filled in by the VM loader)
- ``lines``: source line of each instruction (for runtime error messages)
- ``init``: initial value of every slot (``null`` = na). Slots ``0..47`` are the VM's
  reserved built-ins (``PE_S_*``); constants and inputs are pre-set slots.
- ``hist``: ``[[slot, depth], ...]`` series whose past values ``x[n]`` are read
- ``n_var``: number of ``var`` declarations (one-shot initialisers)
- ``strings``: string table (string values are indexes into it)
- ``config``: the ``strategy()`` settings; ``plots``: plot titles; ``inputs``: the
  resolved inputs ``{title, kind, value}``
- ``kind``: "strategy" or "indicator"

Strings are indexes into ``strings``; SCONCAT (``d = a + b``) and TOSTR (``d =
str.tostring(a)``, format code in ``c``, decimals slot in ``b``: ``PE_F_*``) make new ones
at run time, interned by the VM. TRADE reads ``strategy.opentrades.*`` /
``closedtrades.*`` fields (``c`` = ``PE_T_*`` code, ``a`` = trade index slot).

ta.* opcodes keep per-call-site state the loader allocates from their constant length
operands (``b``; ``b``/``c`` for pivots, ``c`` for valuewhen). ALMA reads its constant
``[offset, sigma, floor]`` from the three slots starting at ``c``; SUPERTREND writes
``d``, ``d+1`` and VWAP_ANCHORED ``d``..``d+2`` (``[vwap, upper, lower]``).

Argument blocks of the order opcodes (``a`` = first slot of the block):
ENTRY/ORDER ``[id, dir, qty, limit, stop, oca_name, oca_type, comment]``,
EXIT ``[id, from_entry, qty, qty_percent, profit, limit, loss, stop, comment]``,
EXIT_TRAIL (strategy.exit with trailing arguments) the EXIT block then ``[trail_price,
trail_points, trail_offset, trail_percent]`` (format 2; format 1 had no trail_percent),
CLOSE ``[id, qty, qty_percent, comment, immediately]``, CLOSE_ALL ``[comment,
immediately]``, CANCEL ``[id]``, CANCEL_ALL ``[]``.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

MAGIC = b"PEBC1\n"
FORMAT = 3
N_RESERVED = 48


class BytecodeError(ValueError):
    """A .bc file that is not a valid compiled strategy."""


@dataclass
class Program:
    code: list            # [[op, d, a, b, c, e], ...]
    lines: list
    init: list            # floats (NaN = na)
    hist: list            # [[slot, depth], ...]
    n_var: int
    strings: list
    config: dict
    plots: list
    inputs: list
    kind: str
    pine_version: int
    filename: str = "<string>"
    source_sha256: str = ""
    short_lines: list = field(default_factory=list)  # lines of constant short entries

    def to_bytes(self) -> bytes:
        body = {
            "format": FORMAT, "pine_version": self.pine_version, "filename": self.filename,
            "source_sha256": self.source_sha256, "kind": self.kind, "code": self.code,
            "lines": self.lines,
            "init": [None if math.isnan(v) else v for v in self.init],
            "hist": self.hist, "n_var": self.n_var, "strings": self.strings,
            "config": self.config, "plots": self.plots, "inputs": self.inputs,
            "short_lines": self.short_lines,
        }
        return MAGIC + json.dumps(body, separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Program":
        if not isinstance(data, (bytes, bytearray)) or not data.startswith(MAGIC):
            raise BytecodeError("not a pyengine bytecode file (bad magic)")
        try:
            body = json.loads(bytes(data[len(MAGIC):]).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise BytecodeError(f"corrupt bytecode body: {exc}") from None
        return cls._validated(body)

    @classmethod
    def _validated(cls, b) -> "Program":
        def need(cond: bool, what: str) -> None:
            if not cond:
                raise BytecodeError(f"invalid bytecode: {what}")

        need(isinstance(b, dict), "body is not an object")
        need(b.get("format") == FORMAT, f"unsupported format {b.get('format')!r} (this version reads "
                                        f"format {FORMAT}: compile the .pine file again)")
        init = b.get("init")
        need(isinstance(init, list) and len(init) >= N_RESERVED, "init")
        need(all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                 for v in init), "init values")
        n = len(init)
        code = b.get("code")
        need(isinstance(code, list) and len(code) >= 1, "code")
        for ins in code:
            need(isinstance(ins, list) and len(ins) == 6 and
                 all(isinstance(x, int) and not isinstance(x, bool) and -2**31 <= x < 2**31
                     for x in ins), "instruction shape")
        lines = b.get("lines")
        need(isinstance(lines, list) and len(lines) == len(code) and
             all(isinstance(x, int) for x in lines), "lines")
        hist = b.get("hist")
        need(isinstance(hist, list) and all(
            isinstance(h, list) and len(h) == 2 and all(isinstance(x, int) for x in h) and
            0 <= h[0] < n and 1 <= h[1] <= 10_000_000 for h in hist), "hist")
        need(isinstance(b.get("n_var"), int) and 0 <= b["n_var"] < 2**31, "n_var")
        strings = b.get("strings")
        need(isinstance(strings, list) and all(isinstance(s, str) for s in strings), "strings")
        need(isinstance(b.get("config"), dict), "config")
        need(isinstance(b.get("plots"), list) and all(isinstance(p, str) for p in b["plots"]),
             "plots")
        need(isinstance(b.get("inputs"), list), "inputs")
        need(b.get("kind") in ("strategy", "indicator"), "kind")
        need(b.get("pine_version") in (4, 5, 6), "pine_version")
        return cls(code=code, lines=lines,
                   init=[math.nan if v is None else float(v) for v in init], hist=hist,
                   n_var=b["n_var"], strings=strings, config=b["config"], plots=b["plots"],
                   inputs=b["inputs"], kind=b["kind"], pine_version=b["pine_version"],
                   filename=str(b.get("filename", "<bytecode>")),
                   source_sha256=str(b.get("source_sha256", "")),
                   short_lines=list(b.get("short_lines", [])))

    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()
