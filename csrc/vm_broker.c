/* TradingView broker emulator for historical bars (docs: pine-subset.md section 13).
   Orders placed during bar t's script run fill from bar t+1's open along the assumed
   intrabar path open->high->low->close or open->low->high->close. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vm_internal.h"

enum { K_ENTRY = 0, K_ORDER = 1, K_EXIT = 2, K_CLOSE = 3, K_CLOSE_ALL = 4 };
enum { OCA_NONE = 0, OCA_CANCEL = 1, OCA_REDUCE = 2 };
#define MAX_FILLS_PER_WALK 10000

static int32_t str_arg(double v) { return v == v && v >= 0 ? (int32_t)v : -1; }

static int grow(void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return PE_OK;
    int64_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return PE_ERR_NOMEM;
    *p = q;
    *cap = nc;
    return PE_OK;
}

int pe_broker_init(pe_vm *vm) {
    double tick = vm->cfg.mintick, inv = tick > 0 ? floor(1.0 / tick + 0.5) : 0;
    vm->inv_tick = inv > 0 && fabs(inv * tick - 1.0) < 1e-9 ? inv : 0;  /* decimal ticks */
    return PE_OK;
}

void pe_broker_free(pe_vm *vm) {
    free(vm->orders);
    free(vm->open);
    free(vm->closed);
    free(vm->intents);
}

static double floor_step(const pe_vm *vm, double q) {
    double step = vm->cfg.qty_step;
    if (!(step > 0) || q != q) return q;
    double units = floor(q / step + 1e-9);
    if (step < 1) {
        double inv = floor(1.0 / step + 0.5);
        if (fabs(inv * step - 1.0) < 1e-12) return units / inv;
    }
    return units * step;
}

static double commission(const pe_vm *vm, double qty, double price) {
    switch (vm->cfg.commission_type) {
    case PE_COMM_PERCENT: return qty * price * vm->cfg.pointvalue * vm->cfg.commission_value / 100.0;
    case PE_COMM_PER_CONTRACT: return qty * vm->cfg.commission_value;
    default: return vm->cfg.commission_value;
    }
}

static inline double position(const pe_vm *vm) {
    double q = 0;
    for (int64_t i = 0; i < vm->n_open; i++) q += vm->open[i].dir * vm->open[i].qty;
    return q;
}

/* An open trade an order for entry `from` (-1: any) placed up to bar `upto` acts on. */
static inline int takes(const pe_bk_trade *t, int32_t from, int32_t upto) {
    return (from < 0 || t->id == from) && t->placed_bar <= upto;
}

/* The bar up to which an exit's entries were placed (13.1: with from_entry, an exit covers
   the entries that existed on or before the bar it was called on). */
static inline int32_t exit_upto(const pe_bk_order *o) { return o->from >= 0 ? o->upto : INT32_MAX; }

/* Quantity of the open trades `takes` selects, their direction (0: none) and their
   quantity-weighted average price, computed as first price + weighted deviations: trades
   at one price give that price exactly (price * qty / qty need not: 476.00000000000006). */
static inline double matched_qty(const pe_vm *vm, int32_t from, int32_t upto, double *avg,
                                 int *dir) {
    double q = 0, dev = 0, base = 0;
    *dir = 0;
    for (int64_t i = 0; i < vm->n_open; i++) {
        const pe_bk_trade *t = &vm->open[i];
        if (!takes(t, from, upto)) continue;
        if (!*dir) base = t->price;
        q += t->qty;
        dev += (t->price - base) * t->qty;
        *dir = t->dir;
    }
    *avg = q > 0 ? base + dev / q : NAN;
    return q;
}

void pe_broker_publish(pe_vm *vm, double close) {
    vm->trades_changed = 0;
    double *R = vm->R, q = 0, op = 0, avg, pv = vm->cfg.pointvalue;
    int dir;
    double aq = matched_qty(vm, -1, INT32_MAX, &avg, &dir);
    for (int64_t i = 0; i < vm->n_open; i++) {
        const pe_bk_trade *t = &vm->open[i];
        q += t->dir * t->qty;
        op += (close - t->price) * t->qty * t->dir * pv - t->comm;  /* entry commission paid */
    }
    if (close != close) op = 0;
    R[PE_S_POSITION_SIZE] = q;
    R[PE_S_POSITION_AVG_PRICE] = aq > 0 ? avg : NAN;
    R[PE_S_POSITION_ENTRY_NAME] = vm->n_open ? vm->open[vm->n_open - 1].id : NAN;
    R[PE_S_OPENTRADES] = (double)vm->n_open;
    R[PE_S_CLOSEDTRADES] = (double)vm->n_closed;
    R[PE_S_WINTRADES] = (double)vm->wins;
    R[PE_S_LOSSTRADES] = (double)vm->losses;
    R[PE_S_EVENTRADES] = (double)vm->evens;
    R[PE_S_NETPROFIT] = vm->netprofit;
    R[PE_S_OPENPROFIT] = op;
    R[PE_S_GROSSPROFIT] = vm->grossprofit;
    R[PE_S_GROSSLOSS] = vm->grossloss;
    R[PE_S_EQUITY] = vm->cfg.initial_capital + vm->netprofit + op;
}

static int record_intent(pe_vm *vm, int32_t kind, const pe_bk_order *o) {
    if (vm->no_intents) return PE_OK;
    if (grow((void **)&vm->intents, &vm->cap_intents, vm->n_intents + 1,
             sizeof(pe_vm_intent)) != PE_OK)
        return PE_ERR_NOMEM;
    pe_vm_intent *it = &vm->intents[vm->n_intents++];
    memset(it, 0, sizeof *it);
    it->bar = (int32_t)vm->bar;
    it->kind = kind;
    it->id = o->id;
    it->dir = o->dir;
    it->from_entry = o->from;
    it->oca = o->oca;
    it->oca_type = o->oca_type;
    it->comment = o->comment;
    it->immediately = o->immediate;
    it->qty = o->qty;
    it->qty_percent = o->qty_pct;
    it->limit = o->limit;
    it->stop = o->stop;
    it->profit = o->profit;
    it->loss = o->loss;
    it->trail_price = o->trail_price;
    it->trail_points = o->trail_points;
    it->trail_offset = o->trail_offset;
    it->trail_percent = o->trail_pct;
    return PE_OK;
}

