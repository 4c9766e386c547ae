/* Pine-subset bytecode interpreter: registers are doubles, ta.* calls keep their state
   in one block per instance, strategy.* calls go to the broker emulator (vm_broker.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vm.h"
#include "vm_internal.h"

#define PE_PI 3.14159265358979323846
#define TRUTHY(x) (fabs(x) > 0.0)  /* false for 0, -0 and na (NaN) */
#define MAX_LENGTH 1000000
#define MAX_STATE 8000000  /* doubles of ta state per instance (64 MB) */
#define NPARAM 2  /* each ta state block starts with its two integer parameters */
#define MAX_BACKJUMPS 10000000L

static int64_t length_of(double v) {
    if (!(v == v)) return -1;
    double t = trunc(v);
    if (t < 1 || t > MAX_LENGTH) return -1;
    return (int64_t)t;
}

/* Length of the argument block of an order opcode (layout in dsl/bytecode.py). */
static int32_t order_args(int32_t op) {
    switch (op) {
    case PE_OP_ENTRY: case PE_OP_ORDER: return 8;
    case PE_OP_EXIT: return 9;
    case PE_OP_EXIT_TRAIL: return 13;
    case PE_OP_CLOSE: return 5;
    case PE_OP_CLOSE_ALL: return 2;
    default: return 1;
    }
}

/* State size in doubles of one ta instruction, or -1 for a bad length argument. */
static int64_t state_size(const pe_vm_ins *in, const double *init) {
    int64_t n;
    switch (in->op) {
    case PE_OP_SMA: case PE_OP_SUM: case PE_OP_WMA: case PE_OP_STDEV: case PE_OP_VARIANCE:
    case PE_OP_DEV: case PE_OP_COG:
        n = length_of(init[in->b]);
        return n < 0 ? -1 : 4 + n;
    case PE_OP_EMA: case PE_OP_RMA: return length_of(init[in->b]) < 0 ? -1 : 3;
    case PE_OP_HIGHEST: case PE_OP_LOWEST: case PE_OP_HIGHESTBARS: case PE_OP_LOWESTBARS:
        n = length_of(init[in->b]);
        return n < 0 ? -1 : 3 + 2 * n;
    case PE_OP_RSI: return length_of(init[in->b]) < 0 ? -1 : 8;
    case PE_OP_CUM: case PE_OP_BARSSINCE: case PE_OP_FIXNAN: return 1;
    case PE_OP_VWAP: return 3;
    case PE_OP_CROSSOVER: case PE_OP_CROSSUNDER: case PE_OP_CROSS:
    case PE_OP_JF_CROSSOVER: case PE_OP_JF_CROSSUNDER: case PE_OP_JF_CROSS: return 2;
    case PE_OP_VALUEWHEN: {
        double occ = init[in->c];
        if (!(occ >= 0 && occ < MAX_LENGTH)) return -1;
        return 2 + (int64_t)occ + 1;
    }
    case PE_OP_PIVOTHIGH: case PE_OP_PIVOTLOW: {
        double l = init[in->b], r = init[in->c];
        if (!(l >= 0 && r >= 0 && l + r < MAX_LENGTH)) return -1;
        return 2 + (int64_t)l + (int64_t)r + 1;
    }
    case PE_OP_SUPERTREND: return length_of(init[in->b]) < 0 ? -1 : 10;
    /* sorted windows (vm_ta.c): ring + (value, arrival) pairs */
    case PE_OP_MEDIAN: case PE_OP_MODE: case PE_OP_RCI: case PE_OP_PCTL_LINEAR:
    case PE_OP_PCTL_NEAREST:
        n = length_of(init[in->b]);
        return n < 0 ? -1 : 3 + 3 * n;
    case PE_OP_PERCENTRANK:
        n = length_of(init[in->b]);
        return n < 0 ? -1 : 3 + 3 * (n + 1);
    case PE_OP_ALMA:
        n = length_of(init[in->b]);
        return n < 0 ? -1 : 3 + 2 * n;
    case PE_OP_SAR: return 9;
    case PE_OP_MAX_ALL: case PE_OP_MIN_ALL: return 1;
    case PE_OP_NVI: case PE_OP_PVI: return 3;
    case PE_OP_VWAP_ANCHORED: return 4;
    default: return 0;
    }
}

