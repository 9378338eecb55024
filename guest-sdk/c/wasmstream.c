/*
 * wasmstream.c: the C guest SDK's implementation (see wasmstream.h). Compile
 * it with the operator. It holds the module's exports, the host imports (or
 * their native stand-ins), and a hand-written frame codec: records are
 * decoded in place, without copying, and output is encoded straight into
 * one reused buffer. The common canonical encodings take short inline
 * paths; every other valid encoding takes a slower one; anything else is an
 * error worded, with its byte offset, exactly as the host's reader words
 * it.
 */
#include "wasmstream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define INLINE static inline __attribute__((always_inline))
#define COLD __attribute__((cold, noinline))

enum { MAX_DEPTH = 32, MIN_ALLOC = 64 << 10, FRAME_HEADER_LEN = 6 };

/* ---- host functions ---------------------------------------------------- */

#ifdef __wasm__
__attribute__((import_module("wasmstream"), import_name("set_error"))) extern void host_set_error(const void *ptr,
                                                                                                   size_t len);
__attribute__((import_module("wasmstream"), import_name("log"))) extern void host_log(int32_t level, const void *ptr,
                                                                                       size_t len);
__attribute__((import_module("wasmstream"), import_name("metric_add"))) extern void host_metric_add(const void *name,
                                                                                                     size_t name_len,
                                                                                                     int64_t delta);
#else
/* Native stand-ins: log lines go to standard error and to a buffer that
 * wasmstream_test_logs returns; counters to a list. */
static char *log_buf;
static size_t log_len, log_cap;

static void host_log(int32_t level, const void *ptr, size_t len) {
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    const char *name = level >= 0 && level <= 3 ? names[level] : "LOG";
    fprintf(stderr, "wasmstream %s: %.*s\n", name, (int)len, (const char *)ptr);
    size_t need = strlen(name) + 2 + len + 2;
    if (log_cap - log_len < need) {
        size_t cap = 2 * log_cap > log_len + need ? 2 * log_cap : log_len + need + 256;
        char *b = realloc(log_buf, cap);
        if (!b) return;
        log_buf = b, log_cap = cap;
    }
    log_len += (size_t)sprintf(log_buf + log_len, "%s: ", name);
    memcpy(log_buf + log_len, ptr, len);
    log_len += len;
    log_buf[log_len++] = '\n';
    log_buf[log_len] = 0;
}

const char *wasmstream_test_logs(void) { return log_buf ? log_buf : ""; }

struct metric {
    char *name;
    int64_t value;
    struct metric *next;
};
static struct metric *metrics;

static void host_metric_add(const void *name, size_t len, int64_t delta) {
    for (struct metric *m = metrics; m; m = m->next)
        if (strlen(m->name) == len && memcmp(m->name, name, len) == 0) {
            m->value += delta;
            return;
        }
    struct metric *m = malloc(sizeof *m);
    if (!m || !(m->name = malloc(len + 1))) {
        free(m);
        return;
    }
    memcpy(m->name, name, len);
    m->name[len] = 0;
    m->value = delta, m->next = metrics, metrics = m;
}

int64_t wasmstream_test_metric(const char *name) {
    for (struct metric *m = metrics; m; m = m->next)
        if (strcmp(m->name, name) == 0) return m->value;
    return 0;
}
#endif

void wasmstream_log_bytes(int level, const void *msg, size_t len) { host_log(level, msg, len); }
void wasmstream_log(int level, const char *msg) { host_log(level, msg, strlen(msg)); }
void wasmstream_count(const char *name, int64_t delta) { host_metric_add(name, strlen(name), delta); }

void wasmstream_logf(int level, const char *fmt, ...) {
    char small[256];
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof small) {
        host_log(level, small, (size_t)n);
    } else if (n >= 0) {
        char *big = malloc((size_t)n + 1);
        if (big) {
            vsnprintf(big, (size_t)n + 1, fmt, ap2);
            host_log(level, big, (size_t)n);
            free(big);
        }
    }
    va_end(ap2);
}

/* ---- the error of the current call ------------------------------------ */

static char *err_buf;
static size_t err_len, err_cap;
static bool err_set;
static const char oom_msg[] = "wasmstream: out of memory";

static char *err_room(size_t n) {
    if (err_cap < n + 1) {
        char *b = malloc(n + 1);
        if (!b) return NULL;
        free(err_buf);
        err_buf = b, err_cap = n + 1;
    }
    return err_buf;
}

static void set_message(const void *msg, size_t len) {
    err_set = true;
    if (!err_room(len)) {
        msg = oom_msg, len = sizeof oom_msg - 1;
        if (!err_room(len)) return;
    }
    memmove(err_buf, msg, len);
    err_buf[len] = 0;
    err_len = len;
}

static void vset_message(const char *fmt, va_list ap) {
    char small[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        set_message("wasmstream: invalid error format", 32);
    } else if ((size_t)n < sizeof small) {
        set_message(small, (size_t)n);
    } else if (err_room((size_t)n)) {
        vsnprintf(err_buf, (size_t)n + 1, fmt, ap2);
        err_len = (size_t)n, err_set = true;
    } else {
        set_message(oom_msg, sizeof oom_msg - 1);
    }
    va_end(ap2);
}

int wasmstream_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset_message(fmt, ap);
    va_end(ap);
    return WASMSTREAM_ERR;
}

int wasmstream_error_bytes(const void *msg, size_t len) {
    set_message(msg, len);
    return WASMSTREAM_ERR;
}

const char *wasmstream_last_error(void) { return err_set && err_buf ? err_buf : ""; }

/* ---- decoding ---------------------------------------------------------- */

typedef struct {
    uint8_t *base;
    size_t len, off;
    uint32_t left, count, total, gen;
    const char *what; /* "decoding input batch" */
} reader;

INLINE uint64_t be(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

static COLD int fail(reader *r, size_t off, const char *fmt, ...) {
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    r->left = 0;
    return wasmstream_error("%s: malformed frame at byte %zu: %s", r->what, off, reason);
}

static COLD int need_fail(reader *r, size_t n) {
    return fail(r, r->off, "need %zu bytes, %zu left", n, r->len - r->off);
}
#define NEED(r, n)                                                  \
    do {                                                            \
        if (UNLIKELY((r)->len - (r)->off < (n))) return need_fail((r), (n)); \
    } while (0)

static const char *type_name(uint8_t c) {
    if (c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3)) return "an integer";
    if ((c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf) return "a map";
    if ((c >= 0x90 && c <= 0x9f) || c == 0xdc || c == 0xdd) return "an array";
    if ((c >= 0xa0 && c <= 0xbf) || (c >= 0xd9 && c <= 0xdb)) return "a string";
    if (c == 0xc0) return "nil";
    if (c == 0xc2 || c == 0xc3) return "a boolean";
    if (c >= 0xc4 && c <= 0xc6) return "bin";
    if (c == 0xca || c == 0xcb) return "a float";
    if (c == 0xc1) return "the unused byte 0xc1";
    return "an extension";
}

static int array_header(reader *r, uint32_t *n) {
    NEED(r, 1);
    uint8_t c = r->base[r->off];
    if (c >= 0x90 && c <= 0x9f) {
        *n = c & 0x0f, r->off += 1;
    } else if (c == 0xdc) {
        NEED(r, 3);
        *n = (uint32_t)be(r->base + r->off + 1, 2), r->off += 3;
    } else if (c == 0xdd) {
        NEED(r, 5);
        *n = (uint32_t)be(r->base + r->off + 1, 4), r->off += 5;
    } else {
        return fail(r, r->off, "want an array, found %s", type_name(c));
    }
    return 0;
}

/* The header length of the smallest str or bin encoding of n bytes. */
static size_t smallest_len_header(size_t n, bool is_str) {
    if (is_str && n <= 31) return 1;
    return n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
}

/* Reads nil, bin or str, any width. want_str says which of bin and str a
 * canonical writer writes here (values: bin; names: str). */
static COLD int bin_slow(reader *r, const char *field, bool want_str, bool *canon, wasmstream_bytes *out) {
    NEED(r, 1);
    size_t off = r->off, n, hdr;
    uint8_t c = r->base[off];
    switch (c) {
    case 0xc0:
        r->off += 1;
        if (want_str) *canon = false; /* an empty name is written as "" */
        out->ptr = NULL, out->len = 0;
        return 0;
    case 0xc4: case 0xd9:
        NEED(r, 2);
        n = r->base[off + 1], hdr = 2;
        break;
    case 0xc5: case 0xda:
        NEED(r, 3);
        n = (size_t)be(r->base + off + 1, 2), hdr = 3;
        break;
    case 0xc6: case 0xdb:
        NEED(r, 5);
        n = (size_t)be(r->base + off + 1, 4), hdr = 5;
        break;
    default:
        if (c >= 0xa0 && c <= 0xbf) {
            n = c & 0x1f, hdr = 1;
            break;
        }
        return fail(r, off, "%s: want bin, str or nil, found %s", field, type_name(c));
    }
    if (r->len - off - hdr < n) return fail(r, off, "%s: %zu-byte value runs past the end of the frame", field, n);
    bool is_str = (c >= 0xa0 && c <= 0xbf) || (c >= 0xd9 && c <= 0xdb);
    if (is_str != want_str || smallest_len_header(n, is_str) != hdr) *canon = false;
    out->ptr = r->base + off + hdr, out->len = n;
    r->off = off + hdr + n;
    return 0;
}

/* Reads nil, bin or str: the common nil and bin 8 inline. */
INLINE int rd_bin(reader *r, const char *field, bool *canon, wasmstream_bytes *out) {
    size_t off = r->off;
    if (LIKELY(off + 1 < r->len)) {
        uint8_t c = r->base[off];
        if (c == 0xc4) {
            size_t n = r->base[off + 1];
            if (LIKELY(n <= r->len - off - 2)) {
                out->ptr = r->base + off + 2, out->len = n;
                r->off = off + 2 + n;
                return 0;
            }
        } else if (c == 0xc0) {
            out->ptr = NULL, out->len = 0;
            r->off = off + 1;
            return 0;
        }
    }
    return bin_slow(r, field, false, canon, out);
}

static void put_int(uint8_t **p, int64_t v);

static COLD int int_slow(reader *r, const char *field, bool *canon, int64_t *out) {
    NEED(r, 1);
    size_t off = r->off, size;
    uint8_t c = r->base[off];
    if (c <= 0x7f || c >= 0xe0) size = 0;
    else if (c == 0xcc || c == 0xd0) size = 1;
    else if (c == 0xcd || c == 0xd1) size = 2;
    else if (c == 0xce || c == 0xd2) size = 4;
    else if (c == 0xcf || c == 0xd3) size = 8;
    else return fail(r, off, "%s: want an integer, found %s", field, type_name(c));
    NEED(r, 1 + size);
    uint64_t u = be(r->base + off + 1, (int)size);
    int64_t v;
    if (c <= 0x7f) v = c;
    else if (c >= 0xe0) v = (int8_t)c;
    else if (c == 0xcc || c == 0xcd || c == 0xce) v = (int64_t)u;
    else if (c == 0xcf) {
        if (u > (uint64_t)INT64_MAX) return fail(r, off, "%s: %llu overflows int64", field, (unsigned long long)u);
        v = (int64_t)u;
    } else if (c == 0xd0) v = (int8_t)u;
    else if (c == 0xd1) v = (int16_t)u;
    else if (c == 0xd2) v = (int32_t)u;
    else v = (int64_t)u;
    r->off = off + 1 + size;
    uint8_t want[9], *p = want;
    put_int(&p, v);
    if ((size_t)(p - want) != 1 + size || want[0] != c) *canon = false;
    *out = v;
    return 0;
}

/* Reads an integer: a positive fixint and the uint 64 of a millisecond
 * timestamp inline. */
INLINE int rd_int(reader *r, const char *field, bool *canon, int64_t *out) {
    size_t off = r->off;
    if (LIKELY(off < r->len)) {
        uint8_t c = r->base[off];
        if (c <= 0x7f) {
            *out = c, r->off = off + 1;
            return 0;
        }
        if (c == 0xcf && r->len - off >= 9) {
            uint64_t v = be(r->base + off + 1, 8);
            if (v > UINT32_MAX && v <= (uint64_t)INT64_MAX) {
                *out = (int64_t)v, r->off = off + 9;
                return 0;
            }
        }
    }
    return int_slow(r, field, canon, out);
}

static int header_array(reader *r, bool *canon, wasmstream_headers *h) {
    size_t at = r->off;
    uint32_t n;
    if (array_header(r, &n)) return -1;
    size_t skip = r->off - at;
    /* No headers are written as nil, never as an empty array. */
    bool hc = skip == 1 ? n > 0 : skip == 3 ? n > 15 : n > 0xffff;
    if (n % 2) return fail(r, at, "headers: array of %u items; want name/value pairs", n);
    if (n > r->len - r->off) return fail(r, at, "headers: %u items but only %zu bytes left", n, r->len - r->off);
    for (uint32_t i = 0; i < n / 2; i++) {
        size_t o = r->off;
        uint8_t c = o < r->len ? r->base[o] : 0;
        wasmstream_bytes b;
        if ((c & 0xe0) == 0xa0 && (size_t)(c & 0x1f) < r->len - o) {
            r->off = o + 1 + (c & 0x1f);
        } else if (bin_slow(r, "header name", true, &hc, &b)) {
            return -1;
        }
        if (rd_bin(r, "header value", &hc, &b)) return -1;
    }
    *canon = *canon && hc;
    h->items = NULL, h->count = n / 2;
    h->_raw = r->base + at, h->_raw_len = (uint32_t)(r->off - at), h->_skip = (uint8_t)skip, h->_canonical = hc;
    return 0;
}

/* Passes over one msgpack value of any type. Sizes are counted in 64 bits,
 * as the host's reader counts them, so that a 32-bit size cannot wrap. */
static int skip_value(reader *r, int depth) {
    if (depth > MAX_DEPTH) return fail(r, r->off, "values nested too deeply");
    NEED(r, 1);
    size_t off = r->off, hdr = 1;
    uint64_t size = 0, items = 0;
    uint8_t c = r->base[off];
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
    } else if (c >= 0xa0 && c <= 0xbf) size = c & 0x1f;
    else if (c >= 0x90 && c <= 0x9f) items = c & 0x0f;
    else if (c >= 0x80 && c <= 0x8f) items = 2 * (uint64_t)(c & 0x0f);
    else if (c == 0xcc || c == 0xd0) size = 1;
    else if (c == 0xcd || c == 0xd1) size = 2;
    else if (c == 0xce || c == 0xd2 || c == 0xca) size = 4;
    else if (c == 0xcf || c == 0xd3 || c == 0xcb) size = 8;
    else if (c == 0xd4) size = 2;
    else if (c == 0xd5) size = 3;
    else if (c == 0xd6) size = 5;
    else if (c == 0xd7) size = 9;
    else if (c == 0xd8) size = 17;
    else if (c == 0xc4 || c == 0xd9 || c == 0xc7) {
        NEED(r, 2);
        size = (uint64_t)r->base[off + 1] + (c == 0xc7), hdr = 2;
    } else if (c == 0xc5 || c == 0xda || c == 0xc8 || c == 0xdc || c == 0xde || c == 0xc6 || c == 0xdb ||
               c == 0xc9 || c == 0xdd || c == 0xdf) {
        int w = (c == 0xc5 || c == 0xda || c == 0xc8 || c == 0xdc || c == 0xde) ? 2 : 4;
        NEED(r, 1 + (size_t)w);
        uint64_t n = be(r->base + off + 1, w);
        hdr = 1 + (size_t)w;
        if (c == 0xdc || c == 0xdd) items = n;
        else if (c == 0xde || c == 0xdf) items = 2 * n;
        else if (c == 0xc8 || c == 0xc9) size = n + 1;
        else size = n;
    } else {
        return fail(r, off, "invalid msgpack type byte 0x%02x", c);
    }
    uint64_t left = r->len - off - hdr;
    if (left < size) return fail(r, off, "value runs past the end of the frame");
    if (items > left)
        return fail(r, off, "container of %llu items but only %llu bytes left", (unsigned long long)items,
                    (unsigned long long)left);
    r->off = off + hdr + (size_t)size;
    for (uint64_t i = 0; i < items; i++)
        if (skip_value(r, depth + 1)) return -1;
    return 0;
}

