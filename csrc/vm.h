#ifndef PE_VM_H
#define PE_VM_H
#include "pe_common.h"

/* cdef-begin */
/* Pine-subset bytecode VM (see dsl/bytecode.py for the file format). Every value is a
   double: na is NaN, bool is 0/1, int is an integral double, string is an index into
   the program's string table. Opcode numbers are part of the bytecode format: append
   only, never renumber. */
enum {
    PE_OP_HALT = 0, PE_OP_MOV = 1, PE_OP_JMP = 2, PE_OP_JF = 3, PE_OP_JT = 4,
    PE_OP_ADD = 5, PE_OP_SUB = 6, PE_OP_MUL = 7, PE_OP_DIV = 8, PE_OP_MOD = 9,
    PE_OP_NEG = 10, PE_OP_NOT = 11, PE_OP_LT = 12, PE_OP_LE = 13, PE_OP_GT = 14,
    PE_OP_GE = 15, PE_OP_EQ = 16, PE_OP_NE = 17, PE_OP_AND = 18, PE_OP_OR = 19,
    PE_OP_ISNA = 20, PE_OP_NZ = 21, PE_OP_MATH1 = 22, PE_OP_MATH2 = 23,
    PE_OP_HIST = 24, PE_OP_VARJ = 25, PE_OP_TRUNC = 26, PE_OP_PLOT = 27,
    PE_OP_SMA = 40, PE_OP_EMA = 41, PE_OP_RMA = 42, PE_OP_WMA = 43, PE_OP_STDEV = 44,
    PE_OP_DEV = 45, PE_OP_SUM = 46, PE_OP_CUM = 47, PE_OP_HIGHEST = 48,
    PE_OP_LOWEST = 49, PE_OP_TR = 50, PE_OP_RSI = 51, PE_OP_CROSSOVER = 52,
    PE_OP_CROSSUNDER = 53, PE_OP_CROSS = 54, PE_OP_BARSSINCE = 55,
    PE_OP_VALUEWHEN = 56, PE_OP_PIVOTHIGH = 57, PE_OP_PIVOTLOW = 58, PE_OP_VWAP = 59,
    PE_OP_SUPERTREND = 60, PE_OP_FIXNAN = 61, PE_OP_VARIANCE = 62, PE_OP_HIGHESTBARS = 63,
    PE_OP_LOWESTBARS = 64, PE_OP_SAR = 65, PE_OP_ALMA = 66, PE_OP_COG = 67, PE_OP_RCI = 68,
    PE_OP_PERCENTRANK = 69, PE_OP_MEDIAN = 70, PE_OP_MODE = 71, PE_OP_PCTL_LINEAR = 72,
    PE_OP_PCTL_NEAREST = 73, PE_OP_MAX_ALL = 74, PE_OP_MIN_ALL = 75, PE_OP_NVI = 76,
    PE_OP_PVI = 77, PE_OP_VWAP_ANCHORED = 78,
    PE_OP_ENTRY = 80, PE_OP_ORDER = 81, PE_OP_EXIT = 82, PE_OP_CLOSE = 83,
    PE_OP_CLOSE_ALL = 84, PE_OP_CANCEL = 85, PE_OP_CANCEL_ALL = 86,
    /* strategy.exit with trailing arguments (a longer argument block than EXIT) */
    PE_OP_EXIT_TRAIL = 87,
    PE_OP_SCONCAT = 100, PE_OP_TOSTR = 101, PE_OP_TRADE = 102,
    /* compare (or and/or) fused with the JF that tests its result: d = a OP b, then jump
       to c when d is false */
    PE_OP_JF_LT = 110, PE_OP_JF_LE = 111, PE_OP_JF_GT = 112, PE_OP_JF_GE = 113,
    PE_OP_JF_EQ = 114, PE_OP_JF_NE = 115, PE_OP_JF_AND = 116, PE_OP_JF_OR = 117,
    /* ta.crossover / crossunder / cross fused with the JF that tests it (bytecode format
       3): d = CROSS*(a, b) with CROSS*'s state, then jump to c when d is false */
    PE_OP_JF_CROSSOVER = 118, PE_OP_JF_CROSSUNDER = 119, PE_OP_JF_CROSS = 120
};

