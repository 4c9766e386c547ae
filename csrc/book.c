#include <stdlib.h>
#include <string.h>
#include "book.h"

/* Each side is a list of sorted blocks of at most BLOCK levels, ordered from the worst
   price to the best, so the best level is the last entry of the last block. An update
   moves at most one block's worth of bytes, wherever the level is, and reading the top of
   book touches one cache line. Keys are prices for bids and negated prices for asks, so
   both sides ascend towards the best price. */
#define BLOCK 256

typedef struct {
    int64_t key;
    int64_t qty;
} level;

typedef struct {
    int n;
    level lv[BLOCK + 4]; /* + sentinels above the last level while merging */
} block;

typedef struct {
    block **blk;
    int64_t *fence; /* fence[i]: the last key of blk[i], so a search touches only one block */
    int nblk, cap;
    int n; /* levels */
} side_t;

struct pe_book {
    side_t side[2];
    int price_scale, qty_scale;
    int state;
    int64_t last_id;
};

/* Branch-free (side is PE_BID 0 or PE_ASK 1): px for bids, ~px + 1 = -px for asks. */
static inline int64_t key_of(int side, int64_t px) { return (px ^ -(int64_t)side) + side; }
static inline int64_t px_of(int side, int64_t key) { return key_of(side, key); }

pe_book *pe_book_new(int price_scale, int qty_scale)
{
    if (price_scale < 0 || price_scale > 18 || qty_scale < 0 || qty_scale > 18)
        return NULL;
    pe_book *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->price_scale = price_scale;
    b->qty_scale = qty_scale;
    return b;
}

static void side_clear(side_t *s)
{
    for (int i = 0; i < s->nblk; i++)
        free(s->blk[i]);
    s->nblk = 0;
    s->n = 0;
}

void pe_book_free(pe_book *b)
{
    if (!b)
        return;
    for (int i = 0; i < 2; i++) {
        side_clear(&b->side[i]);
        free(b->side[i].blk);
        free(b->side[i].fence);
    }
    free(b);
}

int pe_book_price_scale(const pe_book *b) { return b->price_scale; }
int pe_book_qty_scale(const pe_book *b) { return b->qty_scale; }
int pe_book_state(const pe_book *b) { return b->state; }
int64_t pe_book_last_update_id(const pe_book *b) { return b->last_id; }
void pe_book_invalidate(pe_book *b) { b->state = PE_BOOK_OUT_OF_SYNC; }

/* The first index in the block whose key >= key. Branch-free: the comparisons are
   unpredictable, and a mispredicted branch costs more than the conditional move. */
static int find_in_block(const block *bl, int64_t key)
{
    int n = bl->n;
    if (n == 0)
        return 0;
    const level *base = bl->lv;
    while (n > 1) {
        int half = n / 2;
        base = base[half - 1].key < key ? base + half : base;
        n -= half;
    }
    return (int)(base - bl->lv) + (base->key < key);
}

static int insert_block(side_t *s, int at)
{
    if (s->nblk == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        block **nb = realloc(s->blk, (size_t)cap * sizeof *nb);
        if (!nb)
            return PE_ERR_NOMEM;
        s->blk = nb;
        int64_t *nf = realloc(s->fence, (size_t)cap * sizeof *nf);
        if (!nf)
            return PE_ERR_NOMEM;
        s->fence = nf;
        s->cap = cap;
    }
    block *bl = malloc(sizeof *bl);
    if (!bl)
        return PE_ERR_NOMEM;
    bl->n = 0;
    memmove(&s->blk[at + 1], &s->blk[at], (size_t)(s->nblk - at) * sizeof *s->blk);
    memmove(&s->fence[at + 1], &s->fence[at], (size_t)(s->nblk - at) * sizeof *s->fence);
    s->blk[at] = bl;
    s->nblk++;
    return PE_OK;
}

/* The updates of one diff side arrive best price first, i.e. with descending keys, so they
   are applied block by block from the top of the side down: each touched block is merged
   with all of its updates in one pass (one search, one move of its tail), instead of a
   search and a memmove per level. */
