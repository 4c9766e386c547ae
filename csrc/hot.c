#include <stdlib.h>
#include <string.h>
#include "fixed.h"
#include "hot.h"

#define MAX_SYMBOLS 64

typedef struct {
    int64_t open_time, open, high, low, close, volume, trades;
} bar_t;

typedef struct {
    char name[24];
    size_t len;
    pe_book *book;
    int64_t bar_ms;   /* 0: no bars built from trades */
    bar_t bar;        /* the open bar; trades == 0 before the first trade */
    double price_div, qty_div;       /* 10^scale: fixed point -> the VMs' doubles */
    pe_vm *vm[PE_FEED_MAX_VMS];      /* run on every closed bar (pe_feed_add_vm) */
    int nvm;
    int64_t exit_lo, exit_hi;        /* pe_feed_set_exit_band; lo 0, hi INT64_MAX: none */
} sym_t;

struct pe_feed {
    sym_t sym[MAX_SYMBOLS];
    int nsym;
    int64_t *scratch; /* px,qty pairs of one depth message, validated before applying */
    size_t scratch_cap;
};

/* A JSON value as located in the buffer; for strings p..e excludes the quotes. */
typedef struct {
    const char *p, *e;
    char t; /* 0 absent, 's' string, 'n' number, 'o' object, 'a' array, 'b' bool, 'z' null */
} val;

typedef struct {
    const char *b, *p, *e;
    const char *err_at;
} cur;

static inline void ws(cur *c)
{
    while (c->p < c->e && (unsigned char)*c->p <= ' ' &&
           (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

static int fail(cur *c)
{
    if (!c->err_at)
        c->err_at = c->p;
    return PE_ERR_PARSE;
}

static int read_string(cur *c, val *v)
{
    if (c->p >= c->e || *c->p != '"')
        return fail(c);
    c->p++;
    v->p = c->p;
    while (c->p < c->e) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            v->e = c->p++;
            v->t = 's';
            return PE_OK;
        }
        if (ch < 0x20)
            return fail(c);
        if (ch == '\\') {
            c->p++;
            if (c->p >= c->e)
                return fail(c);
            if (*c->p == 'u') {
                for (int i = 0; i < 4; i++) {
                    c->p++;
                    if (c->p >= c->e || !strchr("0123456789abcdefABCDEF", *c->p) || !*c->p)
                        return fail(c);
                }
            } else if (!strchr("\"\\/bfnrt", *c->p) || !*c->p) {
                return fail(c);
            }
        }
        c->p++;
    }
    return fail(c);
}


static int read_number(cur *c, val *v)
{
    v->p = c->p;
    if (c->p < c->e && *c->p == '-')
        c->p++;
    const char *digits = c->p;
    while (c->p < c->e && ((*c->p >= '0' && *c->p <= '9') || *c->p == '.' || *c->p == 'e' ||
                           *c->p == 'E' || *c->p == '+' || *c->p == '-'))
        c->p++;
    if (c->p == digits)
        return fail(c);
    v->e = c->p;
    v->t = 'n';
    return PE_OK;
}

static int literal(cur *c, const char *word, char t, val *v)
{
    size_t n = strlen(word);
    if ((size_t)(c->e - c->p) < n || memcmp(c->p, word, n) != 0)
        return fail(c);
    v->p = c->p;
    c->p += n;
    v->e = c->p;
    v->t = t;
    return PE_OK;
}

/* End of the string whose opening quote is at p[-1]: the closing quote, or NULL. */
static const char *string_end(const char *p, const char *e)
{
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(e - p));
        if (!q)
            return NULL;
        const char *b = q;
        while (b > p && b[-1] == '\\')
            b--;
        if (((q - b) & 1) == 0)
            return q;
        p = q + 1;
    }
}

/* Containers we do not consume are only bracket-matched (strings skipped whole): the
   fields that are used are parsed strictly by their consumers. */
static int skip_container(cur *c)
{
    int depth = 0;
    while (c->p < c->e) {
        char ch = *c->p++;
        if (ch == '"') {
            const char *q = string_end(c->p, c->e);
            if (!q)
                return fail(c);
            c->p = q + 1;
        } else if (ch == '[' || ch == '{') {
            depth++;
        } else if (ch == ']' || ch == '}') {
            if (--depth == 0)
                return PE_OK;
            if (depth < 0)
                return fail(c);
        }
    }
    return fail(c);
}

static int read_value(cur *c, val *v)
{
    ws(c);
    if (c->p >= c->e)
        return fail(c);
    char ch = *c->p;
    if (ch == '"')
        return read_string(c, v);
    if (ch == '{' || ch == '[') {
        v->p = c->p;
        if (skip_container(c))
            return PE_ERR_PARSE;
        v->e = c->p;
        v->t = ch == '{' ? 'o' : 'a';
        return PE_OK;
    }
    if (ch == 't')
        return literal(c, "true", 'b', v);
    if (ch == 'f')
        return literal(c, "false", 'b', v);
    if (ch == 'n')
        return literal(c, "null", 'z', v);
    return read_number(c, v);
}

enum { K_STREAM, K_DATA, K_LAST_UPDATE_ID, K_BIDS, K_ASKS, K_RESULT, NAMED };
static const char *const NAMES[NAMED] = {"stream", "data", "lastUpdateId", "bids", "asks", "result"};

typedef struct {
    val one['z' - 'A' + 1]; /* single-character keys (A..z), by character */
    val named[NAMED];
} fields;

/* Depth diffs dominate the feed, so their levels are parsed during the walk itself (one
   pass) when the message has Binance's key order (e, s before b, a); otherwise they are
   parsed afterwards from the located values. */
typedef struct hook hook;
static int hook_levels(hook *h, const fields *f, char key, cur *c);

/* Walk one object, remembering where each key's value is. A "data" object (the combined
   stream envelope) is walked into *sub. */
