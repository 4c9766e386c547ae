#include "hist.h"
#include "pe_common.h"

#include <stdlib.h>
#include <string.h>

/* Layout: index v for v < 256; above, bucket (shift, sub) with sub in [128, 255] covers
   [sub << shift, ((sub + 1) << shift) - 1]. 40 shifts cover values below 2^48. */
#define LINEAR 256
#define HALF 128
#define MAX_SHIFT 40

struct pe_hist {
    uint64_t count;
    uint64_t saturated;
    int64_t min, max;
    double sum;
    int lo, hi;                 /* touched index range, so merge/reset skip empty space */
    uint64_t counts[PE_HIST_BUCKETS];
};

static const int64_t MAX_VALUE = ((int64_t)1 << (MAX_SHIFT + 8)) - 1;

static inline int index_of(int64_t v) {
    if (v < LINEAR) return (int)v;
    int msb = 63 - __builtin_clzll((unsigned long long)v);
    int shift = msb - 7;
    return LINEAR + (shift - 1) * HALF + (int)((v >> shift) - HALF);
}

static inline int64_t highest_of(int idx) {
    if (idx < LINEAR) return idx;
    int k = idx - LINEAR;
    int shift = k / HALF + 1;
    int64_t sub = k % HALF + HALF;
    return ((sub + 1) << shift) - 1;
}

pe_hist *pe_hist_new(void) {
    pe_hist *h = calloc(1, sizeof *h);
    if (h) pe_hist_reset(h);
    return h;
}

void pe_hist_free(pe_hist *h) { free(h); }

int64_t pe_hist_max_trackable(void) { return MAX_VALUE; }

int pe_hist_record_n(pe_hist *h, int64_t ns, uint64_t n) {
    if (ns < 0) return PE_HIST_ERR_NEGATIVE;
    if (n == 0) return PE_OK;
    if (ns > MAX_VALUE) {
        ns = MAX_VALUE;
        h->saturated += n;
    }
    int idx = index_of(ns);
    h->counts[idx] += n;
    if (h->count == 0) {
        h->min = h->max = ns;
        h->lo = h->hi = idx;
    } else {
        if (ns < h->min) h->min = ns;
        if (ns > h->max) h->max = ns;
        if (idx < h->lo) h->lo = idx;
        if (idx > h->hi) h->hi = idx;
    }
    h->count += n;
    h->sum += (double)ns * (double)n;
    return PE_OK;
}

int pe_hist_record(pe_hist *h, int64_t ns) { return pe_hist_record_n(h, ns, 1); }

uint64_t pe_hist_count(const pe_hist *h) { return h->count; }
uint64_t pe_hist_saturated(const pe_hist *h) { return h->saturated; }
int64_t pe_hist_min(const pe_hist *h) { return h->count ? h->min : 0; }
int64_t pe_hist_max(const pe_hist *h) { return h->count ? h->max : 0; }
double pe_hist_mean(const pe_hist *h) { return h->count ? h->sum / (double)h->count : 0.0; }

int pe_hist_percentiles(const pe_hist *h, const double *qs, int64_t *out, int n) {
    for (int i = 0; i < n; i++) {
        if (!(qs[i] >= 0.0 && qs[i] <= 100.0)) return PE_ERR_ARG;
        if (i > 0 && qs[i] < qs[i - 1]) return PE_ERR_ARG;
    }
    if (h->count == 0) {
        for (int i = 0; i < n; i++) out[i] = 0;
        return PE_OK;
    }
    uint64_t seen = 0;
    int idx = h->lo;
    for (int i = 0; i < n; i++) {
        /* rank of the q-th percentile, 1-based, at least 1 */
        double r = qs[i] / 100.0 * (double)h->count;
        uint64_t rank = (uint64_t)r;
        if ((double)rank < r) rank++;
        if (rank == 0) rank = 1;
        while (idx <= h->hi && seen + h->counts[idx] < rank) {
            seen += h->counts[idx];
            idx++;
        }
        int64_t v = highest_of(idx > h->hi ? h->hi : idx);
        if (v > h->max) v = h->max;
        if (v < h->min) v = h->min;
        out[i] = v;
    }
    return PE_OK;
}

int64_t pe_hist_percentile(const pe_hist *h, double q) {
    int64_t v;
    if (pe_hist_percentiles(h, &q, &v, 1) != PE_OK) return -1;
    return v;
}

void pe_hist_merge(pe_hist *dst, const pe_hist *src) {
    if (src->count == 0) return;
    for (int i = src->lo; i <= src->hi; i++) dst->counts[i] += src->counts[i];
    if (dst->count == 0) {
        dst->min = src->min;
        dst->max = src->max;
        dst->lo = src->lo;
        dst->hi = src->hi;
    } else {
        if (src->min < dst->min) dst->min = src->min;
        if (src->max > dst->max) dst->max = src->max;
        if (src->lo < dst->lo) dst->lo = src->lo;
        if (src->hi > dst->hi) dst->hi = src->hi;
    }
    dst->count += src->count;
    dst->saturated += src->saturated;
    dst->sum += src->sum;
}

void pe_hist_reset(pe_hist *h) {
    if (h->count) memset(&h->counts[h->lo], 0, (size_t)(h->hi - h->lo + 1) * sizeof h->counts[0]);
    h->count = h->saturated = 0;
    h->min = h->max = 0;
    h->sum = 0.0;
    h->lo = h->hi = 0;
}