static COLD int record_rest(reader *r, uint32_t n, wasmstream_record *rec) {
    bool c = true;
    wasmstream_bytes out;
    if (bin_slow(r, "output", true, &c, &out)) return -1;
    rec->output.ptr = (const char *)out.ptr, rec->output.len = out.ptr ? out.len : 0;
    for (uint32_t i = 5; i < n; i++)
        if (skip_value(r, 0)) return -1;
    return 0;
}

/* Decodes the next record: 1, 0 at the end of the frame, or -1 (the error
 * is set and the frame ends). */
INLINE int next_record(reader *r, wasmstream_record *rec) {
    if (r->left == 0) return 0;
    size_t start = r->off;
    bool canon = true;
    uint32_t n = 4;
    if (LIKELY(start < r->len && r->base[start] == 0x94)) {
        r->off = start + 1;
    } else {
        if (array_header(r, &n)) return -1;
        if (n < 4)
            return fail(r, start, "record has %u fields; want at least 4 (key, value, timestamp, headers)", n);
        canon = false;
    }
    if (rd_bin(r, "key", &canon, &rec->key) || rd_bin(r, "value", &canon, &rec->value) ||
        rd_int(r, "timestamp", &canon, &rec->timestamp))
        return -1;
    if (LIKELY(r->off < r->len && r->base[r->off] == 0xc0)) {
        r->off++;
        rec->headers = (wasmstream_headers){0};
    } else if (header_array(r, &canon, &rec->headers)) {
        return -1;
    }
    rec->output.ptr = "", rec->output.len = 0;
    if (UNLIKELY(n >= 5) && record_rest(r, n, rec)) return -1;
    rec->_orig.gen = r->gen;
    rec->_orig.start = (uint32_t)start;
    rec->_orig.end = canon ? (uint32_t)r->off : 0;
    rec->_orig.key = rec->key.ptr, rec->_orig.key_len = rec->key.len;
    rec->_orig.value = rec->value.ptr, rec->_orig.value_len = rec->value.len;
    rec->_orig.headers = rec->headers._raw, rec->_orig.headers_count = rec->headers.count;
    rec->_orig.timestamp = rec->timestamp;
    r->left--;
    return 1;
}

static int reader_init(reader *r, uint8_t *base, size_t len, uint32_t gen) {
    *r = (reader){.base = base, .len = len, .gen = gen, .what = "decoding input batch"};
    uint32_t total, count;
    if (array_header(r, &total)) return -1;
    if (total < 1) return fail(r, 0, "frame is an empty array; want [records, ...]");
    if (array_header(r, &count)) return -1;
    if (count > WASMSTREAM_MAX_RECORDS)
        return fail(r, 1, "frame declares %u records; the limit is %u", count, WASMSTREAM_MAX_RECORDS);
    if ((uint64_t)count * 5 > r->len - r->off)
        return fail(r, 1, "frame declares %u records but has only %zu bytes left", count, r->len - r->off);
    r->total = total, r->count = count, r->left = count;
    return 0;
}

/* Reads the records not read yet, so that a malformed frame fails the call
 * whatever the handler read, then checks the end of the frame. */
static int reader_drain(reader *r) {
    wasmstream_record scratch;
    int rc;
    while ((rc = next_record(r, &scratch)) == 1) {
    }
    return rc < 0 ? -1 : 0;
}

/* Passes over the frame's elements from from on and checks its end. */
static int reader_rest(reader *r, uint32_t from) {
    for (uint32_t i = from; i < r->total; i++)
        if (skip_value(r, 0)) return -1;
    if (r->off != r->len) return fail(r, r->off, "%zu trailing bytes after the frame", r->len - r->off);
    return 0;
}

static int reader_finish(reader *r, bool failed) {
    if (failed || reader_drain(r)) return -1;
    return reader_rest(r, 1);
}

static bool plain_header(const reader *r) { return r->len >= 6 && r->base[0] == 0x91 && r->base[1] == 0xdd; }

/* ---- headers ----------------------------------------------------------- */

/* Reads nil, bin or str at p, which the reader has validated. */
static const uint8_t *read_valid_bin(const uint8_t *p, wasmstream_bytes *out) {
    uint8_t c = *p;
    size_t n, hdr;
    if (c == 0xc0) {
        out->ptr = NULL, out->len = 0;
        return p + 1;
    }
    if (c >= 0xa0 && c <= 0xbf) n = c & 0x1f, hdr = 1;
    else if (c == 0xc4 || c == 0xd9) n = p[1], hdr = 2;
    else if (c == 0xc5 || c == 0xda) n = (size_t)be(p + 1, 2), hdr = 3;
    else n = (size_t)be(p + 1, 4), hdr = 5;
    out->ptr = (uint8_t *)p + hdr, out->len = n;
    return p + hdr + n;
}

wasmstream_headers wasmstream_headers_of(const wasmstream_header *items, size_t count) {
    return (wasmstream_headers){.items = items, .count = count};
}

wasmstream_header_iter wasmstream_headers_iter(const wasmstream_headers *h) {
    return (wasmstream_header_iter){._h = h, ._i = 0, ._off = h->_skip};
}

bool wasmstream_headers_next(wasmstream_header_iter *it, wasmstream_header *out) {
    const wasmstream_headers *h = it->_h;
    if (it->_i >= h->count) return false;
    if (h->items) {
        *out = h->items[it->_i++];
        return true;
    }
    if (!h->_raw) return false;
    wasmstream_bytes name;
    const uint8_t *p = read_valid_bin(h->_raw + it->_off, &name);
    p = read_valid_bin(p, &out->value);
    out->name.ptr = name.ptr ? (const char *)name.ptr : "", out->name.len = name.len;
    it->_off = (size_t)(p - h->_raw);
    it->_i++;
    return true;
}

bool wasmstream_headers_get(const wasmstream_headers *h, const char *name, wasmstream_bytes *value) {
    size_t n = strlen(name);
    wasmstream_header_iter it = wasmstream_headers_iter(h);
    wasmstream_header hdr;
    while (wasmstream_headers_next(&it, &hdr))
        if (hdr.name.len == n && memcmp(hdr.name.ptr, name, n) == 0) {
            if (value) *value = hdr.value;
            return true;
        }
    return false;
}

/* ---- encoding ---------------------------------------------------------- */

/*
 * The output frame, in one reused buffer. Records copied unchanged from the
 * input are not copied at once: the writer remembers the run of input bytes
 * they make up and copies a run in one piece when something else is
 * written. An output that is exactly the input frame (every record kept, in
 * order, changed at most in place) is not copied at all: the input frame is
 * the output.
 */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    uint32_t n;
    const uint8_t *input;
    size_t pend_start, pend_end;
    bool oom;
} writer;

static COLD bool grow(writer *w, size_t need) {
    size_t cap = 2 * w->cap;
    if (cap < w->len + need) cap = w->len + need;
    if (cap < 4096) cap = 4096;
    uint8_t *b = realloc(w->buf, cap);
    if (!b) {
        w->oom = true;
        return false;
    }
    w->buf = b, w->cap = cap;
    return true;
}