pe_vm *pe_vm_new(const pe_vm_ins *ins, int32_t n_ins, const double *init, int32_t n_slots,
                 const int32_t *hist_slots, const int32_t *hist_len, int32_t n_hist,
                 int32_t n_var, const pe_vm_config *cfg, int32_t *err, int32_t *err_pc) {
    *err = PE_OK;
    *err_pc = -1;
    if (n_ins < 1 || n_slots < PE_S_RESERVED || n_hist < 0 || n_var < 0 || !cfg) {
        *err = PE_VM_ERR_PROGRAM;
        return NULL;
    }
    pe_vm *vm = calloc(1, sizeof *vm);
    if (!vm) { *err = PE_ERR_NOMEM; return NULL; }
    vm->cfg = *cfg;
    vm->n_ins = n_ins;
    vm->n_slots = n_slots;
    vm->ins = malloc(sizeof(pe_vm_ins) * (size_t)n_ins);
    vm->R = malloc(sizeof(double) * (size_t)n_slots);
    vm->var_done = calloc((size_t)n_var + 1, 1);
    vm->n_var = n_var;
    vm->n_hist = n_hist;
    vm->hist_slot = calloc((size_t)n_hist + 1, sizeof(int32_t));
    vm->hist_mask = calloc((size_t)n_hist + 1, sizeof(int64_t));
    vm->hist_ring = calloc((size_t)n_hist + 1, sizeof(double *));
    if (!vm->ins || !vm->R || !vm->var_done || !vm->hist_slot || !vm->hist_mask ||
        !vm->hist_ring) {
        pe_vm_free(vm);
        *err = PE_ERR_NOMEM;
        return NULL;
    }
    memcpy(vm->ins, ins, sizeof(pe_vm_ins) * (size_t)n_ins);
    memcpy(vm->R, init, sizeof(double) * (size_t)n_slots);
    for (int32_t i = 0; i < n_hist; i++) {
        int64_t cap = 1;
        if (hist_slots[i] < 0 || hist_slots[i] >= n_slots || hist_len[i] < 1 ||
            hist_len[i] > MAX_LENGTH) {
            pe_vm_free(vm);
            *err = PE_VM_ERR_PROGRAM;
            return NULL;
        }
        while (cap < hist_len[i] + 1) cap <<= 1;
        vm->hist_slot[i] = hist_slots[i];
        vm->hist_mask[i] = cap - 1;
        vm->hist_ring[i] = malloc(sizeof(double) * (size_t)cap);
        if (!vm->hist_ring[i]) { pe_vm_free(vm); *err = PE_ERR_NOMEM; return NULL; }
    }
    /* Validate operands and lay out the ta state block. */
    int64_t total = 0;
    for (int32_t pc = 0; pc < n_ins; pc++) {
        pe_vm_ins *in = &vm->ins[pc];
        int bad = 0;
        int32_t f[4] = {in->d, in->a, in->b, in->c};
        int is_jump = in->op == PE_OP_JMP || in->op == PE_OP_JF || in->op == PE_OP_JT ||
                      in->op == PE_OP_VARJ;
        int fused = in->op >= PE_OP_JF_LT && in->op <= PE_OP_JF_CROSS;
        for (int k = 0; k < (fused ? 3 : 4); k++) if (f[k] < 0 || f[k] >= n_slots) bad = 1;
        if (fused && (in->c < 0 || in->c >= n_ins)) bad = 1;
        /* jumps stay inside the code, which ends with HALT: no bounds check per step */
        if (is_jump) bad = in->b < 0 || in->b >= n_ins || in->a < 0 || in->a >= n_slots ||
                           (in->op == PE_OP_VARJ && in->a >= n_var);
        if (pc == n_ins - 1 && in->op != PE_OP_HALT) bad = 1;
        if (in->op == PE_OP_HIST && in->c >= n_hist) bad = 1;
        if (in->op == PE_OP_PLOT && in->c < 0) bad = 1;
        if (in->op >= PE_OP_ENTRY && in->op <= PE_OP_EXIT_TRAIL &&
            in->a + order_args(in->op) > n_slots)
            bad = 1;
        if (in->op == PE_OP_SUPERTREND && in->d + 1 >= n_slots) bad = 1;
        /* multi-slot operands: three outputs, or ALMA's [offset, sigma, floor] at c */
        if (in->op == PE_OP_VWAP_ANCHORED && in->d + 2 >= n_slots) bad = 1;
        if (in->op == PE_OP_ALMA && in->c + 2 >= n_slots) bad = 1;
        int writes = in->op != PE_OP_PLOT && !is_jump && in->op != PE_OP_HALT &&
                     (in->op < PE_OP_ENTRY || in->op > PE_OP_EXIT_TRAIL);
        if (writes && in->d < PE_S_RESERVED) bad = 1;
        if (bad) {
            pe_vm_free(vm);
            *err = PE_VM_ERR_PROGRAM;
            *err_pc = pc;
            return NULL;
        }
        int64_t sz = state_size(in, init);
        if (sz < 0 || total + sz + NPARAM > MAX_STATE) {
            pe_vm_free(vm);
            *err = PE_VM_ERR_LENGTH;
            *err_pc = pc;
            return NULL;
        }
        in->e = 0;
        if (sz > 0) { in->e = (int32_t)total; total += sz + NPARAM; }
        for (int k = 1; k < (fused ? 3 : 4); k++) {
            if (!is_jump && f[k] >= PE_S_YEAR && f[k] <= PE_S_WEEKOFYEAR) vm->uses_date = 1;
            if (!is_jump && ((f[k] >= PE_S_HL2 && f[k] <= PE_S_LAST_BAR_INDEX) ||
                             f[k] == PE_S_ISFIRST || f[k] == PE_S_ISLAST))
                vm->uses_derived = 1;
        }
        if (in->op == PE_OP_SUPERTREND) vm->uses_derived = 1;  /* reads hl2 itself */
    }
    vm->st = calloc((size_t)total + 1, sizeof(double));
    if (!vm->st) { pe_vm_free(vm); *err = PE_ERR_NOMEM; return NULL; }
    vm->n_st = total;
    for (int32_t pc = 0; pc < n_ins; pc++) {
        const pe_vm_ins *in = &vm->ins[pc];
        if (state_size(in, init) <= 0) continue;
        double *p = vm->st + in->e, *s = p + NPARAM;
        int by_c = in->op == PE_OP_VALUEWHEN;
        p[0] = trunc(init[by_c ? in->c : in->b]);
        /* c of a fused cross is its jump target, not a slot: crosses have no parameters */
        int fused = in->op >= PE_OP_JF_CROSSOVER && in->op <= PE_OP_JF_CROSS;
        p[1] = in->op == PE_OP_EMA ? 2.0 / (p[0] + 1) : fused ? 0 : trunc(init[in->c]);
        switch (in->op) {  /* values that start as na */
        case PE_OP_BARSSINCE: case PE_OP_FIXNAN: s[0] = NAN; break;
        case PE_OP_CROSSOVER: case PE_OP_CROSSUNDER: case PE_OP_CROSS:
        case PE_OP_JF_CROSSOVER: case PE_OP_JF_CROSSUNDER: case PE_OP_JF_CROSS:
            s[0] = s[1] = NAN;  /* no previous pair: every comparison with it is false */
            break;
        case PE_OP_RSI: s[0] = NAN; break;
        case PE_OP_VWAP: s[0] = NAN; break;
        case PE_OP_SUPERTREND: s[7] = NAN; s[8] = NAN; break;
        case PE_OP_MAX_ALL: case PE_OP_MIN_ALL: s[0] = NAN; break;
        case PE_OP_SAR: s[5] = s[6] = s[7] = s[8] = NAN; break;
        case PE_OP_NVI: case PE_OP_PVI: s[2] = 1; break;
        case PE_OP_ALMA:
            pe_ta_alma_init(s, (int64_t)p[0], init[in->c], init[in->c + 1],
                            TRUTHY(init[in->c + 2]));
            break;
        default: break;
        }
    }
    vm->prev_close = NAN;
    vm->last_bar_index = -1;
    vm->R[PE_S_INITIAL_CAPITAL] = cfg->initial_capital;
    vm->R[PE_S_MINTICK] = cfg->mintick;
    vm->R[PE_S_MINCONTRACT] = cfg->qty_step;
    if (!(vm->cfg.pointvalue > 0)) vm->cfg.pointvalue = 1;
    vm->R[PE_S_POINTVALUE] = vm->cfg.pointvalue;
    if (pe_broker_init(vm) != PE_OK) { pe_vm_free(vm); *err = PE_ERR_NOMEM; return NULL; }
    pe_broker_publish(vm, NAN);
    return vm;
}