static void remove_order(pe_vm *vm, int64_t i) {
    memmove(&vm->orders[i], &vm->orders[i + 1],
            sizeof(pe_bk_order) * (size_t)(vm->n_orders - i - 1));
    vm->n_orders--;
}

static int64_t find_order(const pe_vm *vm, int32_t kind_class, int32_t id) {
    for (int64_t i = 0; i < vm->n_orders; i++) {
        const pe_bk_order *o = &vm->orders[i];
        int cls = o->kind == K_EXIT ? 1 : o->kind == K_CLOSE || o->kind == K_CLOSE_ALL ? 2 : 0;
        if (cls == kind_class && o->id == id) return i;
    }
    return -1;
}

/* Close up to qty of the open trades `takes` selects, oldest first (FIFO). */
static int close_trades(pe_vm *vm, int32_t from, int32_t upto, double qty, double price,
                        int32_t sig) {
    double left = qty, pv = vm->cfg.pointvalue;
    vm->trades_changed = 1;
    int64_t i = 0;
    while (i < vm->n_open && left > 1e-12) {
        pe_bk_trade *t = &vm->open[i];
        if (!takes(t, from, upto)) { i++; continue; }
        double q = t->qty <= left + 1e-12 ? t->qty : left;
        double share = q / t->qty;
        double ecomm = t->comm * share, xcomm = commission(vm, q, price);
        double pnl = (price - t->price) * q * t->dir * pv - ecomm - xcomm;
        if (grow((void **)&vm->closed, &vm->cap_closed, vm->n_closed + 1,
                 sizeof(pe_vm_trade)) != PE_OK)
            return PE_ERR_NOMEM;
        pe_vm_trade *c = &vm->closed[vm->n_closed++];
        c->entry_bar = t->entry_bar;
        c->exit_bar = (int32_t)vm->bar;
        c->entry_sig = t->sig;
        c->entry_id = t->id;
        c->pad = 0;
        c->exit_sig = sig;
        c->dir = t->dir;
        c->open = 0;
        c->entry_price = t->price;
        c->exit_price = price;
        c->qty = q;
        c->pnl = pnl;
        c->commission = ecomm + xcomm;
        c->runup = (t->dir > 0 ? t->hi - t->price : t->price - t->lo) * q * pv;
        c->drawdown = (t->dir > 0 ? t->lo - t->price : t->price - t->hi) * q * pv;
        vm->netprofit += pnl;
        if (pnl > 0) { vm->wins++; vm->grossprofit += pnl; }
        else if (pnl < 0) { vm->losses++; vm->grossloss -= pnl; }
        else vm->evens++;
        left -= q;
        if (q >= t->qty - 1e-12) {
            memmove(t, t + 1, sizeof(pe_bk_trade) * (size_t)(vm->n_open - i - 1));
            vm->n_open--;
        } else {
            t->qty -= q;
            t->comm -= ecomm;
            i++;
        }
    }
    return PE_OK;
}

static int open_trade(pe_vm *vm, const pe_bk_order *o, int dir, double qty, double price) {
    if (grow((void **)&vm->open, &vm->cap_open, vm->n_open + 1, sizeof(pe_bk_trade)) != PE_OK)
        return PE_ERR_NOMEM;
    pe_bk_trade *t = &vm->open[vm->n_open++];
    vm->trades_changed = 1;
    t->entry_bar = (int32_t)vm->bar;
    t->id = o->id;
    t->sig = o->comment >= 0 ? o->comment : o->id;
    t->dir = dir;
    t->price = price;
    t->qty = qty;
    t->comm = commission(vm, qty, price);
    t->hi = price;
    t->lo = price;
    t->seq = vm->seq++;
    t->placed_bar = o->placed_bar;
    t->pad = 0;
    return PE_OK;
}


/* Entry quantity when the order has none: from the sizing rule at `price`. */
static double sized_qty(const pe_vm *vm, const pe_bk_order *o, double price) {
    if (o->qty == o->qty) return o->qty;
    double budget = o->budget;
    price *= vm->cfg.pointvalue;  /* the value of one unit */
    switch (vm->cfg.qty_type) {
    case PE_QTY_FIXED: return floor_step(vm, vm->cfg.qty_value);
    case PE_QTY_CASH: return floor_step(vm, budget / price);
    default:
        switch (vm->cfg.commission_type) {
        case PE_COMM_PERCENT:
            return floor_step(vm, budget / (price * (1 + vm->cfg.commission_value / 100.0)));
        case PE_COMM_PER_CONTRACT:
            return floor_step(vm, budget / (price + vm->cfg.commission_value));
        default: return floor_step(vm, (budget - vm->cfg.commission_value) / price);
        }
    }
}