static int walk_object(cur *c, fields *f, hook *h, fields *sub)
{
    memset(f, 0, sizeof *f);
    ws(c);
    if (c->p >= c->e || *c->p != '{')
        return fail(c);
    c->p++;
    ws(c);
    if (c->p < c->e && *c->p == '}') {
        c->p++;
        return PE_OK;
    }
    for (;;) {
        val key, v;
        ws(c);
        if (read_string(c, &key))
            return PE_ERR_PARSE;
        ws(c);
        if (c->p >= c->e || *c->p != ':')
            return fail(c);
        c->p++;
        ws(c);
        size_t kn = (size_t)(key.e - key.p);
        int rc = 1;
        v.p = c->p;
        if (h && kn == 1 && (key.p[0] == 'b' || key.p[0] == 'a') && c->p < c->e && *c->p == '[') {
            rc = hook_levels(h, f, key.p[0], c);
            if (rc < 0)
                return rc;
            v.e = c->p;
            v.t = 'a';
        } else if (sub && kn == 4 && memcmp(key.p, "data", 4) == 0 && c->p < c->e && *c->p == '{') {
            if (walk_object(c, sub, h, NULL))
                return PE_ERR_PARSE;
            v.e = c->p;
            v.t = 'o';
            rc = 0;
        }
        if (rc > 0 && read_value(c, &v))
            return PE_ERR_PARSE;
        if (kn == 1 && key.p[0] >= 'A' && key.p[0] <= 'z') {
            f->one[key.p[0] - 'A'] = v;
        } else {
            for (int i = 0; i < NAMED; i++)
                if (strlen(NAMES[i]) == kn && memcmp(NAMES[i], key.p, kn) == 0)
                    f->named[i] = v;
        }
        ws(c);
        if (c->p < c->e && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->e && *c->p == '}') {
            c->p++;
            return PE_OK;
        }
        return fail(c);
    }
}

static int is(const val *v, const char *s)
{
    size_t n = strlen(s);
    return v->t == 's' && (size_t)(v->e - v->p) == n && memcmp(v->p, s, n) == 0;
}

/* Error bookkeeping: the first error wins. */
typedef struct {
    pe_msg *m;
    const char *buf;
} ctx;

static int err(ctx *x, int code, int field, const char *at)
{
    x->m->status = code;
    x->m->err_field = field;
    x->m->err_offset = at ? (int64_t)(at - x->buf) : 0;
    return code;
}

static int get_int(ctx *x, const val *v, int field, int64_t *out)
{
    if (v->t == 0)
        return err(x, PE_ERR_MISSING, field, NULL);
    if (v->t != 'n')
        return err(x, PE_ERR_TYPE, field, v->p);
    const char *p = v->p;
    int neg = 0;
    if (p < v->e && *p == '-') {
        neg = 1;
        p++;
    }
    if (p == v->e || v->e - p > 19)
        return err(x, PE_ERR_RANGE, field, v->p);
    uint64_t acc = 0;
    for (; p < v->e; p++) {
        if (*p < '0' || *p > '9')
            return err(x, PE_ERR_TYPE, field, v->p);
        acc = acc * 10 + (uint64_t)(*p - '0');
    }
    if (acc > (uint64_t)INT64_MAX)
        return err(x, PE_ERR_RANGE, field, v->p);
    *out = neg ? -(int64_t)acc : (int64_t)acc;
    return PE_OK;
}

static int get_fixed(ctx *x, const val *v, int field, int scale, int64_t *out)
{
    if (v->t == 0)
        return err(x, PE_ERR_MISSING, field, NULL);
    if (v->t != 's')
        return err(x, PE_ERR_TYPE, field, v->p);
    int rc = pe_parse_fixed(v->p, (size_t)(v->e - v->p), scale, out);
    return rc ? err(x, rc, field, v->p) : PE_OK;
}

static int get_bool(ctx *x, const val *v, int field, int32_t *out)
{
    if (v->t == 0)
        return err(x, PE_ERR_MISSING, field, NULL);
    if (v->t != 'b')
        return err(x, PE_ERR_TYPE, field, v->p);
    *out = v->p[0] == 't';
    return PE_OK;
}

static int find_symbol(pe_feed *f, const char *p, size_t n, int upper)
{
    for (int i = 0; i < f->nsym; i++) {
        if (f->sym[i].len != n)
            continue;
        size_t k = 0;
        for (; k < n; k++) {
            char ch = p[k];
            if (upper && ch >= 'a' && ch <= 'z')
                ch = (char)(ch - 'a' + 'A');
            if (ch != f->sym[i].name[k])
                break;
        }
        if (k == n)
            return i;
    }
    return -1;
}

static int get_symbol(pe_feed *f, ctx *x, const val *v)
{
    if (v->t == 0)
        return err(x, PE_ERR_MISSING, PE_FIELD_SYMBOL, NULL);
    if (v->t != 's')
        return err(x, PE_ERR_TYPE, PE_FIELD_SYMBOL, v->p);
    int i = find_symbol(f, v->p, (size_t)(v->e - v->p), 0);
    if (i < 0)
        return err(x, PE_ERR_UNKNOWN_SYMBOL, PE_FIELD_SYMBOL, v->p);
    x->m->symbol = i;
    return PE_OK;
}

static int scratch_reserve(pe_feed *f, size_t n)
{
    if (n <= f->scratch_cap)
        return PE_OK;
    size_t cap = f->scratch_cap ? f->scratch_cap : 512;
    while (cap < n)
        cap *= 2;
    int64_t *s = realloc(f->scratch, cap * sizeof(int64_t));
    if (!s)
        return PE_ERR_NOMEM;
    f->scratch = s;
    f->scratch_cap = cap;
    return PE_OK;
}

/* A level's quoted decimal, parsed in place. Returns PE_ERR_TYPE when it is not a string,
   else pe_parse_fixed's status; *at is where an error points. */
