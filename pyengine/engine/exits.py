"""Engine-side exit legs: the stop, take-profit and trailing legs of ``strategy.exit``.

A strategy's ``strategy.exit`` calls (``StrategyRunner`` hands over every one the VMs make)
define legs per (strategy, symbol, exit id); a later call with the same id replaces its
prices, as in Pine (spec §13.1). While the strategy holds a position, every trade of the
symbol is checked against them (long only, spot):

* stop: ``stop`` (a price) and/or ``loss`` (ticks below the entry); both: the higher;
* take-profit: ``limit`` and/or ``profit`` (ticks above the entry); both: the lower;
* trailing: arms when a trade reaches ``trail_price`` and/or ``entry + trail_points`` ticks
  (both: the lower), then follows the highest trade since (the water mark) and fires when a
  trade comes back ``trail_offset`` ticks below it, or ``trail_percent`` % of the water mark
  (rounded up to the tick, as Freqtrade rounds its trailing stop). A new leg arms at once
  when the bar it was called on closed at or above the activation level (water mark: that
  close), as spec §13.4 says. Unlike §13.4's backtest rule, a call that changes the trailing
  arguments keeps the water mark of the position (the highest trade since the leg armed,
  as Freqtrade's live ``max_rate``): the leg stays armed when the water mark is at or above
  the new activation level. Exported Freqtrade strategies restate their trailing leg with a
  new activation price after the entry bar; a reset would forget the trades in between.

The entry is the position's average fill price as the account holds it. Levels are rounded
to the symbol's tick. When a trade reaches a leg, ``fire(strategy, symbol, reason,
trade_ms, frame_ns)`` asks execution for a MARKET sell of the strategy's whole position
(the legs are one-cancels-other: whichever fires first closes the position, and the legs
go when the position is flat). Nothing rests on the exchange: a resting take-profit would
lock the coins that the stop, the trailing leg and the risk manager's protective exits
need at once (the same reason exchange-side stops are refused), and Freqtrade, where the
exported ROI tables and trailing stops come from, evaluates them in the bot as well.

Checked in C first: the legs of a symbol fold into one band of prices (``band``); the C
parser flags a trade outside it (``msg.exit_hit``), and only those trades, plus the trade
that closed a bar whose strategies changed the legs (``pending``), reach ``on_trade``. The
live engine and both replay loops call it on exactly those trades, so they decide alike,
and the C replay loop stops only on them.

Every change of a leg (defined, replaced, armed, a new water mark, dropped) is journaled
(kind ``exit``, through ``journal``: ``Journal.append``) and ``restore`` rebuilds the legs
from the journal after a restart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, Callable, Iterable

from pyengine.symbols import SymbolSpec

NO_LO, NO_HI = 0, 2**63 - 1
STOP, TAKE_PROFIT, TRAIL = "STOP", "TAKE_PROFIT", "TRAIL"


@dataclass(slots=True)
class Leg:
    """One ``strategy.exit`` id. Prices are fixed-point ints on the tick (0: absent);
    ``loss``/``profit``/``trail_points`` are ticks from the entry (NaN: absent)."""
    stop: int = 0
    loss: float = math.nan
    limit: int = 0
    profit: float = math.nan
    trail_price: int = 0
    trail_points: float = math.nan
    trail_offset: float = 0.0
    trail_percent: float = math.nan
    armed: bool = False
    hw: int = 0               # the water mark: highest trade since the trailing leg armed

    def trailing(self) -> tuple:
        return (self.trail_price, _key(self.trail_points), self.trail_offset,
                _key(self.trail_percent))

    def prices(self) -> tuple:
        return (self.stop, _key(self.loss), self.limit, _key(self.profit))

    def has_trailing(self) -> bool:
        return bool(self.trail_price) or not math.isnan(self.trail_points)

    def empty(self) -> bool:
        return (not self.stop and math.isnan(self.loss) and not self.limit
                and math.isnan(self.profit) and not self.has_trailing())


def _key(x: float) -> float | None:
    return None if math.isnan(x) else x


@dataclass(slots=True)
class Levels:
    """A leg's trigger prices for one entry price (0 / NO_HI: absent)."""
    stop: int
    limit: int
    act: int


class Position:
    __slots__ = ("legs", "held", "entry", "opened")

    def __init__(self) -> None:
        self.legs: dict[str, Leg] = {}
        self.held = False         # the legs are live
        self.entry = 0            # average entry price, fixed point
        self.opened = False       # held since the legs were defined: flat again drops them


