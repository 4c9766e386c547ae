#include "risk.h"

/* Products of prices, quantities, scales and basis points overflow 64 bits for large
   accounts, so every comparison is made exactly in 128 bits. */
typedef __int128 i128;

#define BPS 10000
/* Prices, quantities and impacts above 2^50 are refused as malformed, which keeps every
   sum below in 64 bits and every product in 128. */
#define MAX_INPUT (1LL << 50)
#define SECOND_NS 1000000000LL
#define DAY_NS (86400LL * SECOND_NS)

static int64_t clamp64(i128 v)
{
    if (v > INT64_MAX)
        return INT64_MAX;
    if (v < INT64_MIN)
        return INT64_MIN;
    return (int64_t)v;
}

static int refuse(pe_risk_result *out, int code, i128 limit, i128 value)
{
    out->code = code;
    out->limit = clamp64(limit);
    out->value = clamp64(value);
    return code;
}

/* Allowed when the limit-th most recent order is at least `window` old. */
static int rate_ok(const pe_risk *r, int64_t limit, int64_t window, int64_t now)
{
    if (r->ring_head < limit)
        return 1;
    return (i128)now - r->ring[(r->ring_head - limit) & 63] >= window;
}

static i128 min128(i128 a, i128 b) { return a < b ? a : b; }

/* Price, percent-price, lot-size and notional filters for the final quantity. `ref_x2`
   is twice the reference price (bid + ask), 0 when the book is unusable. */
static int check_filters(const pe_risk_symbol *s, int side, int type, int64_t price,
                         int64_t px_eff, int64_t qty, int64_t ref_x2, pe_risk_result *out)
{
    if (type != PE_RISK_MARKET) {
        if ((s->min_price && price < s->min_price) || (s->max_price && price > s->max_price)
            || (s->tick && price % s->tick))
            return refuse(out, PE_RISK_R_PRICE_FILTER, s->tick, price);
        if (ref_x2 > 0) {
            int64_t up = side == PE_RISK_BUY ? s->bid_up_bps : s->ask_up_bps;
            int64_t down = side == PE_RISK_BUY ? s->bid_down_bps : s->ask_down_bps;
            i128 p = (i128)price * 2 * BPS;
            if (up && p > (i128)ref_x2 * up)
                return refuse(out, PE_RISK_R_PERCENT_PRICE, (i128)ref_x2 * up / (2 * BPS), price);
            if (down && p < (i128)ref_x2 * down)
                return refuse(out, PE_RISK_R_PERCENT_PRICE, (i128)ref_x2 * down / (2 * BPS), price);
        }
    }
    if ((s->min_qty && qty < s->min_qty) || (s->max_qty && qty > s->max_qty)
        || (s->step && qty % s->step))
        return refuse(out, PE_RISK_R_LOT_SIZE, s->qty_scale, qty);
    if (type == PE_RISK_MARKET
        && ((s->mkt_min_qty && qty < s->mkt_min_qty) || (s->mkt_max_qty && qty > s->mkt_max_qty)
            || (s->mkt_step && qty % s->mkt_step)))
        return refuse(out, PE_RISK_R_MARKET_LOT_SIZE, s->mkt_max_qty, qty);
    i128 notional = (i128)qty * px_eff * s->quote_mul;
    int market = type == PE_RISK_MARKET;
    if (s->min_notional && (!market || s->min_notional_market) && notional < s->min_notional)
        return refuse(out, PE_RISK_R_MIN_NOTIONAL, s->min_notional, notional);
    if (s->max_notional && (!market || s->max_notional_market) && notional > s->max_notional)
        return refuse(out, PE_RISK_R_MAX_NOTIONAL, s->max_notional, notional);
    out->notional = clamp64(notional);
    return PE_RISK_OK;
}

/* Fat-finger band: a buy priced above the mid, or a sell below it, by more than the band.
   The passive side (a buy below, a sell above) cannot fill badly when it is placed. */
static int check_band(const pe_risk *r, int side, int64_t price, int64_t ref_x2,
                      pe_risk_result *out)
{
    i128 dev = side == PE_RISK_BUY ? (i128)price * 2 - ref_x2 : ref_x2 - (i128)price * 2;
    if (dev * BPS > (i128)ref_x2 * r->price_band_bps)
        return refuse(out, PE_RISK_R_PRICE_BAND, (i128)r->price_band_bps, dev * BPS / ref_x2);
    return PE_RISK_OK;
}

