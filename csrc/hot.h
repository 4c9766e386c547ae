#ifndef PE_HOT_H
#define PE_HOT_H
#include "book.h"
#include "vm.h"

/* cdef-begin */
/* Parser for the hot Binance market-data messages (raw or in the combined-stream
   envelope). A feed owns one book per registered symbol; depth diffs are applied to
   the book in C without creating any Python object per level. */
typedef struct pe_feed pe_feed;

enum {
    PE_MSG_NONE = 0,          /* control reply or a stream we do not parse */
    PE_MSG_DEPTH = 1,
    PE_MSG_TRADE = 2,
    PE_MSG_AGGTRADE = 3,
    PE_MSG_BOOKTICKER = 4,
    PE_MSG_KLINE = 5
};

/* Which field a parse error is about (PE_FIELD_NONE: the JSON itself). */
enum {
    PE_FIELD_NONE = 0, PE_FIELD_EVENT, PE_FIELD_EVENT_TIME, PE_FIELD_SYMBOL,
    PE_FIELD_FIRST_ID, PE_FIELD_LAST_ID, PE_FIELD_BIDS, PE_FIELD_ASKS,
    PE_FIELD_PRICE, PE_FIELD_QTY, PE_FIELD_TRADE_ID, PE_FIELD_TRADE_TIME,
    PE_FIELD_MAKER, PE_FIELD_BID_PRICE, PE_FIELD_BID_QTY, PE_FIELD_ASK_PRICE,
    PE_FIELD_ASK_QTY, PE_FIELD_UPDATE_ID, PE_FIELD_KLINE, PE_FIELD_OPEN_TIME,
    PE_FIELD_CLOSE_TIME, PE_FIELD_INTERVAL, PE_FIELD_OPEN, PE_FIELD_HIGH, PE_FIELD_LOW,
    PE_FIELD_CLOSE, PE_FIELD_VOLUME, PE_FIELD_TRADES, PE_FIELD_CLOSED, PE_FIELD_STREAM,
    PE_FIELD_DATA, PE_FIELD_LAST_UPDATE_ID
};

typedef struct {
    int kind;
    int symbol;            /* index from pe_feed_add_symbol, -1 if unknown */
    int status;            /* PE_OK, or the error / book status */
    int err_field;
    int64_t err_offset;    /* byte offset of the error in the message */
    int64_t event_time;    /* E (ms) */
    int64_t id;            /* trade id t, aggTrade id a, bookTicker/depth update id u */
    int64_t first_id;      /* depth U, aggTrade f, kline f */
    int64_t last_id;       /* aggTrade l, kline L */
    int64_t time;          /* trade/aggTrade T, kline open time t */
    int64_t close_time;    /* kline T */
    int64_t price, qty;    /* trade/aggTrade */
    int64_t bid_px, bid_qty, ask_px, ask_qty;  /* bookTicker; depth: the book's new top (0 if a side is empty) */
    int64_t open, high, low, close, volume, trades;   /* kline */
    int32_t interval_s;    /* kline interval in seconds */
    int32_t maker;         /* trade m / kline x (closed) */
    int32_t n_bids, n_asks;  /* depth: levels in the message */
    int32_t bar_closed;      /* trade: it closed the symbol's bar, which is below */
    int64_t bar_open_time, bar_open, bar_high, bar_low, bar_close, bar_volume, bar_trades;
    /* bar_closed with VMs attached (pe_feed_add_vm): bars they ran, whether any of them
       left an intent to act on, and the first VM error (vm_status, VM number vm_index) */
    int32_t vm_bars, vm_act, vm_status, vm_index;
    /* trade: its price is outside the symbol's exit band (pe_feed_set_exit_band) */
    int32_t exit_hit, pad_;
} pe_msg;