#define MERGE_MAX BLOCK /* updates merged into a block at once: bounds the stack buffer */

static void remove_block(side_t *s, int bi)
{
    free(s->blk[bi]);
    memmove(&s->blk[bi], &s->blk[bi + 1], (size_t)(s->nblk - bi - 1) * sizeof *s->blk);
    memmove(&s->fence[bi], &s->fence[bi + 1], (size_t)(s->nblk - bi - 1) * sizeof *s->fence);
    s->nblk--;
}

/* Spread lv[0..total) (more than BLOCK levels) over block bi and new blocks after it,
   each about 3/4 full so the next inserts do not split again at once. Returns the index of
   the last of those blocks, or an error. */
static int split_block(side_t *s, int bi, const level *lv, int total)
{
    int parts = (total + BLOCK * 3 / 4 - 1) / (BLOCK * 3 / 4);
    for (int k = 1; k < parts; k++)
        if (insert_block(s, bi + k)) {
            while (--k >= 1) /* leave the side as it was */
                remove_block(s, bi + k);
            return PE_ERR_NOMEM;
        }
    for (int k = 0, from = 0; k < parts; k++) {
        int size = total / parts + (k < total % parts);
        block *bl = s->blk[bi + k];
        memcpy(bl->lv, lv + from, (size_t)size * sizeof(level));
        bl->n = size;
        s->fence[bi + k] = bl->lv[size - 1].key;
        from += size;
    }
    return bi + parts - 1;
}

/* Merge updates u[0..g) (px, qty pairs, keys strictly descending, all above the fence of
   block bi - 1 and below the first key of block bi + 1) into block bi. Returns the index
   of the highest block now holding that key range's lower part (where the search for the
   next, lower, key starts), or an error. */
static int merge_block(side_t *s, int side, int bi, const int64_t *u, int g)
{
    block *bl = s->blk[bi];
    int n = bl->n;
    int start = find_in_block(bl, key_of(side, u[2 * (g - 1)])); /* levels below stay put */
    level tmp[BLOCK + MERGE_MAX + 3], *out = tmp; /* + room for the last three-level copy */
    const level *in = bl->lv + start;
    for (int k = 0; k < 4; k++) /* above every key: end the scans below, which look 3 ahead */
        bl->lv[n + k].key = INT64_MAX;
    for (int j = g - 1; j >= 0; j--) { /* ascending keys */
        int64_t key = key_of(side, u[2 * j]), qty = u[2 * j + 1];
        /* untouched levels move four at a time while four are below the key, then the
           (at most three) others without a branch: three are copied, the cursors advance
           by the count below the key */
        while (in[3].key < key) {
            memcpy(out, in, 4 * sizeof(level));
            in += 4;
            out += 4;
        }
        int r = (in[0].key < key) + (in[1].key < key) + (in[2].key < key);
        memcpy(out, in, 3 * sizeof(level));
        in += r;
        out += r;
        in += in->key == key; /* the update replaces or deletes it */
        out->key = key;
        out->qty = qty;
        out += qty != 0;
    }
    int m = (int)(out - tmp), i = (int)(in - bl->lv);
    int rest = n - i, total = start + m + rest;
    if (total > BLOCK) { /* rare: gather the whole content, then split */
        memcpy(tmp + m, bl->lv + i, (size_t)rest * sizeof(level));
        memmove(tmp + start, tmp, (size_t)(m + rest) * sizeof(level));
        memcpy(tmp, bl->lv, (size_t)start * sizeof(level));
        int top = split_block(s, bi, tmp, total);
        if (top >= 0)
            s->n += total - n;
        return top;
    }
    s->n += total - n;
    memmove(bl->lv + start + m, bl->lv + i, (size_t)rest * sizeof(level));
    memcpy(bl->lv + start, tmp, (size_t)m * sizeof(level));
    bl->n = total;
    if (total == 0) {
        remove_block(s, bi);
        return bi > 0 ? bi - 1 : 0;
    }
    s->fence[bi] = bl->lv[total - 1].key;
    /* a nearly empty block joins the one below when that has room, so deletes cannot leave
       a long tail of tiny blocks for every search to walk */
    if (bi > 0 && total < BLOCK / 4 && s->blk[bi - 1]->n + total <= BLOCK * 3 / 4) {
        block *lo = s->blk[bi - 1];
        memcpy(lo->lv + lo->n, bl->lv, (size_t)total * sizeof(level));
        lo->n += total;
        s->fence[bi - 1] = s->fence[bi];
        remove_block(s, bi);
        return bi - 1;
    }
    return bi;
}