void pe_vm_free(pe_vm *vm) {
    if (!vm) return;
    if (vm->hist_ring)
        for (int32_t i = 0; i < vm->n_hist; i++) free(vm->hist_ring[i]);
    free(vm->hist_ring);
    free(vm->hist_mask);
    free(vm->hist_slot);
    free(vm->var_done);
    free(vm->R);
    free(vm->ins);
    free(vm->st);
    pe_broker_free(vm);
    pe_str_free(vm);
    free(vm);
}

void pe_vm_set_plot_buffer(pe_vm *vm, double *out, int64_t stride, int32_t n_plots) {
    vm->plot = out;
    vm->plot_stride = stride;
    vm->n_plots = n_plots;
}

void pe_vm_set_last_bar_index(pe_vm *vm, int64_t last) { vm->last_bar_index = last; }
double pe_vm_slot(const pe_vm *vm, int32_t slot) {
    return slot >= 0 && slot < vm->n_slots ? vm->R[slot] : NAN;
}
int64_t pe_vm_bar_index(const pe_vm *vm) { return vm->bar; }

/* ---- ta.* kernels: s is the call site's state, x its source value ---- */

/* Moving window of the last n non-na values; s = [sum, cnt, pos, -, ring...]. */
static double ta_sma(double *s, int64_t n, double x, int want_sum) {
    if (x != x) return NAN;
    double *ring = s + 4;
    int64_t cnt = (int64_t)s[1], pos = (int64_t)s[2];
    if (cnt < n) { s[0] += x; s[1] = (double)++cnt; }
    else s[0] += x - ring[pos];
    ring[pos] = x;
    pos = pos + 1 == n ? 0 : pos + 1;
    s[2] = (double)pos;
    if (pos == 0 && cnt == n) {  /* re-add exactly once per window: no drift */
        double t = 0;
        for (int64_t i = 0; i < n; i++) t += ring[i];
        s[0] = t;
    }
    if (cnt < n) return NAN;
    return want_sum ? s[0] : s[0] / (double)n;
}

/* Exponential smoothing seeded with the SMA of the first n values; s = [val, cnt, sum]. */
static double ta_smooth(double *s, int64_t n, double x, int wilder) {
    if (x != x) return NAN;
    double dn = (double)n;
    if (s[1] < dn) {
        s[2] += x;
        s[1] += 1;
        if (s[1] < dn) return NAN;
        s[0] = s[2] / dn;
        return s[0];
    }
    if (wilder) s[0] = (s[0] * (dn - 1) + x) / dn;
    else s[0] = s[0] + 2.0 / (dn + 1) * (x - s[0]);
    return s[0];
}

/* ta.ema with its alpha = 2/(n+1) computed once (the same double, so the same result). */
static double ta_ema(double *s, int64_t n, double alpha, double x) {
    if (x != x) return NAN;
    if (s[1] < (double)n) return ta_smooth(s, n, x, 0);
    s[0] = s[0] + alpha * (x - s[0]);
    return s[0];
}

/* s = [sum, wsum, cnt, pos, ring...]; sums are recomputed exactly when the window
   first fills and at every wrap, and slid in O(1) in between. */