/* Execute order i at `price` (already slipped). The order is removed. */
static int fill(pe_vm *vm, int64_t i, double price) {
    pe_bk_order o = vm->orders[i];
    remove_order(vm, i);
    double pos = position(vm);
    int pdir = pos > 1e-12 ? 1 : pos < -1e-12 ? -1 : 0;
    int32_t sig = o.comment >= 0 ? o.comment : o.id;
    int rc = PE_OK;
    switch (o.kind) {
    case K_ENTRY: {
        if (pdir == o.dir && vm->n_open >= (vm->cfg.pyramiding > 1 ? vm->cfg.pyramiding : 1))
            return PE_OK;
        if (vm->cfg.allow_entry && o.dir != vm->cfg.allow_entry)  /* only closes (13.1) */
            return pdir == -o.dir ? close_trades(vm, -1, INT32_MAX, fabs(pos), price, sig)
                                  : PE_OK;
        /* TradingView sizes a reversal when the order is placed: qty plus the opposite
           position open then (o.rev). An entry placed while flat that fills against a
           position therefore only closes it. */
        double total = sized_qty(vm, &o, price) + o.rev, closed = 0;
        if (!(total > 0)) return PE_OK;
        if (pdir == -o.dir) {
            closed = total < fabs(pos) ? total : fabs(pos);
            rc = close_trades(vm, -1, INT32_MAX, closed, price, sig);
        }
        if (rc == PE_OK && total - closed > 1e-12)
            rc = open_trade(vm, &o, o.dir, total - closed, price);
        if (o.oca >= 0 && o.oca_type == OCA_CANCEL)
            for (int64_t k = vm->n_orders - 1; k >= 0; k--)
                if (vm->orders[k].oca == o.oca && vm->orders[k].kind <= K_ORDER)
                    remove_order(vm, k);
        return rc;
    }
    case K_ORDER: {
        double qty = sized_qty(vm, &o, price);
        if (!(qty > 0)) return PE_OK;
        if (vm->cfg.spot && o.dir < 0 && qty > pos) qty = pos;  /* never oversell */
        if (!(qty > 0)) return PE_OK;
        if (pdir == -o.dir) {
            double c = qty < fabs(pos) ? qty : fabs(pos);
            rc = close_trades(vm, -1, INT32_MAX, c, price, sig);
            qty -= c;
        }
        if (rc == PE_OK && qty > 1e-12) rc = open_trade(vm, &o, o.dir, qty, price);
        return rc;
    }
    case K_EXIT: {
        double avg;
        int dir;
        double mq = matched_qty(vm, o.from, exit_upto(&o), &avg, &dir);
        double q = o.qty == o.qty ? (o.qty < mq ? o.qty : mq)
                 : o.qty_pct == o.qty_pct ? floor_step(vm, mq * o.qty_pct / 100.0) : mq;
        return q > 0 ? close_trades(vm, o.from, exit_upto(&o), q, price, sig) : PE_OK;
    }
    case K_CLOSE: {
        double avg;
        int dir;
        double mq = matched_qty(vm, o.id, INT32_MAX, &avg, &dir);
        double q = o.qty == o.qty ? (o.qty < mq ? o.qty : mq)
                 : o.qty_pct == o.qty_pct ? floor_step(vm, mq * o.qty_pct / 100.0) : mq;
        return q > 0 ? close_trades(vm, o.id, INT32_MAX, q, price, sig) : PE_OK;
    }
    default:
        return close_trades(vm, -1, INT32_MAX, fabs(pos), price, sig);
    }
}

/* Prices trade in whole ticks: the first tradable price at or beyond a trigger level is
   the level rounded away from the market (buy stop / sell limit up, the others down). */
static inline double tick_level(const pe_vm *vm, double lvl, int up) {
    double tick = vm->cfg.mintick;
    if (!(tick > 0) || lvl != lvl) return lvl;
    if (vm->inv_tick > 0) {
        /* n / 10^k is the double nearest the decimal price, as parsed from market data */
        double k = lvl * vm->inv_tick, n = up ? ceil(k - 1e-6) : floor(k + 1e-6);
        return n / vm->inv_tick;
    }
    double k = lvl / tick;
    return (up ? ceil(k - 1e-6) : floor(k + 1e-6)) * tick;
}

/* The nearest whole-tick price (a trailing stop trails its water mark by whole ticks). */
static inline double round_tick(const pe_vm *vm, double x) {
    double tick = vm->cfg.mintick;
    if (!(tick > 0) || x != x) return x;
    if (vm->inv_tick > 0) return floor(x * vm->inv_tick + 0.5) / vm->inv_tick;
    return floor(x / tick + 0.5) * tick;
}

/* The tick price nearest x on its side: the smallest tick >= x (up) or the largest <= x,
   compared exactly (a stop trailing by a percentage never sits further than it). */
static inline double tick_toward(const pe_vm *vm, double x, int up) {
    double tick = vm->cfg.mintick;
    if (!(tick > 0) || x != x) return x;
    if (vm->inv_tick > 0) {
        double k = floor(x * vm->inv_tick + 0.5), p = k / vm->inv_tick;
        return up ? (p >= x ? p : (k + 1) / vm->inv_tick) : (p <= x ? p : (k - 1) / vm->inv_tick);
    }
    double k = floor(x / tick + 0.5), p = k * tick;
    return up ? (p >= x ? p : (k + 1) * tick) : (p <= x ? p : (k - 1) * tick);
}

/* Where a trailing leg with water mark wm has its stop: trail_offset ticks (`off`, as a
   price) behind it, to the nearest tick, or trail_percent % of it behind, rounded towards
   the water mark. */
static inline double trail_stop(const pe_vm *vm, const pe_bk_order *o, int dir, double wm,
                                double off) {
    if (o->trail_pct == o->trail_pct)
        return tick_toward(vm, wm * (1.0 - dir * (o->trail_pct / 100.0)), dir > 0);
    return round_tick(vm, wm - dir * off);
}

/* Activation level of an exit's trailing leg for a position of direction dir at avg
   price: trail_price, or trail_points ticks from the entry; with both, the one the price
   reaches first. Rounded to the first tradable price at or beyond it. */
static double trail_level(const pe_vm *vm, const pe_bk_order *o, double avg, int dir) {
    double a = o->trail_price;
    if (o->trail_points == o->trail_points) {
        double ap = avg + dir * o->trail_points * vm->cfg.mintick;
        a = a != a ? ap : dir > 0 ? (a < ap ? a : ap) : (a > ap ? a : ap);
    }
    return tick_level(vm, a, dir > 0);
}

/* Price legs of an order: buy/sell side and trigger levels (avg: an exit's entry price).
   Returns 0 when the order is not a price order (market) and -1 when it cannot act now
   (exit without trades). A trailing exit's leg: trail_legs. */
typedef struct { int side; double limit, stop, avg; } legs;

static inline int order_legs(pe_vm *vm, pe_bk_order *o, legs *lg) {
    lg->limit = NAN;
    lg->stop = NAN;
    lg->avg = NAN;
    if (o->kind == K_EXIT) {
        double avg;
        int dir;
        double mq = matched_qty(vm, o->from, exit_upto(o), &avg, &dir);
        if (!(mq > 0)) return -1;
        /* an exit belongs to the position it was placed for: after a reversal it is gone */
        if (o->had_trades && o->dir != dir) { o->had_trades = 2; return -1; }
        o->had_trades = 1;
        o->dir = dir;
        double tick = vm->cfg.mintick;
        double lp = o->limit, sp = o->stop;
        if (o->profit == o->profit) {
            double tp = avg + dir * o->profit * tick;
            lp = lp != lp ? tp : dir > 0 ? (lp < tp ? lp : tp) : (lp > tp ? lp : tp);
        }
        if (o->loss == o->loss) {
            double sl = avg - dir * o->loss * tick;
            sp = sp != sp ? sl : dir > 0 ? (sp > sl ? sp : sl) : (sp < sl ? sp : sl);
        }
        if (lp != lp && sp != sp && !o->trail) return -1;
        lg->avg = avg;
        lg->side = -dir;
        lg->limit = lp;
        lg->stop = sp;
        return 1;
    }
    if (o->kind >= K_CLOSE) return 0;
    lg->side = o->dir;
    if (o->stop == o->stop && !o->stop_hit) { lg->stop = o->stop; return 1; }
    if (o->limit == o->limit) { lg->limit = o->limit; return 1; }
    return 0;
}