/* Apply levels (px, qty pairs) whose keys strictly descend. */
static int side_apply_run(side_t *s, int side, const int64_t *u, size_t n)
{
    int bi = s->nblk - 1;
    for (size_t j = 0; j < n;) {
        if (s->nblk == 0) {
            if (insert_block(s, 0))
                return PE_ERR_NOMEM;
            bi = 0;
        }
        int64_t key = key_of(side, u[2 * j]);
        while (bi > 0 && s->fence[bi - 1] >= key)
            bi--;
        int g = 1, most = n - j < MERGE_MAX ? (int)(n - j) : MERGE_MAX;
        if (bi > 0) {
            /* the group ends at the first key <= floor: keys descend, so probe 1, 2, 4, ...
               ahead, then halve the last step (one probe when it is a single update) */
            int64_t floor = s->fence[bi - 1];
            const int64_t *next = u + 2 * j;
            int step = 1;
            while (g + step - 1 < most && key_of(side, next[2 * (g + step - 1)]) > floor) {
                g += step;
                step *= 2;
            }
            int hi = g + step - 1 < most ? g + step - 1 : most;
            while (g < hi) {
                int mid = (g + hi) / 2;
                if (key_of(side, next[2 * mid]) > floor)
                    g = mid + 1;
                else
                    hi = mid;
            }
        } else {
            g = most;
        }
        bi = merge_block(s, side, bi, u + 2 * j, g);
        if (bi < 0)
            return bi;
        j += (size_t)g;
    }
    return PE_OK;
}

/* A level list that is not sorted is applied as consecutive sorted runs, which gives the
   same book as applying its levels one by one. */
static int apply_runs(pe_book *b, int side, const int64_t *levels, size_t n, int sorted)
{
    for (size_t i = 0, end = n; i < n; i = end) {
        if (!sorted)
            for (end = i + 1; end < n && key_of(side, levels[2 * end]) < key_of(side, levels[2 * end - 2]); end++)
                ;
        int rc = side_apply_run(&b->side[side], side, levels + 2 * i, end - i);
        if (rc) {
            b->state = PE_BOOK_OUT_OF_SYNC;
            return rc;
        }
    }
    return PE_OK;
}

int pe_book_apply(pe_book *b, int side, const int64_t *levels, size_t n)
{
    if (side != PE_BID && side != PE_ASK)
        return PE_ERR_ARG;
    /* one branch-free pass: every price in 1..INT64_MAX-1 and quantity >= 0, and whether
       the keys strictly descend (the usual case: one run). As unsigned words, px - 1 has
       its top bit set for px <= 0 except INT64_MIN, px + 1 for INT64_MIN and INT64_MAX,
       and a quantity for a negative one. */
    uint64_t bad = 0, unsorted = 0;
    int64_t prev = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        uint64_t px = (uint64_t)levels[2 * i];
        int64_t key = key_of(side, levels[2 * i]);
        bad |= (px - 1) | (px + 1) | (uint64_t)levels[2 * i + 1];
        unsorted |= key >= prev;
        prev = key;
    }
    if (bad >> 63)
        return PE_ERR_ARG;
    return apply_runs(b, side, levels, n, !unsorted);
}

