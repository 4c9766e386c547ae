#ifndef PE_COMMON_H
#define PE_COMMON_H
#include <stdint.h>
#include <stddef.h>

/* cdef-begin */
/* Status codes shared by every csrc/ module; >= 0 is success. */
enum {
    PE_OK = 0,
    PE_STALE = 1,              /* diff already contained in the book: ignored */
    PE_ERR_NO_SNAPSHOT = -1,   /* book has no snapshot yet: buffer and snapshot */
    PE_ERR_GAP = -2,           /* sequence gap: book is now out of sync */
    PE_ERR_OUT_OF_SYNC = -3,   /* book must be re-snapshotted before use */
    PE_ERR_CROSSED = -4,       /* best bid >= best ask: book is out of sync */
    PE_ERR_EMPTY = -5,         /* side has no levels */
    PE_ERR_PARSE = -6,         /* malformed JSON */
    PE_ERR_NOMEM = -7,
    PE_ERR_RANGE = -8,         /* number out of range / too many digits */
    PE_ERR_PRECISION = -9,     /* more decimals than the symbol's scale */
    PE_ERR_TYPE = -10,         /* field has the wrong JSON type */
    PE_ERR_MISSING = -11,      /* required field absent */
    PE_ERR_UNKNOWN_SYMBOL = -12,
    PE_ERR_ARG = -13           /* invalid argument from the caller */
};

enum { PE_BID = 0, PE_ASK = 1 };

/* Parse a decimal string (digits, optional '.', digits) into an integer scaled by
   10^scale. Exact: extra fractional digits must be zeros. */
int pe_parse_fixed(const char *s, size_t len, int scale, int64_t *out);
/* cdef-end */

#endif
