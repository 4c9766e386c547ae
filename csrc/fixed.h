#ifndef PE_FIXED_H
#define PE_FIXED_H
/* Inline helpers for exact decimal parsing, shared by fixed.c and hot.c (not in the cdef). */
#include <string.h>
#include "pe_common.h"

static const int64_t POW10[19] = {
    1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL, 100000000LL,
    1000000000LL, 10000000000LL, 100000000000LL, 1000000000000LL, 10000000000000LL,
    100000000000000LL, 1000000000000000LL, 10000000000000000LL, 100000000000000000LL,
    1000000000000000000LL};

#define ASCII_ZEROS 0x3030303030303030ULL

/* Eight ASCII digits (first digit in the lowest byte) to their value, without a loop. */
static inline uint64_t swar8(uint64_t digits)
{
    digits = digits * 10 + (digits >> 8);
    return (((digits & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
            (((digits >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >> 32;
}

static inline int all_digits(uint64_t x)
{
    return (x & 0xF0F0F0F0F0F0F0F0ULL) == ASCII_ZEROS &&
           ((x + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) == ASCII_ZEROS;
}

static inline int pe_parse_fixed_8(const char *frac, int scale, int64_t int_part, int64_t *out)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t x;
    memcpy(&x, frac, 8);
    if (scale > 8 || !all_digits(x))
        return 1;
    if (scale < 8 && (x >> (8 * scale)) != (ASCII_ZEROS >> (8 * scale)))
        return PE_ERR_PRECISION;
    uint64_t f = scale ? swar8((x - ASCII_ZEROS) << (8 * (8 - scale))) : 0;
    *out = int_part * POW10[scale] + (int64_t)f;
    return PE_OK;
#else
    (void)frac; (void)scale; (void)int_part; (void)out;
    return 1;
#endif
}

/* A Binance decimal string body at p ("61737.63000000": 1..7 integer digits, '.', 8
   decimals) followed by its closing quote, parsed with 8-byte loads. Returns 1 when p
   does not have that shape; otherwise the status, with *end at the closing quote. */
static inline int pe_parse_fixed_quoted(const char *p, const char *e, int scale, int64_t *out,
                                        const char **end)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (e - p < 8)
        return 1;
    uint64_t x;
    memcpy(&x, p, 8);
    /* a byte is a digit iff its high nibble is 3 before and after adding 6 */
    uint64_t bad = ((x & 0xF0F0F0F0F0F0F0F0ULL) ^ ASCII_ZEROS) |
                   (((x + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) ^ ASCII_ZEROS);
    if (!bad)
        return 1;
    int n = __builtin_ctzll(bad) / 8; /* integer digits */
    if (n == 0 || e - p < n + 10 || p[n] != '.' || p[n + 9] != '"')
        return 1;
    *end = p + n + 9;
    int digits = n + scale;
    if (digits > 8)
        return pe_parse_fixed_8(p + n + 1, scale, (int64_t)swar8((x - ASCII_ZEROS) << (8 * (8 - n))), out);
    uint64_t frac;
    memcpy(&frac, p + n + 1, 8);
    if (!all_digits(frac))
        return 1;
    if ((frac >> (8 * scale)) != (ASCII_ZEROS >> (8 * scale)))
        return PE_ERR_PRECISION;
    /* the value's digits fit one word: the integer digits, then the decimals after the dot */
    uint64_t shifted, low = (1ULL << (8 * n)) - 1;
    memcpy(&shifted, p + 1, 8);
    uint64_t value = (x & low) | (shifted & ~low);
    *out = (int64_t)swar8((value - ASCII_ZEROS) << (8 * (8 - digits)));
    return PE_OK;
#else
    (void)p; (void)e; (void)scale; (void)out; (void)end;
    return 1;
#endif
}

/* Whether p holds "0.00000000" and its closing quote: a deletion in a depth diff. */
static inline int pe_is_zero_quoted(const char *p, const char *e)
{
    static const char ZERO[] = "0.00000000\"";
    return e - p >= (ptrdiff_t)sizeof ZERO - 1 && memcmp(p, ZERO, sizeof ZERO - 1) == 0;
}

#endif