static int quoted_fixed(cur *c, int scale, int64_t *out, const char **at)
{
    *at = c->p;
    if (c->p >= c->e || *c->p != '"')
        return PE_ERR_TYPE;
    const char *p = c->p + 1;
    *at = p;
    const char *end = memchr(p, '"', (size_t)(c->e - p));
    if (!end)
        return PE_ERR_TYPE;
    c->p = end + 1;
    return pe_parse_fixed(p, (size_t)(end - p), scale, out);
}

/* Bytes a level of fast_level's shape can span, with the separator after it. */
#define FAST_LEVEL_MAX 40

/* One level in Binance's exact shape, ["<price>","<qty>"] with no spaces and decimals as
   pe_fixed_common takes them, at p with FAST_LEVEL_MAX readable bytes. Returns the end of
   the level, or NULL to leave it to the careful path (which also reports any error). */
static inline const char *fast_level(const char *p, unsigned ps, unsigned qs, int64_t *slot)
{
    size_t len;
    if (memcmp(p, "[\"", 2) != 0 || !(len = pe_fixed_common(p + 2, ps, &slot[0])) || slot[0] == 0)
        return NULL;
    p += 2 + len;
    if (memcmp(p, ",\"", 2) != 0)
        return NULL;
    if (memcmp(p + 2, "0.00000000\"]", 12) == 0) { /* about half of all levels are deletes */
        slot[1] = 0;
        return p + 14;
    }
    if (!(len = pe_fixed_common(p + 2, qs, &slot[1])))
        return NULL;
    p += 2 + len;
    return *p == ']' ? p + 1 : NULL;
}

/* Levels of fast_level's shape joined by ',', parsed into out with no per-token checks
   (out has room for every level the bytes can hold). Stops after the last level that has
   the shape and returns how many were taken, with c->p just after that level's ']'. */
static size_t fast_levels(cur *c, unsigned ps, unsigned qs, int64_t *out)
{
    const char *p = c->p, *e = c->e, *next, *done = p;
    int64_t *o = out;
    /* a level and its separator fit FAST_LEVEL_MAX bytes, so next < e here */
    while (e - p >= FAST_LEVEL_MAX) {
        if (!(next = fast_level(p, ps, qs, o)))
            goto out;
        o += 2;
        done = next;
        if (*next != ',')
            goto out;
        p = next + 1;
    }
    while (p < e) { /* near the end: from a zero-padded copy, so nothing past e is read */
        char pad[FAST_LEVEL_MAX] = {0};
        memcpy(pad, p, (size_t)(e - p));
        if (!(next = fast_level(pad, ps, qs, o)))
            break;
        o += 2;
        done = p + (next - pad);
        if (done >= e || *done != ',')
            break;
        p = done + 1;
    }
out:
    c->p = done;
    return (size_t)(o - out) / 2;
}

/* Levels of fast_level's shape are at least this long, with their separator. */
#define MIN_FAST_LEVEL 28

/* Parse [["p","q"],...] at c->p into f->scratch from pair index *n; leaves c after ']'. */
static int parse_levels(pe_feed *f, ctx *x, cur *c, int field, const pe_book *book, size_t *n)
{
    if (c->p >= c->e || *c->p != '[')
        return err(x, PE_ERR_TYPE, field, c->p);
    c->p++;
    ws(c);
    if (c->p < c->e && *c->p == ']') {
        c->p++;
        return PE_OK;
    }
    int ps = pe_book_price_scale(book), qs = pe_book_qty_scale(book);
    for (;;) {
        size_t room = (size_t)(c->e - c->p) / MIN_FAST_LEVEL + 1;
        if (2 * (*n + room) > f->scratch_cap && scratch_reserve(f, 2 * (*n + room)))
            return err(x, PE_ERR_NOMEM, field, NULL);
        int64_t *slot = f->scratch + 2 * *n;
        size_t taken = fast_levels(c, (unsigned)ps, (unsigned)qs, slot);
        if (taken) {
            *n += taken;
        } else {
            ws(c);
            if (c->p >= c->e || *c->p != '[')
                return err(x, PE_ERR_TYPE, field, c->p);
            c->p++;
            const char *at;
            ws(c);
            int rc = quoted_fixed(c, ps, &slot[0], &at);
            if (!rc && slot[0] <= 0)
                rc = PE_ERR_RANGE;
            if (rc)
                return err(x, rc, rc == PE_ERR_TYPE ? field : PE_FIELD_PRICE, at);
            ws(c);
            if (c->p >= c->e || *c->p != ',')
                return err(x, PE_ERR_TYPE, field, c->p);
            c->p++;
            ws(c);
            rc = quoted_fixed(c, qs, &slot[1], &at);
            if (rc)
                return err(x, rc, rc == PE_ERR_TYPE ? field : PE_FIELD_QTY, at);
            ws(c);
            if (c->p >= c->e || *c->p != ']')
                return err(x, PE_ERR_TYPE, field, c->p);
            c->p++;
            (*n)++;
        }
        ws(c);
        if (c->p < c->e && *c->p == ',') {
            c->p++;
            ws(c);
            continue;
        }
        if (c->p < c->e && *c->p == ']') {
            c->p++;
            return PE_OK;
        }
        return err(x, PE_ERR_PARSE, field, c->p);
    }
}

static int read_levels(pe_feed *f, ctx *x, const val *v, int field, const pe_book *book, size_t *n)
{
    if (v->t == 0)
        return err(x, PE_ERR_MISSING, field, NULL);
    if (v->t != 'a')
        return err(x, PE_ERR_TYPE, field, v->p);
    cur c = {x->buf, v->p, v->e, NULL};
    return parse_levels(f, x, &c, field, book, n);
}

struct hook {
    pe_feed *f;
    ctx *x;
    int symbol;
    int stage; /* 0: nothing parsed, 1: bids parsed, 2: bids and asks parsed, -1: not used */
    size_t n, nb;
};

