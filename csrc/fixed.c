#include "fixed.h"


/* Handles everything Binance sends (at most 18 significant digits); exotic input falls
   back to the careful parser below. */
static int parse_fast(const char *s, size_t len, int scale, int64_t *out)
{
    const char *p = s, *e = s + len;
    uint64_t v = 0;
    while (p < e && (unsigned)(*p - '0') < 10)
        v = v * 10 + (uint64_t)(*p++ - '0');
    size_t int_digits = (size_t)(p - s);
    if (int_digits == 0 || int_digits + (size_t)scale > 18)
        return 1;
    int taken = 0;
    if (p < e && *p == '.') {
        if (e - p == 9) { /* Binance's usual 8 decimals */
            int rc = pe_parse_fixed_8(p + 1, scale, (int64_t)v, out);
            if (rc != 1)
                return rc;
        }
        const char *frac = ++p;
        while (p < e && taken < scale && (unsigned)(*p - '0') < 10) {
            v = v * 10 + (uint64_t)(*p++ - '0');
            taken++;
        }
        while (p < e && *p == '0')
            p++;
        if (p == frac)
            return PE_ERR_PARSE;
        if (p < e && (unsigned)(*p - '0') < 10)
            return PE_ERR_PRECISION;
    }
    if (p != e)
        return PE_ERR_PARSE;
    *out = (int64_t)(v * (uint64_t)POW10[scale - taken]);
    return PE_OK;
}

static int parse_careful(const char *s, size_t len, int scale, int64_t *out);

int pe_parse_fixed(const char *s, size_t len, int scale, int64_t *out)
{
    if (scale < 0 || scale > 18)
        return PE_ERR_ARG;
    int rc = parse_fast(s, len, scale, out);
    return rc == 1 ? parse_careful(s, len, scale, out) : rc;
}

static int parse_careful(const char *s, size_t len, int scale, int64_t *out)
{
    if (len == 0)
        return PE_ERR_PARSE;
    size_t i = 0;
    uint64_t v = 0;
    int int_digits = 0, frac_digits = 0;
    /* 18 significant digits always fit in int64; Binance sends at most 8 decimals. */
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (v == 0 && s[i] == '0') { i++; int_digits++; continue; }
        if (int_digits >= 19 || v > (uint64_t)999999999999999999ULL / 10)
            return PE_ERR_RANGE;
        v = v * 10 + (uint64_t)(s[i] - '0');
        int_digits++;
        i++;
    }
    if (int_digits == 0)
        return PE_ERR_PARSE;
    if (i < len && s[i] == '.') {
        i++;
        size_t frac_start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (frac_digits < scale) {
                if (v > (uint64_t)999999999999999999ULL / 10)
                    return PE_ERR_RANGE;
                v = v * 10 + (uint64_t)(s[i] - '0');
            } else if (s[i] != '0') {
                return PE_ERR_PRECISION;
            }
            frac_digits++;
            i++;
            if (frac_digits > 30)
                return PE_ERR_RANGE;
        }
        if (i == frac_start)
            return PE_ERR_PARSE;
    }
    if (i != len)
        return PE_ERR_PARSE;
    int missing = scale - (frac_digits < scale ? frac_digits : scale);
    if (missing > 0) {
        if (v > (uint64_t)INT64_MAX / (uint64_t)POW10[missing])
            return PE_ERR_RANGE;
        v *= (uint64_t)POW10[missing];
    }
    if (v > (uint64_t)INT64_MAX)
        return PE_ERR_RANGE;
    *out = (int64_t)v;
    return PE_OK;
}
