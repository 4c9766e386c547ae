"""The strategy runner: closed bars -> VM steps -> decisions.

One C VM instance per (strategy, symbol). A closed bar (from the kline stream or built from
trades by the kline ledger) is stepped through every instance on that series; the intents
it emits become :class:`Decision` objects for execution:

* ``strategy.entry`` (long) -> an ``entry`` decision; its protective stop comes from the
  ``strategy.exit`` of the same bar (``stop`` price, or ``loss`` in ticks below the close);
  none -> the risk manager's default stop;
* ``strategy.close`` / ``close_all`` -> an ``exit`` decision (sell what the strategy holds);
  the VM reports a short ``strategy.entry`` under
  ``strategy.risk.allow_entry_in(strategy.direction.long)`` as the ``close_all`` it is;
* every ``strategy.exit`` goes to the engine-side exit legs (``engine/exits.py``): its stop,
  take-profit and trailing legs, checked on every trade of the symbol while the strategy
  holds a position; cancels are moot for market orders: they are counted, not acted on.

Partial exits (``qty``/``qty_percent`` of ``strategy.exit``) are refused when the strategy is
loaded, naming the line: a leg sells the strategy's whole position.

No decision is acted on when the book is out of sync or stale (``is_fresh``): the bar still
advances the VM, so indicators never skip a bar, but its decisions are dropped and counted
(``log``, when set, still sees them, marked not fresh: the replay's decision log).

The VMs run without their broker emulator: the engine owns the fills. ``sync_positions``
gives every VM its strategy's position as the account holds it (fills of its own orders and
of the protective exits the engine made on its behalf), so ``strategy.position_size`` never
shows a position the account no longer has, nor hides one it has.
"""
from __future__ import annotations

import math
import pathlib
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Iterable, Mapping

from dsl import compile_file
from dsl.vm import INTENT_KINDS, Vm
from pyengine._core import lib
from pyengine.engine.exits import ExitLegs
from pyengine.errors import UserError
from pyengine.ledger import Bar
from pyengine.state import Portfolio

# Pine's timeframe strings for the ledger's intervals (timeframe.* built-ins).
_PINE_TF = {"1s": "1S", "1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60",
            "2h": "120", "4h": "240", "6h": "360", "8h": "480", "12h": "720", "1d": "D",
            "3d": "3D", "1w": "W"}
_ENTRY, _EXIT, _CLOSE, _CLOSE_ALL = (k for name in ("entry", "exit", "close", "close_all")
                                     for k, v in INTENT_KINDS.items() if v == name)


@dataclass
class StrategySpec:
    id: str
    pine: pathlib.Path
    symbols: list[str]
    interval: str = "1m"
    source: str = "kline"            # "kline": the kline stream; "trades": bars built from trades
    inputs: dict = field(default_factory=dict)


@dataclass(slots=True)
class Decision:
    strategy_id: str
    symbol: str
    kind: str                 # "entry" | "exit"
    bar_open_ms: int
    rank: int                 # n-th decision of this strategy on this bar and symbol
    close: float              # the bar's close (reference price for sizing)
    stop: float               # protective stop price for an entry (0: risk default)
    frame_ns: int             # monotonic ns: the frame that closed the bar was received
    decided_ns: int           # monotonic ns: the VM step returned


class Instance:
    __slots__ = ("spec", "symbol", "vm", "mintick", "bars", "decisions")

    def __init__(self, spec: StrategySpec, symbol: str, vm: Vm, mintick: float):
        self.spec, self.symbol, self.vm, self.mintick = spec, symbol, vm, mintick
        self.bars = 0
        self.decisions = 0


def live_exit_legs(program) -> list[str]:
    """The kinds of ``strategy.exit`` legs a program can set (``stop``, ``take-profit``,
    ``trailing``), all run engine-side; a partial exit, which the engine cannot honour live,
    is refused naming its line, never silently dropped."""
    written = {ins[1] for ins in program.code if ins[0] == lib.PE_OP_MOV}

    def given(slot: int) -> bool:
        return slot in written or not math.isnan(program.init[slot])

    legs = set()
    for ins, line in zip(program.code, program.lines):
        if ins[0] not in (lib.PE_OP_EXIT, lib.PE_OP_EXIT_TRAIL):
            continue
        block = ins[2]      # [id, from_entry, qty, qty_percent, profit, limit, loss, stop, ...]
        pct = block + 3
        if given(block + 2) or pct in written or given(pct) and program.init[pct] != 100.0:
            raise UserError(f"{program.filename}:{line}: cannot run live: strategy.exit "
                            f"partial exits (qty/qty_percent) are backtest only (an exit leg "
                            f"sells the strategy's whole position)")
        if given(block + 6) or given(block + 7):
            legs.add("stop")
        if given(block + 4) or given(block + 5):
            legs.add("take-profit")
        if ins[0] == lib.PE_OP_EXIT_TRAIL:
            legs.add("trailing")
    return sorted(legs)