/* Returns 0 when the levels were parsed here, 1 to let the walk skip them, <0 on error. */
static int hook_levels(hook *h, const fields *f, char key, cur *c)
{
    if (h->stage < 0 || (key == 'b') != (h->stage == 0) || !is(&f->one['e' - 'A'], "depthUpdate") ||
        f->one['s' - 'A'].t != 's') {
        h->stage = -1;
        return 1;
    }
    if (h->symbol < 0) {
        h->symbol = find_symbol(h->f, f->one['s' - 'A'].p, (size_t)(f->one['s' - 'A'].e - f->one['s' - 'A'].p), 0);
        if (h->symbol < 0) {
            h->stage = -1;
            return 1;
        }
    }
    const pe_book *book = h->f->sym[h->symbol].book;
    if (parse_levels(h->f, h->x, c, key == 'b' ? PE_FIELD_BIDS : PE_FIELD_ASKS, book, &h->n))
        return h->x->m->status;
    if (key == 'b')
        h->nb = h->n;
    h->stage++;
    return 0;
}

/* Apply a depth diff whose header is in x->m and whose nb bids and n - nb asks are in
   f->scratch; the book is only touched here, after every byte was parsed. */
static int apply_depth(pe_feed *f, ctx *x, size_t n, size_t nb)
{
    pe_msg *m = x->m;
    pe_book *book = f->sym[m->symbol].book;
    m->n_bids = (int32_t)nb;
    m->n_asks = (int32_t)(n - nb);
    int rc = pe_book_diff_begin(book, m->first_id, m->id);
    if (rc != PE_OK)
        return m->status = rc;
    /* parse_levels let no price <= 0 or negative quantity through */
    rc = pe_book_apply_parsed(book, PE_BID, f->scratch, nb);
    if (rc == PE_OK && n > nb)
        rc = pe_book_apply_parsed(book, PE_ASK, f->scratch + 2 * nb, n - nb);
    if (rc) {
        pe_book_invalidate(book);
        return m->status = rc;
    }
    m->status = pe_book_diff_end(book);
    /* the new top of book rides along, so a strategy needs no second call */
    if (m->status == PE_OK && (pe_book_best(book, PE_BID, &m->bid_px, &m->bid_qty) ||
                               pe_book_best(book, PE_ASK, &m->ask_px, &m->ask_qty)))
        m->bid_px = m->bid_qty = m->ask_px = m->ask_qty = 0;
    return m->status;
}

static int on_depth(pe_feed *f, ctx *x, fields *d, const hook *h)
{
    pe_msg *m = x->m;
    if (get_symbol(f, x, &d->one['s' - 'A']) || get_int(x, &d->one['E' - 'A'], PE_FIELD_EVENT_TIME, &m->event_time) ||
        get_int(x, &d->one['U' - 'A'], PE_FIELD_FIRST_ID, &m->first_id) ||
        get_int(x, &d->one['u' - 'A'], PE_FIELD_LAST_ID, &m->id))
        return m->status;
    if (m->first_id > m->id)
        return err(x, PE_ERR_RANGE, PE_FIELD_FIRST_ID, d->one['U' - 'A'].p);
    size_t n = h->n, nb = h->nb;
    if (h->stage != 2) {
        const pe_book *book = f->sym[m->symbol].book;
        n = 0;
        if (read_levels(f, x, &d->one['b' - 'A'], PE_FIELD_BIDS, book, &n))
            return m->status;
        nb = n;
        if (read_levels(f, x, &d->one['a' - 'A'], PE_FIELD_ASKS, book, &n))
            return m->status;
    }
    return apply_depth(f, x, n, nb);
}

/* The fast path for depth diffs in the exact byte layout Binance sends, raw or in the
   combined-stream envelope:
     {"stream":"<name>","data":{"e":"depthUpdate","E":<int>,"s":"<SYMBOL>","U":<int>,"u":<int>,"b":[...],"a":[...]}}
   Anything else (other key order, whitespace, extra fields, escapes, negative or 19-digit
   ids, U > u, an unknown symbol, any level error) is declined before the book is touched,
   and the general walk then gives the same result or names the error. */

/* p advanced past the literal s when p starts with it, else NULL. */
#define FAST_LIT(p, e, s) \
    ((p) && (size_t)((e) - (p)) >= sizeof(s) - 1 && memcmp((p), (s), sizeof(s) - 1) == 0 ? (p) + sizeof(s) - 1 : NULL)

#define BYTES_01 0x0101010101010101ULL
#define BYTES_80 0x8080808080808080ULL

/* Per byte of x, the high bit is set when that byte is below n (n <= 128); a borrow can
   only flag bytes above a flagged one, so the lowest flag is exact. */
static inline uint64_t bytes_below(uint64_t x, unsigned n)
{
    return (x - BYTES_01 * n) & ~x & BYTES_80;
}

/* A JSON string's bytes from p up to its closing quote, none of them an escape or a
   control character: returns the byte after the quote, else NULL. Eight bytes a step
   while eight are left. */
static inline const char *fast_plain_string(const char *p, const char *e)
{
    for (; e - p >= 8; p += 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        uint64_t stop = bytes_below(x, 0x20) | bytes_below(x ^ (BYTES_01 * '"'), 1) |
                        bytes_below(x ^ (BYTES_01 * '\\'), 1);
        if (stop) {
            p += __builtin_ctzll(stop) >> 3;
            return *p == '"' ? p + 1 : NULL;
        }
    }
    for (; p < e; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"')
            return p + 1;
        if (ch < 0x20 || ch == '\\')
            return NULL;
    }
    return NULL;
}

/* 1 to 16 digits (no sign) and a ',' at p, which has 17 readable bytes: the byte after
   the ',', else NULL. Two eight-byte loads, no loop. */
