#ifndef PE_BOOK_H
#define PE_BOOK_H
#include "pe_common.h"

/* cdef-begin */
/* L2 order book of one symbol. Prices and quantities are integers scaled by
   10^price_scale and 10^qty_scale. Sync states follow Binance's diff-depth procedure. */
typedef struct pe_book pe_book;

enum {
    PE_BOOK_EMPTY = 0,        /* no snapshot loaded */
    PE_BOOK_WAIT_FIRST = 1,   /* snapshot loaded, first straddling diff not seen yet */
    PE_BOOK_SYNCED = 2,
    PE_BOOK_OUT_OF_SYNC = 3   /* gap or crossed: re-snapshot */
};

pe_book *pe_book_new(int price_scale, int qty_scale);
void pe_book_free(pe_book *b);
int pe_book_price_scale(const pe_book *b);
int pe_book_qty_scale(const pe_book *b);
int pe_book_state(const pe_book *b);
int64_t pe_book_last_update_id(const pe_book *b);
void pe_book_invalidate(pe_book *b);     /* force OUT_OF_SYNC (e.g. on disconnect) */

/* Snapshot: begin (clears), add levels in any order, end (checks crossing). */
void pe_book_snapshot_begin(pe_book *b, int64_t last_update_id);
int pe_book_snapshot_level(pe_book *b, int side, int64_t px, int64_t qty);
int pe_book_snapshot_end(pe_book *b);
/* Parse a REST GET /api/v3/depth body and load it. err_offset: byte of the failure. */
int pe_book_load_snapshot_json(pe_book *b, const char *buf, size_t len, size_t *err_offset);

/* Diff: begin returns PE_OK (apply levels), PE_STALE (skip) or an error (book now
   out of sync); set levels (qty 0 removes); end checks crossing. */
int pe_book_diff_begin(pe_book *b, int64_t first_id, int64_t last_id);
int pe_book_set_level(pe_book *b, int side, int64_t px, int64_t qty);
/* Set n levels (px, qty pairs) of one side: the book n set_level calls in that order
   would give. Fastest when sorted best price first, as Binance sends them. */
int pe_book_apply(pe_book *b, int side, const int64_t *levels, size_t n);
int pe_book_diff_end(pe_book *b);

/* Queries: all fail with the state's error unless SYNCED and not crossed. */
int pe_book_readable(const pe_book *b);
int pe_book_best(const pe_book *b, int side, int64_t *px, int64_t *qty);
int pe_book_top(const pe_book *b, int side, int n, int64_t *px, int64_t *qty);  /* returns count */
int pe_book_level_count(const pe_book *b, int side);
int pe_book_spread(const pe_book *b, int64_t *spread);
int pe_book_mid_x2(const pe_book *b, int64_t *mid_x2);
/* Total quantity resting at prices at or better than `px` on `side`. */
int pe_book_depth_to(const pe_book *b, int side, int64_t px, int64_t *qty);
/* A market order taking `qty` from `side` (PE_ASK for a buy): filled quantity and
   notional in units of 10^-(price_scale+qty_scale); worst price reached. */
int pe_book_impact(const pe_book *b, int side, int64_t qty, int64_t *filled,
                   int64_t *notional, int64_t *worst_px);
size_t pe_book_memory(const pe_book *b);
/* cdef-end */

/* pe_book_apply for the feed's parser, whose levels are known to be in range (prices
   1..10^18-1, quantities >= 0): side is PE_BID or PE_ASK, and only the order is checked. */
int pe_book_apply_parsed(pe_book *b, int side, const int64_t *levels, size_t n);

#endif
