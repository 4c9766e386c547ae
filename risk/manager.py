"""The risk manager: owns the account view the gate reads (csrc/risk.c), books orders,
fills and marks, moves between ACTIVE / REDUCING / HALTED, and explains every refusal."""
from __future__ import annotations

import collections
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Mapping

from pyengine._core import ffi, lib
from pyengine.errors import UserError
from risk import calendar, reasons
from risk.config import RiskConfig, day_start_offset_ns
from risk.store import RiskEvent, RiskStore
from risk.symbols import SymbolRules

BUY, SELL = lib.PE_RISK_BUY, lib.PE_RISK_SELL
LIMIT, MARKET, STOP_LIMIT = lib.PE_RISK_LIMIT, lib.PE_RISK_MARKET, lib.PE_RISK_STOP_LIMIT
RESIZE, PROTECTIVE = lib.PE_RISK_F_RESIZE, lib.PE_RISK_F_PROTECTIVE
ACTIVE, REDUCING, HALTED = lib.PE_RISK_ACTIVE, lib.PE_RISK_REDUCING, lib.PE_RISK_HALTED
STATE_NAMES = {ACTIVE: "ACTIVE", REDUCING: "REDUCING", HALTED: "HALTED"}
_STATE_BY_NAME = {v: k for k, v in STATE_NAMES.items()}
OK = lib.PE_RISK_OK
BPS = 10_000
MAX_SYMBOLS = 32
STATE_VERSION = 1
_REFUSAL_DEDUP_NS = 1_000_000_000
_SYMBOL_FIELDS = ("min_price", "max_price", "tick", "min_qty", "max_qty", "step",
                  "mkt_min_qty", "mkt_max_qty", "mkt_step")


class Quote:
    """The book as the gate sees it; the engine keeps one per symbol and updates it in
    place (no allocation per check). Impacts are the extra price per unit a market order
    of the intended size would pay beyond the best price (from ``pe_book_impact``)."""
    __slots__ = ("bid", "ask", "buy_impact", "sell_impact", "synced", "updated_ns")

    def __init__(self, bid: int = 0, ask: int = 0, buy_impact: int = 0, sell_impact: int = 0,
                 synced: bool = False, updated_ns: int = 0) -> None:
        self.bid, self.ask = bid, ask
        self.buy_impact, self.sell_impact = buy_impact, sell_impact
        self.synced, self.updated_ns = synced, updated_ns


@dataclass(frozen=True)
class Action:
    """Something the engine must do for the risk manager.
    kind "exit": protective market sell of ``qty`` (send it through ``check`` with
    PROTECTIVE); "stop": place an exchange STOP_LOSS_LIMIT sell (``stop_px``, limit
    ``price``); "cancel": cancel open entry ``order_id`` (exposure); "cancel_all": cancel
    every open order (kill switch)."""
    kind: str
    symbol: str | None = None
    index: int = -1
    qty: int = 0
    stop_px: int = 0
    price: int = 0
    reason: str = ""
    order_id: Any = None