class StrategyRunner:
    """``on_bar`` is the ledger's close callback; ``decide(decision)`` receives decisions."""

    def __init__(self, specs: Iterable[StrategySpec], tick_step: Callable[[str], tuple[float, float]],
                 decide: Callable[[Decision], None], is_fresh: Callable[[str], bool],
                 frame_ns: Callable[[], int] = time.monotonic_ns,
                 clock: Callable[[], int] = time.monotonic_ns):
        self.specs = list(specs)
        self.decide = decide
        self.is_fresh = is_fresh
        self.frame_ns = frame_ns      # receive time of the frame that closed the bar
        self.clock = clock            # monotonic ns: when a decision was made
        self.instances: dict[tuple[str, str], list[Instance]] = {}
        self.by_strategy: dict[tuple[str, str], list[Instance]] = {}   # (strategy id, symbol)
        self._synced: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
        self.skipped_stale = 0        # bars whose intents were dropped: book stale / out of sync
        self.ignored_intents = 0      # cancels and raw orders
        self.warming = False
        self.log: Callable[[Decision, bool], None] | None = None   # every decision, acted on or not
        self.exits: ExitLegs | None = None      # gets every strategy.exit and position
        self._exits_told: set[tuple[str, str]] = set()
        for spec in self.specs:
            for sym in spec.symbols:
                program = compile_file(spec.pine, inputs=spec.inputs or None, symbol=sym,
                                       timeframe=_PINE_TF.get(spec.interval, "1"))
                live_exit_legs(program)
                tick, step = tick_step(sym)
                vm = Vm(program, mintick=tick, qty_step=step, mode="spot", emulate=False)
                inst = Instance(spec, sym, vm, tick)
                self.instances.setdefault((sym, spec.interval), []).append(inst)
                self.by_strategy.setdefault((spec.id, sym), []).append(inst)

    def series(self) -> list[tuple[str, str, str]]:
        """(symbol, interval, source) of every bar series the strategies need."""
        out = {}
        for spec in self.specs:
            for sym in spec.symbols:
                out[(sym, spec.interval)] = spec.source
        return [(s, i, src) for (s, i), src in out.items()]

    def sync_positions(self, portfolio: Portfolio, min_notional: Mapping[str, Decimal]) -> int:
        """Give each VM its strategy's position from the account (per-strategy portfolio);
        a remainder worth less than the symbol's minimum notional (commission dust, which
        cannot be sold) is flat. Only changed positions reach the VMs; returns how many."""
        changed = 0
        for key, insts in self.by_strategy.items():
            sid, sym = key
            pos = portfolio.position(sid, sym)
            mark = portfolio.mark_price(sym) or pos.avg_price
            qty = pos.qty if pos.qty * mark >= min_notional.get(sym, Decimal(0)) else Decimal(0)
            now = (qty, pos.avg_price if qty else Decimal(0))
            if self.exits is not None and (key not in self._exits_told
                                           or self._synced.get(key) != now):
                # legs restored after a restart learn at once whether their position is there
                self._exits_told.add(key)
                self.exits.on_position(sid, sym, *now)
            if self._synced.get(key, (Decimal(0), Decimal(0))) == now:
                continue
            self._synced[key] = now
            changed += 1
            for inst in insts:
                inst.vm.set_position(float(now[0]), float(now[1]))
        return changed

    def warm(self, symbol: str, interval: str, bars: Iterable[Bar]) -> int:
        """Step history through the VMs of a series without acting on it."""
        n = 0
        self.warming = True
        try:
            for bar in bars:
                self.on_bar(symbol, interval, bar)
                n += 1
        finally:
            self.warming = False
        return n

    def on_bar(self, symbol: str, interval: str, bar: Bar) -> None:
        insts = self.instances.get((symbol, interval))
        if not insts:
            return
        frame_ns = self.frame_ns()
        stepped = []
        for inst in insts:
            stepped.append((inst, inst.vm.step(bar.open_time, bar.open, bar.high, bar.low,
                                               bar.close, bar.volume)))
            inst.bars += 1
        if not self.warming:
            self._act_on(symbol, bar, stepped, frame_ns)

    def on_stepped(self, symbol: str, interval: str, n: int, bars: list[Bar] | None) -> None:
        """The series' VMs already ran ``n`` bars (the replay's C feed runs them itself).
        ``bars``: those bars when a VM left an intent to act on, acted on bar by bar and
        VM by VM as ``on_bar`` does; None when none did (the feed dropped the rest)."""
        insts = self.instances[(symbol, interval)]
        for inst in insts:
            inst.bars += n
        if bars is None:
            return
        taken = [(inst, inst.vm.take_intents()) for inst in insts]
        if self.warming:
            return
        # only the bars some VM left intents on, each with the VMs' intents of that bar in
        # VM order: what acting on every bar does, without a mask per bar and VM
        by_bar: dict[int, list] = {}
        for inst, intents in taken:
            if not len(intents):
                continue
            base = inst.bars - n
            rows = intents["bar"].tolist()
            if rows.count(rows[0]) == len(rows):
                by_bar.setdefault(rows[0] - base, []).append((inst, intents))
                continue
            for b in sorted(set(rows)):
                by_bar.setdefault(b - base, []).append((inst, intents[intents["bar"] == b]))
        frame_ns = self.frame_ns()
        for j in sorted(by_bar):
            if 0 <= j < len(bars):
                self._act_on(symbol, bars[j], by_bar[j], frame_ns)

    def _act_on(self, symbol: str, bar: Bar, stepped: list, frame_ns: int) -> None:
        """Act on each VM's intents of one bar (``stepped``: [(instance, intents)])."""
        fresh = None
        for inst, intents in stepped:
            if not len(intents):
                continue
            if fresh is None:
                fresh = self.is_fresh(symbol)
            if not fresh:
                self.skipped_stale += 1
            self._act(inst, bar, intents, frame_ns, fresh)

    def _exit_legs(self, inst: Instance, bar: Bar, intents, kinds: list) -> None:
        """Exit legs are state, not orders: they follow the strategy whether or not the
        book is fresh (the trades that fire them come later). A call the exit legs already
        have (same id and arguments: a strategy restating its exit every bar) is skipped by
        its bytes, before anything is converted."""
        size = intents.itemsize
        raw = intents.tobytes()
        legs, sid, sym = self.exits, inst.spec.id, inst.symbol
        for i, k in enumerate(kinds):
            if k != _EXIT:
                continue
            call = raw[i * size + 8:(i + 1) * size]     # all but the bar index and kind
            if legs.restated(sid, sym, call):
                continue
            r = intents[i].tolist()
            legs.on_exit(sid, sym, inst.vm.string(r[2]), limit=r[12], stop=r[13], profit=r[14],
                         loss=r[15], trail_price=r[16], trail_points=r[17], trail_offset=r[18],
                         trail_percent=r[19], close=bar.close, call=call)

    def _act(self, inst: Instance, bar: Bar, intents, frame_ns: int, fresh: bool) -> None:
        # the fields as Python lists: a numpy record per field read costs more than the rest
        kinds, dirs = intents["kind"].tolist(), intents["dir"].tolist()
        if self.exits is not None and _EXIT in kinds:
            self._exit_legs(inst, bar, intents, kinds)
        stop = 0.0
        for k, s, loss in zip(kinds, intents["stop"].tolist(), intents["loss"].tolist()):
            if k != _EXIT:
                continue
            if not math.isnan(s):
                stop = s
            elif not math.isnan(loss):
                stop = bar.close - loss * inst.mintick
        rank = 0
        for k, direction in zip(kinds, dirs):
            if k == _ENTRY and direction > 0:
                kind = "entry"
            elif k in (_CLOSE, _CLOSE_ALL):
                kind = "exit"
            elif k == _EXIT:
                continue                 # the exit legs have it
            else:
                self.ignored_intents += 1
                continue
            d = Decision(inst.spec.id, inst.symbol, kind, bar.open_time, rank, bar.close,
                         stop if kind == "entry" and 0 < stop < bar.close else 0.0,
                         frame_ns, self.clock())
            rank += 1
            if self.log is not None:
                self.log(d, fresh)
            if fresh:
                inst.decisions += 1
                self.decide(d)