/* Where on segment p -> b (fraction t from the current point) a trigger "price <= lvl"
   (le=1) or "price >= lvl" fires; returns 0 if it does not. */
static inline int trigger(double p, double b, double lvl, int le, double *t, double *px) {
    if (le ? p <= lvl : p >= lvl) { *t = 0; *px = p; return 1; }
    if (le ? b <= lvl : b >= lvl) { *t = (p - lvl) / (p - b); *px = lvl; return 1; }
    return 0;
}

static double slipped(const pe_vm *vm, double px, int side) {
    return px + side * vm->cfg.slippage * vm->cfg.mintick;
}

/* Trailing legs (pine-subset.md 13.4): the leg arms when the path reaches its activation
   level; from then on its water mark is the most favourable price the path has reached
   and the stop trails it by the offset. The state is advanced lazily to the walk's
   current point (no fill can lie before it: the walk always takes the earliest fill). */
static inline void trail_touch(pe_bk_order *o, int dir, double lvl, double x) {
    if (!o->trail_armed) {
        if (dir > 0 ? x >= lvl : x <= lvl) { o->trail_armed = 1; o->trail_wm = x; }
    } else if (dir > 0 ? x > o->trail_wm : x < o->trail_wm) {
        o->trail_wm = x;
    }
}

/* The leg has followed the walk up to point p of segment seg (seg -1: it has no trades
   yet and starts wherever the walk is when it gets them, that is where its entry fills). */
static inline void trail_follow(const pe_vm *vm, pe_bk_order *o, int seg, double p) {
    o->trail_walk = vm->walk_id;
    o->trail_seg = seg;
    o->trail_p = p;
}

static void trail_advance(const pe_vm *vm, pe_bk_order *o, int dir, double lvl,
                          const double *pts, int seg, double p) {
    if (o->trail_walk != vm->walk_id) trail_follow(vm, o, 0, pts[0]);
    if (o->trail_seg < 0) o->trail_seg = seg;
    else trail_touch(o, dir, lvl, o->trail_p);
    for (int k = o->trail_seg; k < seg; k++) trail_touch(o, dir, lvl, pts[k + 1]);
    trail_touch(o, dir, lvl, p);
    trail_follow(vm, o, seg, p);
}

/* Where the trailing leg fills on the rest of the path from p (segment seg, fraction t
   from p on the first segment): returns 1 with the segment, t and fill price. */
static int trail_hit(const pe_vm *vm, const pe_bk_order *o, int dir, double lvl, double off,
                     const double *pts, int npts, int seg, double p, int *k_out,
                     double *t_out, double *px_out) {
    int armed = o->trail_armed;
    double wm = o->trail_wm;
    int zero = o->trail_pct == o->trail_pct ? !(o->trail_pct > 0) : !(off > 0);
    if (armed) {  /* already beyond the trailed stop: a gap, or offset 0 at arming */
        double stop = trail_stop(vm, o, dir, wm, off);
        if (dir > 0 ? p <= stop : p >= stop) {
            *k_out = seg; *t_out = 0; *px_out = p;
            return 1;
        }
    }
    for (int k = seg; k < npts - 1; k++) {
        double a = k == seg ? p : pts[k], b = pts[k + 1];
        double ua = dir * a, ub = dir * b;
        if (ub > ua) {  /* favourable: arms, raises the water mark */
            if (!armed) {
                if (ub < dir * lvl) continue;
                armed = 1;
                double x = ua >= dir * lvl ? a : lvl;
                if (zero) {  /* the stop sits on the arming price */
                    *k_out = k; *t_out = (x - a) / (b - a); *px_out = round_tick(vm, x);
                    return 1;
                }
                wm = b;
            } else if (ub > dir * wm) {
                wm = b;
            }
        } else if (ub < ua && armed) {  /* adverse: fills at the stop when it gets there */
            double stop = trail_stop(vm, o, dir, wm, off), us = dir * stop;
            if (ub <= us) {
                *k_out = k;
                *t_out = ua <= us ? 0 : (ua - us) / (ua - ub);
                *px_out = ua <= us ? a : stop;
                return 1;
            }
        }
    }
    return 0;
}

/* The activation level and offset (as a price) of a trailing exit whose legs are lg;
   0 when it has no activation level. */
static inline int trail_legs(const pe_vm *vm, const pe_bk_order *o, const legs *lg,
                             double *lvl, double *off) {
    *off = (o->trail_offset == o->trail_offset ? o->trail_offset : 0) * vm->cfg.mintick;
    *lvl = trail_level(vm, o, lg->avg, -lg->side);
    return *lvl == *lvl;
}

/* The walk is over: carry the trailing legs' state to the path's last point. */
static void trail_finish(pe_vm *vm, const double *pts, int npts) {
    for (int64_t i = 0; i < vm->n_orders; i++) {
        pe_bk_order *o = &vm->orders[i];
        legs lg;
        double off, lvl;
        if (o->trail && order_legs(vm, o, &lg) == 1 && trail_legs(vm, o, &lg, &lvl, &off))
            trail_advance(vm, o, -lg.side, lvl, pts, npts > 1 ? npts - 2 : 0, pts[npts - 1]);
    }
}

/* An exit that lost its trades (closed, or reversed into the other direction) is gone. */
static int exit_gone(const pe_vm *vm, const pe_bk_order *o) {
    double avg;
    int dir;
    return o->kind == K_EXIT && o->had_trades &&
           (o->had_trades == 2 || matched_qty(vm, o->from, exit_upto(o), &avg, &dir) <= 0);
}