static int check_entry(pe_risk *r, pe_risk_symbol *s, int type, int flags, int64_t price,
                       int64_t qty, int64_t stop, int64_t bid, int64_t ask,
                       int64_t buy_impact, int64_t sell_impact, pe_risk_result *out)
{
    int rc;
    if (r->state == PE_RISK_REDUCING)
        return refuse(out, PE_RISK_R_REDUCING, 0, 0);
    if (type == PE_RISK_STOP_LIMIT)
        return refuse(out, PE_RISK_R_BAD_ORDER, 0, type);
    int64_t ref_x2 = bid + ask;
    int64_t entry = type == PE_RISK_LIMIT ? price : ask + buy_impact;
    if (type == PE_RISK_LIMIT && (rc = check_band(r, PE_RISK_BUY, price, ref_x2, out)))
        return rc;

    if (stop == 0) {
        stop = (int64_t)((i128)entry * (BPS - r->default_stop_bps) / BPS);
        if (s->tick)
            stop -= stop % s->tick;
    } else if ((s->tick && stop % s->tick) || (s->min_price && stop < s->min_price)) {
        return refuse(out, PE_RISK_R_PRICE_FILTER, s->tick, stop);
    }
    if (stop <= 0 || stop >= entry)
        return refuse(out, PE_RISK_R_STOP_INVALID, entry, stop);
    int64_t slip = (int64_t)(((i128)stop * r->stop_slip_bps + BPS - 1) / BPS);
    if (sell_impact > slip)
        slip = sell_impact;
    int64_t stop_exit = stop - slip;
    if (stop_exit <= 0)
        return refuse(out, PE_RISK_R_STOP_INVALID, entry, stop_exit);
    out->stop_px = stop;
    out->price = entry;

    i128 equity = r->equity;
    if (equity <= 0)
        return refuse(out, PE_RISK_R_EQUITY, 0, equity);
    /* loss at the stop for one unit of qty, in K units: price move plus both fees */
    i128 unit_u = ((i128)(entry - stop_exit) * BPS + (i128)(entry + stop_exit) * r->fee_bps);
    i128 unit = unit_u * s->quote_mul;
    out->unit_risk = clamp64(unit_u);

    i128 day_cap = (i128)r->day_start_equity * r->day_loss_bps;
    i128 day_loss = ((i128)r->day_start_equity - equity) * BPS;
    if (day_loss >= day_cap)
        return refuse(out, PE_RISK_R_DAY_LOSS, day_cap, day_loss);
    i128 week_cap = (i128)r->week_start_equity * r->week_loss_bps;
    i128 week_loss = ((i128)r->week_start_equity - equity) * BPS;
    if (week_loss >= week_cap)
        return refuse(out, PE_RISK_R_WEEK_LOSS, week_cap, week_loss);

    /* the three sizing limits, each as the largest quantity it admits; the 1 % is for
       the symbol's whole position: what it and its open buys already risk counts */
    i128 trade_cap = equity * r->trade_loss_bps - s->pos_risk_k - s->open_buy_risk_k;
    if (trade_cap <= 0)
        return refuse(out, PE_RISK_R_TRADE_LOSS, trade_cap, (i128)qty * unit);
    i128 budget = min128(day_cap - day_loss, week_cap - week_loss) - r->open_risk_k;
    i128 exp_room = equity * r->exposure_bps - (i128)r->deployed * BPS;
    i128 unit_notional_k = (i128)entry * s->quote_mul * BPS;
    i128 maxq[3] = {(trade_cap - 1) / unit, budget > 0 ? budget / unit : 0,
                    exp_room > 0 ? exp_room / unit_notional_k : 0};
    static const int codes[3] = {PE_RISK_R_TRADE_LOSS, PE_RISK_R_LOSS_BUDGET, PE_RISK_R_EXPOSURE};
    i128 caps[3] = {trade_cap, budget, exp_room};
    i128 want[3] = {(i128)qty * unit, (i128)qty * unit, (i128)qty * unit_notional_k};
    int bind = -1;
    for (int i = 0; i < 3; i++)
        if (qty > maxq[i] && (bind < 0 || maxq[i] < maxq[bind]))
            bind = i;
    if (bind >= 0) {
        if (!(flags & PE_RISK_F_RESIZE))
            return refuse(out, codes[bind], caps[bind], want[bind]);
        /* cut down with some headroom under the 1 %, so that a fill a little worse than
           the book's estimate does not leave the position over it */
        i128 qmax = maxq[bind];
        i128 room = trade_cap - equity * r->resize_margin_bps - 1;
        i128 qm = room >= 0 ? room / unit : -1;
        if (qm < qmax) {
            qmax = qm;
            bind = 0;
        }
        int64_t q = qmax > 0 ? (int64_t)qmax : 0;
        if (s->step)
            q -= q % s->step;
        if (q <= 0 || (s->min_qty && q < s->min_qty))
            return refuse(out, codes[bind], caps[bind], want[bind]);
        qty = q;
        out->resized = 1;
    }
    if ((rc = check_filters(s, PE_RISK_BUY, type, price, entry, qty, ref_x2, out))) {
        /* cut down below the exchange minimum: the limit that cut it is the reason */
        if (out->resized && rc == PE_RISK_R_MIN_NOTIONAL)
            return refuse(out, codes[bind], caps[bind], want[bind]);
        return rc;
    }
    i128 risk_k = (i128)qty * unit;
    out->qty = qty;
    out->risk_k = clamp64(risk_k);
    s->open_buy_qty += qty;
    s->open_buy_notional += out->notional;
    s->open_buy_risk_k += out->risk_k;
    r->deployed += out->notional;
    r->open_risk_k += out->risk_k;
    return PE_RISK_OK;
}