INLINE bool reserve(writer *w, size_t need) { return LIKELY(w->cap - w->len >= need) || grow(w, need); }

static void writer_reset(writer *w, const uint8_t *input) {
    w->len = 0, w->n = 0, w->input = input, w->pend_start = w->pend_end = 0, w->oom = false;
    if (reserve(w, FRAME_HEADER_LEN)) {
        memcpy(w->buf, "\x91\xdd\0\0\0\0", FRAME_HEADER_LEN);
        w->len = FRAME_HEADER_LEN;
    }
}

static void flush(writer *w) {
    size_t n = w->pend_end - w->pend_start;
    if (n && reserve(w, n)) {
        memcpy(w->buf + w->len, w->input + w->pend_start, n);
        w->len += n;
    }
    w->pend_start = w->pend_end = 0;
}

INLINE void write_raw(writer *w, size_t start, size_t end) {
    if (start == w->pend_end) {
        w->pend_end = end;
    } else {
        flush(w);
        w->pend_start = start, w->pend_end = end;
    }
    w->n++;
}

static void put_int(uint8_t **pp, int64_t v) {
    uint8_t *p = *pp;
    int n;
    if (v >= -32 && v <= 0x7f) {
        *p++ = (uint8_t)v;
        *pp = p;
        return;
    }
    if (v > (int64_t)UINT32_MAX) *p++ = 0xcf, n = 8;
    else if (v >= 0) {
        if (v <= 0xff) *p++ = 0xcc, n = 1;
        else if (v <= 0xffff) *p++ = 0xcd, n = 2;
        else *p++ = 0xce, n = 4;
    } else if (v >= INT8_MIN) *p++ = 0xd0, n = 1;
    else if (v >= INT16_MIN) *p++ = 0xd1, n = 2;
    else if (v >= INT32_MIN) *p++ = 0xd2, n = 4;
    else *p++ = 0xd3, n = 8;
    for (int i = n - 1; i >= 0; i--) *p++ = (uint8_t)((uint64_t)v >> (8 * i));
    *pp = p;
}