/* Fill pending orders along the path pts[0..npts-1], starting at pts[0]. */
static void walk(pe_vm *vm, const double *pts, int npts) {
    int seg = 0;
    double p = pts[0], lo = pts[0], hi = pts[0];
    for (int k = 1; k < npts; k++) {
        if (pts[k] < lo) lo = pts[k];
        if (pts[k] > hi) hi = pts[k];
    }
    vm->walk_id++;
    int trailing = 0;  /* some order has a trailing leg to carry on at the end */
    for (int guard = 0; guard < MAX_FILLS_PER_WALK; guard++) {
        int64_t best = -1;
        int best_seg = 0, best_kind = 0;  /* kind: 0 market, 1 limit, 2 stop, 3 stop hit */
        double best_t = 0, best_px = 0;
        int64_t best_seq = 0;
        for (int64_t i = 0; i < vm->n_orders; i++) {
            pe_bk_order *o = &vm->orders[i];
            if (vm->cfg.exit_model && o->kind == K_EXIT) continue;  /* ft_exits */
            legs lg;
            int r = order_legs(vm, o, &lg);
            trailing |= o->trail;
            if (r < 0) {
                if (exit_gone(vm, o)) {
                    remove_order(vm, i);
                    i--;
                } else if (o->trail) {
                    trail_follow(vm, o, -1, p);
                }
                continue;
            }
            int k = seg, kind = 0, found = r == 0;
            double t = 0, px = p;
            if (r == 1) {
                /* the same raw level bar after bar: reuse its rounding (a division) */
                if (memcmp(&lg.limit, &o->raw_limit, sizeof(double)) != 0) {
                    o->raw_limit = lg.limit;
                    o->tick_limit = tick_level(vm, lg.limit, lg.side < 0);
                }
                if (memcmp(&lg.stop, &o->raw_stop, sizeof(double)) != 0) {
                    o->raw_stop = lg.stop;
                    o->tick_stop = tick_level(vm, lg.stop, lg.side > 0);
                }
                lg.limit = o->tick_limit;
                lg.stop = o->tick_stop;
                /* most bars: no leg within the bar's range, nothing to walk */
                int reach_l = lg.limit == lg.limit && (lg.side > 0 ? lo <= lg.limit
                                                                   : hi >= lg.limit);
                int reach_s = lg.stop == lg.stop && (lg.side > 0 ? hi >= lg.stop
                                                                 : lo <= lg.stop);
                for (k = seg; (reach_l || reach_s) && k < (npts > 1 ? npts - 1 : 1); k++) {
                    double a = k == seg ? p : pts[k], b = npts > 1 ? pts[k + 1] : pts[0];
                    double tl = 2, pl = 0, ts = 2, ps = 0;
                    int hl = lg.limit == lg.limit &&
                             trigger(a, b, lg.limit, lg.side > 0, &tl, &pl);
                    int hs = lg.stop == lg.stop &&
                             trigger(a, b, lg.stop, lg.side < 0, &ts, &ps);
                    if (hl || hs) {
                        found = 1;
                        if (hl && (!hs || tl <= ts)) { t = tl; px = pl; kind = 1; }
                        else { t = ts; px = ps; kind = o->kind == K_EXIT || o->limit != o->limit
                                                      ? 2 : 3; }
                        break;
                    }
                }
                double off, lvl;
                if (o->trail && trail_legs(vm, o, &lg, &lvl, &off)) {
                    /* the earliest of the exit's legs fills; ties: stop, trailing, limit */
                    int dir = -lg.side, tk;
                    double tt, tpx;
                    trail_advance(vm, o, dir, lvl, pts, seg, p);
                    if (trail_hit(vm, o, dir, lvl, off, pts, npts, seg, p, &tk,
                                  &tt, &tpx) &&
                        (!found || tk < k || (tk == k && (tt < t || (tt == t && kind == 1))))) {
                        found = 1; k = tk; t = tt; px = tpx; kind = 2;
                    }
                }
                if (!found) continue;
            }
            if (best < 0 || k < best_seg || (k == best_seg && (t < best_t ||
                                              (t == best_t && o->seq < best_seq)))) {
                best = i;
                best_seg = k;
                best_t = t;
                best_px = px;
                best_kind = kind;
                best_seq = o->seq;
            }
        }
        if (best < 0) {
            if (trailing) trail_finish(vm, pts, npts);
            return;
        }
        seg = best_seg;
        p = best_px;
        if (best_kind == 3) {  /* stop of a stop-limit reached: now a limit order */
            vm->orders[best].stop_hit = 1;
            continue;
        }
        int side = vm->orders[best].kind == K_EXIT || vm->orders[best].kind >= K_CLOSE
                   ? -(position(vm) > 0 ? 1 : -1) : vm->orders[best].dir;
        double px = best_kind == 1 ? best_px : slipped(vm, best_px, side);
        if (fill(vm, best, px) != PE_OK) return;
    }
}

/* Whether every open trade exit o covers was entered on this bar. */
static int entered_now(const pe_vm *vm, const pe_bk_order *o) {
    for (int64_t i = 0; i < vm->n_open; i++)
        if (takes(&vm->open[i], o->from, exit_upto(o)) && vm->open[i].entry_bar != vm->bar)
            return 0;
    return 1;
}

/* The more protective of two stops of a position of direction dir (na: the other). */
static inline double tighter(double a, double b, int dir) {
    if (a != a) return b;
    if (b != b) return a;
    return dir * a >= dir * b ? a : b;
}

/* exit_fill_model = "freqtrade" (pine-subset.md 13.9): Freqtrade's backtesting rules for
   the exit legs, once per bar after the other orders filled at the open. The stop that
   held at the open is tested against the bar's low (long); if it holds, a trailing leg
   first takes the bar's high and the raised stop is tested against the same low. A stop
   not raised by the trailing leg wins over the limit, the limit over a trailed stop. A
   stop fills at its price, or at the open when the whole bar lies beyond it. The limit is
   a profit target taken unrounded: the high must go beyond it, and it fills at the tick
   nearest it, or at the open when the bar opens beyond it. A trailed stop hit on the bar
   its trades were entered fills at Freqtrade's worst case: the price rose trail_entry_rise %
   above the entry, then fell back by the trail. */
