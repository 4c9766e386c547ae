#ifndef PE_RISK_H
#define PE_RISK_H
#include "pe_common.h"
#include "book.h"

/* cdef-begin */
/* Pre-trade risk gate (risk/ owns the Python side). All money is fixed point: prices
   and quantities scaled per symbol like the book, quote amounts (equity, notional)
   scaled by 10^quote_scale of the account. "K" amounts are quote units times 10^4, so
   that limits in basis points compare exactly. The Python layer keeps the account
   fields current; the gate only reads them, except for the reservation it books on a
   pass (open buy notional and risk, open sell quantity, order-rate counters). */

enum { PE_RISK_ACTIVE = 0, PE_RISK_REDUCING = 1, PE_RISK_HALTED = 2 };
enum { PE_RISK_BUY = 0, PE_RISK_SELL = 1 };
/* STOP_LIMIT: an exchange protective stop (SELL STOP_LOSS_LIMIT; price = limit). */
enum { PE_RISK_LIMIT = 0, PE_RISK_MARKET = 1, PE_RISK_STOP_LIMIT = 2 };
/* RESIZE: an entry above a limit is cut down instead of refused.
   PROTECTIVE: an exit ordered by the risk manager (stop, trim, flatten): allowed while
   REDUCING or HALTED and on a stale book. */
enum { PE_RISK_F_RESIZE = 1, PE_RISK_F_PROTECTIVE = 2 };

/* Reason codes; names and sentences live in risk/reasons.py. */
enum {
    PE_RISK_OK = 0,
    PE_RISK_R_BAD_ORDER = 1,
    PE_RISK_R_SYMBOL = 2,
    PE_RISK_R_ROLLOVER_DUE = 3,
    PE_RISK_R_HALTED = 4,
    PE_RISK_R_REDUCING = 5,
    PE_RISK_R_BOOK = 6,
    PE_RISK_R_STALE = 7,
    PE_RISK_R_RATE_SECOND = 8,
    PE_RISK_R_RATE_10S = 9,
    PE_RISK_R_RATE_DAY = 10,
    PE_RISK_R_PRICE_BAND = 11,
    PE_RISK_R_STOP_INVALID = 12,
    PE_RISK_R_EQUITY = 13,
    PE_RISK_R_DAY_LOSS = 14,
    PE_RISK_R_WEEK_LOSS = 15,
    PE_RISK_R_LOSS_BUDGET = 16,
    PE_RISK_R_TRADE_LOSS = 17,
    PE_RISK_R_EXPOSURE = 18,
    PE_RISK_R_SHORT = 19,
    PE_RISK_R_OVERSELL = 20,
    PE_RISK_R_PRICE_FILTER = 21,
    PE_RISK_R_PERCENT_PRICE = 22,
    PE_RISK_R_LOT_SIZE = 23,
    PE_RISK_R_MARKET_LOT_SIZE = 24,
    PE_RISK_R_MIN_NOTIONAL = 25,
    PE_RISK_R_MAX_NOTIONAL = 26
};

typedef struct {
    int32_t allowed;
    int32_t price_scale, qty_scale;
    int64_t quote_mul;             /* price*qty * quote_mul = quote units */
    /* exchange filters; 0 switches a rule off, as in exchangeInfo */
    int64_t min_price, max_price, tick;
    int64_t min_qty, max_qty, step;
    int64_t mkt_min_qty, mkt_max_qty, mkt_step;
    int64_t min_notional, max_notional;        /* quote units */
    int32_t min_notional_market, max_notional_market;
    int64_t bid_up_bps, bid_down_bps, ask_up_bps, ask_down_bps;  /* PERCENT_PRICE* */
    /* live state */
    int64_t pos_qty;
    int64_t mark;
    int64_t stop_px;               /* protective stop of the position, 0 = none */
    int64_t open_buy_qty, open_sell_qty;
    int64_t open_buy_notional;     /* quote units */
    int64_t open_buy_risk_k;       /* loss at the stops of the open buy orders, K units */
    int64_t pos_risk_k;            /* loss if the position's stop fills, from its cost */
} pe_risk_symbol;

typedef struct {
    /* limits */
    int64_t trade_loss_bps, day_loss_bps, week_loss_bps, exposure_bps;
    int64_t fee_bps, stop_slip_bps, default_stop_bps, price_band_bps;
    int64_t resize_margin_bps;     /* a cut-down entry stays this far under the 1 % */
    int64_t stale_ns;
    int64_t max_per_second, max_per_10s, max_per_day;
    /* account, maintained by the Python layer */
    int32_t state;
    int32_t n_symbols;
    int64_t equity, day_start_equity, week_start_equity;   /* quote units */
    int64_t deployed;              /* positions at mark + open buys, quote units */
    int64_t open_risk_k;           /* loss if every stop fills, K units */
    int64_t next_rollover_ns;      /* wall clock of the next day/week boundary */
    /* order-rate counters, written by the gate */
    int64_t ring[64];
    int64_t ring_head;
    int64_t day_orders, order_day;
    pe_risk_symbol sym[32];
} pe_risk;

typedef struct {
    int32_t code;
    int32_t resized;
    int64_t qty;                   /* quantity passed (possibly cut down) */
    int64_t price;                 /* expected fill price used */
    int64_t stop_px;               /* protective stop (entries) */
    int64_t notional;              /* quote units at `price` */
    int64_t risk_k;                /* loss at the stop incl. fees and slippage, K units */
    int64_t unit_risk;             /* risk_k per unit of qty / quote_mul */
    int64_t limit;                 /* refusals: the limit that bound ... */
    int64_t value;                 /* ... and the value that broke it (same unit) */
} pe_risk_result;

/* One pre-trade check. Quote: best bid/ask, expected extra cost per unit of a market
   buy (buy_impact) and of a market sell (sell_impact) from the book, whether the book
   is synced and when it last changed (monotonic ns). Returns the code (also in out). */
int pe_risk_check(pe_risk *r, int32_t symbol, int32_t side, int32_t type, int32_t flags,
                  int64_t price, int64_t qty, int64_t stop_px,
                  int64_t bid, int64_t ask, int64_t buy_impact, int64_t sell_impact,
                  int32_t synced, int64_t updated_ns,
                  int64_t now_ns, int64_t wall_ns, pe_risk_result *out);
/* The same check with the quote taken from the symbol's C book: best bid/ask and the
   average price a market order of `qty` would pay on each side (levels beyond the book
   priced at the worst level seen). `updated_ns`: when the book last changed. This is the
   engine's hot-path entry: one call instead of four book queries and the check. */
int pe_risk_check_book(pe_risk *r, const pe_book *b, int32_t symbol, int32_t side,
                       int32_t type, int32_t flags, int64_t price, int64_t qty,
                       int64_t stop_px, int64_t updated_ns, int64_t now_ns, int64_t wall_ns,
                       pe_risk_result *out);
/* cdef-end */

#endif