int pe_book_apply_parsed(pe_book *b, int side, const int64_t *levels, size_t n)
{
    /* prices in px order, which for asks is the reverse of key order: one compare a level,
       and the loop stops at the first level out of order */
    size_t i = 1;
    if (side == PE_BID)
        while (i < n && levels[2 * i] < levels[2 * i - 2])
            i++;
    else
        while (i < n && levels[2 * i] > levels[2 * i - 2])
            i++;
    return apply_runs(b, side, levels, n, i >= n);
}

int pe_book_set_level(pe_book *b, int side, int64_t px, int64_t qty)
{
    int64_t level[2] = {px, qty};
    return pe_book_apply(b, side, level, 1);
}

/* Visit levels from the best outwards. */
typedef struct {
    const side_t *s;
    int bi, i;
} walk_t;

static walk_t walk_begin(const side_t *s)
{
    walk_t w = {s, s->nblk - 1, s->nblk ? s->blk[s->nblk - 1]->n - 1 : -1};
    return w;
}

static const level *walk_next(walk_t *w)
{
    if (w->bi < 0)
        return NULL;
    const level *l = &w->s->blk[w->bi]->lv[w->i];
    if (--w->i < 0 && --w->bi >= 0)
        w->i = w->s->blk[w->bi]->n - 1;
    return l;
}

static const level *best_level(const side_t *s)
{
    return s->nblk ? &s->blk[s->nblk - 1]->lv[s->blk[s->nblk - 1]->n - 1] : NULL;
}

static int crossed(const pe_book *b)
{
    const level *bid = best_level(&b->side[PE_BID]), *ask = best_level(&b->side[PE_ASK]);
    return bid && ask && bid->key >= -ask->key;
}

void pe_book_snapshot_begin(pe_book *b, int64_t last_update_id)
{
    side_clear(&b->side[0]);
    side_clear(&b->side[1]);
    b->last_id = last_update_id;
    b->state = PE_BOOK_EMPTY;
}

int pe_book_snapshot_level(pe_book *b, int side, int64_t px, int64_t qty)
{
    return pe_book_set_level(b, side, px, qty);
}

int pe_book_snapshot_end(pe_book *b)
{
    if (crossed(b)) {
        b->state = PE_BOOK_OUT_OF_SYNC;
        return PE_ERR_CROSSED;
    }
    b->state = PE_BOOK_WAIT_FIRST;
    return PE_OK;
}

int pe_book_diff_begin(pe_book *b, int64_t first_id, int64_t last_id)
{
    if (first_id > last_id)
        return PE_ERR_ARG;
    switch (b->state) {
    case PE_BOOK_EMPTY:
        return PE_ERR_NO_SNAPSHOT;
    case PE_BOOK_OUT_OF_SYNC:
        return PE_ERR_OUT_OF_SYNC;
    case PE_BOOK_WAIT_FIRST:
        if (last_id <= b->last_id)
            return PE_STALE;
        if (first_id > b->last_id + 1) {
            b->state = PE_BOOK_OUT_OF_SYNC;
            return PE_ERR_GAP;
        }
        break;
    default: /* SYNCED */
        if (last_id <= b->last_id)
            return PE_STALE;
        if (first_id != b->last_id + 1) {
            b->state = PE_BOOK_OUT_OF_SYNC;
            return PE_ERR_GAP;
        }
    }
    b->last_id = last_id;
    b->state = PE_BOOK_SYNCED;
    return PE_OK;
}

int pe_book_diff_end(pe_book *b)
{
    if (b->state != PE_BOOK_SYNCED)
        return PE_ERR_OUT_OF_SYNC;
    if (crossed(b)) {
        b->state = PE_BOOK_OUT_OF_SYNC;
        return PE_ERR_CROSSED;
    }
    return PE_OK;
}

int pe_book_readable(const pe_book *b)
{
    switch (b->state) {
    case PE_BOOK_SYNCED:
        return PE_OK;
    case PE_BOOK_EMPTY:
    case PE_BOOK_WAIT_FIRST:
        return PE_ERR_NO_SNAPSHOT;
    default:
        return PE_ERR_OUT_OF_SYNC;
    }
}

