"""A naive, independent Decimal implementation of the pre-trade gate in real units
(USDT, coins, fractions). It is the oracle the C gate is tested against and the peer the
benchmark compares it with; the engine never uses it."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

from risk.symbols import SymbolRules

ONE_SECOND_NS = 1_000_000_000
DAY_NS = 86_400 * ONE_SECOND_NS


@dataclass
class RefAccount:
    trade_loss: Decimal          # fractions of equity, e.g. Decimal("0.01")
    day_loss: Decimal
    week_loss: Decimal
    exposure: Decimal
    fee: Decimal
    stop_slip: Decimal
    default_stop: Decimal
    price_band: Decimal
    resize_margin: Decimal
    stale_ns: int
    max_per_second: int
    max_per_10s: int
    max_per_day: int
    state: str = "ACTIVE"
    equity: Decimal = Decimal(0)             # quote currency
    day_start_equity: Decimal = Decimal(0)
    week_start_equity: Decimal = Decimal(0)
    deployed: Decimal = Decimal(0)
    open_risk: Decimal = Decimal(0)          # loss if every stop fills
    next_rollover_ns: int = 0
    order_times: list[int] = field(default_factory=list)   # monotonic ns of sent orders
    order_day: int = 0
    day_orders: int = 0


@dataclass
class RefSymbol:
    rules: SymbolRules
    allowed: bool = True
    pos_qty: Decimal = Decimal(0)
    open_sell_qty: Decimal = Decimal(0)
    mark: Decimal = Decimal(0)
    position_risk: Decimal = Decimal(0)      # loss if the position's stop fills
    open_buy_risk: Decimal = Decimal(0)      # the same for its open buy orders


def _floor(x: Decimal, unit: Decimal) -> Decimal:
    return (x / unit).to_integral_value(rounding=ROUND_FLOOR) * unit


def reference_check(a: RefAccount, s: RefSymbol, side: str, otype: str, resize: bool,
                    protective: bool, price: Decimal, qty: Decimal, stop: Decimal,
                    bid: Decimal, ask: Decimal, buy_impact: Decimal, sell_impact: Decimal,
                    synced: bool, updated_ns: int, now_ns: int, wall_ns: int
                    ) -> tuple[str, Decimal]:
    """(reason name, quantity that would be sent). Does not change the account."""
    with localcontext() as ctx:
        ctx.prec = 60
        return _check(a, s, side, otype, resize, protective and side == "SELL", price, qty,
                      stop, bid, ask, buy_impact, sell_impact, synced, updated_ns, now_ns,
                      wall_ns)


def _check(a, s, side, otype, resize, protective, price, qty, stop, bid, ask, buy_impact,
           sell_impact, synced, updated_ns, now_ns, wall_ns):
    r = s.rules
    pu = Decimal(1).scaleb(-r.price_scale)      # one price unit
    qu = Decimal(1).scaleb(-r.qty_scale)
    if side == "BUY" and not s.allowed:
        return "SYMBOL", Decimal(0)
    if qty <= 0 or (otype != "MARKET" and price <= 0):
        return "BAD_ORDER", Decimal(0)
    if wall_ns >= a.next_rollover_ns:
        return "ROLLOVER_DUE", Decimal(0)
    if a.state == "HALTED" and not protective:
        return "HALTED", Decimal(0)
    book_ok = synced and bid > 0 and ask > bid
    if not protective:
        if not book_ok:
            return "BOOK", Decimal(0)
        if now_ns - updated_ns > a.stale_ns:
            return "STALE", Decimal(0)
        recent = sorted(a.order_times)
        if len([t for t in recent if now_ns - t < ONE_SECOND_NS]) >= a.max_per_second:
            return "RATE_SECOND", Decimal(0)
        if len([t for t in recent if now_ns - t < 10 * ONE_SECOND_NS]) >= a.max_per_10s:
            return "RATE_10S", Decimal(0)
        day_orders = a.day_orders if wall_ns // DAY_NS == a.order_day else 0
        if day_orders >= a.max_per_day:
            return "RATE_DAY", Decimal(0)
    mid = (bid + ask) / 2

    def band_ok(p: Decimal) -> bool:
        """Only the aggressive side: paying above the mid, selling below it."""
        return (p - mid if side == "BUY" else mid - p) <= mid * a.price_band

    def filters(p: Decimal, px_eff: Decimal, q: Decimal, use_ref: bool) -> str | None:
        if otype != "MARKET":
            tick = Decimal(r.tick) * pu
            if ((r.min_price and p < r.min_price * pu) or (r.max_price and p > r.max_price * pu)
                    or (r.tick and p % tick != 0)):
                return "PRICE_FILTER"
            if use_ref:
                up, down = (r.bid_up, r.bid_down) if side == "BUY" else (r.ask_up, r.ask_down)
                if (up and p > mid * up) or (down and p < mid * down):
                    return "PERCENT_PRICE"
        if ((r.min_qty and q < r.min_qty * qu) or (r.max_qty and q > r.max_qty * qu)
                or (r.step and q % (r.step * qu) != 0)):
            return "LOT_SIZE"
        if otype == "MARKET" and ((r.mkt_min_qty and q < r.mkt_min_qty * qu)
                                  or (r.mkt_max_qty and q > r.mkt_max_qty * qu)
                                  or (r.mkt_step and q % (r.mkt_step * qu) != 0)):
            return "MARKET_LOT_SIZE"
        notional = q * px_eff
        market = otype == "MARKET"
        if r.min_notional and (not market or r.min_notional_market) and notional < r.min_notional:
            return "MIN_NOTIONAL"
        if r.max_notional and (not market or r.max_notional_market) and notional > r.max_notional:
            return "MAX_NOTIONAL"
        return None

    if side == "SELL":
        if s.pos_qty <= 0:
            return "SHORT", Decimal(0)
        if qty > s.pos_qty - s.open_sell_qty:
            return "OVERSELL", Decimal(0)
        use_ref = book_ok
        if otype == "STOP_LIMIT":
            if stop <= 0 or price > stop:
                return "STOP_INVALID", Decimal(0)
            if (r.tick and stop % (r.tick * pu) != 0) or (r.min_price and stop < r.min_price * pu):
                return "PRICE_FILTER", Decimal(0)
            use_ref = False
        if otype == "MARKET":
            px = bid - sell_impact if book_ok else s.mark
        else:
            px = price
        if px <= 0:
            return "BOOK", Decimal(0)
        if otype == "LIMIT" and not protective and not band_ok(price):
            return "PRICE_BAND", Decimal(0)
        bad = filters(price, px, qty, use_ref)
        return (bad, Decimal(0)) if bad else ("OK", qty)

    # entries
    if a.state == "REDUCING":
        return "REDUCING", Decimal(0)
    if otype == "STOP_LIMIT":
        return "BAD_ORDER", Decimal(0)
    entry = price if otype == "LIMIT" else ask + buy_impact
    if otype == "LIMIT" and not band_ok(price):
        return "PRICE_BAND", Decimal(0)
    if stop == 0:
        stop = _floor(entry * (1 - a.default_stop), pu)
        if r.tick:
            stop = _floor(stop, r.tick * pu)
    elif (r.tick and stop % (r.tick * pu) != 0) or (r.min_price and stop < r.min_price * pu):
        return "PRICE_FILTER", Decimal(0)
    if stop <= 0 or stop >= entry:
        return "STOP_INVALID", Decimal(0)
    slip = max(sell_impact, (stop * a.stop_slip).quantize(pu, rounding=ROUND_CEILING))
    stop_exit = stop - slip
    if stop_exit <= 0:
        return "STOP_INVALID", Decimal(0)
    if a.equity <= 0:
        return "EQUITY", Decimal(0)
    loss_per_unit = (entry - stop_exit) + (entry + stop_exit) * a.fee
    day_loss = a.day_start_equity - a.equity
    if day_loss >= a.day_start_equity * a.day_loss:
        return "DAY_LOSS", Decimal(0)
    week_loss = a.week_start_equity - a.equity
    if week_loss >= a.week_start_equity * a.week_loss:
        return "WEEK_LOSS", Decimal(0)
    trade_cap = a.equity * a.trade_loss - s.position_risk - s.open_buy_risk
    if trade_cap <= 0:
        return "TRADE_LOSS", Decimal(0)
    budget = min(a.day_start_equity * a.day_loss - day_loss,
                 a.week_start_equity * a.week_loss - week_loss) - a.open_risk
    room = a.equity * a.exposure - a.deployed

    def largest(ok) -> Decimal:
        """Largest multiple of the quantity unit q with ok(q), by bisection."""
        lo, hi = Decimal(0), qty
        while hi - lo > qu:
            mid_q = _floor((lo + hi) / 2, qu)
            lo, hi = (mid_q, hi) if ok(mid_q) else (lo, mid_q)
        return hi if ok(hi) else lo

    checks = [("TRADE_LOSS", lambda q: q * loss_per_unit < trade_cap),
              ("LOSS_BUDGET", lambda q: q * loss_per_unit <= budget),
              ("EXPOSURE", lambda q: q * entry <= room)]
    bind, bind_q = None, None
    for name, ok in checks:
        if not ok(qty):
            q = largest(ok)
            if bind is None or q < bind_q:
                bind, bind_q = name, q
    if bind is not None:
        if not resize:
            return bind, Decimal(0)
        # resized entries keep a margin under the per-trade limit
        margin_cap = trade_cap - a.equity * a.resize_margin
        q_margin = (largest(lambda q: q * loss_per_unit < margin_cap) if margin_cap > 0
                    else Decimal(-1))
        if q_margin < bind_q:
            bind, bind_q = "TRADE_LOSS", q_margin
        q = max(bind_q, Decimal(0))
        q = _floor(q, r.step * qu) if r.step else q
        if q <= 0 or (r.min_qty and q < r.min_qty * qu):
            return bind, Decimal(0)
        qty = q
    bad = filters(price, entry, qty, True)
    if bad == "MIN_NOTIONAL" and bind is not None:
        return bind, Decimal(0)
    return (bad, Decimal(0)) if bad else ("OK", qty)


def from_gate(native, rules: list[SymbolRules], quote_scale: int
              ) -> tuple[RefAccount, list[RefSymbol]]:
    """The gate's current account (a ``pe_risk`` cdata, ``RiskManager.native``) in real
    units, for comparing the two implementations on the same state."""
    def frac(bps: int) -> Decimal:
        return Decimal(bps) / 10_000

    def quote(v: int) -> Decimal:
        return Decimal(v).scaleb(-quote_scale)

    n = int(native.ring_head)
    acct = RefAccount(
        trade_loss=frac(native.trade_loss_bps), day_loss=frac(native.day_loss_bps),
        week_loss=frac(native.week_loss_bps), exposure=frac(native.exposure_bps),
        fee=frac(native.fee_bps), stop_slip=frac(native.stop_slip_bps),
        default_stop=frac(native.default_stop_bps), price_band=frac(native.price_band_bps),
        resize_margin=frac(native.resize_margin_bps),
        stale_ns=native.stale_ns, max_per_second=native.max_per_second,
        max_per_10s=native.max_per_10s, max_per_day=native.max_per_day,
        state={0: "ACTIVE", 1: "REDUCING", 2: "HALTED"}[native.state],
        equity=quote(native.equity), day_start_equity=quote(native.day_start_equity),
        week_start_equity=quote(native.week_start_equity), deployed=quote(native.deployed),
        open_risk=Decimal(native.open_risk_k).scaleb(-quote_scale - 4),
        next_rollover_ns=native.next_rollover_ns,
        order_times=[native.ring[(n - k) & 63] for k in range(1, min(n, 64) + 1)],
        order_day=native.order_day, day_orders=native.day_orders)
    symbols = []
    for i, r in enumerate(rules):
        s = native.sym[i]
        symbols.append(RefSymbol(r, bool(s.allowed), Decimal(s.pos_qty).scaleb(-r.qty_scale),
                                 Decimal(s.open_sell_qty).scaleb(-r.qty_scale),
                                 Decimal(s.mark).scaleb(-r.price_scale),
                                 Decimal(s.pos_risk_k).scaleb(-quote_scale - 4),
                                 Decimal(s.open_buy_risk_k).scaleb(-quote_scale - 4)))
    return acct, symbols
