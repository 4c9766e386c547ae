/* ta.* kernels beyond the moving averages of vm.c: parabolic SAR, ALMA, centre of gravity,
   the sorted-window family (median, mode, percentiles, percent rank, rank correlation),
   all-time extremes, the volume indexes and the anchored VWAP. Each kernel gets its call
   site's state block s (laid out by pe_ta_state_size) and the bar's values; the formulas,
   seeding and na rules are the ones of dsl/pine-subset.md 10.2-10.4. */
#include <math.h>
#include <string.h>
#include "vm_internal.h"

/* ---- sorted window ----
   The last w values the call site saw, in arrival order (a ring, na included), plus the
   numeric ones kept sorted as (value, arrival number) pairs. The arrival number makes
   every key unique, so the evicted value is found by binary search even among ties.
   One push costs O(log w) comparisons plus an O(w) memmove; queries read the sorted
   array directly. s = [pushes, numeric count, -, ring[w], sorted pairs[2w]]. */

static int64_t sw_lower_bound(const double *srt, int64_t m, double v, double q) {
    int64_t lo = 0, hi = m;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        double mv = srt[2 * mid], mq = srt[2 * mid + 1];
        if (mv < v || (mv == v && mq < q)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Number of numeric values <= v. */
static int64_t sw_count_le(const double *srt, int64_t m, double v) {
    int64_t lo = 0, hi = m;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (srt[2 * mid] <= v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void sw_push(double *s, int64_t w, double x) {
    int64_t k = (int64_t)s[0], m = (int64_t)s[1];
    double *ring = s + 3, *srt = s + 3 + w;
    int64_t at = k % w;
    if (k >= w) {
        double old = ring[at];
        if (old == old) {
            int64_t j = sw_lower_bound(srt, m, old, (double)(k - w));
            memmove(srt + 2 * j, srt + 2 * j + 2, sizeof(double) * (size_t)(2 * (m - j - 1)));
            m--;
        }
    }
    ring[at] = x;
    if (x == x) {
        int64_t j = sw_lower_bound(srt, m, x, (double)k);
        memmove(srt + 2 * j + 2, srt + 2 * j, sizeof(double) * (size_t)(2 * (m - j)));
        srt[2 * j] = x;
        srt[2 * j + 1] = (double)k;
        m++;
    }
    s[0] = (double)(k + 1);
    s[1] = (double)m;
}

#define SW_SORTED(s, w) ((s) + 3 + (w))
#define SW_VAL(srt, i) ((srt)[2 * (i)])

/* ta.median: like ta.sma, an na source is skipped (na out, window unchanged). */
double pe_ta_median(double *s, int64_t n, double x) {
    if (x != x) return NAN;
    sw_push(s, n, x);
    if (s[0] < (double)n) return NAN;
    const double *srt = SW_SORTED(s, n);
    if (n % 2) return SW_VAL(srt, n / 2);
    return (SW_VAL(srt, n / 2 - 1) + SW_VAL(srt, n / 2)) / 2;
}

/* ta.mode: most frequent numeric value of the last n bars, the smallest on ties. */
double pe_ta_mode(double *s, int64_t n, double x) {
    sw_push(s, n, x);
    int64_t m = (int64_t)s[1];
    if (x != x || s[0] < (double)n || m == 0) return NAN;
    const double *srt = SW_SORTED(s, n);
    double best = SW_VAL(srt, 0);
    int64_t best_run = 0;
    for (int64_t i = 0; i < m;) {
        int64_t j = i + 1;
        while (j < m && SW_VAL(srt, j) == SW_VAL(srt, i)) j++;
        if (j - i > best_run) { best_run = j - i; best = SW_VAL(srt, i); }
        i = j;
    }
    return best;
}

/* ta.percentile_nearest_rank / _linear_interpolation over the last n bars. na values
   in the window count in n and sort after every number (TradingView's array rule). */
double pe_ta_percentile(double *s, int64_t n, double x, double pct, int linear) {
    sw_push(s, n, x);
    int64_t m = (int64_t)s[1];
    if (x != x || s[0] < (double)n) return NAN;
    const double *srt = SW_SORTED(s, n);
    double dn = (double)n;
    if (!linear) {
        if (pct != pct) pct = 0;  /* na percentage ranks like 0 */
        if (!(pct >= 0 && pct <= 100)) return NAN;
        if (pct == 0) return m > 0 ? SW_VAL(srt, 0) : NAN;
        double r = ceil(pct * dn / 100);
        int64_t rank = r < 1 ? 1 : r > dn ? n : (int64_t)r;
        return rank <= m ? SW_VAL(srt, rank - 1) : NAN;
    }
    if (!(pct >= 0 && pct <= 100)) return NAN;
    double pos = dn * pct / 100 + 0.5, near = floor(pos + 0.5);
    if (fabs(pos - near) < 1e-9) pos = near;  /* exact ranks despite rounding noise */
    if (pos <= 1) return m > 0 ? SW_VAL(srt, 0) : NAN;
    if (pos >= dn) return m == n ? SW_VAL(srt, m - 1) : NAN;
    int64_t lower = (int64_t)floor(pos);
    double frac = pos - (double)lower;
    if (frac == 0) return lower <= m ? SW_VAL(srt, lower - 1) : NAN;
    if (m < n) return NAN;
    return SW_VAL(srt, lower - 1) * (1 - frac) + SW_VAL(srt, lower) * frac;
}

/* ta.percentrank: percent of the previous n values that are <= the current one. The
   window holds n + 1 bars (the current one included); na values count in n. */
double pe_ta_percentrank(double *s, int64_t n, double x) {
    sw_push(s, n + 1, x);
    if (x != x || s[0] < (double)(n + 1)) return NAN;
    int64_t le = sw_count_le(SW_SORTED(s, n + 1), (int64_t)s[1], x);
    return (double)(le - 1) * 100.0 / (double)n;
}

/* ta.rci: Spearman rank correlation (x 100) between the bar order and the value order of
   the last n values. Ranks run from 0 for the highest value; tied values share their
   average rank, where a tie group is every value less than 1e-10 above the group's
   smallest one (so hl2 values that differ only in the last bit tie, as in ta/rci.csv).
   The first value is on bar n (verified ta/rci.csv); na in the window gives na. O(n) per
   bar over the sorted window. */
double pe_ta_rci(double *s, int64_t n, double x) {
    sw_push(s, n, x);
    int64_t k = (int64_t)s[0], m = (int64_t)s[1];
    if (x != x || k <= n || m < n) return NAN;
    const double *srt = SW_SORTED(s, n);
    double dn = (double)n, mean = (dn - 1) / 2;
    double sum_r2 = 0, cov = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i + 1;
        while (j < n && srt[2 * j] - srt[2 * i] < 1e-10) j++;
        double rank = (dn - 1) - (double)(i + j - 1) / 2.0;
        for (int64_t t = i; t < j; t++) {
            double age = (double)(k - 1) - srt[2 * t + 1];  /* 0 = newest */
            sum_r2 += rank * rank;
            cov += (age - mean) * (rank - mean);
        }
        i = j;
    }
    double var_x = (dn * dn - 1) / 12, var_r = sum_r2 / dn - mean * mean;
    if (var_x <= 0 || var_r <= 0) return NAN;
    return 100.0 * (cov / dn) / (sqrt(var_x) * sqrt(var_r));
}

/* ---- ta.alma: Gaussian weights fixed at load time. s = [cnt, pos, norm, ring[n], w[n]],
   w[0] weighs the oldest bar. The window is the last n bars (na propagates); O(n). */
void pe_ta_alma_init(double *s, int64_t n, double offset, double sigma, int floor_offset) {
    double m = offset * (double)(n - 1), sd = (double)n / sigma, norm = 0;
    if (floor_offset) m = floor(m);
    double *w = s + 3 + n;
    for (int64_t i = 0; i < n; i++) {
        w[i] = exp(-((double)i - m) * ((double)i - m) / (2 * sd * sd));
        norm += w[i];
    }
    s[2] = norm;
}

double pe_ta_alma(double *s, int64_t n, double x) {
    int64_t cnt = (int64_t)s[0], pos = (int64_t)s[1];
    double *ring = s + 3;
    const double *w = s + 3 + n;
    ring[pos] = x;
    pos = pos + 1 == n ? 0 : pos + 1;
    s[1] = (double)pos;
    if (cnt < n) s[0] = (double)++cnt;
    if (cnt < n || x != x) return NAN;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {  /* ring[pos] is now the oldest value */
        int64_t at = pos + i < n ? pos + i : pos + i - n;
        sum += ring[at] * w[i];
    }
    return sum / s[2];
}

/* ---- ta.sar: Wilder's parabolic SAR. s = [calls, long, af, sar, ep, h1, h2, l1, l2];
   na on the first bar, seeded on the second from the first two bars. */
double pe_ta_sar(double *s, double high, double low, double start, double inc, double max) {
    int64_t calls = (int64_t)s[0];
    double h1 = s[5], h2 = s[6] == s[6] ? s[6] : s[5];
    double l1 = s[7], l2 = s[8] == s[8] ? s[8] : s[7];
    double out;
    s[0] = (double)(calls + 1);
    if (calls == 0) {
        out = NAN;
    } else if (calls == 1) {
        int is_long = !(h1 > high);
        s[1] = is_long;
        s[2] = start;
        s[3] = is_long ? l1 : h1;
        s[4] = is_long ? high : low;
        out = s[3];
    } else {
        double af = s[2], ep = s[4], sar = s[3] + af * (ep - s[3]);
        if (s[1] != 0) {
            if (low <= sar) {  /* reverse to short, from the last extreme point */
                s[1] = 0;
                af = start;
                sar = fmax(fmax(ep, high), fmax(h1, h2));
                ep = low;
            } else {
                sar = fmin(sar, fmin(l1, l2));
                if (high > ep) { ep = high; af = fmin(af + inc, max); }
            }
        } else {
            if (high >= sar) {  /* reverse to long */
                s[1] = 1;
                af = start;
                sar = fmin(fmin(ep, low), fmin(l1, l2));
                ep = high;
            } else {
                sar = fmax(sar, fmax(h1, h2));
                if (low < ep) { ep = low; af = fmin(af + inc, max); }
            }
        }
        s[2] = af;
        s[3] = sar;
        s[4] = ep;
        out = sar;
    }
    s[6] = s[5];
    s[5] = high;
    s[8] = s[7];
    s[7] = low;
    return out;
}

/* ---- ta.nvi / ta.pvi: s = [prev close, prev volume, index]; the index starts at 1 and
   moves by the close's relative change on bars whose volume fell (nvi) / rose (pvi). */
double pe_ta_volume_index(double *s, double close, double volume, int positive) {
    double pc = s[0], pv = s[1] == s[1] ? s[1] : 0, idx = s[2];
    if (close == close && close != 0 && pc == pc && pc != 0 &&
        (positive ? volume > pv : volume < pv))
        idx = idx + (close - pc) / pc * idx;
    s[0] = close;
    s[1] = volume;
    s[2] = idx;
    return idx;
}

/* ---- anchored ta.vwap: s = [anchored, sum v, sum x*v, sum x*x*v]. Sums restart on
   every bar where anchor is true (also when that bar's source is na: it then adds
   nothing); na before the first anchor and on na sources. out[1], out[2] get the bands
   vwap +/- mult * stdev when mult is not na. */
void pe_ta_vwap_anchored(double *s, double x, double volume, int anchor, double mult,
                         double *out) {
    out[0] = out[1] = out[2] = NAN;
    if (anchor) {
        s[0] = 1;
        s[1] = s[2] = s[3] = 0;
    }
    if (x != x || s[0] == 0) return;
    s[1] += volume;
    s[2] += x * volume;
    s[3] += x * x * volume;
    double v = s[1] != 0 ? s[2] / s[1] : NAN;
    if (v != v) return;
    out[0] = v;
    if (mult != mult) return;
    double var = s[3] / s[1] - v * v;
    double band = sqrt(var > 0 ? var : 0) * mult;
    out[1] = v + band;
    out[2] = v - band;
}