int pe_book_best(const pe_book *b, int side, int64_t *px, int64_t *qty)
{
    int rc = pe_book_readable(b);
    if (rc)
        return rc;
    if (side != PE_BID && side != PE_ASK)
        return PE_ERR_ARG;
    const level *l = best_level(&b->side[side]);
    if (!l)
        return PE_ERR_EMPTY;
    *px = px_of(side, l->key);
    *qty = l->qty;
    return PE_OK;
}

int pe_book_top(const pe_book *b, int side, int n, int64_t *px, int64_t *qty)
{
    int rc = pe_book_readable(b);
    if (rc)
        return rc;
    if ((side != PE_BID && side != PE_ASK) || n < 0)
        return PE_ERR_ARG;
    walk_t w = walk_begin(&b->side[side]);
    const level *l;
    int k = 0;
    while (k < n && (l = walk_next(&w))) {
        px[k] = px_of(side, l->key);
        qty[k++] = l->qty;
    }
    return k;
}

int pe_book_level_count(const pe_book *b, int side)
{
    if (side != PE_BID && side != PE_ASK)
        return PE_ERR_ARG;
    return b->side[side].n;
}

static int best_prices(const pe_book *b, int64_t *bid, int64_t *ask)
{
    int64_t qty;
    int rc = pe_book_best(b, PE_BID, bid, &qty);
    return rc == PE_OK ? pe_book_best(b, PE_ASK, ask, &qty) : rc;
}

int pe_book_spread(const pe_book *b, int64_t *spread)
{
    int64_t bid, ask;
    int rc = best_prices(b, &bid, &ask);
    if (rc == PE_OK)
        *spread = ask - bid;
    return rc;
}

int pe_book_mid_x2(const pe_book *b, int64_t *mid_x2)
{
    int64_t bid, ask;
    int rc = best_prices(b, &bid, &ask);
    if (rc == PE_OK)
        *mid_x2 = ask + bid;
    return rc;
}

int pe_book_depth_to(const pe_book *b, int side, int64_t px, int64_t *qty)
{
    int rc = pe_book_readable(b);
    if (rc)
        return rc;
    if (side != PE_BID && side != PE_ASK)
        return PE_ERR_ARG;
    int64_t limit = key_of(side, px), total = 0;
    walk_t w = walk_begin(&b->side[side]);
    const level *l;
    while ((l = walk_next(&w)) && l->key >= limit) {
        if (total > INT64_MAX - l->qty)
            return PE_ERR_RANGE;
        total += l->qty;
    }
    *qty = total;
    return PE_OK;
}

int pe_book_impact(const pe_book *b, int side, int64_t qty, int64_t *filled,
                   int64_t *notional, int64_t *worst_px)
{
    int rc = pe_book_readable(b);
    if (rc)
        return rc;
    if ((side != PE_BID && side != PE_ASK) || qty <= 0)
        return PE_ERR_ARG;
    if (!b->side[side].n)
        return PE_ERR_EMPTY;
    __int128 sum = 0;
    int64_t left = qty, worst = 0;
    walk_t w = walk_begin(&b->side[side]);
    const level *l;
    while (left > 0 && (l = walk_next(&w))) {
        int64_t take = l->qty < left ? l->qty : left;
        worst = px_of(side, l->key);
        sum += (__int128)take * worst;
        left -= take;
    }
    if (sum > INT64_MAX)
        return PE_ERR_RANGE;
    *filled = qty - left;
    *notional = (int64_t)sum;
    *worst_px = worst;
    return PE_OK;
}

size_t pe_book_memory(const pe_book *b)
{
    size_t total = sizeof *b;
    for (int i = 0; i < 2; i++)
        total += (size_t)b->side[i].cap * (sizeof(block *) + sizeof(int64_t)) +
                 (size_t)b->side[i].nblk * sizeof(block);
    return total;
}