INLINE uint8_t *put_be(uint8_t *p, uint32_t v, int n) {
    for (int i = n - 1; i >= 0; i--) *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint8_t *put_bin(uint8_t *p, const uint8_t *v, size_t n) {
    if (!v) {
        *p++ = 0xc0;
        return p;
    }
    if (n <= 0xff) *p++ = 0xc4, *p++ = (uint8_t)n;
    else if (n <= 0xffff) *p++ = 0xc5, p = put_be(p, (uint32_t)n, 2);
    else *p++ = 0xc6, p = put_be(p, (uint32_t)n, 4);
    memcpy(p, v, n);
    return p + n;
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t n) {
    if (n <= 31) *p++ = (uint8_t)(0xa0 | n);
    else if (n <= 0xff) *p++ = 0xd9, *p++ = (uint8_t)n;
    else if (n <= 0xffff) *p++ = 0xda, p = put_be(p, (uint32_t)n, 2);
    else *p++ = 0xdb, p = put_be(p, (uint32_t)n, 4);
    memcpy(p, s, n);
    return p + n;
}

static uint8_t *put_array_header(uint8_t *p, uint32_t n) {
    if (n <= 15) *p++ = (uint8_t)(0x90 | n);
    else if (n <= 0xffff) *p++ = 0xdc, p = put_be(p, n, 2);
    else *p++ = 0xdd, p = put_be(p, n, 4);
    return p;
}

/* Encodes a record. */
static void write_record(writer *w, const wasmstream_record *r, const char *out, size_t out_len) {
    flush(w);
    const wasmstream_headers *h = &r->headers;
    bool raw_headers = !h->items && h->_raw && h->_canonical;
    size_t need = 1 + 5 + r->key.len + 5 + r->value.len + 9 + 5 + 5 + out_len;
    if (raw_headers) {
        need += h->_raw_len;
    } else {
        wasmstream_header_iter it = wasmstream_headers_iter(h);
        wasmstream_header hdr;
        while (wasmstream_headers_next(&it, &hdr)) need += 5 + hdr.name.len + 5 + hdr.value.len;
    }
    if (!reserve(w, need)) return;
    uint8_t *p = w->buf + w->len;
    *p++ = out_len ? 0x95 : 0x94;
    p = put_bin(p, r->key.ptr, r->key.len);
    p = put_bin(p, r->value.ptr, r->value.len);
    put_int(&p, r->timestamp);
    if (raw_headers) {
        memcpy(p, h->_raw, h->_raw_len);
        p += h->_raw_len;
    } else if (h->count == 0 || (!h->items && !h->_raw)) {
        *p++ = 0xc0;
    } else {
        p = put_array_header(p, (uint32_t)(2 * h->count));
        wasmstream_header_iter it = wasmstream_headers_iter(h);
        wasmstream_header hdr;
        while (wasmstream_headers_next(&it, &hdr)) {
            p = put_str(p, hdr.name.ptr, hdr.name.len);
            p = put_bin(p, hdr.value.ptr, hdr.value.len);
        }
    }
    if (out_len) p = put_str(p, out, out_len);
    w->len = (size_t)(p - w->buf);
    w->n++;
}

static void writer_finish(writer *w, size_t input_len, bool input_plain, uint32_t input_count, const uint8_t **out,
                          size_t *out_len) {
    if (input_plain && w->len == FRAME_HEADER_LEN && w->pend_start == FRAME_HEADER_LEN && w->pend_end == input_len &&
        w->n == input_count) {
        *out = w->input, *out_len = input_len;
        return;
    }
    flush(w);
    if (w->len >= FRAME_HEADER_LEN) put_be(w->buf + 2, w->n, 4);
    *out = w->buf, *out_len = w->len;
}

/* ---- emitting ---------------------------------------------------------- */

struct wasmstream_emitter {
    writer *w;
    uint32_t gen;     /* the current call, to recognise its records */
    bool raw_ok;      /* records may be copied from the input */
    bool too_many;
};

struct wasmstream_batch {
    reader r;
    bool failed;
};

/* Whether r is a record of the current input, unchanged but for the
 * contents of its bytes, and canonically encoded there. */
INLINE bool unchanged(const wasmstream_emitter *e, const wasmstream_record *r) {
    const wasmstream_headers *h = &r->headers;
    const uint8_t *haddr = h->items ? (const uint8_t *)h->items : h->_raw;
    return r->_orig.end != 0 && r->_orig.gen == e->gen && e->raw_ok && r->output.len == 0 &&
           r->timestamp == r->_orig.timestamp && r->key.ptr == r->_orig.key && r->key.len == r->_orig.key_len &&
           r->value.ptr == r->_orig.value && r->value.len == r->_orig.value_len && haddr == r->_orig.headers &&
           h->count == r->_orig.headers_count;
}

INLINE void emit(wasmstream_emitter *e, const wasmstream_record *r, const char *out, size_t out_len) {
    if (out_len == 0 && unchanged(e, r)) {
        write_raw(e->w, r->_orig.start, r->_orig.end);
    } else {
        write_record(e->w, r, out, out_len);
    }
}

void wasmstream_emit(wasmstream_emitter *e, const wasmstream_record *r) {
    if (UNLIKELY(e->w->n >= WASMSTREAM_MAX_RECORDS)) {
        e->too_many = true;
        return;
    }
    emit(e, r, r->output.ptr, r->output.len);
}

void wasmstream_emit_to(wasmstream_emitter *e, const char *output, const wasmstream_record *r) {
    if (UNLIKELY(e->w->n >= WASMSTREAM_MAX_RECORDS)) {
        e->too_many = true;
        return;
    }
    emit(e, r, output ? output : "", output ? strlen(output) : 0);
}

size_t wasmstream_emitted(const wasmstream_emitter *e) { return e->w->n; }

size_t wasmstream_batch_len(const wasmstream_batch *b) { return b->r.count; }

int wasmstream_batch_next(wasmstream_batch *b, wasmstream_record *r) {
    if (b->failed) return WASMSTREAM_ERR;
    int rc = next_record(&b->r, r);
    if (rc < 0) b->failed = true;
    return rc;
}

/* ---- state ------------------------------------------------------------- */

enum { ST_OK = 0, ST_NOT_FOUND = -2, ST_TOO_LARGE = -3, ST_NOT_COUNTER = -4, ST_BAD_SCOPE = -5 };

#ifdef __wasm__
#define IMPORT(name) __attribute__((import_module("wasmstream"), import_name(name))) extern
IMPORT("state_get")
int64_t host_state_get(int32_t scope, const void *key, size_t key_len, const void *name, size_t name_len, void *buf,
                       size_t cap);
IMPORT("state_put")
int32_t host_state_put(int32_t scope, const void *key, size_t key_len, const void *name, size_t name_len,
                       const void *val, size_t val_len, int64_t ttl_ms);
IMPORT("state_delete")
int32_t host_state_delete(int32_t scope, const void *key, size_t key_len, const void *name, size_t name_len);
IMPORT("state_add")
int32_t host_state_add(int32_t scope, const void *key, size_t key_len, const void *name, size_t name_len,
                       int64_t delta, int64_t *out);
IMPORT("state_add_f64")
int32_t host_state_add_f64(int32_t scope, const void *key, size_t key_len, const void *name, size_t name_len,
                           double delta, double *out);
IMPORT("state_append")
int32_t host_state_append(int32_t scope, const void *key, size_t key_len, const void *name, size_t name_len,
                          const void *val, size_t val_len);
#undef IMPORT
#define state_begin() ((void)0)
#define state_end(ok) ((void)(ok))
#else
/* The native stand-in: live entries in an array sorted by (scope, key,
 * name), with the host's semantics, and an undo log of the current call's
 * writes. */
#include <time.h>

typedef struct {
    int32_t scope;
    uint8_t *key, *name, *val;
    size_t key_len, name_len, val_len;
    int64_t expiry; /* Unix ms; 0: none */
    bool flt;       /* a float counter (state_add_f64) */
} st_entry;

/* The kind st_set_raw gives the entry it writes: the caller of a float
 * add sets it for that one write. */
static bool st_set_flt;

typedef struct {
    st_entry e;   /* its scope, key and name say which entry */
    bool had;     /* whether the entry existed before the write */
} st_undo;

static st_entry *st_entries;
static size_t st_len, st_cap;
static st_undo *st_log;
static size_t st_log_len, st_log_cap;
static bool st_in_call;
static size_t st_max_value = 1 << 20;
static int64_t st_start_ms = -1, st_offset_ms;

/* The clock stands still but for wasmstream_test_advance_time, so tests of
 * TTLs do not depend on how fast they run. */
static int64_t st_now(void) {
    if (st_start_ms < 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        st_start_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    return st_start_ms + st_offset_ms;
}

static uint8_t *st_dup(const void *p, size_t n) {
    uint8_t *d = malloc(n ? n : 1);
    if (d && n) memcpy(d, p, n);
    return d;
}

static int st_cmp_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    return c ? c : (an > bn) - (an < bn);
}

/* Where (scope, key, name) is or would go; *found says which. */
static size_t st_find(int32_t scope, const uint8_t *key, size_t key_len, const uint8_t *name, size_t name_len,
                      bool *found) {
    size_t lo = 0, hi = st_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const st_entry *e = &st_entries[mid];
        int c = (e->scope > scope) - (e->scope < scope);
        if (!c) c = st_cmp_bytes(e->key, e->key_len, key, key_len);
        if (!c) c = st_cmp_bytes(e->name, e->name_len, name, name_len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = false;
    return lo;
}

static void st_free(st_entry *e) {
    free(e->key), free(e->name), free(e->val);
}

/* The live entry for (scope, key, name), or NULL. */
static st_entry *st_live(int32_t scope, const uint8_t *key, size_t key_len, const uint8_t *name, size_t name_len) {
    bool found;
    size_t i = st_find(scope, key, key_len, name, name_len, &found);
    if (!found) return NULL;
    st_entry *e = &st_entries[i];
    return e->expiry == 0 || e->expiry > st_now() ? e : NULL;
}

/* Replaces the entry (scope, key, name) with val (taking it, malloc'd) or
 * removes it (val NULL), without logging. */
static bool st_set_raw(int32_t scope, const uint8_t *key, size_t key_len, const uint8_t *name, size_t name_len,
                       uint8_t *val, size_t val_len, int64_t expiry) {
    bool found;
    size_t i = st_find(scope, key, key_len, name, name_len, &found);
    if (found) {
        st_entry *e = &st_entries[i];
        if (val) {
            free(e->val);
            e->val = val, e->val_len = val_len, e->expiry = expiry, e->flt = st_set_flt;
        } else {
            st_free(e);
            memmove(e, e + 1, (st_len - i - 1) * sizeof *e);
            st_len--;
        }
        return true;
    }
    if (!val) return true;
    if (st_len == st_cap) {
        size_t cap = st_cap ? 2 * st_cap : 64;
        st_entry *n = realloc(st_entries, cap * sizeof *n);
        if (!n) return false;
        st_entries = n, st_cap = cap;
    }
    st_entry e = {scope, st_dup(key, key_len), st_dup(name, name_len), val, key_len, name_len, val_len, expiry, st_set_flt};
    if (!e.key || !e.name) {
        st_free(&e);
        return false;
    }
    memmove(&st_entries[i + 1], &st_entries[i], (st_len - i) * sizeof *st_entries);
    st_entries[i] = e;
    st_len++;
    return true;
}

/* st_set_raw, remembering the old entry when within a call. */
static int st_set(int32_t scope, const uint8_t *key, size_t key_len, const uint8_t *name, size_t name_len,
                  uint8_t *val, size_t val_len, int64_t expiry) {
    if (st_in_call) {
        if (st_log_len == st_log_cap) {
            size_t cap = st_log_cap ? 2 * st_log_cap : 64;
            st_undo *n = realloc(st_log, cap * sizeof *n);
            if (!n) goto oom;
            st_log = n, st_log_cap = cap;
        }
        bool found;
        size_t i = st_find(scope, key, key_len, name, name_len, &found);
        st_undo u = {{scope, st_dup(key, key_len), st_dup(name, name_len), NULL, key_len, name_len, 0, 0, false}, found};
        if (found) {
            u.e.val = st_dup(st_entries[i].val, st_entries[i].val_len);
            u.e.val_len = st_entries[i].val_len, u.e.expiry = st_entries[i].expiry, u.e.flt = st_entries[i].flt;
        }
        if (!u.e.key || !u.e.name || (found && !u.e.val)) {
            st_free(&u.e);
            goto oom;
        }
        st_log[st_log_len++] = u;
    }
    if (st_set_raw(scope, key, key_len, name, name_len, val, val_len, expiry)) return ST_OK;
oom:
    free(val);
    return -1;
}

static void state_begin(void) {
    st_in_call = true;
    st_log_len = 0;
}

static void state_end(bool ok) {
    st_in_call = false;
    while (st_log_len > 0) {
        st_undo *u = &st_log[--st_log_len];
        st_set_flt = u->e.flt;
        if (!ok)
            st_set_raw(u->e.scope, u->e.key, u->e.key_len, u->e.name, u->e.name_len, u->had ? u->e.val : NULL,
                       u->e.val_len, u->e.expiry);
        else
            free(u->e.val);
        free(u->e.key), free(u->e.name);
    }
    st_set_flt = false;
}

/* Operator state ignores the key, as the host does. */
#define ST_KEY(scope, key, key_len)                 \
    if ((scope) != 0 && (scope) != 1) return ST_BAD_SCOPE; \
    if ((scope) == 1) (key) = NULL, (key_len) = 0

static int64_t host_state_get(int32_t scope, const void *key, size_t key_len, const void *name, size_t name_len,
                              void *buf, size_t cap) {
    ST_KEY(scope, key, key_len);
    st_entry *e = st_live(scope, key, key_len, name, name_len);
    if (!e) return ST_NOT_FOUND;
    if (e->val_len <= cap && e->val_len) memcpy(buf, e->val, e->val_len);
    return (int64_t)e->val_len;
}

static int32_t host_state_put(int32_t scope, const void *key, size_t key_len, const void *name, size_t name_len,
                              const void *val, size_t val_len, int64_t ttl_ms) {
    ST_KEY(scope, key, key_len);
    if (val_len > st_max_value) return ST_TOO_LARGE;
    uint8_t *v = st_dup(val, val_len);
    if (!v) return -1;
    return st_set(scope, key, key_len, name, name_len, v, val_len, ttl_ms > 0 ? st_now() + ttl_ms : 0);
}

static int32_t host_state_delete(int32_t scope, const void *key, size_t key_len, const void *name, size_t name_len) {
    ST_KEY(scope, key, key_len);
    return st_set(scope, key, key_len, name, name_len, NULL, 0, 0);
}

static int32_t host_state_add(int32_t scope, const void *key, size_t key_len, const void *name, size_t name_len,
                              int64_t delta, int64_t *out) {
    ST_KEY(scope, key, key_len);
    st_entry *e = st_live(scope, key, key_len, name, name_len);
    uint64_t n = 0;
    int64_t expiry = 0;
    if (e) {
        if (e->val_len != 8 || e->flt) return ST_NOT_COUNTER;
        for (int i = 7; i >= 0; i--) n = n << 8 | e->val[i];
        expiry = e->expiry;
    }
    n += (uint64_t)delta; /* wraps, as the host's int64 does */
    uint8_t *v = malloc(8);
    if (!v) return -1;
    for (int i = 0; i < 8; i++) v[i] = (uint8_t)(n >> (8 * i));
    int st = st_set(scope, key, key_len, name, name_len, v, 8, expiry);
    if (st == ST_OK) *out = (int64_t)n;
    return st;
}

/* As the host answers state_add_f64: -1 for a NaN or infinite delta or
 * sum, -4 for an int counter or bytes. */
static int32_t host_state_add_f64(int32_t scope, const void *key, size_t key_len, const void *name, size_t name_len,
                                  double delta, double *out) {
    ST_KEY(scope, key, key_len);
    if (!__builtin_isfinite(delta)) return -1;
    st_entry *e = st_live(scope, key, key_len, name, name_len);
    uint64_t u = 0;
    int64_t expiry = 0;
    double n = 0;
    if (e) {
        if (e->val_len != 8 || !e->flt) return ST_NOT_COUNTER;
        for (int i = 7; i >= 0; i--) u = u << 8 | e->val[i];
        memcpy(&n, &u, 8);
        expiry = e->expiry;
    }
    n += delta;
    if (!__builtin_isfinite(n)) return -1;
    uint8_t *v = malloc(8);
    if (!v) return -1;
    memcpy(&u, &n, 8);
    for (int i = 0; i < 8; i++) v[i] = (uint8_t)(u >> (8 * i));
    st_set_flt = true;
    int st = st_set(scope, key, key_len, name, name_len, v, 8, expiry);
    st_set_flt = false;
    if (st == ST_OK) *out = n;
    return st;
}

static int32_t host_state_append(int32_t scope, const void *key, size_t key_len, const void *name, size_t name_len,
                                 const void *val, size_t val_len) {
    ST_KEY(scope, key, key_len);
    st_entry *e = st_live(scope, key, key_len, name, name_len);
    size_t old = e ? e->val_len : 0;
    if (old + 5 + val_len > st_max_value) return ST_TOO_LARGE;
    uint8_t *v = malloc(old + 5 + val_len), *p;
    if (!v) return -1;
    if (old) memcpy(v, e->val, old);
    p = v + old;
    if (val_len < 1u << 8) {
        *p++ = 0xc4, *p++ = (uint8_t)val_len;
    } else if (val_len < 1u << 16) {
        *p++ = 0xc5, *p++ = (uint8_t)(val_len >> 8), *p++ = (uint8_t)val_len;
    } else {
        *p++ = 0xc6, *p++ = (uint8_t)(val_len >> 24), *p++ = (uint8_t)(val_len >> 16);
        *p++ = (uint8_t)(val_len >> 8), *p++ = (uint8_t)val_len;
    }
    if (val_len) memcpy(p, val, val_len);
    p += val_len;
    return st_set(scope, key, key_len, name, name_len, v, (size_t)(p - v), e ? e->expiry : 0);
}
#undef ST_KEY

void wasmstream_test_state_reset(void) {
    for (size_t i = 0; i < st_len; i++) st_free(&st_entries[i]);
    st_len = 0;
    st_in_call = false;
    state_end(true);
    st_max_value = 1 << 20;
    st_start_ms = -1, st_offset_ms = 0;
}

void wasmstream_test_state_max_value(size_t bytes) { st_max_value = bytes; }

void wasmstream_test_advance_time(int64_t ms) { st_offset_ms += ms; }

bool wasmstream_test_state_entry(size_t i, int32_t *scope, wasmstream_bytes *key, wasmstream_bytes *name,
                                 wasmstream_bytes *val) {
    for (size_t j = 0; j < st_len; j++) {
        st_entry *e = &st_entries[j];
        if (e->expiry != 0 && e->expiry <= st_now()) continue;
        if (i-- > 0) continue;
        *scope = e->scope;
        *key = (wasmstream_bytes){e->key, e->key_len};
        *name = (wasmstream_bytes){e->name, e->name_len};
        *val = (wasmstream_bytes){e->val, e->val_len};
        return true;
    }
    return false;
}
#endif

wasmstream_state wasmstream_state_of(const wasmstream_record *r) {
    return (wasmstream_state){WASMSTREAM_SCOPE_KEY, r->key.ptr, r->key.len};
}

wasmstream_state wasmstream_state_key(const void *key, size_t len) {
    return (wasmstream_state){WASMSTREAM_SCOPE_KEY, key, len};
}

wasmstream_state wasmstream_state_operator(void) { return (wasmstream_state){WASMSTREAM_SCOPE_OPERATOR, NULL, 0}; }

/* name quoted as Go's %q quotes ASCII, malloc'd ("" when out of memory). */
static COLD char *quoted(const void *name, size_t len) {
    const uint8_t *b = name;
    char *q = malloc(4 * len + 3), *p = q;
    if (!q) return NULL;
    *p++ = '"';
    for (size_t i = 0; i < len; i++) {
        uint8_t c = b[i];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t" : c == 7 ? "\\a" : c == 8 ? "\\b" : c == 12 ? "\\f"
                          : c == 11 ? "\\v" : NULL;
        if (esc) p += sprintf(p, "%s", esc);
        else if (c < 0x20 || c >= 0x7f) p += sprintf(p, "\\x%02x", c);
        else *p++ = (char)c;
    }
    *p++ = '"', *p = 0;
    return q;
}

/* Sets the message for a failed state call, worded as the Go SDK words it,
 * and returns the status to give the handler. */
static COLD int state_failed(const char *op, const void *name, size_t len, int st) {
    char *q = quoted(name, len);
    const char *n = q ? q : "";
    switch (st) {
    case ST_TOO_LARGE:
        wasmstream_error("wasmstream: state value too large: %s %s", op, n);
        break;
    case ST_NOT_COUNTER:
        wasmstream_error("wasmstream: state value is not a counter: %s %s", op, n);
        break;
    default:
        wasmstream_error("wasmstream: state %s %s failed (status %d)", op, n, st);
        st = WASMSTREAM_ERR;
    }
    free(q);
    return st;
}

#define STATUS(op, name, len, call)                                      \
    do {                                                                 \
        int st_ = (call);                                                \
        return LIKELY(st_ == ST_OK) ? WASMSTREAM_OK : state_failed(op, name, len, st_); \
    } while (0)

/* The read buffer: grow-only, reused by every read. */
static uint8_t *state_buf;
static size_t state_cap;

/* Reads a value into the read buffer: the host copies it when it fits, and
 * otherwise reports its length, so the buffer grows once and the call is
 * made again. */
static int state_read(wasmstream_state s, const void *name, size_t name_len, wasmstream_bytes *val) {
    *val = (wasmstream_bytes){NULL, 0};
    if (UNLIKELY(!state_buf)) {
        if (!(state_buf = malloc(256))) return wasmstream_error("wasmstream: out of memory for a state value");
        state_cap = 256;
    }
    for (;;) {
        int64_t n = host_state_get(s.scope, s.key, s.key_len, name, name_len, state_buf, state_cap);
        if (n == ST_NOT_FOUND) return 0;
        if (UNLIKELY(n < 0)) return state_failed("get", name, name_len, (int)n);
        if (LIKELY((uint64_t)n <= state_cap)) {
            *val = (wasmstream_bytes){state_buf, (size_t)n};
            return 1;
        }
        free(state_buf);
        if (!(state_buf = malloc((size_t)n))) {
            state_cap = 0;
            return wasmstream_error("wasmstream: out of memory for a %lld-byte state value", (long long)n);
        }
        state_cap = (size_t)n;
    }
}

int wasmstream_state_get(wasmstream_state s, const char *name, wasmstream_bytes *val) {
    size_t n = strlen(name);
    /* The common case in one host call and no other: a value that fits. */
    if (LIKELY(state_buf != NULL)) {
        int64_t len = host_state_get(s.scope, s.key, s.key_len, name, n, state_buf, state_cap);
        if (LIKELY(len >= 0 && (uint64_t)len <= state_cap)) {
            *val = (wasmstream_bytes){state_buf, (size_t)len};
            return 1;
        }
        if (len == ST_NOT_FOUND) {
            *val = (wasmstream_bytes){NULL, 0};
            return 0;
        }
    }
    return state_read(s, name, n, val);
}

int wasmstream_state_put(wasmstream_state s, const char *name, const void *val, size_t len) {
    return wasmstream_state_put_ttl(s, name, val, len, 0);
}

int wasmstream_state_put_ttl(wasmstream_state s, const char *name, const void *val, size_t len, int64_t ttl_ms) {
    size_t n = strlen(name);
    STATUS("put", name, n, host_state_put(s.scope, s.key, s.key_len, name, n, val, len, ttl_ms));
}

int wasmstream_state_delete(wasmstream_state s, const char *name) {
    size_t n = strlen(name);
    STATUS("delete", name, n, host_state_delete(s.scope, s.key, s.key_len, name, n));
}

static int state_add(wasmstream_state s, const void *name, size_t n, int64_t delta, int64_t *out) {
    int64_t v = 0;
    int st = host_state_add(s.scope, s.key, s.key_len, name, n, delta, &v);
    if (out) *out = v;
    STATUS("add", name, n, st);
}

int wasmstream_state_add(wasmstream_state s, const char *name, int64_t delta, int64_t *out) {
    return state_add(s, name, strlen(name), delta, out);
}

static int state_add_f64(wasmstream_state s, const void *name, size_t n, double delta, double *out) {
    double v = 0;
    if (!__builtin_isfinite(delta)) {
        char *q = quoted(name, n);
        wasmstream_error("wasmstream: state float counter would not be finite: add %g to %s", delta, q ? q : "");
        free(q);
        return WASMSTREAM_ERR;
    }
    int st = host_state_add_f64(s.scope, s.key, s.key_len, name, n, delta, &v);
    if (out) *out = v;
    STATUS("add", name, n, st);
}

int wasmstream_state_add_f64(wasmstream_state s, const char *name, double delta, double *out) {
    return state_add_f64(s, name, strlen(name), delta, out);
}


static int state_counter(wasmstream_state s, const void *name, size_t n, int64_t *out) {
    uint8_t b[8];
    int64_t len = host_state_get(s.scope, s.key, s.key_len, name, n, b, 8);
    *out = 0;
    if (len == ST_NOT_FOUND) return WASMSTREAM_OK;
    if (len < 0) return state_failed("get", name, n, (int)len);
    if (len != 8) {
        char *q = quoted(name, n);
        wasmstream_error("wasmstream: state value is not a counter: counter %s holds %lld bytes", q ? q : "",
                         (long long)len);
        free(q);
        return WASMSTREAM_ERR_NOT_COUNTER;
    }
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    *out = (int64_t)v;
    return WASMSTREAM_OK;
}

int wasmstream_state_counter(wasmstream_state s, const char *name, int64_t *out) {
    return state_counter(s, name, strlen(name), out);
}

int wasmstream_state_counter_f64(wasmstream_state s, const char *name, double *out) {
    int64_t n;
    int rc = state_counter(s, name, strlen(name), &n);
    memcpy(out, &n, 8);
    return rc;
}

int wasmstream_state_append(wasmstream_state s, const char *name, const void *elem, size_t len) {
    size_t n = strlen(name);
    STATUS("append", name, n, host_state_append(s.scope, s.key, s.key_len, name, n, elem, len));
}

/* Splits the msgpack bin item at p: its payload in *elem, and the next
 * item's address, or NULL when p does not start a whole bin item. */
static const uint8_t *bin_item(const uint8_t *p, const uint8_t *end, wasmstream_bytes *elem) {
    size_t avail = (size_t)(end - p), n, h;
    if (avail >= 2 && p[0] == 0xc4) n = p[1], h = 2;
    else if (avail >= 3 && p[0] == 0xc5) n = (size_t)p[1] << 8 | p[2], h = 3;
    else if (avail >= 5 && p[0] == 0xc6) n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4], h = 5;
    else return NULL;
    if (avail - h < n) return NULL;
    *elem = (wasmstream_bytes){(uint8_t *)p + h, n};
    return p + h + n;
}

int wasmstream_state_list(wasmstream_state s, const char *name, wasmstream_list *list) {
    wasmstream_bytes v;
    *list = (wasmstream_list){0, NULL, NULL};
    int rc = wasmstream_state_get(s, name, &v);
    if (rc <= 0) return rc;
    const uint8_t *p = v.ptr, *end = v.ptr + v.len;
    size_t n = 0;
    wasmstream_bytes elem;
    while (p < end) {
        if (!(p = bin_item(p, end, &elem))) {
            char *q = quoted(name, strlen(name));
            wasmstream_error("wasmstream: state %s is not a list", q ? q : "");
            free(q);
            return WASMSTREAM_ERR;
        }
        n++;
    }
    *list = (wasmstream_list){n, v.ptr, end};
    return 1;
}

bool wasmstream_list_next(wasmstream_list *list, wasmstream_bytes *elem) {
    if (!list->len || !list->_p) return false;
    list->_p = bin_item(list->_p, list->_end, elem); /* checked by wasmstream_state_list */
    list->len--;
    return true;
}

/* The name of a map entry: map "\0" k, in a grow-only buffer. */
static uint8_t *map_name;
static size_t map_name_cap;

static const uint8_t *map_entry(const char *map, const void *k, size_t k_len, size_t *len) {
    size_t m = strlen(map), n = m + 1 + k_len;
    if (n > map_name_cap) {
        free(map_name);
        map_name_cap = n < 64 ? 64 : 2 * n;
        if (!(map_name = malloc(map_name_cap))) {
            map_name_cap = 0;
            wasmstream_error("wasmstream: out of memory for a state map name");
            return NULL;
        }
    }
    memcpy(map_name, map, m);
    map_name[m] = 0;
    if (k_len) memcpy(map_name + m + 1, k, k_len);
    *len = n;
    return map_name;
}

int wasmstream_state_map_get(wasmstream_state s, const char *map, const void *k, size_t k_len, wasmstream_bytes *val) {
    size_t n;
    const uint8_t *name = map_entry(map, k, k_len, &n);
    if (!name) return WASMSTREAM_ERR;
    return state_read(s, name, n, val);
}

int wasmstream_state_map_put(wasmstream_state s, const char *map, const void *k, size_t k_len, const void *val,
                             size_t len) {
    size_t n;
    const uint8_t *name = map_entry(map, k, k_len, &n);
    if (!name) return WASMSTREAM_ERR;
    STATUS("put", name, n, host_state_put(s.scope, s.key, s.key_len, name, n, val, len, 0));
}

int wasmstream_state_map_delete(wasmstream_state s, const char *map, const void *k, size_t k_len) {
    size_t n;
    const uint8_t *name = map_entry(map, k, k_len, &n);
    if (!name) return WASMSTREAM_ERR;
    STATUS("delete", name, n, host_state_delete(s.scope, s.key, s.key_len, name, n));
}

int wasmstream_state_map_add(wasmstream_state s, const char *map, const void *k, size_t k_len, int64_t delta,
                             int64_t *out) {
    size_t n;
    const uint8_t *name = map_entry(map, k, k_len, &n);
    if (!name) return WASMSTREAM_ERR;
    return state_add(s, name, n, delta, out);
}

int wasmstream_state_map_add_f64(wasmstream_state s, const char *map, const void *k, size_t k_len, double delta,
                                 double *out) {
    size_t n;
    const uint8_t *name = map_entry(map, k, k_len, &n);
    if (!name) return WASMSTREAM_ERR;
    return state_add_f64(s, name, n, delta, out);
}
#undef STATUS

/* ---- async I/O --------------------------------------------------------- */

#ifdef __wasm__
__attribute__((import_module("wasmstream"), import_name("async_submit"))) extern int64_t host_async_submit(
    const void *req, size_t len);
#define async_begin() ((void)0)
#define async_end(ok) ((void)(ok))
#else
/* The native stand-in: the requests kept, in order, and the status to
 * refuse them with. */
static struct {
    uint8_t *req;
    size_t len;
} *async_reqs;
static size_t async_len, async_cap, async_mark;
static int32_t async_refuse;

static int64_t host_async_submit(const void *req, size_t len) {
    if (async_refuse != 0) return async_refuse;
    if (async_len == async_cap) {
        size_t cap = async_cap ? 2 * async_cap : 16;
        void *n = realloc(async_reqs, cap * sizeof *async_reqs);
        if (!n) return -1;
        async_reqs = n, async_cap = cap;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return -1;
    if (len) memcpy(copy, req, len);
    async_reqs[async_len].req = copy, async_reqs[async_len].len = len;
    return (int64_t)async_len++;
}

static void async_begin(void) { async_mark = async_len; }

/* A failed call's requests are dropped, as the host drops them. */
static void async_end(bool ok) {
    while (!ok && async_len > async_mark) free(async_reqs[--async_len].req);
    async_mark = async_len;
}

bool wasmstream_test_submitted(size_t i, const uint8_t **req, size_t *len) {
    if (i >= async_len) return false;
    *req = async_reqs[i].req, *len = async_reqs[i].len;
    return true;
}

void wasmstream_test_async_refuse(int32_t status) { async_refuse = status; }

void wasmstream_test_async_reset(void) {
    while (async_len > 0) free(async_reqs[--async_len].req);
    async_mark = 0, async_refuse = 0;
}
#endif

/* The operator of the current call, for wasmstream_submit. */
static const wasmstream_operator *current_op;

wasmstream_request wasmstream_http(const char *target, const char *method, const char *path, wasmstream_bytes context) {
    return (wasmstream_request){.target = target, .method = method, .path = path, .context = context};
}

wasmstream_request wasmstream_redis(const char *target, wasmstream_bytes context, const wasmstream_str *command,
                                    size_t command_len) {
    return (wasmstream_request){.target = target, .context = context, .command = command, .command_len = command_len};
}

wasmstream_request wasmstream_sql(const char *target, const char *query, wasmstream_bytes context,
                                  const wasmstream_arg *args, size_t args_len) {
    return (wasmstream_request){.target = target, .query = query, .context = context, .args = args, .args_len = args_len};
}

static uint8_t *put_key(uint8_t *p, const char *k) { return put_str(p, k, strlen(k)); }

static uint8_t *put_map_header(uint8_t *p, uint32_t n) {
    if (n <= 15) *p++ = (uint8_t)(0x80 | n);
    else if (n <= 0xffff) *p++ = 0xde, p = put_be(p, n, 2);
    else *p++ = 0xdf, p = put_be(p, n, 4);
    return p;
}

/* Bytes as a str (nil as ""). */
static uint8_t *put_str_bytes(uint8_t *p, const void *s, size_t n) { return put_str(p, s ? s : "", s ? n : 0); }

/* The encoding of req into *buf (grown as needed): its length, or 0 when
 * out of memory. The keys are in sorted order, as the host writes maps. */
static size_t encode_request(const wasmstream_request *req, uint8_t **buf, size_t *cap) {
    const char *target = req->target ? req->target : "";
    bool has_args = req->query || req->args_len;
    size_t need = 64 + strlen(target) + 5 + req->context.len + 5 + req->body.len;
    if (req->method) need += 5 + strlen(req->method);
    if (req->path) need += 5 + strlen(req->path);
    if (req->query) need += 5 + strlen(req->query);
    for (size_t i = 0; i < req->headers_len; i++)
        need += 10 + req->headers[i].name.len + req->headers[i].value.len;
    for (size_t i = 0; i < req->command_len; i++) need += 5 + req->command[i].len;
    for (size_t i = 0; i < req->args_len; i++) need += 10 + req->args[i].bytes.len;
    if (*cap < need) {
        uint8_t *b = realloc(*buf, need);
        if (!b) return 0;
        *buf = b, *cap = need;
    }
    uint32_t fields = 1 + has_args + !!req->body.ptr + !!req->command_len + !!req->context.ptr + !!req->headers_len +
                      !!req->method + !!req->path + !!req->query;
    uint8_t *p = put_map_header(*buf, fields);
    if (has_args) {
        p = put_key(p, "args");
        p = put_array_header(p, (uint32_t)req->args_len);
        for (size_t i = 0; i < req->args_len; i++) {
            const wasmstream_arg *a = &req->args[i];
            switch (a->type) {
            case WASMSTREAM_ARG_BOOL: *p++ = a->b ? 0xc3 : 0xc2; break;
            case WASMSTREAM_ARG_INT: put_int(&p, a->i); break;
            case WASMSTREAM_ARG_FLOAT: {
                uint64_t u;
                memcpy(&u, &a->f, 8);
                *p++ = 0xcb;
                for (int k = 7; k >= 0; k--) *p++ = (uint8_t)(u >> (8 * k));
                break;
            }
            case WASMSTREAM_ARG_STR: p = put_str_bytes(p, a->bytes.ptr, a->bytes.len); break;
            case WASMSTREAM_ARG_BIN: p = put_bin(p, a->bytes.ptr ? a->bytes.ptr : (const uint8_t *)"", a->bytes.len); break;
            default: *p++ = 0xc0;
            }
        }
    }
    if (req->body.ptr) p = put_bin(put_key(p, "body"), req->body.ptr, req->body.len);
    if (req->command_len) {
        p = put_array_header(put_key(p, "command"), (uint32_t)req->command_len);
        for (size_t i = 0; i < req->command_len; i++) p = put_str_bytes(p, req->command[i].ptr, req->command[i].len);
    }
    if (req->context.ptr) p = put_bin(put_key(p, "context"), req->context.ptr, req->context.len);
    if (req->headers_len) {
        p = put_map_header(put_key(p, "headers"), (uint32_t)req->headers_len);
        for (size_t i = 0; i < req->headers_len; i++) {
            p = put_str_bytes(p, req->headers[i].name.ptr, req->headers[i].name.len);
            p = put_str_bytes(p, req->headers[i].value.ptr, req->headers[i].value.len);
        }
    }
    if (req->method) p = put_str(put_key(p, "method"), req->method, strlen(req->method));
    if (req->path) p = put_str(put_key(p, "path"), req->path, strlen(req->path));
    if (req->query) p = put_str(put_key(p, "query"), req->query, strlen(req->query));
    p = put_str(put_key(p, "target"), target, strlen(target));
    return (size_t)(p - *buf);
}

uint8_t *wasmstream_encode_request(const wasmstream_request *req, size_t *len) {
    uint8_t *buf = NULL;
    size_t cap = 0;
    *len = encode_request(req, &buf, &cap);
    if (!*len) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The request buffer: grow-only, reused by every submit. */
static uint8_t *req_buf;
static size_t req_cap;

int64_t wasmstream_submit(const wasmstream_request *req) {
    if (!current_op || !current_op->on_result)
        return wasmstream_error("wasmstream: wasmstream_submit without an on_result handler: set .on_result in "
                                "WASMSTREAM_OPERATOR to receive the results");
    size_t n = encode_request(req, &req_buf, &req_cap);
    if (!n) return wasmstream_error("wasmstream: out of memory for an async request");
    int64_t t = host_async_submit(req_buf, n);
    if (LIKELY(t >= 0)) return t;
    switch (t) {
    case WASMSTREAM_ERR_TOO_LARGE:
        wasmstream_error("wasmstream: async request refused: too large (async.max_request or async.max_context)");
        return t;
    case WASMSTREAM_ERR_CAPACITY:
        wasmstream_error("wasmstream: async request refused: capacity full (async.capacity requests in flight)");
        return t;
    }
    return wasmstream_error("wasmstream: async request refused (status %lld): an undeclared target, or a request its "
                            "declaration does not allow",
                            (long long)t);
}

/* Splits the nil, bin or str item at p: its payload in *item (nil: ptr
 * NULL), and the next item's address, or NULL when p does not start a
 * whole such item. */
static const uint8_t *reply_item(const uint8_t *p, const uint8_t *end, wasmstream_bytes *item) {
    size_t avail = (size_t)(end - p), n, h;
    if (avail < 1) return NULL;
    uint8_t c = p[0];
    if (c == 0xc0) {
        *item = (wasmstream_bytes){NULL, 0};
        return p + 1;
    }
    if (c >= 0xa0 && c <= 0xbf) n = c & 0x1f, h = 1;
    else if (avail >= 2 && (c == 0xc4 || c == 0xd9)) n = p[1], h = 2;
    else if (avail >= 3 && (c == 0xc5 || c == 0xda)) n = (size_t)be(p + 1, 2), h = 3;
    else if (avail >= 5 && (c == 0xc6 || c == 0xdb)) n = (size_t)be(p + 1, 4), h = 5;
    else return NULL;
    if (avail - h < n) return NULL;
    *item = (wasmstream_bytes){(uint8_t *)p + h, n};
    return p + h + n;
}

int wasmstream_redis_items(wasmstream_bytes body, wasmstream_items *items) {
    *items = (wasmstream_items){0, NULL, NULL};
    const uint8_t *p = body.ptr, *end = body.ptr + body.len;
    size_t n, h;
    uint8_t c = body.len ? p[0] : 0;
    if (c >= 0x90 && c <= 0x9f) n = c & 0x0f, h = 1;
    else if (c == 0xdc && body.len >= 3) n = (size_t)be(p + 1, 2), h = 3;
    else if (c == 0xdd && body.len >= 5) n = (size_t)be(p + 1, 4), h = 5;
    else return wasmstream_error("wasmstream: not an array reply");
    const uint8_t *first = p + h;
    p = first;
    wasmstream_bytes item;
    for (size_t i = 0; i < n; i++)
        if (!(p = reply_item(p, end, &item)))
            return wasmstream_error("wasmstream: array reply element %zu is not bin, str or nil", i);
    if (p != end) return wasmstream_error("wasmstream: %zu trailing bytes after the array reply", (size_t)(end - p));
    *items = (wasmstream_items){n, first, end};
    return WASMSTREAM_OK;
}

bool wasmstream_items_next(wasmstream_items *items, wasmstream_bytes *item) {
    if (!items->len || !items->_p) return false;
    items->_p = reply_item(items->_p, items->_end, item); /* checked by wasmstream_redis_items */
    items->len--;
    return true;
}

/* ---- the operator ------------------------------------------------------ */

static uint8_t *in_buf, *scratch_buf;
static size_t in_cap, scratch_cap;
static bool busy;
static writer out_w;
static uint32_t generation;

/* A grow-only buffer, so that after the first calls alloc costs nothing.
 * Inside a call (a host function calling alloc) it is a second one, so the
 * frame being processed is not overwritten. */
static uint8_t *input_buffer(size_t n) {
    uint8_t **buf = busy ? &scratch_buf : &in_buf;
    size_t *cap = busy ? &scratch_cap : &in_cap;
    if (*cap < n || !*buf) {
        size_t c = 2 * *cap;
        if (c < n) c = n;
        if (c < MIN_ALLOC) c = MIN_ALLOC;
        free(*buf);
        *buf = malloc(c);
        *cap = *buf ? c : 0;
    }
    return *buf;
}

static const char *check_operator(const wasmstream_operator *op) {
    int n = !!op->map + !!op->filter + !!op->flat_map + !!op->process_batch;
    if (n == 1) return NULL;
    if (n == 0) return "wasmstream: no handler registered; set one of .map, .filter, .flat_map or .process_batch in WASMSTREAM_OPERATOR";
    return "wasmstream: more than one handler set in WASMSTREAM_OPERATOR; set exactly one of .map, .filter, .flat_map or .process_batch";
}

static int handler_failed(const char *kind, int rc) {
    if (!err_set)
        wasmstream_error("wasmstream: the %s handler returned %d without setting an error message; return wasmstream_error(...)",
                         kind, rc);
    return WASMSTREAM_ERR;
}

/*
 * Reads the frame's async results (element 1, which the reader is at) and
 * hands each to fn: an array of fixarrays [ticket, status, context, code,
 * body, error], in any valid encoding of those types.
 */
static int deliver_results(reader *r, wasmstream_result_fn fn, wasmstream_emitter *e) {
    r->what = "decoding async results";
    uint32_t n;
    if (array_header(r, &n)) return -1;
    if ((uint64_t)n * 7 > r->len - r->off)
        return fail(r, r->off, "frame declares %u async results but has only %zu bytes left", n, r->len - r->off);
    for (uint32_t i = 0; i < n; i++) {
        size_t at = r->off;
        uint32_t f;
        if (array_header(r, &f)) return -1;
        if (f < 6) return fail(r, at, "async result %u has %u fields; want 6", i, f);
        wasmstream_result res;
        wasmstream_bytes err;
        int64_t ticket, status;
        bool canon = true;
        if (int_slow(r, "ticket", &canon, &ticket) || int_slow(r, "status", &canon, &status) ||
            bin_slow(r, "context", false, &canon, &res.context) || int_slow(r, "code", &canon, &res.code) ||
            bin_slow(r, "body", false, &canon, &res.body) || bin_slow(r, "error", true, &canon, &err))
            return -1;
        for (uint32_t j = 6; j < f; j++)
            if (skip_value(r, 0)) return -1;
        res.ticket = (uint64_t)ticket, res.status = (int32_t)status;
        res.error = (wasmstream_str){(const char *)err.ptr, err.len};
        busy = true;
        int st = fn(&res, e);
        busy = false;
        if (UNLIKELY(st != 0)) return handler_failed("on_result", st);
    }
    r->what = "decoding input batch";
    return 0;
}

static int run_process(const wasmstream_operator *op, uint8_t *frame, size_t len, const uint8_t **out,
                       size_t *out_len) {
    err_set = false;
    const char *bad = check_operator(op);
    if (bad) return wasmstream_error("%s", bad);
    if (++generation == 0) generation = 1;
    wasmstream_batch b = {0};
    if (reader_init(&b.r, frame, len, generation)) return WASMSTREAM_ERR;
    writer_reset(&out_w, frame);
    wasmstream_emitter e = {.w = &out_w, .gen = generation, .raw_ok = true};
    wasmstream_record rec;
    int rc = 0;
    busy = true;
    if (op->map) {
        wasmstream_map_fn fn = op->map;
        while ((rc = next_record(&b.r, &rec)) == 1) {
            int st = fn(&rec);
            if (UNLIKELY(st != 0)) {
                busy = false;
                return handler_failed("map", st);
            }
            emit(&e, &rec, rec.output.ptr, rec.output.len);
        }
    } else if (op->filter) {
        wasmstream_filter_fn fn = op->filter;
        while ((rc = next_record(&b.r, &rec)) == 1) {
            int st = fn(&rec);
            if (st > 0) {
                emit(&e, &rec, rec.output.ptr, rec.output.len);
            } else if (UNLIKELY(st < 0)) {
                busy = false;
                return handler_failed("filter", st);
            }
        }
    } else if (op->flat_map) {
        wasmstream_flat_map_fn fn = op->flat_map;
        while ((rc = next_record(&b.r, &rec)) == 1) {
            int st = fn(&rec, &e);
            if (UNLIKELY(st != 0)) {
                busy = false;
                return handler_failed("flat_map", st);
            }
        }
    } else {
        int st = op->process_batch(&b, &e);
        if (st != 0 && !b.failed) {
            busy = false;
            return handler_failed("process_batch", st);
        }
    }
    busy = false;
    if (rc < 0 || b.failed || reader_drain(&b.r)) return WASMSTREAM_ERR;
    /* An operator without on_result submits nothing, so the host sends it
     * no results: element 1 is skipped like any other. */
    uint32_t rest = 1;
    if (op->on_result && b.r.total >= 2) {
        if (deliver_results(&b.r, op->on_result, &e)) return WASMSTREAM_ERR;
        rest = 2;
    }
    if (reader_rest(&b.r, rest)) return WASMSTREAM_ERR;
    if (e.too_many)
        return wasmstream_error("wasmstream: more than %u records emitted from one batch, the ABI's limit per frame; split the work across batches",
                                WASMSTREAM_MAX_RECORDS);
    if (out_w.oom) return wasmstream_error("wasmstream: out of memory for the output batch");
    writer_finish(&out_w, len, plain_header(&b.r), b.r.count, out, out_len);
    if (out_w.oom) return wasmstream_error("wasmstream: out of memory for the output batch");
    return WASMSTREAM_OK;
}

/* A process call: what it writes to state is applied only if it succeeds
 * (by the host, or natively by the stand-in). */
static int process(const wasmstream_operator *op, uint8_t *frame, size_t len, const uint8_t **out, size_t *out_len) {
    state_begin();
    async_begin();
    current_op = op;
    int rc = run_process(op, frame, len, out, out_len);
    current_op = NULL;
    async_end(rc == WASMSTREAM_OK);
    state_end(rc == WASMSTREAM_OK);
    return rc;
}

int wasmstream_run_frame(const wasmstream_operator *op, const uint8_t *frame, size_t len, const uint8_t **out,
                         size_t *out_len) {
    uint8_t *buf = input_buffer(len);
    if (!buf) return wasmstream_error("wasmstream: out of memory for a %zu-byte input batch", len);
    if (len) memcpy(buf, frame, len);
    return process(op, buf, len, out, out_len);
}

/* ---- configuration ----------------------------------------------------- */

static uint8_t *cfg_payload;
static wasmstream_config cfg;
static void **arena;
static size_t arena_len, arena_cap;

/* Allocations that live as long as the configuration. */
static void *arena_alloc(size_t n) {
    if (arena_len == arena_cap) {
        size_t c = arena_cap ? 2 * arena_cap : 16;
        void **a = realloc(arena, c * sizeof *a);
        if (!a) return NULL;
        arena = a, arena_cap = c;
    }
    void *p = malloc(n ? n : 1);
    if (p) arena[arena_len++] = p;
    return p;
}

static char *arena_str(const uint8_t *s, size_t n) {
    char *p = arena_alloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static bool is_str(uint8_t c) { return (c >= 0xa0 && c <= 0xbf) || (c >= 0xd9 && c <= 0xdb); }
static bool is_map(uint8_t c) { return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf; }
static bool is_array(uint8_t c) { return (c >= 0x90 && c <= 0x9f) || c == 0xdc || c == 0xdd; }
static bool is_int(uint8_t c) { return c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3); }

static int map_header(reader *r, uint32_t *n) {
    NEED(r, 1);
    uint8_t c = r->base[r->off];
    if (c >= 0x80 && c <= 0x8f) *n = c & 0x0f, r->off += 1;
    else if (c == 0xde) {
        NEED(r, 3);
        *n = (uint32_t)be(r->base + r->off + 1, 2), r->off += 3;
    } else {
        NEED(r, 5);
        *n = (uint32_t)be(r->base + r->off + 1, 4), r->off += 5;
    }
    return 0;
}

/* Checks one value as the host's DecodeValue does: every map key a string. */
static int check_value(reader *r, int depth) {
    if (depth > MAX_DEPTH) return fail(r, r->off, "values nested too deeply");
    NEED(r, 1);
    uint8_t c = r->base[r->off];
    if (is_map(c)) {
        uint32_t n;
        if (map_header(r, &n)) return -1;
        if (2 * (uint64_t)n > r->len - r->off) return fail(r, r->off, "map longer than the bytes left");
        for (uint32_t i = 0; i < n; i++) {
            NEED(r, 1);
            if (!is_str(r->base[r->off])) {
                size_t at = r->off;
                if (check_value(r, depth + 1)) return -1;
                (void)at;
                return fail(r, r->off, "map key is %s; want a string", type_name(r->base[at]));
            }
            if (check_value(r, depth + 1) || check_value(r, depth + 1)) return -1;
        }
        return 0;
    }
    if (is_array(c)) {
        uint32_t n;
        if (array_header(r, &n)) return -1;
        if (n > r->len - r->off) return fail(r, r->off, "array longer than the bytes left");
        for (uint32_t i = 0; i < n; i++)
            if (check_value(r, depth + 1)) return -1;
        return 0;
    }
    if (c == 0xc1 || (c >= 0xc7 && c <= 0xc9) || (c >= 0xd4 && c <= 0xd8))
        return fail(r, r->off, "unsupported msgpack type %s", type_name(c));
    return skip_value(r, depth);
}

/* Reads a str at the reader into the arena. */
static char *read_str(reader *r) {
    wasmstream_bytes b;
    bool c = true;
    if (bin_slow(r, "value", true, &c, &b)) return NULL;
    return arena_str(b.ptr ? b.ptr : (const uint8_t *)"", b.len);
}

/* Reads an integer value that fits in an int64. */
static bool read_int(reader *r, int64_t *v) {
    bool c = true;
    uint8_t t = r->base[r->off];
    if (!is_int(t)) return false;
    if (t == 0xcf && be(r->base + r->off + 1, 8) > (uint64_t)INT64_MAX) return false;
    return int_slow(r, "value", &c, v) == 0;
}

static int decode_config(uint8_t *payload, size_t len) {
    reader r = {.base = payload, .len = len, .what = "decoding init config"};
    if (check_value(&r, 0)) return WASMSTREAM_ERR;
    if (r.off != len) return fail(&r, r.off, "trailing bytes after the value");
    if (!is_map(payload[0])) return wasmstream_error("decoding init config: want a map, got %s", type_name(payload[0]));
    cfg = (wasmstream_config){.pipeline = "", .operator_name = "", .outputs = NULL};
    static const char *const no_outputs[1] = {NULL};
    cfg.outputs = no_outputs;
    r.off = 0;
    uint32_t n;
    map_header(&r, &n);
    for (uint32_t i = 0; i < n; i++) {
        wasmstream_bytes key;
        bool c = true;
        bin_slow(&r, "key", true, &c, &key);
        size_t at = r.off;
        uint8_t t = payload[at];
#define KEY(s) (key.len == sizeof(s) - 1 && memcmp(key.ptr, s, key.len) == 0)
        if (KEY("pipeline") && is_str(t)) {
            if (!(cfg.pipeline = read_str(&r))) goto oom;
        } else if (KEY("operator") && is_str(t)) {
            if (!(cfg.operator_name = read_str(&r))) goto oom;
        } else if (KEY("instance") && is_int(t)) {
            int64_t v;
            if (read_int(&r, &v)) cfg.instance = v;
            r.off = at;
            skip_value(&r, 0);
        } else if (KEY("outputs") && is_array(t)) {
            uint32_t m;
            array_header(&r, &m);
            const char **outs = arena_alloc((m + 1) * sizeof *outs);
            if (!outs) goto oom;
            size_t k = 0;
            for (uint32_t j = 0; j < m; j++) {
                if (is_str(payload[r.off])) {
                    if (!(outs[k++] = read_str(&r))) goto oom;
                } else {
                    skip_value(&r, 0);
                }
            }
            outs[k] = NULL;
            cfg.outputs = outs, cfg.outputs_len = k;
        } else {
            if (KEY("params") && is_map(t)) cfg._params = payload + at;
            skip_value(&r, 0);
            if (KEY("params") && is_map(t)) cfg._params_len = r.off - at;
        }
#undef KEY
    }
    return WASMSTREAM_OK;
oom:
    return wasmstream_error("decoding init config: out of memory");
}

static int run_init(const wasmstream_operator *op, const uint8_t *payload, size_t len) {
    err_set = false;
    const char *bad = check_operator(op);
    if (bad) return wasmstream_error("%s", bad);
    /* The configuration outlives the call: keep the payload and what is
     * decoded from it until the next init. */
    for (size_t i = 0; i < arena_len; i++) free(arena[i]);
    arena_len = 0;
    free(cfg_payload);
    cfg_payload = malloc(len ? len : 1);
    if (!cfg_payload) return wasmstream_error("decoding init config: out of memory");
    if (len) memcpy(cfg_payload, payload, len);
    if (decode_config(cfg_payload, len)) return WASMSTREAM_ERR;
    if (!op->on_init) return WASMSTREAM_OK;
    busy = true;
    int st = op->on_init(&cfg);
    busy = false;
    return st == 0 ? WASMSTREAM_OK : handler_failed("on_init", st);
}

int wasmstream_run_init(const wasmstream_operator *op, const uint8_t *payload, size_t len) {
    state_begin();
    async_begin();
    current_op = op;
    int rc = run_init(op, payload, len);
    current_op = NULL;
    async_end(rc == WASMSTREAM_OK);
    state_end(rc == WASMSTREAM_OK);
    return rc;
}

/* Finds the param name: its value's encoding in *at, or false when it is
 * absent. A repeated key's last value wins, as in the host's decoder. */
static bool find_param(const wasmstream_config *c, const char *name, reader *r) {
    if (!c || !c->_params) return false;
    *r = (reader){.base = (uint8_t *)c->_params, .len = c->_params_len, .what = "params"};
    size_t nlen = strlen(name), found = 0;
    bool ok = false;
    uint32_t n;
    map_header(r, &n);
    for (uint32_t i = 0; i < n; i++) {
        wasmstream_bytes key;
        bool canon = true;
        bin_slow(r, "key", true, &canon, &key);
        if (key.len == nlen && memcmp(key.ptr, name, nlen) == 0) found = r->off, ok = true;
        skip_value(r, 0);
    }
    r->off = found;
    return ok;
}

static double read_float(reader *r) {
    uint8_t c = r->base[r->off];
    uint64_t u = be(r->base + r->off + 1, c == 0xcb ? 8 : 4);
    if (c == 0xcb) {
        double f;
        memcpy(&f, &u, 8);
        return f;
    }
    uint32_t u32 = (uint32_t)u;
    float f;
    memcpy(&f, &u32, 4);
    return f;
}

static int wrong_type(const char *name, const char *want, reader *r) {
    uint8_t c = r->base[r->off];
    size_t at = r->off;
    bool canon = true;
    if (is_str(c)) {
        wasmstream_bytes s;
        bin_slow(r, "value", true, &canon, &s);
        return wasmstream_error("params.%s: want %s, got a string \"%.*s\"", name, want, (int)s.len, (const char *)s.ptr);
    }
    if (c == 0xc2 || c == 0xc3)
        return wasmstream_error("params.%s: want %s, got a boolean %s", name, want, c == 0xc3 ? "true" : "false");
    if (is_int(c)) {
        int64_t v;
        if (read_int(r, &v)) return wasmstream_error("params.%s: want %s, got an integer %lld", name, want, (long long)v);
        return wasmstream_error("params.%s: want %s, got an integer %llu", name, want,
                                (unsigned long long)be(r->base + at + 1, 8));
    }
    if (c == 0xca || c == 0xcb) return wasmstream_error("params.%s: want %s, got a float %g", name, want, read_float(r));
    return wasmstream_error("params.%s: want %s, got %s", name, want,
                            is_array(c) ? "a list" : (c >= 0xc4 && c <= 0xc6) ? "bytes" : type_name(c));
}

int wasmstream_config_string(const wasmstream_config *c, const char *name, const char *def, const char **out) {
    reader r;
    *out = def;
    if (!find_param(c, name, &r) || r.base[r.off] == 0xc0) return WASMSTREAM_OK;
    if (!is_str(r.base[r.off])) return wrong_type(name, "a string", &r);
    const char *s = read_str(&r);
    if (!s) return wasmstream_error("params.%s: out of memory", name);
    *out = s;
    return WASMSTREAM_OK;
}

int wasmstream_config_int(const wasmstream_config *c, const char *name, int64_t def, int64_t *out) {
    reader r;
    *out = def;
    if (!find_param(c, name, &r) || r.base[r.off] == 0xc0) return WASMSTREAM_OK;
    uint8_t t = r.base[r.off];
    int64_t v;
    if (is_int(t)) {
        size_t at = r.off;
        if (read_int(&r, &v)) {
            *out = v;
            return WASMSTREAM_OK;
        }
        r.off = at;
    } else if (t == 0xca || t == 0xcb) {
        double f = read_float(&r);
        if (f == (double)(int64_t)f && f >= -9223372036854775808.0 && f < 9223372036854775808.0) {
            *out = (int64_t)f;
            return WASMSTREAM_OK;
        }
    }
    return wrong_type(name, "an integer", &r);
}

int wasmstream_config_bool(const wasmstream_config *c, const char *name, bool def, bool *out) {
    reader r;
    *out = def;
    if (!find_param(c, name, &r) || r.base[r.off] == 0xc0) return WASMSTREAM_OK;
    uint8_t t = r.base[r.off];
    if (t != 0xc2 && t != 0xc3) return wrong_type(name, "a boolean", &r);
    *out = t == 0xc3;
    return WASMSTREAM_OK;
}

int wasmstream_config_float(const wasmstream_config *c, const char *name, double def, double *out) {
    reader r;
    *out = def;
    if (!find_param(c, name, &r) || r.base[r.off] == 0xc0) return WASMSTREAM_OK;
    uint8_t t = r.base[r.off];
    if (t == 0xca || t == 0xcb) {
        *out = read_float(&r);
        return WASMSTREAM_OK;
    }
    if (is_int(t)) {
        int64_t v;
        size_t at = r.off;
        if (read_int(&r, &v)) *out = (double)v;
        else *out = (double)be(r.base + at + 1, 8);
        return WASMSTREAM_OK;
    }
    return wrong_type(name, "a number", &r);
}

bool wasmstream_config_param(const wasmstream_config *c, const char *name, const uint8_t **msgpack, size_t *len) {
    reader r;
    if (!find_param(c, name, &r)) return false;
    size_t at = r.off;
    skip_value(&r, 0);
    *msgpack = r.base + at, *len = r.off - at;
    return true;
}

bool wasmstream_config_has_output(const wasmstream_config *c, const char *name) {
    for (size_t i = 0; c && i < c->outputs_len; i++)
        if (strcmp(c->outputs[i], name) == 0) return true;
    return false;
}

/* ---- native helpers ---------------------------------------------------- */

uint8_t *wasmstream_encode_frame(const wasmstream_record *recs, size_t n, size_t *len) {
    writer w = {0};
    writer_reset(&w, NULL);
    for (size_t i = 0; i < n; i++) write_record(&w, &recs[i], recs[i].output.ptr, recs[i].output.len);
    if (w.oom) {
        free(w.buf);
        return NULL;
    }
    put_be(w.buf + 2, w.n, 4);
    *len = w.len;
    return w.buf;
}

uint8_t *wasmstream_encode_frame_results(const wasmstream_record *recs, size_t n, const wasmstream_result *results,
                                         size_t results_len, size_t *len) {
    uint8_t *frame = wasmstream_encode_frame(recs, n, len);
    if (!frame || results_len == 0) return frame;
    size_t need = *len + 5;
    for (size_t i = 0; i < results_len; i++)
        need += 1 + 9 + 9 + 5 + results[i].context.len + 9 + 5 + results[i].body.len + 5 + results[i].error.len;
    uint8_t *b = realloc(frame, need);
    if (!b) {
        free(frame);
        return NULL;
    }
    b[0] = 0x92;
    uint8_t *p = b + *len;
    *p++ = 0xdd;
    p = put_be(p, (uint32_t)results_len, 4);
    for (size_t i = 0; i < results_len; i++) {
        const wasmstream_result *r = &results[i];
        *p++ = 0x96;
        put_int(&p, (int64_t)r->ticket);
        put_int(&p, r->status);
        p = put_bin(p, r->context.ptr, r->context.len);
        put_int(&p, r->code);
        p = put_bin(p, r->body.ptr, r->body.len);
        p = r->error.ptr ? put_str(p, r->error.ptr, r->error.len) : (*p++ = 0xc0, p);
    }
    *len = (size_t)(p - b);
    return b;
}

int wasmstream_decode_frame(uint8_t *frame, size_t len, wasmstream_record **recs, size_t *n) {
    reader r;
    *recs = NULL, *n = 0;
    if (reader_init(&r, frame, len, 0)) return WASMSTREAM_ERR;
    r.what = "decoding frame";
    wasmstream_record *out = calloc(r.count ? r.count : 1, sizeof *out);
    if (!out) return wasmstream_error("wasmstream: out of memory");
    size_t k = 0;
    int rc;
    while ((rc = next_record(&r, &out[k])) == 1) out[k++]._orig.end = 0;
    if (rc < 0 || reader_finish(&r, false)) {
        free(out);
        return WASMSTREAM_ERR;
    }
    *recs = out, *n = k;
    return WASMSTREAM_OK;
}

uint8_t *wasmstream_encode_config(const char *pipeline, const char *operator_name, int64_t instance,
                                  const char *const *outputs, size_t outputs_len, const wasmstream_param *params,
                                  size_t params_len, size_t *len) {
    size_t need = 64 + strlen(pipeline) + strlen(operator_name);
    for (size_t i = 0; i < outputs_len; i++) need += 5 + strlen(outputs[i]);
    for (size_t i = 0; i < params_len; i++)
        need += 5 + strlen(params[i].name) + 10 + (params[i].type == WASMSTREAM_PARAM_STRING ? strlen(params[i].s) : 0);
    uint8_t *b = malloc(need), *p = b;
    if (!b) return NULL;
    /* The keys in sorted order, as the host writes them. */
    *p++ = 0x85;
    p = put_str(p, "instance", 8);
    put_int(&p, instance);
    p = put_str(p, "operator", 8);
    p = put_str(p, operator_name, strlen(operator_name));
    p = put_str(p, "outputs", 7);
    p = put_array_header(p, (uint32_t)outputs_len);
    for (size_t i = 0; i < outputs_len; i++) p = put_str(p, outputs[i], strlen(outputs[i]));
    p = put_str(p, "params", 6);
    if (params_len <= 15) *p++ = (uint8_t)(0x80 | params_len);
    else *p++ = 0xde, p = put_be(p, (uint32_t)params_len, 2);
    for (size_t i = 0; i < params_len; i++) {
        const wasmstream_param *q = &params[i];
        p = put_str(p, q->name, strlen(q->name));
        switch (q->type) {
        case WASMSTREAM_PARAM_STRING: p = put_str(p, q->s, strlen(q->s)); break;
        case WASMSTREAM_PARAM_INT: put_int(&p, q->i); break;
        case WASMSTREAM_PARAM_BOOL: *p++ = q->b ? 0xc3 : 0xc2; break;
        case WASMSTREAM_PARAM_FLOAT: {
            uint64_t u;
            memcpy(&u, &q->f, 8);
            *p++ = 0xcb;
            for (int k = 7; k >= 0; k--) *p++ = (uint8_t)(u >> (8 * k));
            break;
        }
        default: *p++ = 0xc0;
        }
    }
    p = put_str(p, "pipeline", 8);
    p = put_str(p, pipeline, strlen(pipeline));
    *len = (size_t)(p - b);
    return b;
}

/* ---- the module's exports ---------------------------------------------- */

#ifdef __wasm__
extern const wasmstream_operator wasmstream_operator_def;

__attribute__((export_name("wasmstream_abi_version"))) int32_t wasmstream_export_abi_version(void) {
    return WASMSTREAM_ABI_VERSION;
}

__attribute__((export_name("wasmstream_language"))) int32_t wasmstream_export_language(void) {
    return WASMSTREAM_LANGUAGE_C;
}

__attribute__((export_name("alloc"))) void *wasmstream_export_alloc(size_t n) {
    uint8_t *p = input_buffer(n);
    /* The host would write the batch at address 0: trap instead (the host
     * reports the memory limit it hit). */
    if (!p) __builtin_trap();
    return p;
}

__attribute__((export_name("dealloc"))) void wasmstream_export_dealloc(void *ptr, size_t n) {
    (void)ptr, (void)n; /* alloc's buffer is reused, never freed */
}

__attribute__((export_name("init"))) int32_t wasmstream_export_init(uint8_t *ptr, size_t len) {
    if (wasmstream_run_init(&wasmstream_operator_def, ptr, len) == WASMSTREAM_OK) return WASMSTREAM_OK;
    host_set_error(err_buf ? err_buf : "", err_buf ? err_len : 0);
    return WASMSTREAM_ERR;
}

__attribute__((export_name("process"))) int64_t wasmstream_export_process(uint8_t *ptr, size_t len) {
    const uint8_t *out;
    size_t n;
    if (process(&wasmstream_operator_def, ptr, len, &out, &n) != WASMSTREAM_OK) {
        host_set_error(err_buf ? err_buf : "", err_buf ? err_len : 0);
        return -1;
    }
    return (int64_t)((uint64_t)(uintptr_t)out << 32 | (uint32_t)n);
}
#endif