static void ft_exits(pe_vm *vm, double open, double high, double low) {
    for (int64_t i = 0; i < vm->n_orders; i++) {
        pe_bk_order *o = &vm->orders[i];
        if (o->kind != K_EXIT) continue;
        legs lg;
        if (order_legs(vm, o, &lg) < 0) {
            if (exit_gone(vm, o)) remove_order(vm, i--);
            continue;
        }
        int dir = -lg.side;
        double adv = dir > 0 ? low : high, fav = dir > 0 ? high : low;
        double hard = tick_level(vm, lg.stop, lg.side > 0);
        double lim = lg.limit;
        double lvl = NAN, off = 0, trailed = NAN;
        int trail = o->trail && trail_legs(vm, o, &lg, &lvl, &off);
        if (trail && o->trail_armed) trailed = trail_stop(vm, o, dir, o->trail_wm, off);
        double stop = tighter(hard, trailed, dir);
        if (trail && !(stop == stop && dir * stop >= dir * adv)) {
            trail_touch(o, dir, lvl, fav);
            if (o->trail_armed) trailed = trail_stop(vm, o, dir, o->trail_wm, off);
            stop = tighter(hard, trailed, dir);
        }
        int stop_hit = stop == stop && dir * stop >= dir * adv;
        int by_trail = stop_hit && trailed == trailed &&
                       (hard != hard || dir * trailed > dir * hard);
        int lim_hit = lim == lim && dir * fav > dir * lim;
        double px;
        int is_stop = 1;
        if (stop_hit && !by_trail) px = stop;
        else if (lim_hit) {
            px = dir * open > dir * lim ? open : round_tick(vm, lim);
            is_stop = 0;
        }
        else if (stop_hit) px = stop;
        else continue;
        if (is_stop && by_trail && entered_now(vm, o)) {
            double rise = vm->cfg.trail_entry_rise / 100.0, e = lg.avg;
            double w = o->trail_pct == o->trail_pct
                       ? e * ((1.0 + dir * rise) - dir * (o->trail_pct / 100.0))
                       : e * (1.0 + dir * rise) - dir * off;
            px = round_tick(vm, dir * w < dir * adv ? adv : w);
        } else if (is_stop) {
            px = dir * px > dir * fav ? open : px;
        }
        if (is_stop) px = slipped(vm, px, lg.side);
        if (fill(vm, i--, px) != PE_OK) return;
    }
}

void pe_broker_open(pe_vm *vm) {
    if (vm->n_orders == 0 && vm->n_open == 0 && !vm->dirty) return;  /* flat: nothing moves */
    if (vm->no_emulate) return;
    vm->dirty = vm->n_open > 0 || vm->n_orders > 0;
    double *R = vm->R, h = R[PE_S_HIGH], l = R[PE_S_LOW], c = R[PE_S_CLOSE];
    if (vm->n_orders > 0) {
        double o = R[PE_S_OPEN];
        double pts[4] = {o, h, l, c};
        if (!(h - o < o - l)) { pts[1] = l; pts[2] = h; }
        walk(vm, pts, 4);
        if (vm->cfg.exit_model) ft_exits(vm, o, h, l);
    }
    /* one pass: excursions of the open trades and their P&L at this close */
    double op = 0, pv = vm->cfg.pointvalue;
    for (int64_t i = 0; i < vm->n_open; i++) {
        pe_bk_trade *t = &vm->open[i];
        if (h > t->hi) t->hi = h;
        if (l < t->lo) t->lo = l;
        op += (c - t->price) * t->qty * t->dir * pv - t->comm;
    }
    if (vm->trades_changed || c != c) {
        pe_broker_publish(vm, c);
    } else {  /* same trades as last bar: only the marks move */
        R[PE_S_OPENPROFIT] = op;
        R[PE_S_EQUITY] = vm->cfg.initial_capital + vm->netprofit + op;
    }
}

void pe_broker_close(pe_vm *vm) {
    vm->dirty |= vm->n_orders > 0 || vm->n_open > 0;
    if (vm->cfg.process_on_close && vm->n_orders > 0) {
        double c = vm->R[PE_S_CLOSE];
        walk(vm, &c, 1);
        pe_broker_publish(vm, c);
    }
}

static void new_order(pe_vm *vm, pe_bk_order *o) {
    memset(o, 0, sizeof *o);
    o->id = o->from = o->oca = o->comment = -1;
    o->qty = o->qty_pct = o->limit = o->stop = o->profit = o->loss = o->budget = NAN;
    o->raw_limit = o->raw_stop = o->tick_limit = o->tick_stop = NAN;
    o->trail_price = o->trail_points = o->trail_offset = o->trail_pct = o->trail_wm = NAN;
    o->trail_walk = -1;
    o->placed_bar = o->upto = (int32_t)vm->bar;
    o->seq = vm->seq++;
}

/* An order call's argument block (layout in dsl/bytecode.py) into an order. */
static void parse_order(int32_t op, const double *a, pe_bk_order *o) {
    switch (op) {
    case PE_OP_ENTRY: case PE_OP_ORDER:
        o->kind = op == PE_OP_ENTRY ? K_ENTRY : K_ORDER;
        o->id = str_arg(a[0]);
        o->dir = a[1] < 0 ? -1 : 1;
        o->qty = a[2];
        o->limit = a[3];
        o->stop = a[4];
        o->oca = str_arg(a[5]);
        o->oca_type = a[6] == a[6] ? (int32_t)a[6] : 0;
        o->comment = str_arg(a[7]);
        break;
    case PE_OP_EXIT: case PE_OP_EXIT_TRAIL:
        o->kind = K_EXIT;
        o->id = str_arg(a[0]);
        o->from = str_arg(a[1]);
        o->qty = a[2];
        o->qty_pct = a[3];
        o->profit = a[4];
        o->limit = a[5];
        o->loss = a[6];
        o->stop = a[7];
        o->comment = str_arg(a[8]);
        if (op == PE_OP_EXIT_TRAIL) {
            o->trail_price = a[9];
            o->trail_points = a[10];
            o->trail_offset = a[11];
            o->trail_pct = a[12];
        }
        break;
    case PE_OP_CLOSE:
        o->kind = K_CLOSE;
        o->id = str_arg(a[0]);
        o->qty = a[1];
        o->qty_pct = a[2];
        o->comment = str_arg(a[3]);
        o->immediate = a[4] == 1.0;
        break;
    case PE_OP_CLOSE_ALL:
        o->kind = K_CLOSE_ALL;
        o->comment = str_arg(a[0]);
        o->immediate = a[1] == 1.0;
        break;
    case PE_OP_CANCEL:
        o->id = str_arg(a[0]);
        break;
    default:
        break;
    }
}

static inline int same_num(double x, double y) { return x == y || (x != x && y != y); }