/* Bits of pe_feed_replay's stop mask. */
enum {
    PE_STOP_DEPTH = 1, PE_STOP_TRADE = 2, PE_STOP_AGGTRADE = 4, PE_STOP_BOOKTICKER = 8,
    PE_STOP_KLINE = 16, PE_STOP_BAR = 32, PE_STOP_SNAPSHOT = 64, PE_STOP_EXIT = 128
};
/* pe_feed_replay's kind for a recording line holding a REST depth snapshot (not parsed). */
enum { PE_MSG_SNAPSHOT = 6 };

pe_feed *pe_feed_new(void);
void pe_feed_free(pe_feed *f);
/* Register a symbol (upper case, e.g. "BTCUSDT"); returns its index or an error. */
int pe_feed_add_symbol(pe_feed *f, const char *symbol, int price_scale, int qty_scale);
pe_book *pe_feed_book(pe_feed *f, int index);
/* Parse one websocket text frame; depth diffs are applied to the symbol's book.
   Returns out->status. On error the book is unchanged. */
int pe_feed_on_message(pe_feed *f, const char *buf, size_t len, pe_msg *out);
/* pe_feed_on_message's fast path alone: returns 1 when buf is a depthUpdate in the exact
   byte layout Binance sends (raw or combined, keys in Binance's order, no whitespace but
   after the end, nothing malformed) and was handled as pe_feed_on_message handles it;
   else 0, with the book untouched and *out not meaningful. Tests use it to pin which
   frames take that path. */
int pe_feed_depth_fast(pe_feed *f, const char *buf, size_t len, pe_msg *out);
/* Build bars of `interval_ms` from the symbol's trades (0 turns it off). A trade at or
   past the current bar's end closes it: that trade's message has bar_closed = 1 and the
   closed bar, and opens the next bar. Intervals without trades produce no bar. */
int pe_feed_set_bar_interval(pe_feed *f, int symbol, int64_t interval_ms);
/* Strategy VMs run by the feed itself on the symbol's trade bars, in the order added (at
   most PE_FEED_MAX_VMS): when a trade closes a bar, each VM runs that bar, then a flat bar
   at its close (volume 0) for every bar interval without trades before the closing
   trade's, as the kline ledger closes them; prices and volume are the fixed-point values
   divided by 10^scale. The closing message reports the bars run (vm_bars) and vm_act = 1
   when any VM recorded an intent to act on: a long entry, a close, a close-all or an
   exit (what the engine's StrategyRunner acts on). Without one, the VMs' intents
   (cancels, orders) are dropped. The caller keeps each VM alive while attached. */
enum { PE_FEED_MAX_VMS = 16 };
int pe_feed_add_vm(pe_feed *f, int symbol, struct pe_vm *vm);
/* The engine's exit legs of the symbol (take-profit, stops, trailing) as one band of trade
   prices (fixed point): a trade at or below lo, or at or above hi, may fire or move a leg and
   gets exit_hit = 1 (pe_feed_replay stops on it with PE_STOP_EXIT); a trade strictly inside
   changes nothing. lo 0 and hi INT64_MAX (the default) flag no trade. */
int pe_feed_set_exit_band(pe_feed *f, int symbol, int64_t lo, int64_t hi);
/* Where pe_feed_replay stopped: the stopping line's frame and receive time. */
typedef struct {
    int64_t recv_ts_ns;
    int64_t frame_offset, frame_len;   /* within buf */
    int64_t messages;                  /* frames parsed by this call */
} pe_replay_pos;

/* Replay recording lines ({"recv_ts_ns":N,"msg":<frame>}, one per line) from buf, all in
   C, stopping after a message whose kind is in `stop` (PE_STOP_* bits), and always on a
   line holding a REST depth snapshot (kind PE_MSG_SNAPSHOT, not parsed), a diff that
   needs a snapshot, a sync error or a malformed line. Returns 1 when it stopped on a
   line, 0 at the end of buf; *consumed counts whole lines, the stopping one included. */
int pe_feed_replay(pe_feed *f, const char *buf, size_t len, size_t *consumed, pe_msg *out,
                   int stop, pe_replay_pos *pos);
/* cdef-end */

#endif