static inline const char *fast_id(const char *p, const char *e, int64_t *out)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (e - p < 17)
        return NULL;
    uint64_t hi, lo, bad;
    memcpy(&hi, p, 8);
    hi ^= ASCII_ZEROS;
    unsigned n;
    uint64_t value;
    if ((bad = nondigit_bits(hi))) {
        n = (unsigned)__builtin_ctzll(bad) >> 3;
        if (n == 0)
            return NULL;
        value = swar8(hi << (8 * (8 - n)));
    } else {
        memcpy(&lo, p + 8, 8);
        lo ^= ASCII_ZEROS;
        if (!(bad = nondigit_bits(lo)))
            return NULL;
        unsigned m = (unsigned)__builtin_ctzll(bad) >> 3;
        n = 8 + m;
        value = swar8(hi) * (uint64_t)POW10[m] + (m ? swar8(lo << (8 * (8 - m))) : 0);
    }
    if (p[n] != ',')
        return NULL;
    *out = (int64_t)value;
    return p + n + 1;
#else
    (void)p; (void)e; (void)out;
    return NULL;
#endif
}

/* Returns 1 when the frame was handled here (x->m filled as pe_feed_on_message fills it),
   0 when it was declined (the book untouched, x->m to be cleared). */
static int depth_fast(pe_feed *f, ctx *x, const char *p, const char *e)
{
    pe_msg *m = x->m;
    const char *stream = FAST_LIT(p, e, "{\"stream\":\"");
    int combined = stream != NULL;
    if (combined) {
        p = fast_plain_string(stream, e);
        p = FAST_LIT(p, e, ",\"data\":{\"e\":\"depthUpdate\",\"E\":");
    } else {
        p = FAST_LIT(p, e, "{\"e\":\"depthUpdate\",\"E\":");
    }
    if (!p || !(p = fast_id(p, e, &m->event_time)) || !(p = FAST_LIT(p, e, "\"s\":\"")))
        return 0;
    const char *sym = p;
    if (!(p = fast_plain_string(p, e)) || (m->symbol = find_symbol(f, sym, (size_t)(p - 1 - sym), 0)) < 0 ||
        !(p = FAST_LIT(p, e, ",\"U\":")) || !(p = fast_id(p, e, &m->first_id)) ||
        !(p = FAST_LIT(p, e, "\"u\":")) || !(p = fast_id(p, e, &m->id)) || m->first_id > m->id ||
        !(p = FAST_LIT(p, e, "\"b\":")))
        return 0;
    const pe_book *book = f->sym[m->symbol].book;
    cur c = {x->buf, p, e, NULL};
    size_t n = 0, nb;
    if (parse_levels(f, x, &c, PE_FIELD_BIDS, book, &n))
        return 0;
    nb = n;
    if (!(c.p = FAST_LIT(c.p, e, ",\"a\":")) || parse_levels(f, x, &c, PE_FIELD_ASKS, book, &n) ||
        !(c.p = FAST_LIT(c.p, e, "}")) || (combined && !(c.p = FAST_LIT(c.p, e, "}"))))
        return 0;
    ws(&c);
    if (c.p != e)
        return 0;
    m->kind = PE_MSG_DEPTH;
    apply_depth(f, x, n, nb);
    return 1;
}

int pe_feed_depth_fast(pe_feed *f, const char *buf, size_t len, pe_msg *out)
{
    memset(out, 0, sizeof *out);
    out->symbol = -1;
    ctx x = {out, buf};
    return depth_fast(f, &x, buf, buf + len);
}

static void bar_on_trade(sym_t *s, pe_msg *m)
{
    int64_t open_time = m->time - m->time % s->bar_ms;
    bar_t *b = &s->bar;
    if (b->trades && open_time < b->open_time)
        return; /* a late trade of a bar already closed */
    if (b->trades && open_time == b->open_time) {
        if (m->price > b->high)
            b->high = m->price;
        if (m->price < b->low)
            b->low = m->price;
        b->close = m->price;
        b->volume += m->qty;
        b->trades++;
        return;
    }
    if (b->trades) {
        m->bar_closed = 1;
        m->bar_open_time = b->open_time;
        m->bar_open = b->open;
        m->bar_high = b->high;
        m->bar_low = b->low;
        m->bar_close = b->close;
        m->bar_volume = b->volume;
        m->bar_trades = b->trades;
    }
    *b = (bar_t){open_time, m->price, m->price, m->price, m->price, m->qty, 1};
}

/* What StrategyRunner acts on: a long entry, a close, a close-all, or an exit (the
   engine's exit legs follow every strategy.exit). */
static int actionable(const pe_vm *vm)
{
    int64_t n;
    const pe_vm_intent *it = pe_vm_intents(vm, &n);
    for (int64_t i = 0; i < n; i++)
        if ((it[i].kind == PE_OP_ENTRY && it[i].dir > 0) || it[i].kind == PE_OP_CLOSE ||
            it[i].kind == PE_OP_CLOSE_ALL || it[i].kind == PE_OP_EXIT)
            return 1;
    return 0;
}

/* The symbol's VMs over the bar m closed, then the flat bars up to the bar just opened. */
static void run_vms(sym_t *s, pe_msg *m)
{
    int64_t t = m->bar_open_time;
    double o = (double)m->bar_open / s->price_div, h = (double)m->bar_high / s->price_div,
           l = (double)m->bar_low / s->price_div, c = (double)m->bar_close / s->price_div,
           v = (double)m->bar_volume / s->qty_div;
    for (;;) {
        for (int k = 0; k < s->nvm; k++) {
            int rc = pe_vm_run(s->vm[k], 1, &t, &o, &h, &l, &c, &v, NULL);
            if (rc != PE_OK) {
                m->vm_status = rc;
                m->vm_index = k;
                return;
            }
        }
        m->vm_bars++;
        t += s->bar_ms;
        if (t >= s->bar.open_time)
            break;
        o = h = l = c;
        v = 0.0;
    }
    for (int k = 0; k < s->nvm && !m->vm_act; k++)
        m->vm_act = actionable(s->vm[k]);
    if (!m->vm_act)
        for (int k = 0; k < s->nvm; k++)
            pe_vm_drop_intents(s->vm[k]);
}

