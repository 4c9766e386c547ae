#ifndef PE_HIST_H
#define PE_HIST_H
#include <stdint.h>

/* cdef-begin */
/* HDR-style latency histogram: exact below 256 ns, then 128 linear sub-buckets per power
   of two (relative error < 0.8 %) up to PE_HIST_MAX_NS (~39 h). Recording is O(1) with no
   allocation, so it can sit on the hot path. Not thread-safe: one writer at a time. */
typedef struct pe_hist pe_hist;

enum {
    PE_HIST_BUCKETS = 5376,
    PE_HIST_ERR_NEGATIVE = -100    /* negative value: not recorded */
};

pe_hist *pe_hist_new(void);
void pe_hist_free(pe_hist *h);
/* Record one value in ns. Values above the trackable range are clamped to it and counted
   as saturated. Returns PE_OK or PE_HIST_ERR_NEGATIVE. */
int pe_hist_record(pe_hist *h, int64_t ns);
int pe_hist_record_n(pe_hist *h, int64_t ns, uint64_t n);
uint64_t pe_hist_count(const pe_hist *h);
uint64_t pe_hist_saturated(const pe_hist *h);
int64_t pe_hist_min(const pe_hist *h);     /* 0 when empty */
int64_t pe_hist_max(const pe_hist *h);     /* 0 when empty */
double pe_hist_mean(const pe_hist *h);     /* exact mean of recorded (clamped) values */
int64_t pe_hist_max_trackable(void);
/* Value at quantile q (0..100, e.g. 99.9): the highest value equivalent to the bucket
   holding that rank, capped at the recorded maximum. 0 when empty; -1 for q outside 0..100. */
int64_t pe_hist_percentile(const pe_hist *h, double q);
/* n quantiles in one pass; qs must be ascending. Returns PE_OK or PE_ERR_ARG. */
int pe_hist_percentiles(const pe_hist *h, const double *qs, int64_t *out, int n);
/* dst += src. */
void pe_hist_merge(pe_hist *dst, const pe_hist *src);
void pe_hist_reset(pe_hist *h);
/* cdef-end */

#endif
