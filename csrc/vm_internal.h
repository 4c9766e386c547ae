#ifndef PE_VM_INTERNAL_H
#define PE_VM_INTERNAL_H
/* Private to vm.c and vm_broker.c (no cdef section). */
#include "vm.h"

typedef struct {
    int32_t kind, id, from, dir, oca, oca_type, comment, immediate, stop_hit, had_trades;
    double qty, qty_pct, limit, stop, profit, loss, budget, rev;
    double raw_limit, raw_stop, tick_limit, tick_stop;  /* tick-rounded legs, cached */
    int64_t seq;
    /* trailing leg of an exit (trail = 1 when it has an activation level): the water mark
       (best price since arming) is carried across bars; trail_walk/seg/p say up to which
       point of which walk it has been advanced */
    int32_t trail, trail_armed, trail_seg, trail_pad;
    double trail_price, trail_points, trail_offset, trail_pct, trail_wm, trail_p;
    int64_t trail_walk;
    /* bar the order was first placed on; `upto` of an exit with from_entry: the bar it was
       last called on (it covers the trades of entries placed on or before it) */
    int32_t placed_bar, upto;
} pe_bk_order;

typedef struct {
    int32_t entry_bar, id, sig, dir, placed_bar, pad;  /* placed_bar: of its entry order */
    double price, qty, comm, hi, lo;
    int64_t seq;
} pe_bk_trade;

struct pe_vm {
    pe_vm_config cfg;
    pe_vm_ins *ins;
    int32_t n_ins, n_slots, n_var, n_hist, n_plots, uses_date, uses_derived;
    double *R, *st, *plot;
    int64_t n_st, plot_stride, run_pos, bar, last_bar_index;
    uint8_t *var_done;
    int32_t *hist_slot;
    int64_t *hist_mask;
    double **hist_ring;
    double prev_close, prev_time;
    /* broker */
    pe_bk_order *orders;
    int64_t n_orders, cap_orders, seq;
    pe_bk_trade *open;
    int64_t n_open, cap_open;
    pe_vm_trade *closed;
    int64_t n_closed, cap_closed;
    pe_vm_intent *intents;
    int64_t n_intents, cap_intents, refused_shorts;
    double netprofit, grossprofit, grossloss;
    int64_t wins, losses, evens;
    int dirty;  /* position or orders changed since the last publish */
    int64_t walk_id;  /* number of the current price walk (trailing legs track it) */
    double inv_tick;  /* 1/mintick when the tick is a power of ten, else 0 */
    int no_intents;   /* 1: do not record intents (batch backtest) */
    int no_emulate;   /* 1: order calls only become intents */
    int trades_changed;  /* open trades changed since the last full publish */
    /* strings: the program's table, then those made at run time (interned) */
    char **str;
    int32_t n_str, cap_str;
    int32_t *str_hash;  /* open addressing: index + 1, 0 = empty */
    int64_t hash_cap;
};

int32_t pe_str_intern(pe_vm *vm, const char *s, size_t len);
void pe_str_free(pe_vm *vm);
int pe_str_format(pe_vm *vm, double x, int fmt, double decimals, double *out);
int pe_str_concat(pe_vm *vm, double a, double b, double *out);
/* A field of open (closed) trade i for strategy.opentrades.* (closedtrades.*). */
double pe_broker_trade_field(const pe_vm *vm, int32_t code, double index);

/* ta.* kernels of vm_ta.c (state layouts there; sizes in vm.c state_size). */
double pe_ta_median(double *s, int64_t n, double x);
double pe_ta_mode(double *s, int64_t n, double x);
double pe_ta_percentile(double *s, int64_t n, double x, double pct, int linear);
double pe_ta_percentrank(double *s, int64_t n, double x);
double pe_ta_rci(double *s, int64_t n, double x);
void pe_ta_alma_init(double *s, int64_t n, double offset, double sigma, int floor_offset);
double pe_ta_alma(double *s, int64_t n, double x);
double pe_ta_sar(double *s, double high, double low, double start, double inc, double max);
double pe_ta_volume_index(double *s, double close, double volume, int positive);
void pe_ta_vwap_anchored(double *s, double x, double volume, int anchor, double mult,
                         double *out);

int pe_broker_init(pe_vm *vm);
void pe_broker_free(pe_vm *vm);
/* args: the instruction's argument block (layout per opcode in dsl/bytecode.py). */
int pe_broker_call(pe_vm *vm, int32_t op, const double *args);
void pe_broker_open(pe_vm *vm);   /* fills at the bar open and along its price path */
void pe_broker_close(pe_vm *vm);  /* process_orders_on_close fills, then publish */
void pe_broker_publish(pe_vm *vm, double close);

#endif