static int on_trade(pe_feed *f, ctx *x, fields *d, int agg)
{
    pe_msg *m = x->m;
    if (get_symbol(f, x, &d->one['s' - 'A']))
        return m->status;
    const pe_book *book = f->sym[m->symbol].book;
    if (get_int(x, &d->one['E' - 'A'], PE_FIELD_EVENT_TIME, &m->event_time) ||
        get_int(x, &d->one[(agg ? 'a' : 't') - 'A'], PE_FIELD_TRADE_ID, &m->id) ||
        get_fixed(x, &d->one['p' - 'A'], PE_FIELD_PRICE, pe_book_price_scale(book), &m->price) ||
        get_fixed(x, &d->one['q' - 'A'], PE_FIELD_QTY, pe_book_qty_scale(book), &m->qty) ||
        get_int(x, &d->one['T' - 'A'], PE_FIELD_TRADE_TIME, &m->time) ||
        get_bool(x, &d->one['m' - 'A'], PE_FIELD_MAKER, &m->maker))
        return m->status;
    if (agg && (get_int(x, &d->one['f' - 'A'], PE_FIELD_FIRST_ID, &m->first_id) ||
                get_int(x, &d->one['l' - 'A'], PE_FIELD_LAST_ID, &m->last_id)))
        return m->status;
    if (m->time < 0 || m->price <= 0 || m->qty < 0)
        return err(x, PE_ERR_RANGE, m->time < 0 ? PE_FIELD_TRADE_TIME : m->price <= 0 ? PE_FIELD_PRICE
                                                                        : PE_FIELD_QTY, NULL);
    sym_t *sym = &f->sym[m->symbol];
    m->exit_hit = m->price <= sym->exit_lo || m->price >= sym->exit_hi;
    if (sym->bar_ms) {
        bar_on_trade(sym, m);
        if (m->bar_closed && sym->nvm)
            run_vms(sym, m);
    }
    return PE_OK;
}

static int on_book_ticker(pe_feed *f, ctx *x, fields *d)
{
    pe_msg *m = x->m;
    if (get_symbol(f, x, &d->one['s' - 'A']))
        return m->status;
    const pe_book *book = f->sym[m->symbol].book;
    int ps = pe_book_price_scale(book), qs = pe_book_qty_scale(book);
    if (get_int(x, &d->one['u' - 'A'], PE_FIELD_UPDATE_ID, &m->id) ||
        get_fixed(x, &d->one['b' - 'A'], PE_FIELD_BID_PRICE, ps, &m->bid_px) ||
        get_fixed(x, &d->one['B' - 'A'], PE_FIELD_BID_QTY, qs, &m->bid_qty) ||
        get_fixed(x, &d->one['a' - 'A'], PE_FIELD_ASK_PRICE, ps, &m->ask_px) ||
        get_fixed(x, &d->one['A' - 'A'], PE_FIELD_ASK_QTY, qs, &m->ask_qty))
        return m->status;
    if (d->one['E' - 'A'].t && get_int(x, &d->one['E' - 'A'], PE_FIELD_EVENT_TIME, &m->event_time))
        return m->status;
    return PE_OK;
}

static int interval_seconds(const val *v, int32_t *out)
{
    if (v->t != 's' || v->e - v->p < 2 || v->e - v->p > 4)
        return PE_ERR_TYPE;
    int32_t n = 0;
    const char *p = v->p;
    for (; p < v->e - 1; p++) {
        if (*p < '0' || *p > '9')
            return PE_ERR_TYPE;
        n = n * 10 + (*p - '0');
    }
    int32_t unit;
    switch (*p) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 604800; break;
    case 'M': unit = 2592000; break; /* nominal month; calendar math is Python's job */
    default: return PE_ERR_TYPE;
    }
    if (n <= 0)
        return PE_ERR_RANGE;
    *out = n * unit;
    return PE_OK;
}

static int on_kline(pe_feed *f, ctx *x, fields *d)
{
    pe_msg *m = x->m;
    if (get_symbol(f, x, &d->one['s' - 'A']) || get_int(x, &d->one['E' - 'A'], PE_FIELD_EVENT_TIME, &m->event_time))
        return m->status;
    const val *kv = &d->one['k' - 'A'];
    if (kv->t == 0)
        return err(x, PE_ERR_MISSING, PE_FIELD_KLINE, NULL);
    if (kv->t != 'o')
        return err(x, PE_ERR_TYPE, PE_FIELD_KLINE, kv->p);
    fields k;
    cur c = {x->buf, kv->p, kv->e, NULL};
    if (walk_object(&c, &k, NULL, NULL))
        return err(x, PE_ERR_PARSE, PE_FIELD_KLINE, c.err_at);
    const pe_book *book = f->sym[m->symbol].book;
    int ps = pe_book_price_scale(book), qs = pe_book_qty_scale(book);
    if (get_int(x, &k.one['t' - 'A'], PE_FIELD_OPEN_TIME, &m->time) ||
        get_int(x, &k.one['T' - 'A'], PE_FIELD_CLOSE_TIME, &m->close_time) ||
        get_int(x, &k.one['f' - 'A'], PE_FIELD_FIRST_ID, &m->first_id) ||
        get_int(x, &k.one['L' - 'A'], PE_FIELD_LAST_ID, &m->last_id) ||
        get_fixed(x, &k.one['o' - 'A'], PE_FIELD_OPEN, ps, &m->open) ||
        get_fixed(x, &k.one['h' - 'A'], PE_FIELD_HIGH, ps, &m->high) ||
        get_fixed(x, &k.one['l' - 'A'], PE_FIELD_LOW, ps, &m->low) ||
        get_fixed(x, &k.one['c' - 'A'], PE_FIELD_CLOSE, ps, &m->close) ||
        get_fixed(x, &k.one['v' - 'A'], PE_FIELD_VOLUME, qs, &m->volume) ||
        get_int(x, &k.one['n' - 'A'], PE_FIELD_TRADES, &m->trades) ||
        get_bool(x, &k.one['x' - 'A'], PE_FIELD_CLOSED, &m->maker))
        return m->status;
    if (k.one['i' - 'A'].t == 0)
        return err(x, PE_ERR_MISSING, PE_FIELD_INTERVAL, NULL);
    int rc = interval_seconds(&k.one['i' - 'A'], &m->interval_s);
    return rc ? err(x, rc, PE_FIELD_INTERVAL, k.one['i' - 'A'].p) : PE_OK;
}