static double ta_wma(double *s, int64_t n, double x) {
    if (x != x) return NAN;
    double *ring = s + 4;
    int64_t cnt = (int64_t)s[2], pos = (int64_t)s[3];
    int full_before = cnt == n;
    if (full_before) {
        s[1] = s[1] - s[0] + (double)n * x;
        s[0] += x - ring[pos];
    } else {
        s[2] = (double)++cnt;
    }
    ring[pos] = x;
    pos = pos + 1 == n ? 0 : pos + 1;
    s[3] = (double)pos;
    if (cnt < n) return NAN;
    if (!full_before || pos == 0) {
        double sum = 0, w = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = ring[(pos + i) % n];  /* oldest first */
            sum += v;
            w += (double)(i + 1) * v;
        }
        s[0] = sum;
        s[1] = w;
    }
    return s[1] / ((double)n * (double)(n + 1) / 2.0);
}

/* Sliding mean and sum of squared deviations; s = [mean, m2, cnt, pos, ring...]. */
static double ta_variance(double *s, int64_t n, double x, int biased) {
    if (x != x) return NAN;
    double *ring = s + 4;
    int64_t cnt = (int64_t)s[2], pos = (int64_t)s[3];
    if (cnt < n) {
        cnt++;
        double delta = x - s[0];
        s[0] += delta / (double)cnt;
        s[1] += delta * (x - s[0]);
        s[2] = (double)cnt;
    } else {
        double y = ring[pos], mean = s[0];
        double nm = mean + (x - y) / (double)n;
        s[1] += (x - y) * (x - nm + y - mean);
        s[0] = nm;
    }
    ring[pos] = x;
    pos = pos + 1 == n ? 0 : pos + 1;
    s[3] = (double)pos;
    if (cnt < n) return NAN;
    if (pos == 0) {
        double sum = 0, m2 = 0;
        for (int64_t i = 0; i < n; i++) sum += ring[i];
        double mean = sum / (double)n;
        for (int64_t i = 0; i < n; i++) m2 += (ring[i] - mean) * (ring[i] - mean);
        s[0] = mean;
        s[1] = m2;
    }
    if (s[1] < 0) s[1] = 0;
    if (!biased && n < 2) return NAN;
    double var = s[1] / (double)(biased ? n : n - 1);
    return var < 1e-20 ? 0.0 : var;
}

/* Mean absolute deviation: O(n) per bar by nature. s = [sum, cnt, pos, -, ring...] */
static double ta_dev(double *s, int64_t n, double x) {
    double mean = ta_sma(s, n, x, 0);
    if (mean != mean) return NAN;
    const double *ring = s + 4;
    double t = 0;
    for (int64_t i = 0; i < n; i++) t += fabs(ring[i] - mean);
    return t / (double)n;
}

/* Monotonic deque over the last n calls; s = [head, size, calls, idx[n], val[n]].
   bars=1 returns the offset of the extreme (0 or negative), the oldest one on ties. */
static double ta_extreme(double *s, int64_t n, double x, int highest, int bars) {
    int64_t head = (int64_t)s[0], size = (int64_t)s[1], k = (int64_t)s[2];
    double *idx = s + 3, *val = s + 3 + n;
    while (size > 0 && idx[head] <= (double)(k - n)) {
        head = head + 1 == n ? 0 : head + 1;
        size--;
    }
    if (x == x) {
        while (size > 0) {
            int64_t back = (head + size - 1) % n;
            int drop = bars ? (highest ? val[back] < x : val[back] > x)
                            : (highest ? val[back] <= x : val[back] >= x);
            if (drop) size--;
            else break;
        }
        int64_t at = (head + size) % n;
        idx[at] = (double)k;
        val[at] = x;
        size++;
    }
    s[0] = (double)head;
    s[1] = (double)size;
    s[2] = (double)(k + 1);
    if (k + 1 < n || size == 0) return NAN;
    return bars ? idx[head] - (double)k : val[head];
}

static double ta_tr(const pe_vm *vm, int handle_na) {
    double h = vm->R[PE_S_HIGH], l = vm->R[PE_S_LOW], pc = vm->prev_close;
    if (pc != pc) return handle_na ? h - l : NAN;
    double a = h - l, b = fabs(h - pc), c = fabs(l - pc);
    double m = a > b ? a : b;
    return m > c ? m : c;
}

/* s = [prev, -, up(val,cnt,sum), down(val,cnt,sum)] */
static double ta_rsi(double *s, int64_t n, double x) {
    double prev = s[0], u = NAN, d = NAN;
    if (x == x && prev == prev) {
        double ch = x - prev;
        u = ch > 0 ? ch : 0;
        d = ch < 0 ? -ch : 0;
    }
    s[0] = x;
    double ru = ta_smooth(s + 2, n, u, 1), rd = ta_smooth(s + 5, n, d, 1);
    if (ru != ru || rd != rd) return NAN;
    if (rd == 0) return ru > 0 ? 100.0 : NAN;
    if (ru == 0) return 0.0;
    return 100.0 - 100.0 / (1.0 + ru / rd);
}

/* s = [pa, pb, has] */
static double ta_cross(double *s, double a, double b, int kind) {
    if (a != a || b != b) return 0.0;
    int up = a > b && s[0] <= s[1], down = a < b && s[0] >= s[1];
    s[0] = a;
    s[1] = b;
    return kind == 0 ? up : kind == 1 ? down : (up || down);
}