/* TOSTR formats (field c; field b = slot of the decimals count). */
enum { PE_F_DEFAULT = 0, PE_F_MAXDEC = 1, PE_F_FIXED = 2, PE_F_MINTICK = 3, PE_F_PERCENT = 4,
       PE_F_BOOL = 5 };
/* TRADE fields (field c = PE_T_CLOSED * closed + field; field a = slot of the index). */
enum { PE_T_ENTRY_PRICE = 0, PE_T_ENTRY_BAR = 1, PE_T_ENTRY_ID = 2, PE_T_SIZE = 3,
       PE_T_EXIT_PRICE = 4, PE_T_PROFIT = 5, PE_T_EXIT_BAR = 6, PE_T_COMMISSION = 7,
       PE_T_CLOSED = 16 };

/* MATH1 / MATH2 function codes (instruction field c). */
enum {
    PE_M_ABS = 0, PE_M_ROUND = 1, PE_M_FLOOR = 2, PE_M_CEIL = 3, PE_M_SIGN = 4,
    PE_M_SQRT = 5, PE_M_EXP = 6, PE_M_LOG = 7, PE_M_LOG10 = 8, PE_M_SIN = 9,
    PE_M_COS = 10, PE_M_TAN = 11, PE_M_ASIN = 12, PE_M_ACOS = 13, PE_M_ATAN = 14,
    PE_M_TODEG = 15, PE_M_TORAD = 16, PE_M_ROUND_MINTICK = 17, PE_M_BOOL = 18,
    PE_M_MAX = 32, PE_M_MIN = 33, PE_M_POW = 34, PE_M_ROUNDP = 35
};

/* Reserved slots, refreshed by the VM before each bar's script run. */
enum {
    PE_S_OPEN = 0, PE_S_HIGH = 1, PE_S_LOW = 2, PE_S_CLOSE = 3, PE_S_VOLUME = 4,
    PE_S_TIME = 5, PE_S_BAR_INDEX = 6, PE_S_HL2 = 7, PE_S_HLC3 = 8, PE_S_OHLC4 = 9,
    PE_S_HLCC4 = 10, PE_S_TIME_CLOSE = 11, PE_S_LAST_BAR_INDEX = 12, PE_S_YEAR = 13,
    PE_S_MONTH = 14, PE_S_DAYOFMONTH = 15, PE_S_DAYOFWEEK = 16, PE_S_HOUR = 17,
    PE_S_MINUTE = 18, PE_S_SECOND = 19, PE_S_WEEKOFYEAR = 20, PE_S_ISFIRST = 21,
    PE_S_ISLAST = 22, PE_S_POSITION_SIZE = 23, PE_S_POSITION_AVG_PRICE = 24,
    PE_S_OPENTRADES = 25, PE_S_CLOSEDTRADES = 26, PE_S_WINTRADES = 27,
    PE_S_LOSSTRADES = 28, PE_S_EVENTRADES = 29, PE_S_EQUITY = 30, PE_S_NETPROFIT = 31,
    PE_S_OPENPROFIT = 32, PE_S_GROSSPROFIT = 33, PE_S_GROSSLOSS = 34,
    PE_S_INITIAL_CAPITAL = 35, PE_S_MINTICK = 36, PE_S_POSITION_ENTRY_NAME = 37,
    PE_S_MINCONTRACT = 38, PE_S_POINTVALUE = 39,
    PE_S_RESERVED = 48
};

enum { PE_QTY_FIXED = 0, PE_QTY_CASH = 1, PE_QTY_PERCENT = 2 };
enum { PE_COMM_PERCENT = 0, PE_COMM_PER_CONTRACT = 1, PE_COMM_PER_ORDER = 2 };
/* Intent kinds (order calls the script made), and VM error codes. */
enum { PE_VM_ERR_LENGTH = -100, PE_VM_ERR_PROGRAM = -101, PE_VM_ERR_LOOP = -102,
       PE_VM_ERR_STRINGS = -103 };

typedef struct { int32_t op, d, a, b, c, e; } pe_vm_ins;

/* pointvalue: account currency per unit of price per unit of quantity (1 for spot; a
   futures contract's multiplier); 0 means 1. */