pe_feed *pe_feed_new(void)
{
    return calloc(1, sizeof(pe_feed));
}

void pe_feed_free(pe_feed *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->nsym; i++)
        pe_book_free(f->sym[i].book);
    free(f->scratch);
    free(f);
}

int pe_feed_add_symbol(pe_feed *f, const char *symbol, int price_scale, int qty_scale)
{
    size_t n = strlen(symbol);
    if (n == 0 || n >= sizeof f->sym[0].name)
        return PE_ERR_ARG;
    for (size_t i = 0; i < n; i++)
        if (!((symbol[i] >= 'A' && symbol[i] <= 'Z') || (symbol[i] >= '0' && symbol[i] <= '9')))
            return PE_ERR_ARG;
    if (find_symbol(f, symbol, n, 0) >= 0)
        return PE_ERR_ARG;
    if (f->nsym == MAX_SYMBOLS)
        return PE_ERR_RANGE;
    pe_book *b = pe_book_new(price_scale, qty_scale);
    if (!b)
        return PE_ERR_ARG;
    sym_t *s = &f->sym[f->nsym];
    memcpy(s->name, symbol, n + 1);
    s->len = n;
    s->book = b;
    s->price_div = s->qty_div = 1.0;
    s->exit_lo = 0;
    s->exit_hi = INT64_MAX;
    for (int i = 0; i < price_scale; i++)
        s->price_div *= 10.0;
    for (int i = 0; i < qty_scale; i++)
        s->qty_div *= 10.0;
    return f->nsym++;
}

int pe_feed_add_vm(pe_feed *f, int symbol, struct pe_vm *vm)
{
    if (symbol < 0 || symbol >= f->nsym || !vm || f->sym[symbol].nvm == PE_FEED_MAX_VMS)
        return PE_ERR_ARG;
    sym_t *s = &f->sym[symbol];
    pe_vm_set_record_intents(vm, 1);
    s->vm[s->nvm++] = vm;
    return PE_OK;
}

int pe_feed_set_exit_band(pe_feed *f, int symbol, int64_t lo, int64_t hi)
{
    if (symbol < 0 || symbol >= f->nsym || lo < 0 || hi <= lo)
        return PE_ERR_ARG;
    f->sym[symbol].exit_lo = lo;
    f->sym[symbol].exit_hi = hi;
    return PE_OK;
}

int pe_feed_set_bar_interval(pe_feed *f, int symbol, int64_t interval_ms)
{
    if (symbol < 0 || symbol >= f->nsym || interval_ms < 0)
        return PE_ERR_ARG;
    f->sym[symbol].bar_ms = interval_ms;
    memset(&f->sym[symbol].bar, 0, sizeof(bar_t));
    return PE_OK;
}

pe_book *pe_feed_book(pe_feed *f, int index)
{
    return index >= 0 && index < f->nsym ? f->sym[index].book : NULL;
}

int pe_feed_on_message(pe_feed *f, const char *buf, size_t len, pe_msg *out)
{
    memset(out, 0, sizeof *out);
    out->symbol = -1;
    ctx x = {out, buf};
    if (depth_fast(f, &x, buf, buf + len))
        return out->status;
    memset(out, 0, sizeof *out); /* what the declined fast path filled in */
    out->symbol = -1;
    cur c = {buf, buf, buf + len, NULL};
    ws(&c);
    if (c.p < c.e && *c.p == '[') { /* array streams (e.g. !miniTicker@arr): not hot */
        val v;
        if (read_value(&c, &v))
            return err(&x, PE_ERR_PARSE, PE_FIELD_NONE, c.err_at);
        return PE_OK;
    }
    fields top, data_f, *d = &top;
    hook h = {f, &x, -1, 0, 0, 0};
    if (walk_object(&c, &top, &h, &data_f)) {
        if (out->status)  /* a level failed inside the walk: its error is already set */
            return out->status;
        return err(&x, PE_ERR_PARSE, PE_FIELD_NONE, c.err_at);
    }
    ws(&c);
    if (c.p != c.e)
        return err(&x, PE_ERR_PARSE, PE_FIELD_NONE, c.p);
    const val *stream = &top.named[K_STREAM];
    if (top.named[K_DATA].t) {
        if (stream->t != 's')
            return err(&x, stream->t ? PE_ERR_TYPE : PE_ERR_MISSING, PE_FIELD_STREAM, stream->p);
        if (top.named[K_DATA].t != 'o')
            return PE_OK; /* e.g. array payloads of !miniTicker@arr */
        d = &data_f;
    }
    const val *e = &d->one['e' - 'A'];
    if (e->t) {
        if (e->t != 's')
            return err(&x, PE_ERR_TYPE, PE_FIELD_EVENT, e->p);
        if (is(e, "depthUpdate")) {
            out->kind = PE_MSG_DEPTH;
            return on_depth(f, &x, d, &h);
        }
        if (is(e, "trade")) {
            out->kind = PE_MSG_TRADE;
            return on_trade(f, &x, d, 0);
        }
        if (is(e, "aggTrade")) {
            out->kind = PE_MSG_AGGTRADE;
            return on_trade(f, &x, d, 1);
        }
        if (is(e, "kline")) {
            out->kind = PE_MSG_KLINE;
            return on_kline(f, &x, d);
        }
        return PE_OK;
    }
    /* bookTicker has no "e" on spot: recognise it by its fields */
    if (d->one['u' - 'A'].t && d->one['s' - 'A'].t && d->one['B' - 'A'].t && d->one['A' - 'A'].t) {
        out->kind = PE_MSG_BOOKTICKER;
        return on_book_ticker(f, &x, d);
    }
    return PE_OK;
}