/* A trailing exit issued (or re-issued) while its trades are open takes the issue bar into
   its water mark (PyneCore-measured TradingView behaviour): it arms when the bar closed
   beyond the activation level, and an armed leg takes the bar's extreme. A re-issue with
   changed trailing arguments replaces the leg: disarmed, and re-armed from the close only. */
static void trail_at_issue(pe_vm *vm, pe_bk_order *o, int changed) {
    double avg;
    int dir;
    if (changed) o->trail_armed = 0;
    if (!(matched_qty(vm, o->from, exit_upto(o), &avg, &dir) > 0)) return;
    double lvl = trail_level(vm, o, avg, dir), c = vm->R[PE_S_CLOSE];
    double x = changed ? c : dir > 0 ? vm->R[PE_S_HIGH] : vm->R[PE_S_LOW];
    if (!o->trail_armed) {
        if (!(dir > 0 ? c > lvl : c < lvl)) return;
        o->trail_armed = 1;
        o->trail_wm = lvl;
    }
    trail_touch(o, dir, lvl, x);
}

int pe_broker_call(pe_vm *vm, int32_t op, const double *a) {
    pe_bk_order o;
    int exit_op = op == PE_OP_EXIT || op == PE_OP_EXIT_TRAIL;
    if (!exit_op || vm->no_emulate) {
        new_order(vm, &o);
        parse_order(op, a, &o);
    }
    /* the intent says what the call does: under strategy.risk.allow_entry_in, an entry the
       other way closes the position (13.1) */
    int32_t kind = exit_op ? PE_OP_EXIT
                   : op == PE_OP_ENTRY && vm->cfg.allow_entry && o.dir != vm->cfg.allow_entry
                   ? PE_OP_CLOSE_ALL : op;
    if (vm->no_emulate) return record_intent(vm, kind, &o);  /* the engine owns the fills */
    double close = vm->R[PE_S_CLOSE];
    switch (op) {
    case PE_OP_ENTRY: case PE_OP_ORDER: {
        if (record_intent(vm, kind, &o) != PE_OK) return PE_ERR_NOMEM;
        if (vm->cfg.spot && o.kind == K_ENTRY && o.dir < 0 && vm->cfg.allow_entry != 1) {
            vm->refused_shorts++;
            return PE_OK;
        }
        double pos = position(vm);
        int pdir = pos > 1e-12 ? 1 : pos < -1e-12 ? -1 : 0;
        if (o.kind == K_ENTRY && pdir == o.dir &&
            vm->n_open >= (vm->cfg.pyramiding > 1 ? vm->cfg.pyramiding : 1))
            return PE_OK;  /* pyramiding limit reached: the call is ignored */
        o.rev = o.kind == K_ENTRY && pdir == -o.dir ? fabs(pos) : 0;
        int is_price = o.limit == o.limit || o.stop == o.stop;
        if (o.qty == o.qty) {
            o.qty = floor_step(vm, o.qty);
        } else if (vm->cfg.qty_type == PE_QTY_FIXED) {
            o.qty = floor_step(vm, vm->cfg.qty_value);
        } else {
            o.budget = vm->cfg.qty_type == PE_QTY_CASH ? vm->cfg.qty_value
                       : vm->R[PE_S_EQUITY] * vm->cfg.qty_value / 100.0;
            if (!is_price) o.qty = sized_qty(vm, &o, close);
        }
        int64_t prev = find_order(vm, 0, o.id);
        if (prev >= 0) {  /* same id: the new call replaces the pending order */
            o.seq = vm->orders[prev].seq;
            o.placed_bar = vm->orders[prev].placed_bar;
            vm->orders[prev] = o;
            return PE_OK;
        }
        break;
    }
    case PE_OP_EXIT: case PE_OP_EXIT_TRAIL: {
        /* Re-issued every bar by typical scripts: update the pending exit in place (a
           whole-struct copy here costs store-forwarding stalls on the hot path). */
        int32_t id = str_arg(a[0]);
        int64_t prev = find_order(vm, 1, id);
        pe_bk_order *q;
        if (prev >= 0) {
            q = &vm->orders[prev];
        } else {
            if (grow((void **)&vm->orders, &vm->cap_orders, vm->n_orders + 1,
                     sizeof(pe_bk_order)) != PE_OK)
                return PE_ERR_NOMEM;
            q = &vm->orders[vm->n_orders++];
            new_order(vm, q);
            q->kind = K_EXIT;
            q->id = id;
        }
        q->from = str_arg(a[1]);
        q->upto = (int32_t)vm->bar;
        q->qty = a[2];
        q->qty_pct = a[3];
        q->profit = a[4];
        q->limit = a[5];
        q->loss = a[6];
        q->stop = a[7];
        q->comment = str_arg(a[8]);
        if (op == PE_OP_EXIT_TRAIL || q->trail) {  /* a plain exit has no trailing leg */
            double tp = NAN, tpts = NAN, toff = NAN, tpct = NAN;
            if (op == PE_OP_EXIT_TRAIL) { tp = a[9]; tpts = a[10]; toff = a[11]; tpct = a[12]; }
            int same = same_num(tp, q->trail_price) && same_num(tpts, q->trail_points) &&
                       same_num(toff, q->trail_offset) && same_num(tpct, q->trail_pct);
            int had = q->trail;
            q->trail_price = tp;
            q->trail_points = tpts;
            q->trail_offset = toff;
            q->trail_pct = tpct;
            q->trail = tp == tp || tpts == tpts;
            /* the freqtrade model moves the water mark only when it processes a bar */
            if (!q->trail) q->trail_armed = 0;
            else if (!vm->cfg.exit_model) trail_at_issue(vm, q, had && !same);
        }
        return record_intent(vm, PE_OP_EXIT, q);
    }
    case PE_OP_CLOSE: case PE_OP_CLOSE_ALL: {
        if (record_intent(vm, op, &o) != PE_OK) return PE_ERR_NOMEM;
        double avg;
        int dir;
        double mq = op == PE_OP_CLOSE ? matched_qty(vm, o.id, INT32_MAX, &avg, &dir)
                                      : fabs(position(vm));
        if (!(mq > 0)) return PE_OK;  /* nothing to close */
        if (find_order(vm, 2, o.id) >= 0 && op == PE_OP_CLOSE) return PE_OK;
        if (op == PE_OP_CLOSE_ALL)
            for (int64_t i = 0; i < vm->n_orders; i++)
                if (vm->orders[i].kind == K_CLOSE_ALL) return PE_OK;
        if (o.immediate) {
            if (grow((void **)&vm->orders, &vm->cap_orders, vm->n_orders + 1,
                     sizeof(pe_bk_order)) != PE_OK)
                return PE_ERR_NOMEM;
            vm->orders[vm->n_orders++] = o;
            double side = position(vm) > 0 ? -1 : 1;
            int rc = fill(vm, vm->n_orders - 1, slipped(vm, close, (int)side));
            pe_broker_publish(vm, close);
            return rc;
        }
        break;
    }
    case PE_OP_CANCEL: {
        int32_t id = o.id;
        if (record_intent(vm, op, &o) != PE_OK) return PE_ERR_NOMEM;
        for (int64_t i = vm->n_orders - 1; i >= 0; i--)
            if (vm->orders[i].id == id && vm->orders[i].kind <= K_EXIT) remove_order(vm, i);
        return PE_OK;
    }
    case PE_OP_CANCEL_ALL:
        if (record_intent(vm, op, &o) != PE_OK) return PE_ERR_NOMEM;
        for (int64_t i = vm->n_orders - 1; i >= 0; i--)
            if (vm->orders[i].kind <= K_EXIT) remove_order(vm, i);
        return PE_OK;
    default:
        return PE_VM_ERR_PROGRAM;
    }
    if (grow((void **)&vm->orders, &vm->cap_orders, vm->n_orders + 1, sizeof(pe_bk_order)) !=
        PE_OK)
        return PE_ERR_NOMEM;
    vm->orders[vm->n_orders++] = o;
    return PE_OK;
}