typedef struct {
    double initial_capital, qty_value, commission_value, slippage, mintick, qty_step, pointvalue;
    int32_t qty_type, commission_type, pyramiding, process_on_close, spot, n_strings;
    int32_t allow_entry;  /* strategy.risk.allow_entry_in: 0 all, 1 long, -1 short */
    int32_t exit_model;   /* strategy(exit_fill_model): 0 "tradingview", 1 "freqtrade" */
    double trail_entry_rise;  /* strategy(trail_entry_rise), percent: freqtrade model only */
} pe_vm_config;

/* One order call made by the script (what the live engine acts on). */
typedef struct {
    int32_t bar, kind, id, dir, from_entry, oca, oca_type, comment, immediately, pad;
    double qty, qty_percent, limit, stop, profit, loss, trail_price, trail_points, trail_offset;
    double trail_percent;
} pe_vm_intent;

/* One trade, closed or (flag open=1) still open at the end of the run. */
typedef struct {
    int32_t entry_bar, exit_bar, entry_sig, exit_sig, dir, open, entry_id, pad;
    double entry_price, exit_price, qty, pnl, commission, runup, drawdown;
} pe_vm_trade;

typedef struct pe_vm pe_vm;

/* ins/init/hist arrays are copied. hist_slots[i] gets a ring of hist_len[i] values.
   Returns NULL with *err set (PE_VM_ERR_*) and *err_pc the failing instruction. */
pe_vm *pe_vm_new(const pe_vm_ins *ins, int32_t n_ins, const double *init, int32_t n_slots,
                 const int32_t *hist_slots, const int32_t *hist_len, int32_t n_hist,
                 int32_t n_var, const pe_vm_config *cfg, int32_t *err, int32_t *err_pc);
/* The program's string table: cfg.n_strings NUL-terminated strings back to back. Call
   once after pe_vm_new, before running; strings made at run time are appended. */
int pe_vm_set_strings(pe_vm *vm, const char *blob, int64_t len);
/* String number i (static or made at run time), or NULL. */
const char *pe_vm_string(const pe_vm *vm, int32_t i);
int32_t pe_vm_string_count(const pe_vm *vm);
void pe_vm_free(pe_vm *vm);
/* Plots: values of PLOT ops are written to out[plot_index * stride + bar]. */
void pe_vm_set_plot_buffer(pe_vm *vm, double *out, int64_t stride, int32_t n_plots);
void pe_vm_set_last_bar_index(pe_vm *vm, int64_t last);
/* Run n bars (time in ms). equity (may be NULL) gets equity at each bar's close.
   Returns PE_OK or a PE_VM_ERR_* code. */
int pe_vm_run(pe_vm *vm, int64_t n, const int64_t *time, const double *open,
              const double *high, const double *low, const double *close,
              const double *volume, double *equity);
/* Intents are recorded by default; a backtest that only wants trades turns them off. */
void pe_vm_set_record_intents(pe_vm *vm, int on);
/* The broker emulator is on by default; off, order calls only record intents and the
   strategy.* position variables stay as they are (the caller's engine owns fills). */
void pe_vm_set_emulate(pe_vm *vm, int on);
/* With the emulator off: the strategy's position as the engine's account holds it (spot,
   long; qty 0 = flat), so strategy.position_size / position_avg_price and the open trade
   behind them follow the real fills. PE_OK or PE_ERR_NOMEM. */
int pe_vm_set_position(pe_vm *vm, double qty, double avg_price);
/* Intents recorded since the last pe_vm_take_intents (copied into out, up to cap). */
int64_t pe_vm_intent_count(const pe_vm *vm);
int64_t pe_vm_take_intents(pe_vm *vm, pe_vm_intent *out, int64_t cap);
/* The recorded intents in place (*n of them), valid until the VM runs again; and dropping
   them all (what a caller that needs none of them does). */
const pe_vm_intent *pe_vm_intents(const pe_vm *vm, int64_t *n);
void pe_vm_drop_intents(pe_vm *vm);
/* Closed trades so far, then the open ones (open=1). */
int64_t pe_vm_trade_count(const pe_vm *vm);
int64_t pe_vm_trades(const pe_vm *vm, pe_vm_trade *out, int64_t cap);
int64_t pe_vm_refused_shorts(const pe_vm *vm);
double pe_vm_slot(const pe_vm *vm, int32_t slot);
int64_t pe_vm_bar_index(const pe_vm *vm);
/* cdef-end */

#endif