int pe_book_load_snapshot_json(pe_book *b, const char *buf, size_t len, size_t *err_offset)
{
    pe_msg m;
    memset(&m, 0, sizeof m);
    ctx x = {&m, buf};
    cur c = {buf, buf, buf + len, NULL};
    fields top;
    *err_offset = 0;
    pe_feed tmp;
    memset(&tmp, 0, sizeof tmp);
    int rc = PE_OK;
    int64_t lid = 0;
    size_t n = 0, nb = 0;
    if (walk_object(&c, &top, NULL, NULL)) {
        *err_offset = (size_t)(c.err_at - buf);
        return PE_ERR_PARSE;
    }
    if (get_int(&x, &top.named[K_LAST_UPDATE_ID], PE_FIELD_LAST_UPDATE_ID, &lid) ||
        read_levels(&tmp, &x, &top.named[K_BIDS], PE_FIELD_BIDS, b, &n))
        goto done;
    nb = n;
    if (read_levels(&tmp, &x, &top.named[K_ASKS], PE_FIELD_ASKS, b, &n))
        goto done;
    pe_book_snapshot_begin(b, lid);
    rc = pe_book_apply(b, PE_BID, tmp.scratch, nb);
    if (rc == PE_OK && n > nb)
        rc = pe_book_apply(b, PE_ASK, tmp.scratch + 2 * nb, n - nb);
    if (rc == PE_OK)
        rc = pe_book_snapshot_end(b);
    else
        pe_book_invalidate(b);
    free(tmp.scratch);
    return rc;
done:
    free(tmp.scratch);
    *err_offset = (size_t)m.err_offset;
    return m.status;
}

/* Receive time of a recording line, in ns (0 when it has none we know); *after: the byte
   after its digits (p when there is none). */
static int64_t line_recv_ts(const char *p, const char *e, const char **after)
{
    /* digits beyond `limit` would overflow; constants, so no division runs per digit */
    static const struct {
        char key[16];
        size_t len;
        int64_t factor, limit;
    } keys[] = {{"{\"recv_ts_ns\":", 14, 1, INT64_MAX / 10},
                {"{\"recv_ts_us\":", 14, 1000, INT64_MAX / 10 / 1000}};
    *after = p;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        size_t n = keys[k].len;
        if ((size_t)(e - p) > n && memcmp(p, keys[k].key, n) == 0) {
            int64_t v = 0;
            for (p += n; p < e && *p >= '0' && *p <= '9' && v < keys[k].limit; p++)
                v = v * 10 + (*p - '0');
            *after = p;
            return v * keys[k].factor;
        }
    }
    return 0;
}

static int stop_bit(int kind)
{
    switch (kind) {
    case PE_MSG_DEPTH: return PE_STOP_DEPTH;
    case PE_MSG_TRADE: return PE_STOP_TRADE;
    case PE_MSG_AGGTRADE: return PE_STOP_AGGTRADE;
    case PE_MSG_BOOKTICKER: return PE_STOP_BOOKTICKER;
    case PE_MSG_KLINE: return PE_STOP_KLINE;
    default: return 0;
    }
}

int pe_feed_replay(pe_feed *f, const char *buf, size_t len, size_t *consumed, pe_msg *out,
                   int stop, pe_replay_pos *pos)
{
    static const char MSG_KEY[] = "\"msg\":";
    const char *p = buf, *e = buf + len;
    pos->messages = 0;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        const char *line_end = nl ? nl : e, *next = nl ? nl + 1 : e;
        const char *q = line_end;
        while (q > p && (q[-1] == '\r' || q[-1] == ' '))
            q--;
        if (q == p) { /* blank line */
            p = next;
            continue;
        }
        const char *m = NULL, *after;
        pos->recv_ts_ns = line_recv_ts(p, q, &after);
        /* the normalised layout puts the frame right after the receive time */
        if ((size_t)(q - after) > sizeof MSG_KEY && after[0] == ',' &&
            memcmp(after + 1, MSG_KEY, sizeof MSG_KEY - 1) == 0)
            m = after + sizeof MSG_KEY;
        for (const char *s = p; !m && s + sizeof MSG_KEY - 1 <= q; s++) {
            s = memchr(s, '"', (size_t)(q - s));
            if (!s)
                break;
            if ((size_t)(q - s) >= sizeof MSG_KEY - 1 && memcmp(s, MSG_KEY, sizeof MSG_KEY - 1) == 0) {
                m = s + sizeof MSG_KEY - 1;
                break;
            }
        }
        *consumed = (size_t)(next - buf);
        if (!m || q[-1] != '}' || q - 1 <= m) {
            memset(out, 0, sizeof *out);
            out->symbol = -1;
            out->status = PE_ERR_PARSE;
            out->err_offset = (int64_t)(p - buf);
            pos->frame_offset = (int64_t)(p - buf);
            pos->frame_len = (int64_t)(q - p);
            return 1;
        }
        const char *frame = m, *frame_end = q - 1; /* drop the wrapper's closing brace */
        while (frame < frame_end && *frame == ' ')
            frame++;
        pos->frame_offset = (int64_t)(frame - buf);
        pos->frame_len = (int64_t)(frame_end - frame);
        if ((size_t)(frame_end - frame) > 15 && memcmp(frame, "{\"lastUpdateId\"", 15) == 0) {
            memset(out, 0, sizeof *out);
            out->symbol = -1;
            out->kind = PE_MSG_SNAPSHOT;
            return 1;
        }
        int rc = pe_feed_on_message(f, frame, (size_t)(frame_end - frame), out);
        pos->messages++;
        if (rc < 0 || (stop & stop_bit(out->kind)) || ((stop & PE_STOP_BAR) && out->bar_closed) ||
            ((stop & PE_STOP_EXIT) && out->exit_hit))
            return 1;
        p = next;
    }
    *consumed = (size_t)(p - buf);
    return 0;
}