static int check_exit(pe_risk *r, pe_risk_symbol *s, int type, int flags, int64_t price,
                      int64_t qty, int64_t stop, int64_t bid, int synced,
                      int64_t ref_x2, int64_t sell_impact, pe_risk_result *out)
{
    int rc;
    if (s->pos_qty <= 0)
        return refuse(out, PE_RISK_R_SHORT, 0, qty);
    int64_t avail = s->pos_qty - s->open_sell_qty;
    if (qty > avail)
        return refuse(out, PE_RISK_R_OVERSELL, avail, qty);
    if (type == PE_RISK_STOP_LIMIT) {
        if (stop <= 0 || price > stop)
            return refuse(out, PE_RISK_R_STOP_INVALID, stop, price);
        if ((s->tick && stop % s->tick) || (s->min_price && stop < s->min_price))
            return refuse(out, PE_RISK_R_PRICE_FILTER, s->tick, stop);
        ref_x2 = 0;   /* a resting stop is meant to be far from the market */
    }
    int64_t px = type == PE_RISK_MARKET ? (synced ? bid - sell_impact : s->mark) : price;
    if (px <= 0)
        return refuse(out, PE_RISK_R_BOOK, 0, px);
    if (type == PE_RISK_LIMIT && !(flags & PE_RISK_F_PROTECTIVE)
        && (rc = check_band(r, PE_RISK_SELL, price, ref_x2, out)))
        return rc;
    if ((rc = check_filters(s, PE_RISK_SELL, type, price, px, qty, ref_x2, out)))
        return rc;
    out->qty = qty;
    out->price = px;
    s->open_sell_qty += qty;
    return PE_RISK_OK;
}