static double ta_valuewhen(double *s, double cond, double src, int64_t occ) {
    int64_t size = occ + 1, cnt = (int64_t)s[0], pos = (int64_t)s[1];
    double *ring = s + 2;
    if (TRUTHY(cond)) {
        ring[pos] = src;
        pos = pos + 1 == size ? 0 : pos + 1;
        if (cnt < size) cnt++;
        s[0] = (double)cnt;
        s[1] = (double)pos;
    }
    if (cnt <= occ) return NAN;
    return ring[((pos - 1 - occ) % size + size) % size];
}

/* Pivot: the bar R back is a pivot when it is >= every bar to its left and strictly
   beyond every bar to its right. s = [cnt, pos, ring L+R+1] */
static double ta_pivot(double *s, double x, int64_t left, int64_t right, int high) {
    int64_t size = left + right + 1, cnt = (int64_t)s[0], pos = (int64_t)s[1];
    double *ring = s + 2;
    ring[pos] = x;
    pos = pos + 1 == size ? 0 : pos + 1;
    if (cnt < size) cnt++;
    s[0] = (double)cnt;
    s[1] = (double)pos;
    if (cnt < size) return NAN;
    /* ring[pos] is now the oldest value */
    double c = ring[(pos + left) % size];
    if (c != c) return NAN;
    for (int64_t i = 0; i < size; i++) {
        if (i == left) continue;
        double v = ring[(pos + i) % size];
        if (v != v) continue;
        if (i < left ? (high ? v > c : v < c) : (high ? v >= c : v <= c)) return NAN;
    }
    return c;
}

/* s = [atr val,cnt,sum, prev_lower, prev_upper, prev_st, prev_dir, prev_atr(na), -, -] */
static void ta_supertrend(pe_vm *vm, double *s, int64_t n, double factor, double *st,
                          double *dir) {
    double atr = ta_smooth(s, n, ta_tr(vm, 1), 1);
    double src = vm->R[PE_S_HL2], pc = vm->prev_close;
    double upper = src + factor * atr, lower = src - factor * atr;
    double pl = s[3], pu = s[4];  /* nz(lower[1]), nz(upper[1]) */
    lower = (lower > pl || pc < pl) ? lower : pl;
    upper = (upper < pu || pc > pu) ? upper : pu;
    double d;
    if (s[7] != s[7]) d = 1;
    else if (s[5] == pu) d = vm->R[PE_S_CLOSE] > upper ? -1 : 1;
    else d = vm->R[PE_S_CLOSE] < lower ? 1 : -1;
    *st = d == -1 ? lower : upper;
    *dir = d;
    s[3] = lower == lower ? lower : 0;
    s[4] = upper == upper ? upper : 0;
    s[5] = *st;
    s[7] = atr;
}

static double math1(int fn, double x, double mintick) {
    switch (fn) {
    case PE_M_ABS: return fabs(x);
    case PE_M_ROUND: return floor(x + 0.5);
    case PE_M_FLOOR: return floor(x);
    case PE_M_CEIL: return ceil(x);
    case PE_M_SIGN: return x != x ? NAN : (x > 0) - (x < 0);
    case PE_M_SQRT: return sqrt(x);
    case PE_M_EXP: return exp(x);
    case PE_M_LOG: return log(x);
    case PE_M_LOG10: return log10(x);
    case PE_M_SIN: return sin(x);
    case PE_M_COS: return cos(x);
    case PE_M_TAN: return tan(x);
    case PE_M_ASIN: return asin(x);
    case PE_M_ACOS: return acos(x);
    case PE_M_ATAN: return atan(x);
    case PE_M_TODEG: return x * 180.0 / PE_PI;
    case PE_M_TORAD: return x * PE_PI / 180.0;
    case PE_M_ROUND_MINTICK: return mintick > 0 ? floor(x / mintick + 0.5) * mintick : x;
    case PE_M_BOOL: return TRUTHY(x) ? 1.0 : 0.0;
    default: return NAN;
    }
}

static double math2(int fn, double x, double y) {
    if (x != x || y != y) return NAN;
    switch (fn) {
    case PE_M_MAX: return x > y ? x : y;
    case PE_M_MIN: return x < y ? x : y;
    case PE_M_POW: return pow(x, y);
    case PE_M_ROUNDP: {
        double p = pow(10.0, trunc(y));
        return floor(x * p + 0.5) / p;
    }
    default: return NAN;
    }
}

/* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm). */
static void set_date_parts(pe_vm *vm, int64_t ms) {
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t sod = secs - days * 86400;
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) y++;
    double *R = vm->R;
    R[PE_S_YEAR] = (double)y;
    R[PE_S_MONTH] = (double)m;
    R[PE_S_DAYOFMONTH] = (double)d;
    R[PE_S_DAYOFWEEK] = (double)(((days % 7) + 7 + 4) % 7 + 1);  /* 1970-01-01: Thursday */
    R[PE_S_HOUR] = (double)(sod / 3600);
    R[PE_S_MINUTE] = (double)(sod % 3600 / 60);
    R[PE_S_SECOND] = (double)(sod % 60);
    /* ISO-like week of year: week 1 contains January 1st, weeks start on Sunday. */
    int64_t jan1 = days - (doy >= 306 ? doy - 306 : doy + 59);  /* day of 1 Jan of y */
    int64_t jan1_dow = ((jan1 % 7) + 7 + 4) % 7;
    R[PE_S_WEEKOFYEAR] = (double)((days - jan1 + jan1_dow) / 7 + 1);
}

