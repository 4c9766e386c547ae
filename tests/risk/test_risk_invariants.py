"""Stateful property test: a random trading session (price paths with gaps, entries,
exits, partial fills, rejections, out-of-sync and stale books, clock moves across day and
ISO-week boundaries, kill switch, graceful and crash restarts) against an independent
model of the exchange account. After every step:

- deployed capital (positions at mark + open buy orders) <= 70 % of equity;
- no open position whose loss at its stop (fees and slippage included) is 1 % of equity
  or more;
- no new entry once the day's or the week's loss has reached 3 % (until the boundary);
- never short, never a sell of more than is held;
- a restart restores the state unchanged (graceful) or at least every durable fact
  (crash);
- the risk manager's equity and positions equal the model's.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from decimal import Decimal

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pyengine.bundled import EXCHANGE_INFO
from risk import (BUY, LIMIT, MARKET, PROTECTIVE, RESIZE, SELL, Quote, RiskConfig, RiskManager,
                  SqliteRiskStore, load_exchange_info)
from risk.reasons import CODES

SECOND = 1_000_000_000
DAY = 86_400 * SECOND
T0 = 1_723_161_600_000_000_000 - 3600 * SECOND    # 2024-08-08 23:00 UTC, a Thursday
RULES = load_exchange_info(EXCHANGE_INFO)
# prices near the bundled recordings of 2024-08-08/09 (BTC, ETH) and 2021 ZEC
START_PX = {"BTCUSDT": 6_110_000, "ETHUSDT": 262_000, "ZECUSDT": 1_450}
SYMBOLS = tuple(START_PX)
FEE_BPS = 10                                       # what the model's exchange charges
CASH = 20_000 * 10**8


def _fee(notional: int) -> int:
    return -(-notional * FEE_BPS // 10_000)


def _day(wall: int) -> int:
    return wall // DAY


def _week(wall: int) -> tuple[int, int]:
    iso = dt.datetime.fromtimestamp(wall // SECOND, dt.timezone.utc).isocalendar()
    return iso.year, iso.week


class RiskSession(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="risk-sm-")
        self.path = os.path.join(self.dir, "risk.db")
        self.cfg = RiskConfig(symbols=SYMBOLS)
        self.wall, self.mono = T0, 1_000 * SECOND
        self.rm = self._open()
        self.idx = {s: self.rm.index(s) for s in SYMBOLS}
        self.px = dict(START_PX)
        self.quotes = {s: Quote() for s in SYMBOLS}
        for s in SYMBOLS:
            self._quote(s)
            assert self.rm.on_mark(self.idx[s], self.mark(s), self.wall) == []
        # the exchange as the model sees it
        self.cash = CASH
        self.hold = {s: 0 for s in SYMBOLS}
        self.cost = {s: 0 for s in SYMBOLS}       # quote paid for the holding, fees included
        self.orders: dict[str, list] = {}         # id -> [symbol, side, price, open qty]
        self.n = 0
        self.day_anchor = self.week_anchor = self.equity()
        self.day_key, self.week_key = _day(self.wall), _week(self.wall)
        self.reached_day = self.reached_week = False
        self.entries = self.refused_after_limit = 0

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # ----- helpers ------------------------------------------------------------------------
    def _open(self) -> RiskManager:
        return RiskManager(self.cfg, RULES, SqliteRiskStore(self.path), wall_ns=self.wall,
                           initial_cash=Decimal(CASH).scaleb(-8))

    def _mul(self, sym: str) -> int:
        r = RULES[sym]
        return 10 ** (8 - r.price_scale - r.qty_scale)

    def _quote(self, sym: str) -> None:
        q, px, tick = self.quotes[sym], self.px[sym], RULES[sym].tick
        q.bid, q.ask = px - tick, px + tick
        q.buy_impact = q.sell_impact = tick
        q.synced, q.updated_ns = True, self.mono

    def mark(self, sym: str) -> int:
        return self.quotes[sym].bid

    def equity(self) -> int:
        return self.cash + sum(self.hold[s] * self.mark(s) * self._mul(s) for s in SYMBOLS)

    def _oid(self) -> str:
        self.n += 1
        return f"o{self.n}"

    def _observe(self) -> None:
        """The model's own view of the loss limits (independent of the manager's)."""
        e = self.equity()
        if (self.day_anchor - e) * 10_000 >= self.day_anchor * 300:
            self.reached_day = True
        if (self.week_anchor - e) * 10_000 >= self.week_anchor * 300:
            self.reached_week = True

    def _fill(self, oid: str, qty: int, price: int) -> None:
        sym, side = self.orders[oid][0], self.orders[oid][1]
        notional = qty * price * self._mul(sym)
        fee = _fee(notional)
        if side == BUY:
            self.cash -= notional + fee
            self.hold[sym] += qty
            self.cost[sym] += notional + fee
        else:
            assert qty <= self.hold[sym], "oversell reached the exchange"
            self.cost[sym] -= self.cost[sym] * qty // self.hold[sym]
            self.hold[sym] -= qty
            self.cash += notional - fee
        self.orders[oid][3] -= qty
        if self.orders[oid][3] == 0:
            del self.orders[oid]
        actions = self.rm.on_fill(oid, qty, price, self.wall, fee_quote=fee)
        self._observe()
        self._execute(actions)

    def _execute(self, actions) -> None:
        for a in actions:
            if a.kind == "exit":
                sym = a.symbol
                if a.qty > self.hold[sym] - self._open_sells(sym):
                    continue    # made stale by an earlier action's fill; the gate refuses it
                oid = self._oid()
                code = self.rm.check(oid, a.index, SELL, MARKET, 0, a.qty, 0, self.quotes[sym],
                                     self.mono, self.wall, PROTECTIVE)
                if code:
                    # only dust below the exchange minimums may be unsellable
                    assert CODES[code] in ("MIN_NOTIONAL", "LOT_SIZE"), CODES[code]
                    continue
                assert a.qty <= self.hold[sym] - self._open_sells(sym)
                self.orders[oid] = [sym, SELL, 0, a.qty]
                self._fill(oid, a.qty, self.quotes[sym].bid)
            elif a.kind in ("cancel", "cancel_all"):
                for oid in [a.order_id] if a.kind == "cancel" else list(self.orders):
                    if oid in self.orders:
                        del self.orders[oid]
                        self.rm.on_order_done(oid)

    def _open_sells(self, sym: str) -> int:
        return sum(o[3] for o in self.orders.values() if o[0] == sym and o[1] == SELL)

    # ----- market -------------------------------------------------------------------------
    # a downward drift, so that stops fire and loss limits are reached in a session
    @rule(sym=st.sampled_from(SYMBOLS), bps=st.integers(-400, 250),
          gap=st.sampled_from([False] * 4 + [True]), seconds=st.integers(0, 5))
    def move(self, sym, bps, gap, seconds):
        if gap:
            bps *= 5                                   # up to 15 % in one jump
        r = RULES[sym]
        px = max(r.tick * 10, self.px[sym] * (10_000 + bps) // 10_000)
        self.px[sym] = px - px % r.tick
        self.mono += seconds * SECOND
        self.wall += seconds * SECOND
        self._quote(sym)
        q = self.quotes[sym]
        for oid, o in list(self.orders.items()):
            if o[0] == sym and ((o[1] == BUY and q.ask <= o[2]) or (o[1] == SELL and q.bid >= o[2] > 0)):
                self._fill(oid, o[3], o[2])
        actions = self.rm.on_mark(self.idx[sym], self.mark(sym), self.wall)
        self._observe()
        self._execute(actions)

    @rule(sym=st.sampled_from(SYMBOLS))
    def book_gap(self, sym):
        self.quotes[sym].synced = False

    @rule(sym=st.sampled_from(SYMBOLS))
    def resync(self, sym):
        self._quote(sym)

    @rule(minutes=st.sampled_from([1, 7, 59, 60 * 5, 60 * 23, 60 * 24 * 3]), exact=st.booleans())
    def clock(self, minutes, exact):
        step = minutes * 60 * SECOND
        if exact:                                      # land exactly on the next midnight
            step = (self.wall // DAY + 1) * DAY - self.wall
        self.wall += step
        self.mono += step
        if _day(self.wall) != self.day_key:
            self.day_key, self.day_anchor, self.reached_day = _day(self.wall), self.equity(), False
        if _week(self.wall) != self.week_key:
            self.week_key, self.week_anchor, self.reached_week = _week(self.wall), self.equity(), False
        self.rm.on_clock(self.wall)

    # ----- strategy -----------------------------------------------------------------------
    @rule(sym=st.sampled_from(SYMBOLS), pct=st.integers(1, 90), market=st.booleans(),
          stop_bps=st.sampled_from([0, 30, 100, 250, 800]), below_ticks=st.integers(0, 20))
    def entry(self, sym, pct, market, stop_bps, below_ticks):
        r, q = RULES[sym], self.quotes[sym]
        price = 0 if market else q.bid - below_ticks * r.tick
        ref = q.ask if market else price
        stop = 0 if stop_bps == 0 else (ref * (10_000 - stop_bps) // 10_000) // r.tick * r.tick
        qty = max(1, self.equity() * pct // 100 // (ref * self._mul(sym)))
        qty -= qty % r.step
        oid = self._oid()
        code = self.rm.check(oid, self.idx[sym], BUY, MARKET if market else LIMIT, price,
                             max(qty, r.step), stop, q, self.mono, self.wall, RESIZE)
        if self.reached_day or self.reached_week:
            assert code != 0, "entry accepted after the loss limit was reached"
            self.refused_after_limit += 1
        if not q.synced or self.mono - q.updated_ns > self.cfg.stale_ms * 1_000_000:
            assert code != 0, "entry accepted on an out-of-sync or stale book"
        if code:
            return
        self.entries += 1
        res = self.rm.result
        self.orders[oid] = [sym, BUY, res.price if not market else 0, res.qty]
        if market:
            # the real fill may be worse than the book estimate (up to one more tick)
            self._fill(oid, res.qty, q.ask + q.buy_impact + r.tick)

    @rule(sym=st.sampled_from(SYMBOLS), frac=st.integers(1, 110), market=st.booleans())
    def exit(self, sym, frac, market):
        r, q = RULES[sym], self.quotes[sym]
        qty = self.hold[sym] * frac // 100
        qty -= qty % r.step
        oid = self._oid()
        code = self.rm.check(oid, self.idx[sym], SELL, MARKET if market else LIMIT,
                             0 if market else q.ask, max(qty, 1), 0, q, self.mono, self.wall, 0)
        if max(qty, 1) > self.hold[sym] - self._open_sells(sym):
            assert code != 0, "a sell of more than is held was accepted"
        if code:
            return
        self.orders[oid] = [sym, SELL, 0 if market else q.ask, max(qty, 1)]
        if market:
            self._fill(oid, max(qty, 1), q.bid)

    @rule(data=st.data())
    def partial_fill(self, data):
        if not self.orders:
            return
        oid = data.draw(st.sampled_from(sorted(self.orders)))
        sym, side, price, left = self.orders[oid]
        step = RULES[sym].step
        qty = data.draw(st.integers(1, max(1, left // step))) * step
        self._fill(oid, min(qty, left), price or self.quotes[sym].bid)

    @rule(data=st.data())
    def reject_or_cancel(self, data):
        if not self.orders:
            return
        oid = data.draw(st.sampled_from(sorted(self.orders)))
        del self.orders[oid]
        assert self.rm.on_order_done(oid)

    # ----- operator and restarts ----------------------------------------------------------
    @rule(dice=st.integers(0, 9))
    def halt(self, dice):
        if dice == 0:                                  # rarely: it stops most of the session
            self._execute(self.rm.halt("property test", "hypothesis", self.wall))

    @precondition(lambda self: self.rm.state == "HALTED")
    @rule()
    def resume(self):
        self.rm.resume("hypothesis", self.wall)

    @rule(crash=st.booleans())
    def restart(self, crash):
        before = self.rm.snapshot()
        if not crash:
            self.rm.save()
        self.rm = self._open()
        after = self.rm.snapshot()
        durable = ("state", "state_reason", "reached_day", "reached_week", "cash", "day",
                   "day_start_equity", "week", "week_start_equity")
        assert {k: after[k] for k in durable} == {k: before[k] for k in durable}
        def held(snap):
            return {s: (p["qty"], p["stop"], p["cost"]) for s, p in snap["positions"].items()
                    if p["qty"]}
        assert held(after) == held(before)
        if crash:
            # orders accepted since the last save are unknown to the manager: the engine's
            # recovery cancels them (they are in its own journal), then marks again
            for oid in [o for o in self.orders if o not in after["orders"]]:
                del self.orders[oid]
            for s in SYMBOLS:
                self._execute(self.rm.on_mark(self.idx[s], self.mark(s), self.wall))
            self._observe()
        else:
            assert after == before

    # ----- invariants ---------------------------------------------------------------------
    def _dust(self) -> int:
        return sum(self.hold[s] * self.mark(s) * self._mul(s) for s in SYMBOLS
                   if self.hold[s] * self.mark(s) * self._mul(s) < RULES[s].min_notional * 10**8
                   or self.hold[s] < RULES[s].min_qty)

    @invariant()
    def books_agree(self):
        assert self.rm.native.equity == self.equity()
        for s in SYMBOLS:
            assert self.rm.native.sym[self.idx[s]].pos_qty == self.hold[s]

    @invariant()
    def never_short(self):
        assert all(v >= 0 for v in self.hold.values())
        for s in SYMBOLS:
            assert self._open_sells(s) <= self.hold[s]

    @invariant()
    def deployed_at_most_70_pct(self):
        deployed = sum(self.hold[s] * self.mark(s) * self._mul(s) for s in SYMBOLS)
        deployed += sum(o[3] * o[2] * self._mul(o[0]) for o in self.orders.values() if o[1] == BUY)
        assert (deployed - self._dust()) * 100 <= self.equity() * 70

    @invariant()
    def no_position_risks_1_pct(self):
        e = self.equity()
        for s in SYMBOLS:
            if not self.hold[s] or self.hold[s] * self.mark(s) * self._mul(s) < RULES[s].min_notional * 10**8:
                continue
            stop = self.rm.native.sym[self.idx[s]].stop_px
            assert stop > 0, f"{s} position without a protective stop"
            stop_exit = stop - (-(-stop * 10 // 10_000))   # the 0.1 % slippage floor
            # loss x 10^4 if the stop fills: cost (entry fees included) - proceeds + exit fee
            loss_x = self.cost[s] * 10_000 - self.hold[s] * stop_exit * self._mul(s) * (10_000 - FEE_BPS)
            assert loss_x < e * 100, f"{s}: loss at stop {loss_x / 10**12} vs equity {e / 10**8}"


RiskSession.TestCase.settings = settings(
    max_examples=int(os.environ.get("PYENGINE_RISK_EXAMPLES", "1000" if os.environ.get("PYENGINE_LONG") else "100")),
    stateful_step_count=60, deadline=None)
TestRiskSession = RiskSession.TestCase