int pe_risk_check(pe_risk *r, int32_t symbol, int32_t side, int32_t type, int32_t flags,
                  int64_t price, int64_t qty, int64_t stop_px,
                  int64_t bid, int64_t ask, int64_t buy_impact, int64_t sell_impact,
                  int32_t synced, int64_t updated_ns,
                  int64_t now_ns, int64_t wall_ns, pe_risk_result *out)
{
    out->code = PE_RISK_OK;
    out->resized = 0;
    out->qty = out->price = out->stop_px = out->notional = out->risk_k = out->unit_risk = 0;
    out->limit = out->value = 0;
    /* a symbol off the allow-list can still be sold: a position must never be stuck */
    if (symbol < 0 || symbol >= r->n_symbols || (side == PE_RISK_BUY && !r->sym[symbol].allowed))
        return refuse(out, PE_RISK_R_SYMBOL, 0, symbol);
    pe_risk_symbol *s = &r->sym[symbol];
    if (qty <= 0 || price < 0 || stop_px < 0 || buy_impact < 0 || sell_impact < 0
        || qty > MAX_INPUT || price > MAX_INPUT || stop_px > MAX_INPUT || bid > MAX_INPUT
        || ask > MAX_INPUT || bid < 0 || ask < 0 || buy_impact > MAX_INPUT
        || sell_impact > MAX_INPUT
        || (side != PE_RISK_BUY && side != PE_RISK_SELL)
        || (type != PE_RISK_LIMIT && type != PE_RISK_MARKET && type != PE_RISK_STOP_LIMIT)
        || (type != PE_RISK_MARKET && price == 0))
        return refuse(out, PE_RISK_R_BAD_ORDER, 0, qty);
    if (wall_ns >= r->next_rollover_ns)
        return refuse(out, PE_RISK_R_ROLLOVER_DUE, r->next_rollover_ns, wall_ns);
    int protective = side == PE_RISK_SELL && (flags & PE_RISK_F_PROTECTIVE);
    if (r->state == PE_RISK_HALTED && !protective)
        return refuse(out, PE_RISK_R_HALTED, 0, 0);
    int book_ok = synced && bid > 0 && ask > bid;
    if (!protective) {
        if (!book_ok)
            return refuse(out, PE_RISK_R_BOOK, ask, bid);
        if ((i128)now_ns - updated_ns > r->stale_ns)
            return refuse(out, PE_RISK_R_STALE, r->stale_ns, (i128)now_ns - updated_ns);
    }
    int64_t day = wall_ns / DAY_NS;   /* Binance counts orders per UTC day */
    if (day != r->order_day) {
        r->order_day = day;
        r->day_orders = 0;
    }
    /* Our caps sit below Binance's so that protective exits always have room: they
       count towards the caps but are never refused by them. */
    if (!protective) {
        if (!rate_ok(r, r->max_per_second, SECOND_NS, now_ns))
            return refuse(out, PE_RISK_R_RATE_SECOND, r->max_per_second, r->max_per_second);
        if (!rate_ok(r, r->max_per_10s, 10 * SECOND_NS, now_ns))
            return refuse(out, PE_RISK_R_RATE_10S, r->max_per_10s, r->max_per_10s);
        if (r->day_orders >= r->max_per_day)
            return refuse(out, PE_RISK_R_RATE_DAY, r->max_per_day, r->day_orders);
    }

    int rc = side == PE_RISK_BUY
        ? check_entry(r, s, type, flags, price, qty, stop_px, bid, ask, buy_impact, sell_impact, out)
        : check_exit(r, s, type, flags, price, qty, stop_px, bid, book_ok,
                     book_ok ? bid + ask : 0, sell_impact, out);
    if (rc)
        return rc;
    r->ring[r->ring_head & 63] = now_ns;
    r->ring_head++;
    r->day_orders++;
    return PE_RISK_OK;
}

/* Extra price per unit, beyond the best level, of taking `qty` from `book_side`. */
static int64_t impact(const pe_book *b, int book_side, int64_t best, int64_t qty)
{
    int64_t filled = 0, notional = 0, worst = 0;
    if (pe_book_impact(b, book_side, qty, &filled, &notional, &worst) != PE_OK || filled <= 0)
        return 0;
    i128 total = (i128)notional + (i128)(qty - filled) * worst;
    if (book_side == PE_ASK)    /* buying: average above the ask, rounded up */
        return (int64_t)((total + qty - 1) / qty) - best;
    return best - (int64_t)(total / qty);   /* selling: below the bid, rounded down */
}

int pe_risk_check_book(pe_risk *r, const pe_book *b, int32_t symbol, int32_t side,
                       int32_t type, int32_t flags, int64_t price, int64_t qty,
                       int64_t stop_px, int64_t updated_ns, int64_t now_ns, int64_t wall_ns,
                       pe_risk_result *out)
{
    int64_t bid = 0, ask = 0, bq, aq, buy_imp = 0, sell_imp = 0;
    int synced = b && pe_book_best(b, PE_BID, &bid, &bq) == PE_OK
                 && pe_book_best(b, PE_ASK, &ask, &aq) == PE_OK;
    if (synced && qty > 0) {
        buy_imp = impact(b, PE_ASK, ask, qty);
        sell_imp = impact(b, PE_BID, bid, qty);
    } else if (!synced) {
        bid = ask = 0;
    }
    return pe_risk_check(r, symbol, side, type, flags, price, qty, stop_px, bid, ask, buy_imp,
                         sell_imp, synced, updated_ns, now_ns, wall_ns, out);
}