class ExitLegs:
    def __init__(self, specs: dict[str, SymbolSpec],
                 fire: Callable[[str, str, str, int, int], Any],
                 journal: Callable[..., Any] = lambda kind, data, **keys: None,
                 band: Callable[[str, int, int], None] = lambda s, lo, hi: None):
        self.fire, self.journal, self.band = fire, journal, band
        self._scale = {s: 10 ** sp.price_scale for s, sp in specs.items()}
        self._ps = {s: sp.price_scale for s, sp in specs.items()}
        self._tick = {s: int(sp.tick_size.scaleb(sp.price_scale)) or 1 for s, sp in specs.items()}
        self.positions: dict[tuple[str, str], Position] = {}
        self.pending: set[str] = set()     # symbols whose legs changed on this trade's bar
        # the raw intent of each live leg's last call (StrategyRunner skips a restatement by it)
        self._calls: dict[tuple[str, str], set[bytes]] = {}
        self.fired = 0

    # ------------------------------------------------------------ definitions

    def price(self, symbol: str, x: float) -> int:
        """A price of the VM (float) as a fixed-point int on the nearest tick."""
        tick = self._tick[symbol]
        return round(x * self._scale[symbol] / tick) * tick

    def restated(self, strategy: str, symbol: str, call: bytes) -> bool:
        """Whether ``call`` (a VM intent's bytes without its bar) is the last call of one of
        the strategy's legs on the symbol: then ``on_exit`` would change nothing."""
        calls = self._calls.get((strategy, symbol))
        return calls is not None and call in calls

    def on_exit(self, strategy: str, symbol: str, exit_id: str, *, stop: float, loss: float,
                limit: float, profit: float, trail_price: float, trail_points: float,
                trail_offset: float, trail_percent: float = math.nan, close: float,
                call: bytes | None = None) -> None:
        """A ``strategy.exit`` call made on a bar that closed at ``close`` (``call``: its
        intent's bytes, for ``restated``)."""
        if call is not None:
            # one entry per exit id: the id is inside the bytes, so drop the id's last call
            calls = self._calls.setdefault((strategy, symbol), set())
            calls.difference_update([c for c in calls if c[:4] == call[:4]])
            calls.add(call)
        leg = Leg(stop=self._abs(symbol, stop), loss=loss, limit=self._abs(symbol, limit),
                  profit=profit, trail_price=self._abs(symbol, trail_price),
                  trail_points=trail_points,
                  trail_offset=0.0 if math.isnan(trail_offset) else trail_offset,
                  trail_percent=trail_percent)
        pos = self.positions.setdefault((strategy, symbol), Position())
        old = pos.legs.get(exit_id)
        if leg.empty():
            if old is not None:
                del pos.legs[exit_id]
                self._changed(strategy, symbol, exit_id, None)
            return
        if old is not None and old.trailing() == leg.trailing() and old.prices() == leg.prices():
            return                           # a restatement: nothing changes
        if pos.held and leg.has_trailing():
            act = self.levels(symbol, leg, pos.entry).act
            c = self.price(symbol, close)
            if old is not None and old.armed and old.hw >= act:
                leg.armed, leg.hw = True, old.hw
            elif c >= act:
                leg.armed, leg.hw = True, max(c, old.hw if old is not None else 0)
        elif old is not None:
            leg.armed, leg.hw = old.armed, old.hw
        pos.legs[exit_id] = leg
        self._changed(strategy, symbol, exit_id, leg)

    def _abs(self, symbol: str, x: float) -> int:
        return 0 if math.isnan(x) or x <= 0 else self.price(symbol, x)

    def on_position(self, strategy: str, symbol: str, qty: Decimal, avg: Decimal) -> None:
        """The strategy's position as the account holds it (qty 0: flat, dust included)."""
        pos = self.positions.get((strategy, symbol))
        if pos is None:
            if not qty:
                return
            pos = self.positions[(strategy, symbol)] = Position()
        held = qty > 0
        entry = int(avg.scaleb(self._ps[symbol]).to_integral_value()) if held else 0
        if not held and pos.opened:
            pos.opened = False
            self._calls.pop((strategy, symbol), None)
            for exit_id in list(pos.legs):
                del pos.legs[exit_id]
                self._changed(strategy, symbol, exit_id, None, update_band=False)
        pos.held, pos.entry = held, entry
        if held and pos.legs and not pos.opened:
            pos.opened = True
            for exit_id, leg in pos.legs.items():
                self._changed(strategy, symbol, exit_id, leg, update_band=False)
        self._update_band(symbol)
        self.pending.add(symbol)

    def _changed(self, strategy: str, symbol: str, exit_id: str, leg: Leg | None,
                 update_band: bool = True) -> None:
        pos = self.positions[(strategy, symbol)]
        self.journal("exit", {"strategy": strategy, "symbol": symbol, "id": exit_id,
                              "leg": None if leg is None else _to_json(leg),
                              "opened": pos.opened}, symbol=symbol, strategy_id=strategy)
        if update_band:
            self._update_band(symbol)
            self.pending.add(symbol)

    # ------------------------------------------------------------ trades

    def levels(self, symbol: str, leg: Leg, entry: int) -> Levels:
        tick = self._tick[symbol]

        def rel(ticks: float, sign: int) -> int:
            return 0 if math.isnan(ticks) else round((entry + sign * ticks * tick) / tick) * tick

        stop = max(leg.stop, rel(leg.loss, -1))
        limit = min(leg.limit or NO_HI, rel(leg.profit, 1) or NO_HI)
        act = min(leg.trail_price or NO_HI, rel(leg.trail_points, 1) or NO_HI)
        return Levels(stop, limit, act)

    def trail_stop(self, symbol: str, leg: Leg) -> int:
        """Where an armed trailing leg fires: ``trail_offset`` ticks below the water mark,
        or ``trail_percent`` % of it below, rounded up to the tick (exactly)."""
        tick = self._tick[symbol]
        if math.isnan(leg.trail_percent):
            return leg.hw - round(leg.trail_offset) * tick
        stop = Decimal(leg.hw) * (1 - Decimal(repr(leg.trail_percent)) / 100)
        return math.ceil(stop / tick) * tick

    def on_trade(self, symbol: str, price: int, time_ms: int, frame_ns: int) -> None:
        """A trade the C parser flagged (or the closing trade of a bar that changed the
        legs): move the trailing legs, fire the first leg it reaches."""
        self.pending.discard(symbol)
        moved = False
        for (strategy, sym), pos in self.positions.items():
            if sym != symbol or not pos.held or not pos.legs:
                continue
            reason = None
            for exit_id, leg in pos.legs.items():
                lv = self.levels(symbol, leg, pos.entry)
                if leg.has_trailing():
                    if not leg.armed and price >= lv.act:
                        leg.armed, leg.hw = True, price
                        self._changed(strategy, symbol, exit_id, leg, update_band=False)
                        moved = True
                    elif leg.armed and price > leg.hw:
                        leg.hw = price
                        self._changed(strategy, symbol, exit_id, leg, update_band=False)
                        moved = True
                # at one price the hard stop wins over the trailing leg, which wins over the
                # take-profit (spec §13.4); any of them sells the whole position
                if lv.stop and price <= lv.stop:
                    hit = STOP
                elif leg.armed and price <= self.trail_stop(symbol, leg):
                    hit = TRAIL
                elif price >= lv.limit:
                    hit = TAKE_PROFIT
                else:
                    continue
                if reason is None or _RANK[hit] < _RANK[reason]:
                    reason = hit
            if reason is not None:
                self.fired += 1
                self.fire(strategy, symbol, reason, time_ms, frame_ns)
        if moved:
            self._update_band(symbol)

    def _update_band(self, symbol: str) -> None:
        """The band of trade prices that change nothing: strictly between the highest price
        that fires a leg on the way down and the lowest that fires, arms or raises one on
        the way up."""
        lo, hi = NO_LO, NO_HI
        for (_, sym), pos in self.positions.items():
            if sym != symbol or not pos.held:
                continue
            for leg in pos.legs.values():
                lv = self.levels(symbol, leg, pos.entry)
                lo = max(lo, lv.stop)
                hi = min(hi, lv.limit)
                if leg.armed:
                    lo = max(lo, self.trail_stop(symbol, leg))
                    hi = min(hi, leg.hw + 1)
                elif leg.has_trailing():
                    hi = min(hi, lv.act)
        self.band(symbol, max(lo, 0), max(hi, lo + 1))

    # ------------------------------------------------------------ restart

    def restore(self, records: Iterable[dict]) -> int:
        """Rebuild the legs from the journal's ``exit`` records (oldest first); the
        positions follow from ``on_position``. Returns how many legs came back."""
        for data in records:
            key = (data["strategy"], data["symbol"])
            if data["symbol"] not in self._tick:
                continue
            pos = self.positions.setdefault(key, Position())
            pos.opened = data["opened"]
            if data["leg"] is None:
                pos.legs.pop(data["id"], None)
            else:
                pos.legs[data["id"]] = _from_json(data["leg"])
        for key, pos in list(self.positions.items()):
            if not pos.legs:
                del self.positions[key]
        return sum(len(p.legs) for p in self.positions.values())


_RANK = {STOP: 0, TRAIL: 1, TAKE_PROFIT: 2}


_FIELDS = tuple(f.name for f in fields(Leg))


def _to_json(leg: Leg) -> dict:
    out = {}
    for k in _FIELDS:
        v = getattr(leg, k)
        out[k] = None if v != v else v          # NaN (absent) -> null
    return out


def _from_json(d: dict) -> Leg:
    return Leg(**{k: math.nan if v is None else v for k, v in d.items()})