/* Integer parameters of the current ta instruction, fixed when the VM was built. */
#define P1 ((int64_t)S[in->e])
#define P2 ((int64_t)S[in->e + 1])

static int exec_bar(pe_vm *vm) {
    double *R = vm->R, *S = vm->st;
    const pe_vm_ins *code = vm->ins, *ip = code;
    long backjumps = 0;
    for (;;) {
        const pe_vm_ins *in = ip++;
        switch (in->op) {
        case PE_OP_HALT: return PE_OK;
        case PE_OP_MOV: R[in->d] = R[in->a]; break;
        /* every backward jump counts, so no program can loop forever inside one bar */
#define JUMP_TO(target)                                       \
    do {                                                      \
        if (code + (target) < ip && ++backjumps > MAX_BACKJUMPS) { \
            return PE_VM_ERR_LOOP;                            \
        }                                                     \
        ip = code + (target);                                 \
    } while (0)
        case PE_OP_JMP: JUMP_TO(in->b); break;
        case PE_OP_JF: if (!TRUTHY(R[in->a])) JUMP_TO(in->b); break;
        case PE_OP_JT: if (TRUTHY(R[in->a])) JUMP_TO(in->b); break;
        case PE_OP_VARJ:
            if (vm->var_done[in->a]) JUMP_TO(in->b);
            else vm->var_done[in->a] = 1;
            break;
        case PE_OP_JF_LT: if (!(R[in->d] = R[in->a] < R[in->b])) JUMP_TO(in->c); break;
        case PE_OP_JF_LE: if (!(R[in->d] = R[in->a] <= R[in->b])) JUMP_TO(in->c); break;
        case PE_OP_JF_GT: if (!(R[in->d] = R[in->a] > R[in->b])) JUMP_TO(in->c); break;
        case PE_OP_JF_GE: if (!(R[in->d] = R[in->a] >= R[in->b])) JUMP_TO(in->c); break;
        case PE_OP_JF_EQ: if (!(R[in->d] = R[in->a] == R[in->b])) JUMP_TO(in->c); break;
        case PE_OP_JF_NE: {
            double x = R[in->a], y = R[in->b];
            if (!(R[in->d] = x == x && y == y && x != y)) JUMP_TO(in->c);
            break;
        }
        case PE_OP_JF_AND:
            if (!(R[in->d] = TRUTHY(R[in->a]) && TRUTHY(R[in->b]))) JUMP_TO(in->c);
            break;
        case PE_OP_JF_OR:
            if (!(R[in->d] = TRUTHY(R[in->a]) || TRUTHY(R[in->b]))) JUMP_TO(in->c);
            break;
        case PE_OP_JF_CROSSOVER:
            if (!(R[in->d] = ta_cross(S + in->e + NPARAM, R[in->a], R[in->b], 0))) JUMP_TO(in->c);
            break;
        case PE_OP_JF_CROSSUNDER:
            if (!(R[in->d] = ta_cross(S + in->e + NPARAM, R[in->a], R[in->b], 1))) JUMP_TO(in->c);
            break;
        case PE_OP_JF_CROSS:
            if (!(R[in->d] = ta_cross(S + in->e + NPARAM, R[in->a], R[in->b], 2))) JUMP_TO(in->c);
            break;
#undef JUMP_TO
        case PE_OP_ADD: R[in->d] = R[in->a] + R[in->b]; break;
        case PE_OP_SUB: R[in->d] = R[in->a] - R[in->b]; break;
        case PE_OP_MUL: R[in->d] = R[in->a] * R[in->b]; break;
        case PE_OP_DIV: R[in->d] = R[in->b] == 0 ? NAN : R[in->a] / R[in->b]; break;
        case PE_OP_MOD: R[in->d] = R[in->b] == 0 ? NAN : fmod(R[in->a], R[in->b]); break;
        case PE_OP_NEG: R[in->d] = -R[in->a]; break;
        case PE_OP_NOT: R[in->d] = !TRUTHY(R[in->a]); break;
        case PE_OP_LT: R[in->d] = R[in->a] < R[in->b]; break;
        case PE_OP_LE: R[in->d] = R[in->a] <= R[in->b]; break;
        case PE_OP_GT: R[in->d] = R[in->a] > R[in->b]; break;
        case PE_OP_GE: R[in->d] = R[in->a] >= R[in->b]; break;
        case PE_OP_EQ: R[in->d] = R[in->a] == R[in->b]; break;
        case PE_OP_NE: {
            double x = R[in->a], y = R[in->b];
            R[in->d] = x == x && y == y && x != y;
            break;
        }
        case PE_OP_AND: R[in->d] = TRUTHY(R[in->a]) && TRUTHY(R[in->b]); break;
        case PE_OP_OR: R[in->d] = TRUTHY(R[in->a]) || TRUTHY(R[in->b]); break;
        case PE_OP_ISNA: R[in->d] = R[in->a] != R[in->a]; break;
        case PE_OP_NZ: R[in->d] = R[in->a] == R[in->a] ? R[in->a] : R[in->b]; break;
        case PE_OP_TRUNC: R[in->d] = trunc(R[in->a]); break;
        case PE_OP_MATH1: R[in->d] = math1(in->c, R[in->a], vm->cfg.mintick); break;
        case PE_OP_MATH2: R[in->d] = math2(in->c, R[in->a], R[in->b]); break;
        case PE_OP_HIST: {
            double off = R[in->b];
            if (off == 0) { R[in->d] = R[in->a]; break; }
            int64_t mask = vm->hist_mask[in->c];
            if (!(off >= 1) || off > (double)(mask + 1) || off > (double)vm->bar) {
                R[in->d] = NAN;
                break;
            }
            R[in->d] = vm->hist_ring[in->c][(vm->bar - (int64_t)off) & mask];
            break;
        }
        case PE_OP_PLOT:
            if (vm->plot && in->c < vm->n_plots)
                vm->plot[(int64_t)in->c * vm->plot_stride + vm->run_pos] = R[in->a];
            break;
        case PE_OP_SMA: R[in->d] = ta_sma(S + in->e + NPARAM, P1, R[in->a], 0); break;
        case PE_OP_SUM: R[in->d] = ta_sma(S + in->e + NPARAM, P1, R[in->a], 1); break;
        case PE_OP_EMA: R[in->d] = ta_ema(S + in->e + NPARAM, P1, S[in->e + 1], R[in->a]); break;
        case PE_OP_RMA: R[in->d] = ta_smooth(S + in->e + NPARAM, P1, R[in->a], 1); break;
        case PE_OP_WMA: R[in->d] = ta_wma(S + in->e + NPARAM, P1, R[in->a]); break;
        case PE_OP_STDEV:
            R[in->d] = sqrt(ta_variance(S + in->e + NPARAM, P1, R[in->a],
                                        TRUTHY(R[in->c])));
            break;
        case PE_OP_VARIANCE:
            R[in->d] = ta_variance(S + in->e + NPARAM, P1, R[in->a], TRUTHY(R[in->c]));
            break;
        case PE_OP_DEV: R[in->d] = ta_dev(S + in->e + NPARAM, P1, R[in->a]); break;
        case PE_OP_CUM:
            if (R[in->a] == R[in->a]) { S[in->e + NPARAM] += R[in->a]; R[in->d] = S[in->e + NPARAM]; }
            else R[in->d] = NAN;
            break;
        case PE_OP_HIGHEST: case PE_OP_LOWEST: case PE_OP_HIGHESTBARS: case PE_OP_LOWESTBARS:
            R[in->d] = ta_extreme(S + in->e + NPARAM, P1, R[in->a],
                                  in->op == PE_OP_HIGHEST || in->op == PE_OP_HIGHESTBARS,
                                  in->op == PE_OP_HIGHESTBARS || in->op == PE_OP_LOWESTBARS);
            break;
        case PE_OP_TR: R[in->d] = ta_tr(vm, TRUTHY(R[in->a])); break;
        case PE_OP_RSI: R[in->d] = ta_rsi(S + in->e + NPARAM, P1, R[in->a]); break;
        case PE_OP_CROSSOVER: R[in->d] = ta_cross(S + in->e + NPARAM, R[in->a], R[in->b], 0); break;
        case PE_OP_CROSSUNDER: R[in->d] = ta_cross(S + in->e + NPARAM, R[in->a], R[in->b], 1); break;
        case PE_OP_CROSS: R[in->d] = ta_cross(S + in->e + NPARAM, R[in->a], R[in->b], 2); break;
        case PE_OP_BARSSINCE: {
            double *s = S + in->e + NPARAM;
            if (TRUTHY(R[in->a])) s[0] = 0;
            else if (s[0] == s[0]) s[0] += 1;
            R[in->d] = s[0];
            break;
        }
        case PE_OP_VALUEWHEN:
            R[in->d] = ta_valuewhen(S + in->e + NPARAM, R[in->a], R[in->b], P1);
            break;
        case PE_OP_PIVOTHIGH: case PE_OP_PIVOTLOW:
            R[in->d] = ta_pivot(S + in->e + NPARAM, R[in->a], P1, P2,
                                in->op == PE_OP_PIVOTHIGH);
            break;
        case PE_OP_VWAP: {
            double *s = S + in->e + NPARAM, x = R[in->a], v = R[PE_S_VOLUME];
            double day = floor(R[PE_S_TIME] / 86400000.0);
            if (s[0] != day) { s[0] = day; s[1] = 0; s[2] = 0; }
            if (x == x && v == v) { s[1] += x * v; s[2] += v; }
            R[in->d] = s[2] > 0 ? s[1] / s[2] : NAN;
            break;
        }
        case PE_OP_SUPERTREND:
            ta_supertrend(vm, S + in->e + NPARAM, P1, R[in->a], &R[in->d], &R[in->d + 1]);
            break;
        case PE_OP_COG: {
            double *s = S + in->e + NPARAM;
            double n1 = (double)(P1 + 1);
            /* ta_wma keeps sum (s[0]) and the oldest-to-newest 1..n weighted sum (s[1]);
               cog weighs the newest 1..oldest n: n1 * sum - wsum */
            double wma = ta_wma(s, P1, R[in->a]);
            R[in->d] = wma != wma || s[0] == 0 ? NAN : -(n1 * s[0] - s[1]) / s[0];
            break;
        }
        case PE_OP_SAR:
            R[in->d] = pe_ta_sar(S + in->e + NPARAM, R[PE_S_HIGH], R[PE_S_LOW], R[in->a],
                                 R[in->b], R[in->c]);
            break;
        case PE_OP_ALMA: R[in->d] = pe_ta_alma(S + in->e + NPARAM, P1, R[in->a]); break;
        case PE_OP_RCI: R[in->d] = pe_ta_rci(S + in->e + NPARAM, P1, R[in->a]); break;
        case PE_OP_PERCENTRANK:
            R[in->d] = pe_ta_percentrank(S + in->e + NPARAM, P1, R[in->a]);
            break;
        case PE_OP_MEDIAN: R[in->d] = pe_ta_median(S + in->e + NPARAM, P1, R[in->a]); break;
        case PE_OP_MODE: R[in->d] = pe_ta_mode(S + in->e + NPARAM, P1, R[in->a]); break;
        case PE_OP_PCTL_LINEAR: case PE_OP_PCTL_NEAREST:
            R[in->d] = pe_ta_percentile(S + in->e + NPARAM, P1, R[in->a], R[in->c],
                                        in->op == PE_OP_PCTL_LINEAR);
            break;
        case PE_OP_MAX_ALL: case PE_OP_MIN_ALL: {
            double *s = S + in->e + NPARAM, x = R[in->a];
            if (s[0] != s[0] || (in->op == PE_OP_MAX_ALL ? x > s[0] : x < s[0])) s[0] = x;
            R[in->d] = s[0];
            break;
        }
        case PE_OP_NVI: case PE_OP_PVI:
            R[in->d] = pe_ta_volume_index(S + in->e + NPARAM, R[PE_S_CLOSE], R[PE_S_VOLUME],
                                          in->op == PE_OP_PVI);
            break;
        case PE_OP_VWAP_ANCHORED:
            pe_ta_vwap_anchored(S + in->e + NPARAM, R[in->a], R[PE_S_VOLUME], TRUTHY(R[in->b]),
                                R[in->c], &R[in->d]);
            break;
        case PE_OP_FIXNAN: {
            double *s = S + in->e + NPARAM;
            if (R[in->a] == R[in->a]) s[0] = R[in->a];
            R[in->d] = s[0];
            break;
        }
        case PE_OP_SCONCAT:
            if (pe_str_concat(vm, R[in->a], R[in->b], &R[in->d]) != PE_OK) return PE_ERR_NOMEM;
            break;
        case PE_OP_TOSTR:
            if (pe_str_format(vm, R[in->a], in->c, R[in->b], &R[in->d]) != PE_OK)
                return PE_ERR_NOMEM;
            break;
        case PE_OP_TRADE: R[in->d] = pe_broker_trade_field(vm, in->c, R[in->a]); break;
        case PE_OP_ENTRY: case PE_OP_ORDER: case PE_OP_EXIT: case PE_OP_CLOSE:
        case PE_OP_CLOSE_ALL: case PE_OP_CANCEL: case PE_OP_CANCEL_ALL: case PE_OP_EXIT_TRAIL:
            if (pe_broker_call(vm, in->op, R + in->a) != PE_OK) return PE_ERR_NOMEM;
            break;
        default: return PE_VM_ERR_PROGRAM;
        }
    }
}