class RiskManager:
    def __init__(self, config: RiskConfig, rules: Mapping[str, SymbolRules], store: RiskStore,
                 *, wall_ns: int, initial_cash: Decimal | str | int | None = None,
                 quote_asset: str = "USDT",
                 on_event: Callable[[RiskEvent], None] | None = None) -> None:
        self.config = config
        self.quote_asset = quote_asset
        self._store = store
        self._on_event = on_event
        self._qs = config.quote_scale
        self._offset = day_start_offset_ns(config.day_start_utc)
        self._r = r = ffi.new("pe_risk *")
        self.result = ffi.new("pe_risk_result *")
        self._gate = lib.pe_risk_check
        self._gate_book = lib.pe_risk_check_book
        self._orders: dict[Any, list[int]] = {}
        self.refusals: collections.Counter[str] = collections.Counter()
        self.recent_events: collections.deque[RiskEvent] = collections.deque(maxlen=200)
        self._last_refusal: dict[tuple[int, int], int] = {}
        self._suppressed = 0
        self._pending: list[tuple[Any, ...]] = []
        for key, field in (("max_trade_loss_pct", "trade_loss_bps"),
                           ("max_daily_loss_pct", "day_loss_bps"),
                           ("max_weekly_loss_pct", "week_loss_bps"),
                           ("max_exposure_pct", "exposure_bps"), ("fee_pct", "fee_bps"),
                           ("stop_slippage_pct", "stop_slip_bps"),
                           ("default_stop_pct", "default_stop_bps"),
                           ("price_band_pct", "price_band_bps"),
                           ("resize_margin_pct", "resize_margin_bps")):
            setattr(r, field, config.bps(key))
        r.stale_ns = config.stale_ms * 1_000_000
        r.max_per_second = config.max_orders_per_second
        r.max_per_10s = config.max_orders_per_10s
        r.max_per_day = config.max_orders_per_day

        saved = store.load_state()
        if saved is not None and saved.get("version") != STATE_VERSION:
            raise UserError(f"risk state has version {saved.get('version')!r}, "
                            f"this engine reads version {STATE_VERSION}")
        if saved is not None and saved["quote_scale"] != self._qs:
            raise UserError(f"risk.quote_scale = {self._qs} but the saved risk state uses "
                            f"{saved['quote_scale']}; keep the setting of the running account")
        self.symbols: list[str] = []
        self._rules: list[SymbolRules] = []
        self._cost: list[int] = []     # quote units paid for each position, entry fees included
        # views of r.sym[i], the only way this class reads them: indexing a cffi struct
        # array makes two objects per access, and every mark and fill reads these fields
        self._sym: list[Any] = []
        held = list(saved["positions"]) if saved else []
        for name in list(config.symbols) + [s for s in held if s not in config.symbols]:
            if name not in rules:
                raise UserError(f"risk.symbols: {name} has no exchange rules (not in exchangeInfo)")
            self._register(rules[name], name in config.symbols)
        self._index = {name: i for i, name in enumerate(self.symbols)}

        if saved is not None:
            self._restore(saved)
        else:
            if initial_cash is None:
                raise UserError("risk: no saved state and no initial cash to start from")
            self._cash = self._to_quote(initial_cash, "initial cash")
            self._state_reason = "START"
            self._reached_day = self._reached_week = False
            self._recompute()
            r.state = ACTIVE
            self._day = calendar.day_index(wall_ns, self._offset)
            self._week = calendar.week_index(wall_ns, self._offset)
            r.day_start_equity = r.week_start_equity = r.equity
            r.next_rollover_ns = calendar.next_day_start(wall_ns, self._offset)
            self._emit(wall_ns, "account", "START",
                       f"Risk manager started with equity {self._fmt_quote(r.equity)}.")
            self.save()
        self.on_clock(wall_ns)

    # ----- setup -------------------------------------------------------------------------
    def _register(self, rules: SymbolRules, allowed: bool) -> None:
        i = len(self.symbols)
        if i >= MAX_SYMBOLS:
            raise UserError(f"risk: at most {MAX_SYMBOLS} symbols")
        exp = self._qs - rules.price_scale - rules.qty_scale
        if exp < 0:
            raise UserError(f"risk: {rules.symbol} needs quote_scale >= "
                            f"{rules.price_scale + rules.qty_scale}")
        s = self._r.sym[i]
        self._sym.append(s)
        s.allowed = int(allowed and rules.status == "TRADING")
        s.price_scale, s.qty_scale, s.quote_mul = rules.price_scale, rules.qty_scale, 10 ** exp
        for f in _SYMBOL_FIELDS:
            setattr(s, f, getattr(rules, f))
        s.min_notional = int(rules.min_notional.scaleb(self._qs))
        s.max_notional = int(rules.max_notional.scaleb(self._qs))
        s.min_notional_market = int(rules.min_notional_market)
        s.max_notional_market = int(rules.max_notional_market)
        s.bid_up_bps, s.bid_down_bps = int(rules.bid_up * BPS), int(rules.bid_down * BPS)
        s.ask_up_bps, s.ask_down_bps = int(rules.ask_up * BPS), int(rules.ask_down * BPS)
        self.symbols.append(rules.symbol)
        self._rules.append(rules)
        self._cost.append(0)
        self._r.n_symbols = i + 1

    def set_allowed(self, symbol: str, allowed: bool) -> None:
        """Let the gate accept entries on ``symbol`` or not (symbol selection). Never wider
        than the configured allow-list and the start-up exchange status; exits stay allowed."""
        i = self.index(symbol)
        self._sym[i].allowed = int(allowed and symbol in self.config.symbols
                                   and self._rules[i].status == "TRADING")

    def index(self, symbol: str) -> int:
        """The gate's index of a symbol (raises for a symbol the manager does not know)."""
        try:
            return self._index[symbol]
        except KeyError:
            raise UserError(f"risk: unknown symbol {symbol!r}") from None

    # ----- the hot path ------------------------------------------------------------------
    def check(self, order_id: Any, symbol: int, side: int, otype: int, price: int, qty: int,
              stop_px: int, quote: Quote, now_ns: int, wall_ns: int, flags: int = RESIZE) -> int:
        """Pre-trade check of one new order; 0 means send it with ``result.qty`` (and, for
        an entry, protect it with ``result.stop_px``). Anything else is a reason code."""
        if order_id in self._orders:
            raise ValueError(f"risk: order id {order_id!r} is already open")
        res = self.result
        code = self._gate(self._r, symbol, side, otype, flags, price, qty, stop_px,
                          quote.bid, quote.ask, quote.buy_impact, quote.sell_impact,
                          quote.synced, quote.updated_ns, now_ns, wall_ns, res)
        if code:
            return self._refused(code, order_id, symbol, side, otype, price, qty, stop_px,
                                 wall_ns, lambda: self.check(order_id, symbol, side, otype,
                                                             price, qty, stop_px, quote,
                                                             now_ns, wall_ns, flags))
        q = res.qty
        self._orders[order_id] = [symbol, side, res.price, q, res.risk_k // q, res.stop_px, flags]
        return OK

    def check_book(self, order_id: Any, symbol: int, side: int, otype: int, price: int,
                   qty: int, stop_px: int, book: Any, updated_ns: int, now_ns: int,
                   wall_ns: int, flags: int = RESIZE) -> int:
        """``check`` with the quote read from the symbol's C book (a ``pe_book *``, e.g.
        ``pyengine.book.Book._ptr``) inside the same C call: best bid/ask, and the average
        price a market order of ``qty`` would pay on either side. ``updated_ns``: when
        the book last changed (monotonic)."""
        if order_id in self._orders:
            raise ValueError(f"risk: order id {order_id!r} is already open")
        res = self.result
        code = self._gate_book(self._r, book, symbol, side, otype, flags, price, qty, stop_px,
                               updated_ns, now_ns, wall_ns, res)
        if code:
            return self._refused(code, order_id, symbol, side, otype, price, qty, stop_px,
                                 wall_ns, lambda: self.check_book(order_id, symbol, side, otype,
                                                                  price, qty, stop_px, book,
                                                                  updated_ns, now_ns, wall_ns,
                                                                  flags))
        q = res.qty
        self._orders[order_id] = [symbol, side, res.price, q, res.risk_k // q, res.stop_px, flags]
        return OK

    def _refused(self, code: int, order_id: Any, symbol: int, side: int, otype: int,
                 price: int, qty: int, stop_px: int, wall_ns: int,
                 retry: Callable[[], int]) -> int:
        if code == lib.PE_RISK_R_ROLLOVER_DUE:
            self.on_clock(wall_ns)
            return retry()
        name = reasons.CODES[code]
        self.refusals[name] += 1
        key = (code, symbol)
        last = self._last_refusal.get(key)
        if last is not None and 0 <= wall_ns - last < _REFUSAL_DEDUP_NS:
            self._suppressed += 1
            return code
        self._last_refusal[key] = wall_ns
        res = self.result
        # the sentence and the journal write happen in flush_events(), off the hot path
        self._pending.append((wall_ns, name, order_id, symbol, side, otype, price, qty, stop_px,
                              res.limit, res.value, self._suppressed))
        self._suppressed = 0
        return code

    def flush_events(self) -> None:
        """Explain and journal the refusals queued by ``check`` (the engine calls this
        off the hot path, e.g. every 100 ms; every slow-path method calls it too)."""
        pending, self._pending = self._pending, []
        for (wall_ns, name, order_id, symbol, side, otype, price, qty, stop_px, limit, value,
             suppressed) in pending:
            sym = self.symbols[symbol] if 0 <= symbol < len(self.symbols) else f"#{symbol}"
            text = reasons.sentence(name, self._context(name, symbol, side, otype, price, qty,
                                                        limit, value))
            data = {"order_id": str(order_id), "side": "BUY" if side == BUY else "SELL",
                    "price": price, "qty": qty, "stop_px": stop_px, "limit": limit,
                    "value": value, "suppressed_before": suppressed}
            self._emit(wall_ns, "refusal", name, text, symbol=sym, data=data)

    # ----- order lifecycle (off the hot path) --------------------------------------------
    def on_order_done(self, order_id: Any) -> bool:
        """An order was cancelled, rejected or expired: release what it still reserved."""
        o = self._orders.pop(order_id, None)
        if o is None:
            return False
        self._release(o, o[3])
        self._recompute()
        self.save()
        return True

    def _release(self, o: list[int], qty: int) -> None:
        s = self._sym[o[0]]
        if o[1] == BUY:
            s.open_buy_qty -= qty
            s.open_buy_notional -= qty * o[2] * s.quote_mul
            s.open_buy_risk_k -= qty * o[4]
        else:
            s.open_sell_qty -= qty

    def on_fill(self, order_id: Any, qty: int, price: int, wall_ns: int, *,
                fee_quote: int = 0, fee_base: int = 0) -> list[Action]:
        """A (partial) fill. ``fee_quote`` in quote units, ``fee_base`` in the symbol's
        quantity units (Binance takes a BUY's commission from the base asset)."""
        o = self._orders.get(order_id)
        if o is None:
            raise KeyError(f"risk: fill for unknown order {order_id!r}; "
                           f"use reconcile() for orders placed outside the risk manager")
        sym, side, _, remaining, _, stop, _ = o
        if not 0 < qty <= remaining or price <= 0 or fee_quote < 0 or not 0 <= fee_base <= qty:
            raise ValueError(f"risk: bad fill for {order_id!r}: qty {qty} (open {remaining}), "
                             f"price {price}, fees {fee_quote}/{fee_base}")
        s = self._sym[sym]
        self._release(o, qty)
        actions: list[Action] = []
        if side == BUY:
            s.stop_px = stop if s.pos_qty <= 0 else max(s.stop_px, stop)
            s.pos_qty += qty - fee_base
            self._cost[sym] += qty * price * s.quote_mul + fee_quote
            self._cash -= qty * price * s.quote_mul + fee_quote
            if s.mark == 0:
                s.mark = price
            if self.config.stop_mode == "exchange" and qty > fee_base:
                actions.append(Action("stop", self.symbols[sym], sym, qty - fee_base, stop,
                                      self._stop_limit(sym, stop), "PROTECTIVE_STOP"))
        else:
            self._cost[sym] -= self._cost[sym] * qty // s.pos_qty
            s.pos_qty -= qty
            self._cash += qty * price * s.quote_mul - fee_quote
            if s.pos_qty == 0:
                s.stop_px = 0
        o[3] = remaining - qty
        if o[3] == 0:
            del self._orders[order_id]
        self._recompute()
        self._check_limits(wall_ns)
        actions += self._protect()
        self.save()
        return actions

    def on_mark(self, symbol: int, price: int, wall_ns: int) -> list[Action]:
        """A new mark price (the engine calls this on bar closes or throttled ticks)."""
        if price <= 0:
            raise ValueError(f"risk: mark price must be positive, got {price}")
        if wall_ns >= self._r.next_rollover_ns:
            self.on_clock(wall_ns)
        self._sym[symbol].mark = price
        self._recompute()
        self._check_limits(wall_ns)
        return self._protect()

    # ----- clock, operator, account ------------------------------------------------------
    def on_clock(self, wall_ns: int) -> None:
        """Roll the day and week loss anchors over at their boundaries; lift REDUCING.
        The engine calls this about once a second; it also journals queued refusals."""
        r = self._r
        if wall_ns < r.next_rollover_ns:
            self.flush_events()
            return
        self._recompute()
        day = calendar.day_index(wall_ns, self._offset)
        week = calendar.week_index(wall_ns, self._offset)
        if day != self._day:
            self._day = day
            self._reached_day = False
            r.day_start_equity = r.equity
            self._emit(wall_ns, "rollover", "NEW_DAY",
                       f"New risk day; daily loss measured from equity {self._fmt_quote(r.equity)}.")
        if week != self._week:
            self._week = week
            self._reached_week = False
            r.week_start_equity = r.equity
            self._emit(wall_ns, "rollover", "NEW_WEEK",
                       f"New ISO week; weekly loss measured from equity {self._fmt_quote(r.equity)}.")
        r.next_rollover_ns = calendar.next_day_start(wall_ns, self._offset)
        if r.state == REDUCING and not (self._reached_day or self._reached_week):
            self._set_state(ACTIVE, "LIFTED", wall_ns,
                            "The loss limit period is over: entries are allowed again.")
        self.save()

    def halt(self, reason: str, operator: str, wall_ns: int) -> list[Action]:
        """Kill switch: no new orders except protective exits; cancel everything."""
        if self._r.state != HALTED:
            self._set_state(HALTED, "HALT", wall_ns,
                            f"Trading HALTED by {operator}: {reason}. Only an operator can resume.")
        actions = [Action("cancel_all", reason="HALT")]
        if self.config.flatten_on_halt:
            for i, s in enumerate(self._sym):
                if s.pos_qty > 0:
                    actions.append(Action("exit", self.symbols[i], i, s.pos_qty, reason="FLATTEN"))
        self.save()
        return actions

    def resume(self, operator: str, wall_ns: int) -> None:
        """Lift HALTED (operators only). A loss limit still hit leaves the manager REDUCING."""
        if self._r.state != HALTED:
            raise UserError(f"risk state is {self.state}, not HALTED: nothing to resume"
                            + (" (REDUCING lifts by itself at the next day/week boundary)"
                               if self._r.state == REDUCING else ""))
        self._recompute()
        self._check_limits(wall_ns)
        if self._reached_day or self._reached_week:
            self._set_state(REDUCING, "RESUME_REDUCING", wall_ns,
                            f"Resumed by {operator}, but the {self._period()}'s loss limit was "
                            f"reached: only exits until the next {self._period()} boundary.")
        else:
            self._set_state(ACTIVE, "RESUME", wall_ns, f"Trading resumed by {operator}.")
        self.save()

    def poll_operator(self, wall_ns: int) -> list[Action]:
        """Apply halt/resume commands queued by ``pyengine risk halt|resume``."""
        take = getattr(self._store, "take_commands", None)
        actions: list[Action] = []
        for command, reason, operator in (take() if take else ()):
            if command == "halt":
                actions += self.halt(reason, operator, wall_ns)
            elif self._r.state == HALTED:
                self.resume(operator, wall_ns)
        return actions

    def reconcile(self, cash: Decimal | str | int, positions: Mapping[str, tuple[int, int]],
                  wall_ns: int) -> None:
        """Adopt the exchange's balances after recovery: cash (quote amount) and
        {symbol: (qty, mark)}. Loss anchors are kept, so differences count as PnL. A
        position without a stop gets the default stop below its mark."""
        r = self._r
        self._cash = self._to_quote(cash, "cash")
        for name, (qty, mark) in positions.items():
            i = self.index(name)
            s = self._sym[i]
            if qty < 0 or mark <= 0:
                raise UserError(f"risk.reconcile: {name} quantity {qty} / mark {mark} invalid")
            old = s.pos_qty
            self._cost[i] = (self._cost[i] * qty // old if old > 0 else qty * mark * s.quote_mul)
            s.pos_qty, s.mark = qty, mark
            if qty == 0:
                s.stop_px = 0
            elif s.stop_px == 0:
                stop = mark * (BPS - r.default_stop_bps) // BPS
                s.stop_px = stop - stop % s.tick if s.tick else stop
        self._recompute()
        self._emit(wall_ns, "account", "RECONCILE",
                   f"Balances reconciled with the exchange; equity {self._fmt_quote(r.equity)}.")
        self._check_limits(wall_ns)
        self.save()

    def adopt_order(self, order_id: Any, symbol: str, side: int, price: int, qty: int,
                    stop_px: int, wall_ns: int) -> None:
        """Book an order that is already open on the exchange (found by recovery) without
        the gate: it counts towards exposure, loss budget and oversell checks like one
        the gate passed. A buy without a stop gets the default stop below its price."""
        if order_id in self._orders:
            raise ValueError(f"risk: order id {order_id!r} is already open")
        i = self.index(symbol)
        r = self._r
        s = self._sym[i]
        if qty <= 0 or price <= 0 or side not in (BUY, SELL):
            raise UserError(f"risk.adopt_order: {symbol} order {order_id!r} has quantity "
                            f"{qty} / price {price}")
        unit_k, stop = 0, 0
        if side == BUY:
            stop = stop_px or price * (BPS - r.default_stop_bps) // BPS
            if s.tick:
                stop -= stop % s.tick
            stop_exit = stop - (stop * r.stop_slip_bps + BPS - 1) // BPS
            unit_k = ((price - stop_exit) * BPS + (price + stop_exit) * r.fee_bps) * s.quote_mul
            s.open_buy_qty += qty
            s.open_buy_notional += qty * price * s.quote_mul
            s.open_buy_risk_k += qty * unit_k
        else:
            s.open_sell_qty += qty
        self._orders[order_id] = [i, side, price, qty, unit_k, stop, 0]
        self._recompute()
        self._emit(wall_ns, "account", "ADOPT",
                   f"Open {'BUY' if side == BUY else 'SELL'} order {order_id} on {symbol} "
                   f"adopted from the exchange.", symbol=symbol)
        self._check_limits(wall_ns)
        self.save()

    def transfer(self, amount: Decimal | str | int, wall_ns: int) -> None:
        """A deposit (+) or withdrawal (-): moves the loss anchors so it is not PnL."""
        q = self._to_quote(amount, "transfer", allow_negative=True)
        r = self._r
        self._cash += q
        r.day_start_equity += q
        r.week_start_equity += q
        self._recompute()
        self._emit(wall_ns, "account", "TRANSFER", f"Transfer of {self._fmt_quote(q)} booked.")
        self.save()

    # ----- bookkeeping -------------------------------------------------------------------
    def _recompute(self) -> None:
        r = self._r
        equity, deployed, risk = self._cash, 0, 0
        slip, fee = r.stop_slip_bps, r.fee_bps
        for i, s in enumerate(self._sym):
            deployed += s.open_buy_notional
            qty = s.pos_qty
            if not qty:
                s.pos_risk_k = 0
                continue
            mark, mul = s.mark, s.quote_mul
            stop_exit = _stop_exit(s.stop_px, slip)
            s.pos_risk_k = _trade_risk_k(qty, self._cost[i], stop_exit, fee, mul)
            value = qty * mark * mul
            equity += value
            deployed += value
            risk += qty * _position_unit_k(mark, stop_exit, fee, mul)
        for o in self._orders.values():
            if o[1] == BUY:
                risk += o[3] * o[4]
        r.equity, r.deployed, r.open_risk_k = equity, deployed, risk

    def _limits_hit(self) -> tuple[bool, bool]:
        r = self._r
        e = r.equity
        return ((r.day_start_equity - e) * BPS >= r.day_start_equity * r.day_loss_bps,
                (r.week_start_equity - e) * BPS >= r.week_start_equity * r.week_loss_bps)

    def _check_limits(self, wall_ns: int) -> None:
        """Remember a loss limit reached in this period (even if equity recovers or the
        manager is HALTED) and move ACTIVE to REDUCING."""
        day_hit, week_hit = self._limits_hit()
        new = (day_hit and not self._reached_day) or (week_hit and not self._reached_week)
        if not new:
            return
        self._reached_day |= day_hit
        self._reached_week |= week_hit
        if self._r.state == ACTIVE:
            which = "weekly" if week_hit else "daily"
            self._set_state(REDUCING, "WEEK_LOSS" if week_hit else "DAY_LOSS", wall_ns,
                            f"The {which} loss limit is reached (loss {self._fmt_pct_loss()} "
                            f"of the period's starting equity): only exits and cancels until "
                            f"the next {self._period()} boundary.")
        self.save()

    def _period(self) -> str:
        return "week" if self._reached_week else "day"

    def _protect(self) -> list[Action]:
        """Protective exits: engine-side stops hit; positions whose loss at the stop (from
        their cost) has grown to 1 % of a now smaller equity are trimmed back under it;
        and deployment above the exposure cap (prices rose, equity fell) is sold down,
        then open entries are cancelled. Only protective sells already under way count
        as leaving a position; a strategy's resting sell is cancelled when its coins are
        needed for a protective exit."""
        r, syms = self._r, self._sym
        n = len(syms)
        held = [s.pos_qty for s in syms]      # nothing below changes a position
        if not any(held) and r.deployed * BPS <= r.equity * r.exposure_bps:
            return []           # nothing held and open entries within the cap (once a second)
        actions: list[Action] = []
        selling = [0] * n
        resting: list[list[tuple[int, Any]]] = [[] for _ in range(n)]
        for key, o in self._orders.items():
            if o[1] == SELL:
                if o[6] & PROTECTIVE:
                    selling[o[0]] += o[3]
                else:
                    resting[o[0]].append((o[3], key))

        def sell(i: int, qty: int, reason: str) -> None:
            free = held[i] - syms[i].open_sell_qty
            for q, key in sorted(resting[i], key=lambda t: -t[0]):
                if free >= qty:
                    break
                actions.append(Action("cancel", self.symbols[i], i, reason=reason, order_id=key))
                resting[i].remove((q, key))
                free += q
            actions.append(Action("exit", self.symbols[i], i, qty, reason=reason))
            selling[i] += qty

        cap = r.equity * r.trade_loss_bps
        engine_stops = self.config.stop_mode == "engine"
        for i, s in enumerate(syms):
            left = held[i] - selling[i]
            if left <= 0:
                continue
            stop = s.stop_px
            if engine_stops and stop and s.mark <= stop:
                sell(i, left, "STOP_HIT")
                continue
            per_pos = s.pos_risk_k
            if per_pos <= 0 or left * per_pos < cap * held[i]:
                continue
            sell(i, self._sell_down(s, left, max(cap * held[i] - 1, 0) // per_pos), "TRIM")
        excess = (r.deployed - sum(selling[i] * syms[i].mark * syms[i].quote_mul
                                   for i in range(n) if selling[i])) * BPS \
            - r.equity * r.exposure_bps
        # largest position first; nothing to sell down while within the cap
        for i in sorted(range(n), key=lambda i: -(held[i] - selling[i])
                        * syms[i].mark * syms[i].quote_mul) if excess > 0 else ():
            s = syms[i]
            left = held[i] - selling[i]
            unit_value = s.mark * s.quote_mul * BPS
            if excess <= 0 or left <= 0 or unit_value <= 0:
                continue
            qty = self._sell_down(s, left, max(left + excess // -unit_value, 0))
            sell(i, qty, "EXPOSURE")
            excess -= qty * unit_value
        if excess > 0:
            entries = sorted(((o[3] * o[2] * syms[o[0]].quote_mul, k, o[0])
                              for k, o in self._orders.items() if o[1] == BUY),
                             key=lambda t: -t[0])
            for value, key, i in entries:
                if excess <= 0:
                    break
                actions.append(Action("cancel", self.symbols[i], i, reason="EXPOSURE",
                                      order_id=key))
                excess -= value * BPS
        return actions

    def _sell_down(self, s: Any, avail: int, keep: int) -> int:
        """How much of ``avail`` to sell to keep at most ``keep``: on the step grid, at
        least the exchange's minimum order, and everything when the rest would be under
        the minimums (it could not be sold later)."""
        if s.step:
            keep -= keep % s.step
        sell = avail - keep
        value = s.mark * s.quote_mul
        least = s.min_qty
        if value > 0 and s.min_notional:
            # a market sell fills below the mark: aim 1 % above the minimum notional
            least = max(least, -(-s.min_notional * 100 // (value * 99)))
        if s.step and least % s.step:
            least += s.step - least % s.step
        sell = max(sell, least)
        rest = avail - sell
        if rest <= 0 or rest < s.min_qty or rest * value < s.min_notional:
            return avail
        return sell

    def _stop_limit(self, sym: int, stop: int) -> int:
        """Limit price of an exchange stop: the stop minus the slippage floor, on the tick."""
        s = self._sym[sym]
        limit = stop - (stop * self._r.stop_slip_bps + BPS - 1) // BPS
        return limit - limit % s.tick if s.tick else limit

    # ----- state and events --------------------------------------------------------------
    @property
    def state(self) -> str:
        return STATE_NAMES[self._r.state]

    def _set_state(self, state: int, code: str, wall_ns: int, message: str) -> None:
        self._r.state = state
        self._state_reason = code
        self._emit(wall_ns, "state", code, message)

    def _emit(self, wall_ns: int, kind: str, code: str, message: str, symbol: str | None = None,
              data: dict[str, Any] | None = None) -> None:
        event = RiskEvent(wall_ns, kind, code, message, self.state, symbol, data or {})
        self.recent_events.append(event)
        self._store.append_event(event)
        if self._on_event is not None:
            self._on_event(event)

    def save(self) -> None:
        self.flush_events()
        self._store.save_state(self.snapshot())

    def snapshot(self) -> dict[str, Any]:
        """Everything a restart needs, as plain JSON-able ints and strings."""
        r = self._r
        positions = {}
        for i, name in enumerate(self.symbols):
            s = self._sym[i]
            if s.pos_qty or s.mark:
                positions[name] = {"qty": s.pos_qty, "mark": s.mark, "stop": s.stop_px,
                                   "cost": self._cost[i], "price_scale": s.price_scale,
                                   "qty_scale": s.qty_scale}
        orders = {str(k): {"symbol": self.symbols[o[0]], "side": "BUY" if o[1] == BUY else "SELL",
                           "price": o[2], "qty": o[3], "unit_k": o[4], "stop": o[5],
                           "flags": o[6]}
                  for k, o in self._orders.items()}
        return {"version": STATE_VERSION, "quote_scale": self._qs, "quote_asset": self.quote_asset,
                "state": self.state, "state_reason": self._state_reason,
                "reached_day": self._reached_day, "reached_week": self._reached_week,
                "cash": self._cash,
                "day": self._day, "day_start_equity": r.day_start_equity,
                "week": self._week, "week_start_equity": r.week_start_equity,
                "next_rollover_ns": r.next_rollover_ns,
                "order_day": r.order_day, "day_orders": r.day_orders,
                "positions": positions, "orders": orders}

    def _restore(self, st: dict[str, Any]) -> None:
        r = self._r
        self._cash = st["cash"]
        self._state_reason = st["state_reason"]
        self._reached_day, self._reached_week = st["reached_day"], st["reached_week"]
        r.state = _STATE_BY_NAME[st["state"]]
        self._day, self._week = st["day"], st["week"]
        r.day_start_equity, r.week_start_equity = st["day_start_equity"], st["week_start_equity"]
        r.next_rollover_ns = st["next_rollover_ns"]
        r.order_day, r.day_orders = st["order_day"], st["day_orders"]
        for name, p in st["positions"].items():
            s = self._sym[self._index[name]]
            s.pos_qty, s.mark, s.stop_px = p["qty"], p["mark"], p["stop"]
            self._cost[self._index[name]] = p["cost"]
        for key, o in st["orders"].items():
            i = self.index(o["symbol"])
            side = BUY if o["side"] == "BUY" else SELL
            rec = [i, side, o["price"], o["qty"], o["unit_k"], o["stop"], o["flags"]]
            s = self._sym[i]
            if side == BUY:
                s.open_buy_qty += rec[3]
                s.open_buy_notional += rec[3] * rec[2] * s.quote_mul
                s.open_buy_risk_k += rec[3] * rec[4]
            else:
                s.open_sell_qty += rec[3]
            self._orders[key] = rec
        self._recompute()

    # ----- reading -----------------------------------------------------------------------
    @property
    def native(self) -> Any:
        """The ``pe_risk`` block the gate reads (for tests and diagnostics; do not write)."""
        return self._r

    @property
    def rules(self) -> list[SymbolRules]:
        """Exchange rules by gate index."""
        return list(self._rules)

    def open_orders(self) -> dict[Any, tuple[str, str, int, int, int]]:
        """{order id: (symbol, side, reserved price, open qty, stop)}."""
        return {k: (self.symbols[o[0]], "BUY" if o[1] == BUY else "SELL", o[2], o[3], o[5])
                for k, o in self._orders.items()}

    def summary(self) -> dict[str, Any]:
        """Human-scale view for the CLI, dashboard and Telegram (Decimals as strings)."""
        r = self._r
        e = Decimal(r.equity).scaleb(-self._qs)
        return {
            "state": self.state, "reason": self._state_reason,
            "equity": str(e), "cash": str(Decimal(self._cash).scaleb(-self._qs)),
            "daily_loss_pct": self._loss_pct(r.day_start_equity),
            "weekly_loss_pct": self._loss_pct(r.week_start_equity),
            "deployed_pct": str(round(Decimal(r.deployed) * 100 / r.equity, 3)) if r.equity > 0 else "n/a",
            "open_risk": str(Decimal(r.open_risk_k).scaleb(-self._qs - 4)),
            "positions": {self.symbols[i]: {
                "qty": str(Decimal(s.pos_qty).scaleb(-s.qty_scale)),
                "mark": str(Decimal(s.mark).scaleb(-s.price_scale)),
                "stop": str(Decimal(s.stop_px).scaleb(-s.price_scale))}
                for i, s in enumerate(self._sym) if s.pos_qty},
            "open_orders": len(self._orders),
            "refusals": dict(self.refusals),
        }

    def metrics(self) -> dict[str, float]:
        """Gauges for telemetry (floats are fine here: they never size an order).
        ``*_used_pct`` is the share of the loss budget used (100 = limit reached)."""
        r = self._r
        day = (r.day_start_equity - r.equity) * BPS / (r.day_start_equity * r.day_loss_bps) \
            if r.day_start_equity > 0 else 0.0
        week = (r.week_start_equity - r.equity) * BPS / (r.week_start_equity * r.week_loss_bps) \
            if r.week_start_equity > 0 else 0.0
        return {"risk_daily_loss_used_pct": round(max(day, 0.0) * 100, 3),
                "risk_weekly_loss_used_pct": round(max(week, 0.0) * 100, 3),
                "risk_deployed_pct": round(r.deployed * 100 / r.equity, 3) if r.equity > 0 else 0.0,
                "risk_state": float(r.state),
                "risk_refusals": float(sum(self.refusals.values()))}

    def _loss_pct(self, anchor: int) -> str:
        if anchor <= 0:
            return "n/a"
        return str(round(Decimal(anchor - self._r.equity) * 100 / anchor, 3))

    def _fmt_pct_loss(self) -> str:
        r = self._r
        return f"day {self._loss_pct(r.day_start_equity)} %, week {self._loss_pct(r.week_start_equity)} %"

    def _fmt_quote(self, q: int) -> str:
        return f"{Decimal(q).scaleb(-self._qs):.2f} {self.quote_asset}"

    def _to_quote(self, amount: Decimal | str | int, what: str, allow_negative: bool = False) -> int:
        d = Decimal(amount) if not isinstance(amount, Decimal) else amount
        scaled = d.scaleb(self._qs)
        if scaled != scaled.to_integral_value() or (d < 0 and not allow_negative):
            raise UserError(f"risk: {what} {amount} is not a valid {self.quote_asset} amount")
        return int(scaled)

    def _context(self, name: str, symbol: int, side: int, otype: int, price: int, qty: int,
                 limit: int, value: int) -> reasons.Context:
        rules = self._rules[symbol] if 0 <= symbol < len(self._rules) else None
        ps = rules.price_scale if rules else 0
        qs = rules.qty_scale if rules else 0
        what = {LIMIT: "", MARKET: " MARKET", STOP_LIMIT: " STOP_LOSS_LIMIT"}.get(otype, "")
        action = (f"{'BUY' if side == BUY else 'SELL'}{what} {Decimal(qty).scaleb(-qs)} "
                  f"{rules.symbol if rules else '#' + str(symbol)}"
                  + (f" at {Decimal(price).scaleb(-ps)}" if price else ""))
        if name in reasons.K_UNITS:
            lim, val = Decimal(limit).scaleb(-self._qs - 4), Decimal(value).scaleb(-self._qs - 4)
        elif name in reasons.QUOTE_UNITS:
            lim, val = Decimal(limit).scaleb(-self._qs), Decimal(value).scaleb(-self._qs)
        elif name in ("STOP_INVALID", "PERCENT_PRICE"):
            lim, val = Decimal(limit).scaleb(-ps), Decimal(value).scaleb(-ps)
        elif name == "OVERSELL":
            lim, val = Decimal(limit).scaleb(-qs), Decimal(value).scaleb(-qs)
        else:
            lim, val = Decimal(limit), Decimal(value)
        equity = Decimal(self._r.equity).scaleb(-self._qs)

        def pct(x: Decimal) -> str:
            return f"{x * 100 / equity:.3f} %" if equity > 0 else "n/a"
        return reasons.Context(action, lim, val, f"{equity:.2f} {self.quote_asset}",
                               self.quote_asset, pct)


def _stop_exit(stop: int, slip_bps: int) -> int:
    """Where a position's stop is expected to fill: the stop less the slippage floor."""
    return max(stop - (stop * slip_bps + BPS - 1) // BPS, 0)


def _position_unit_k(mark: int, stop_exit: int, fee_bps: int, quote_mul: int) -> int:
    """Loss per unit of an open position if its stop fills: move to the stop with the
    slippage floor, plus the exit fee (the entry fee is already in equity)."""
    return (max(mark - stop_exit, 0) * BPS + stop_exit * fee_bps) * quote_mul


def _trade_risk_k(qty: int, cost: int, stop_exit: int, fee_bps: int, quote_mul: int) -> int:
    """Loss (K units) if a position's stop fills, from what was paid: cost minus the
    proceeds at the expected stop fill less its fee. Open profit given back is not a
    trade loss (the day/week budget counts it from the mark instead)."""
    if qty <= 0:
        return 0
    return max(cost * BPS - qty * stop_exit * (BPS - fee_bps) * quote_mul, 0)