void pe_vm_set_record_intents(pe_vm *vm, int on) { vm->no_intents = !on; }

void pe_vm_set_emulate(pe_vm *vm, int on) { vm->no_emulate = !on; }

int pe_vm_set_position(pe_vm *vm, double qty, double avg_price) {
    vm->n_open = 0;
    if (qty > 0 && avg_price > 0) {
        if (grow((void **)&vm->open, &vm->cap_open, 1, sizeof(pe_bk_trade)) != PE_OK)
            return PE_ERR_NOMEM;
        pe_bk_trade *t = &vm->open[vm->n_open++];
        memset(t, 0, sizeof *t);
        t->entry_bar = (int32_t)vm->bar;
        t->id = t->sig = -1;
        t->dir = 1;
        t->price = t->hi = t->lo = avg_price;
        t->qty = qty;
        t->seq = vm->seq++;
    }
    pe_broker_publish(vm, vm->R[PE_S_CLOSE]);
    return PE_OK;
}

int64_t pe_vm_intent_count(const pe_vm *vm) { return vm->n_intents; }

int64_t pe_vm_take_intents(pe_vm *vm, pe_vm_intent *out, int64_t cap) {
    int64_t n = vm->n_intents < cap ? vm->n_intents : cap;
    memcpy(out, vm->intents, sizeof(pe_vm_intent) * (size_t)n);
    memmove(vm->intents, vm->intents + n, sizeof(pe_vm_intent) * (size_t)(vm->n_intents - n));
    vm->n_intents -= n;
    return n;
}

const pe_vm_intent *pe_vm_intents(const pe_vm *vm, int64_t *n) {
    *n = vm->n_intents;
    return vm->intents;
}

void pe_vm_drop_intents(pe_vm *vm) { vm->n_intents = 0; }

int64_t pe_vm_trade_count(const pe_vm *vm) { return vm->n_closed + vm->n_open; }

int64_t pe_vm_trades(const pe_vm *vm, pe_vm_trade *out, int64_t cap) {
    int64_t k = 0;
    for (int64_t i = 0; i < vm->n_closed && k < cap; i++) out[k++] = vm->closed[i];
    double c = vm->R[PE_S_CLOSE], pv = vm->cfg.pointvalue;
    for (int64_t i = 0; i < vm->n_open && k < cap; i++) {
        const pe_bk_trade *t = &vm->open[i];
        pe_vm_trade *r = &out[k++];
        r->entry_bar = t->entry_bar;
        r->exit_bar = (int32_t)(vm->bar - 1);
        r->entry_sig = t->sig;
        r->entry_id = t->id;
        r->pad = 0;
        r->exit_sig = -1;
        r->dir = t->dir;
        r->open = 1;
        r->entry_price = t->price;
        r->exit_price = c;
        r->qty = t->qty;
        r->commission = t->comm;
        r->pnl = (c - t->price) * t->qty * t->dir * pv - t->comm;
        r->runup = (t->dir > 0 ? t->hi - t->price : t->price - t->lo) * t->qty * pv;
        r->drawdown = (t->dir > 0 ? t->lo - t->price : t->price - t->hi) * t->qty * pv;
    }
    return k;
}

int64_t pe_vm_refused_shorts(const pe_vm *vm) { return vm->refused_shorts; }

double pe_broker_trade_field(const pe_vm *vm, int32_t code, double index) {
    if (!(index >= 0)) return NAN;
    int64_t i = (int64_t)index;
    if (code & PE_T_CLOSED) {
        if (i >= vm->n_closed) return NAN;
        const pe_vm_trade *t = &vm->closed[i];
        switch (code & ~PE_T_CLOSED) {
        case PE_T_ENTRY_PRICE: return t->entry_price;
        case PE_T_ENTRY_BAR: return t->entry_bar;
        case PE_T_ENTRY_ID: return t->entry_id;
        case PE_T_SIZE: return t->qty * t->dir;
        case PE_T_EXIT_PRICE: return t->exit_price;
        case PE_T_PROFIT: return t->pnl;
        case PE_T_EXIT_BAR: return t->exit_bar;
        case PE_T_COMMISSION: return t->commission;
        default: return NAN;
        }
    }
    if (i >= vm->n_open) return NAN;
    const pe_bk_trade *t = &vm->open[i];
    switch (code) {
    case PE_T_ENTRY_PRICE: return t->price;
    case PE_T_ENTRY_BAR: return t->entry_bar;
    case PE_T_ENTRY_ID: return t->id;
    case PE_T_SIZE: return t->qty * t->dir;
    case PE_T_PROFIT:
        return (vm->R[PE_S_CLOSE] - t->price) * t->qty * t->dir * vm->cfg.pointvalue - t->comm;
    case PE_T_COMMISSION: return t->comm;
    default: return NAN;
    }
}