int pe_vm_run(pe_vm *vm, int64_t n, const int64_t *time, const double *open,
              const double *high, const double *low, const double *close,
              const double *volume, double *equity) {
    double *R = vm->R;
    /* read once: with -fno-strict-aliasing every store to R would reload them */
    const int derived = vm->uses_derived, date = vm->uses_date, emulate = !vm->no_emulate;
    const int32_t n_hist = vm->n_hist;
    for (int64_t i = 0; i < n; i++) {
        double o = open[i], h = high[i], l = low[i], c = close[i];
        R[PE_S_OPEN] = o;
        R[PE_S_HIGH] = h;
        R[PE_S_LOW] = l;
        R[PE_S_CLOSE] = c;
        R[PE_S_VOLUME] = volume ? volume[i] : NAN;
        R[PE_S_TIME] = (double)time[i];
        R[PE_S_BAR_INDEX] = (double)vm->bar;
        if (derived) {  /* only programs that read them pay for them */
            R[PE_S_HL2] = (h + l) / 2;
            R[PE_S_HLC3] = (h + l + c) / 3;
            R[PE_S_OHLC4] = (o + h + l + c) / 4;
            R[PE_S_HLCC4] = (h + l + 2 * c) / 4;
            R[PE_S_TIME_CLOSE] = vm->bar > 0 ? 2.0 * (double)time[i] - vm->prev_time : NAN;
            R[PE_S_LAST_BAR_INDEX] = (double)vm->last_bar_index;
            R[PE_S_ISFIRST] = vm->bar == 0;
            R[PE_S_ISLAST] = vm->bar == vm->last_bar_index;
        }
        if (date) set_date_parts(vm, time[i]);
        vm->run_pos = i;
        /* the broker's own early returns, tested here: most bars are flat with no orders */
        if (emulate && (vm->n_orders > 0 || vm->n_open > 0 || vm->dirty))
            pe_broker_open(vm);
        int rc = exec_bar(vm);
        if (rc != PE_OK) return rc;
        if (vm->n_orders > 0 || vm->n_open > 0)
            pe_broker_close(vm);
        for (int32_t k = 0; k < n_hist; k++)
            vm->hist_ring[k][vm->bar & vm->hist_mask[k]] = R[vm->hist_slot[k]];
        if (equity) equity[i] = R[PE_S_EQUITY];
        vm->prev_close = c;
        vm->prev_time = (double)time[i];
        vm->bar++;
    }
    return PE_OK;
}
