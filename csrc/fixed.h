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

/* Per byte of x ^ ASCII_ZEROS, the high bit is set iff that byte of x is not a digit. A
   carry out of a non-digit byte can only flag bytes above it (never clear a flag), so the
   lowest flagged byte is exact and a clean word is all digits. */
static inline uint64_t nondigit_bits(uint64_t t)
{
    return ((t + 0x7676767676767676ULL) | t) & 0x8080808080808080ULL;
}

static inline int pe_parse_fixed_8(const char *frac, int scale, int64_t int_part, int64_t *out)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t x;
    memcpy(&x, frac, 8);
    if (scale > 8 || nondigit_bits(x ^ ASCII_ZEROS))
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

/* The common shape of a Binance decimal at p, "61737.63000000" (1..7 integer digits, '.',
   8 decimals) and its closing quote, when its integer digits and `scale` decimals fit 8
   digits and the decimals beyond `scale` are zeros; p must have 17 readable bytes. Returns
   the bytes up to and including the quote with the value in *out, or 0 for anything else
   (no error: the caller's careful parser then decides). */
static inline size_t pe_fixed_common(const char *p, unsigned scale, int64_t *out)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t x, frac;
    memcpy(&x, p, 8);
    x ^= ASCII_ZEROS; /* a digit's byte becomes its value */
    /* the top flag stands in for "eight digits": n = 7 then fails the '.' test */
    unsigned n = (unsigned)__builtin_ctzll(nondigit_bits(x) | (1ULL << 63)) >> 3, digits = n + scale;
    if (n == 0 || digits > 8 || p[n] != '.' || p[n + 9] != '"')
        return 0;
    memcpy(&frac, p + n + 1, 8);
    frac ^= ASCII_ZEROS;
    /* decimals: digits up to the scale, zeros beyond it (digits <= 8 and n >= 1, so
       scale <= 7 and the shifts stay below 64) */
    if (nondigit_bits(frac) | (frac >> (8 * scale)))
        return 0;
    /* the value's digits in one word: the integer digits, then the decimals */
    uint64_t value = (x & ((1ULL << (8 * n)) - 1)) | (frac << (8 * n));
    *out = (int64_t)swar8(value << (8 * (8 - digits)));
    return n + 10;
#else
    (void)p; (void)scale; (void)out;
    return 0;
#endif
}

#endif
