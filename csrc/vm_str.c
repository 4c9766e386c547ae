/* Strings of the VM: the program's table plus strings made at run time (concatenation,
   str.tostring), interned so that equal strings have equal indexes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vm_internal.h"

#define MAX_STRINGS 10000000
#define MAX_STRING_LEN 4096

static uint64_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ULL;  /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

static int rehash(pe_vm *vm, int64_t cap) {
    int32_t *t = calloc((size_t)cap, sizeof(int32_t));
    if (!t) return PE_ERR_NOMEM;
    for (int32_t i = 0; i < vm->n_str; i++) {
        uint64_t h = hash_bytes(vm->str[i], strlen(vm->str[i])) & (uint64_t)(cap - 1);
        while (t[h]) h = (h + 1) & (uint64_t)(cap - 1);
        t[h] = i + 1;
    }
    free(vm->str_hash);
    vm->str_hash = t;
    vm->hash_cap = cap;
    return PE_OK;
}

/* Index of the string (added if new), or -1 when out of memory or limits. */
int32_t pe_str_intern(pe_vm *vm, const char *s, size_t len) {
    if (len > MAX_STRING_LEN) len = MAX_STRING_LEN;
    if ((int64_t)(vm->n_str + 1) * 2 > vm->hash_cap &&
        rehash(vm, vm->hash_cap ? vm->hash_cap * 2 : 64) != PE_OK)
        return -1;
    uint64_t mask = (uint64_t)(vm->hash_cap - 1), h = hash_bytes(s, len) & mask;
    while (vm->str_hash[h]) {
        const char *t = vm->str[vm->str_hash[h] - 1];
        if (strlen(t) == len && memcmp(t, s, len) == 0) return vm->str_hash[h] - 1;
        h = (h + 1) & mask;
    }
    if (vm->n_str >= MAX_STRINGS) return -1;
    if (vm->n_str == vm->cap_str) {
        int32_t nc = vm->cap_str ? vm->cap_str * 2 : 64;
        char **p = realloc(vm->str, sizeof(char *) * (size_t)nc);
        if (!p) return -1;
        vm->str = p;
        vm->cap_str = nc;
    }
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, s, len);
    copy[len] = 0;
    vm->str[vm->n_str] = copy;
    vm->str_hash[h] = vm->n_str + 1;
    return vm->n_str++;
}

int pe_vm_set_strings(pe_vm *vm, const char *blob, int64_t len) {
    if (vm->n_str != 0) return PE_ERR_ARG;
    int64_t pos = 0;
    for (int32_t i = 0; i < vm->cfg.n_strings; i++) {
        const char *end = pos < len ? memchr(blob + pos, 0, (size_t)(len - pos)) : NULL;
        if (!end) return PE_VM_ERR_STRINGS;
        size_t n = (size_t)(end - (blob + pos));
        /* the table is unique by construction; a duplicate would break index identity */
        if (pe_str_intern(vm, blob + pos, n) != i) return PE_VM_ERR_STRINGS;
        pos += (int64_t)n + 1;
    }
    return PE_OK;
}

const char *pe_vm_string(const pe_vm *vm, int32_t i) {
    return i >= 0 && i < vm->n_str ? vm->str[i] : NULL;
}

int32_t pe_vm_string_count(const pe_vm *vm) { return vm->n_str; }

void pe_str_free(pe_vm *vm) {
    for (int32_t i = 0; i < vm->n_str; i++) free(vm->str[i]);
    free(vm->str);
    free(vm->str_hash);
}

/* Pine's str.tostring: integral values without decimals, others with up to 10 decimals
   (trailing zeros removed), or the requested format. */
int pe_str_format(pe_vm *vm, double x, int fmt, double decimals, double *out) {
    char buf[64];
    int n;
    if (fmt == PE_F_BOOL) {
        n = snprintf(buf, sizeof buf, "%s", x != 0 && x == x ? "true" : "false");
    } else if (x != x) {
        n = snprintf(buf, sizeof buf, "NaN");
    } else {
        int dec = 10, strip = 1;
        const char *suffix = "";
        if (fmt == PE_F_MAXDEC) dec = (int)decimals;
        else if (fmt == PE_F_FIXED) { dec = (int)decimals; strip = 0; }
        else if (fmt == PE_F_PERCENT) { dec = 2; strip = 0; suffix = "%"; }
        else if (fmt == PE_F_MINTICK) {
            dec = 0;
            for (double t = vm->cfg.mintick; dec < 10 && t > 0 && fabs(t - floor(t + 0.5)) > 1e-9;
                 t *= 10)
                dec++;
            strip = 0;
        }
        if (dec < 0) dec = 0;
        if (dec > 15) dec = 15;
        if (fabs(x) >= 1e17) dec = 0;
        /* half away from zero, as Pine rounds, not the binary value's nearest */
        double p = pow(10.0, dec), r = x < 0 ? -floor(-x * p + 0.5) / p : floor(x * p + 0.5) / p;
        n = snprintf(buf, sizeof buf, "%.*f", dec, r);
        if (strip && dec > 0 && n > 0) {
            while (n > 0 && buf[n - 1] == '0') buf[--n] = 0;
            if (n > 0 && buf[n - 1] == '.') buf[--n] = 0;
        }
        if (n > 2 && strcmp(buf, "-0") == 0) { buf[0] = '0'; buf[1] = 0; n = 1; }
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s", suffix);
    }
    int32_t i = pe_str_intern(vm, buf, (size_t)n);
    if (i < 0) return PE_ERR_NOMEM;
    *out = i;
    return PE_OK;
}

int pe_str_concat(pe_vm *vm, double a, double b, double *out) {
    if (a != a || b != b || a < 0 || b < 0 || a >= vm->n_str || b >= vm->n_str) {
        *out = NAN;
        return PE_OK;
    }
    const char *x = vm->str[(int32_t)a], *y = vm->str[(int32_t)b];
    size_t lx = strlen(x), ly = strlen(y);
    if (lx + ly > MAX_STRING_LEN) ly = MAX_STRING_LEN > lx ? MAX_STRING_LEN - lx : 0;
    char buf[MAX_STRING_LEN + 1];
    memcpy(buf, x, lx);
    memcpy(buf + lx, y, ly);
    int32_t i = pe_str_intern(vm, buf, lx + ly);
    if (i < 0) return PE_ERR_NOMEM;
    *out = i;
    return PE_OK;
}
