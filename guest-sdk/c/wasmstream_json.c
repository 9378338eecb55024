/*
 * wasmstream_json.c: the C SDK's JSON reader and writer (wasmstream_json.h).
 */
#include "wasmstream_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *wasmstream_json_strerror(int err) {
    switch (err) {
    case WASMSTREAM_JSON_OK: return "ok";
    case WASMSTREAM_JSON_ESYNTAX: return "invalid JSON";
    case WASMSTREAM_JSON_EUTF8: return "invalid UTF-8 in a JSON string";
    case WASMSTREAM_JSON_EDEPTH: return "JSON nested deeper than 128";
    case WASMSTREAM_JSON_ENOTFOUND: return "no JSON value at path";
    case WASMSTREAM_JSON_ETYPE: return "JSON value of another type";
    case WASMSTREAM_JSON_ERANGE: return "JSON number out of range";
    case WASMSTREAM_JSON_EWRITER: return "JSON writer used out of order";
    case WASMSTREAM_JSON_ENOSPACE: return "JSON output buffer too small";
    default: return "unknown JSON error";
    }
}

const char *wasmstream_json_kind_name(wasmstream_json_kind kind) {
    switch (kind) {
    case WASMSTREAM_JSON_NULL: return "null";
    case WASMSTREAM_JSON_BOOL: return "bool";
    case WASMSTREAM_JSON_NUMBER: return "number";
    case WASMSTREAM_JSON_STRING: return "string";
    case WASMSTREAM_JSON_ARRAY: return "array";
    case WASMSTREAM_JSON_OBJECT: return "object";
    }
    return "invalid";
}

/* ---- reading ---- */

typedef struct {
    const uint8_t *d;
    size_t n, pos;
    int err;
    bool found;
    wasmstream_json_kind kind;
    size_t start, end;
} scanner;

static void fail(scanner *s, int err) {
    if (!s->err) s->err = err;
}

static bool is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void ws(scanner *s) {
    while (s->pos < s->n && is_space(s->d[s->pos])) s->pos++;
}

static int peek(const scanner *s) { return s->pos < s->n ? s->d[s->pos] : -1; }

static int hexval(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static uint32_t hex4(const uint8_t *b) {
    return (uint32_t)(hexval(b[0]) << 12 | hexval(b[1]) << 8 | hexval(b[2]) << 4 | hexval(b[3]));
}

static size_t encode_utf8(uint32_t r, uint8_t out[4]) {
    if (r < 0x80) {
        out[0] = (uint8_t)r;
        return 1;
    }
    if (r < 0x800) {
        out[0] = (uint8_t)(0xC0 | r >> 6);
        out[1] = (uint8_t)(0x80 | (r & 0x3F));
        return 2;
    }
    if (r < 0x10000) {
        out[0] = (uint8_t)(0xE0 | r >> 12);
        out[1] = (uint8_t)(0x80 | (r >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (r & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | r >> 18);
    out[1] = (uint8_t)(0x80 | (r >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (r >> 6 & 0x3F));
    out[3] = (uint8_t)(0x80 | (r & 0x3F));
    return 4;
}

/* Decodes the escape at in[0] (a backslash) of a validated string, n bytes
 * left, into out; returns the bytes written, *used the bytes of in read. */
static size_t escape(const uint8_t *in, size_t n, uint8_t out[4], size_t *used) {
    *used = 2;
    switch (in[1]) {
    case 'b': out[0] = '\b'; return 1;
    case 'f': out[0] = '\f'; return 1;
    case 'n': out[0] = '\n'; return 1;
    case 'r': out[0] = '\r'; return 1;
    case 't': out[0] = '\t'; return 1;
    case 'u': {
        uint32_t r = hex4(in + 2);
        *used = 6;
        if (r >= 0xD800 && r <= 0xDBFF) {
            uint32_t lo = n >= 12 && in[6] == '\\' && in[7] == 'u' ? hex4(in + 8) : 0;
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                r = 0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00);
                *used = 12;
            } else {
                r = 0xFFFD;
            }
        } else if (r >= 0xDC00 && r <= 0xDFFF) {
            r = 0xFFFD;
        }
        return encode_utf8(r, out);
    }
    default: out[0] = in[1]; return 1; /* " \ / */
    }
}

/* Whether the validated string contents in[0..n) decode to s[0..sn). */
static bool text_eq(const uint8_t *in, size_t n, const char *s, size_t sn) {
    uint8_t tmp[4];
    while (n > 0) {
        if (in[0] != '\\') {
            if (sn == 0 || in[0] != (uint8_t)s[0]) return false;
            in++, n--, s++, sn--;
            continue;
        }
        size_t used, k = escape(in, n, tmp, &used);
        if (sn < k || memcmp(tmp, s, k) != 0) return false;
        in += used, n -= used, s += k, sn -= k;
    }
    return sn == 0;
}

/* The length of the valid UTF-8 sequence at b (b[0] >= 0x80, n bytes
 * left), or 0: no overlong forms, surrogates or code points past U+10FFFF. */
static size_t utf8_len(const uint8_t *b, size_t n) {
    size_t k;
    uint8_t lo = 0x80, hi = 0xBF, c = b[0];
    if (c >= 0xC2 && c <= 0xDF) k = 2;
    else if (c == 0xE0) k = 3, lo = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) k = 3;
    else if (c == 0xED) k = 3, hi = 0x9F;
    else if (c == 0xF0) k = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) k = 4;
    else if (c == 0xF4) k = 4, hi = 0x8F;
    else return 0;
    if (n < k || b[1] < lo || b[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if (b[i] < 0x80 || b[i] > 0xBF) return 0;
    return k;
}

static void string(scanner *s) {
    const uint8_t *d = s->d;
    s->pos++;
    while (s->pos < s->n) {
        uint8_t c = d[s->pos];
        if (c == '"') {
            s->pos++;
            return;
        } else if (c == '\\') {
            if (s->pos + 1 >= s->n) {
                s->pos = s->n;
                fail(s, WASMSTREAM_JSON_ESYNTAX);
                return;
            }
            switch (d[s->pos + 1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                s->pos += 2;
                break;
            case 'u':
                if (s->n - s->pos < 6 || hexval(d[s->pos + 2]) < 0 || hexval(d[s->pos + 3]) < 0 ||
                    hexval(d[s->pos + 4]) < 0 || hexval(d[s->pos + 5]) < 0) {
                    fail(s, WASMSTREAM_JSON_ESYNTAX);
                    return;
                }
                s->pos += 6;
                break;
            default:
                fail(s, WASMSTREAM_JSON_ESYNTAX);
                return;
            }
        } else if (c < 0x20) {
            fail(s, WASMSTREAM_JSON_ESYNTAX);
            return;
        } else if (c < 0x80) {
            s->pos++;
        } else {
            size_t k = utf8_len(d + s->pos, s->n - s->pos);
            if (!k) {
                fail(s, WASMSTREAM_JSON_EUTF8);
                return;
            }
            s->pos += k;
        }
    }
    fail(s, WASMSTREAM_JSON_ESYNTAX);
}

static size_t digits(scanner *s) {
    size_t start = s->pos;
    while (s->pos < s->n && s->d[s->pos] >= '0' && s->d[s->pos] <= '9') s->pos++;
    return s->pos - start;
}

static void number(scanner *s) {
    if (peek(s) == '-') s->pos++;
    if (peek(s) == '0') s->pos++;
    else if (!digits(s)) return fail(s, WASMSTREAM_JSON_ESYNTAX);
    if (peek(s) == '.') {
        s->pos++;
        if (!digits(s)) return fail(s, WASMSTREAM_JSON_ESYNTAX);
    }
    if (peek(s) == 'e' || peek(s) == 'E') {
        s->pos++;
        if (peek(s) == '+' || peek(s) == '-') s->pos++;
        if (!digits(s)) fail(s, WASMSTREAM_JSON_ESYNTAX);
    }
}

static void literal(scanner *s, const char *lit, size_t n) {
    if (s->n - s->pos < n || memcmp(s->d + s->pos, lit, n) != 0) return fail(s, WASMSTREAM_JSON_ESYNTAX);
    s->pos += n;
}

/* The array index a path segment names, or -1. */
static long seg_index(const char *seg, size_t n) {
    if (n == 0 || n > 9 || (seg[0] == '0' && n > 1)) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (seg[i] < '0' || seg[i] > '9') return -1;
        v = v * 10 + (seg[i] - '0');
    }
    return v;
}

/* One path followed through a document: match says the value about to be
 * read is on the path, at is where the rest of the path begins, and the
 * container at depth mdepth is the one whose members are compared with seg.
 * Once a member matched, that container compares no more (only the first of
 * duplicate keys is followed), and once a matched container closes without
 * the value, nothing else can match. */
typedef struct {
    const char *path;
    size_t path_len, at, next, seg_len;
    const char *seg;
    bool match, found, open; /* open: the found container has not closed */
    int mdepth, here_at;     /* 0: none */
    long elem, want;
    wasmstream_json_kind kind;
    size_t start, end;
} cursor;

static void cursor_init(cursor *c, const char *path) {
    memset(c, 0, sizeof *c);
    c->path = path;
    c->path_len = strlen(path);
    c->match = true;
    c->at = c->path_len == 0 ? 1 : 0;
    c->want = -1;
}

static void cursor_segment(cursor *c) {
    if (c->at > c->path_len) {
        c->seg = c->path;
        c->seg_len = 0;
        c->next = c->at;
        return;
    }
    const char *dot = memchr(c->path + c->at, '.', c->path_len - c->at);
    c->seg = c->path + c->at;
    if (dot) {
        c->seg_len = (size_t)(dot - c->seg);
        c->next = c->at + c->seg_len + 1;
    } else {
        c->seg_len = c->path_len - c->at;
        c->next = c->path_len + 1;
    }
}

static void cursor_take(cursor *c) {
    c->match = true;
    c->at = c->next;
    c->mdepth = 0;
}

/* Validates s->d, moving every cursor along it: one loop with an explicit
 * stack, so no document can exhaust the guest's stack. */
static void scan(scanner *s, cursor *cs, size_t ncs) {
    uint8_t stack[WASMSTREAM_JSON_MAX_DEPTH];
    int depth = 0;
    enum { VALUE, AFTER, KEY } st = VALUE;
    for (;;) {
        if (st == VALUE) {
            ws(s);
            int c = peek(s);
            size_t start = s->pos;
            wasmstream_json_kind kind;
            if (c == '{' || c == '[') {
                if (depth == WASMSTREAM_JSON_MAX_DEPTH) return fail(s, WASMSTREAM_JSON_EDEPTH);
                stack[depth++] = (uint8_t)c;
                s->pos++;
                for (size_t k = 0; k < ncs; k++) {
                    cursor *cu = &cs[k];
                    if (!cu->match || cu->found || cu->open) continue;
                    cu->match = false;
                    if (cu->at > cu->path_len) {
                        cu->kind = c == '{' ? WASMSTREAM_JSON_OBJECT : WASMSTREAM_JSON_ARRAY;
                        cu->start = start;
                        cu->open = true;
                        cu->here_at = depth;
                        continue;
                    }
                    cu->mdepth = depth;
                    cursor_segment(cu);
                    cu->elem = 0;
                    cu->want = c == '[' ? seg_index(cu->seg, cu->seg_len) : -1;
                }
                ws(s);
                if (peek(s) == c + 2) { /* '{'+2 is '}', '['+2 is ']' */
                    st = AFTER;
                    continue;
                }
                if (c == '{') {
                    st = KEY;
                    continue;
                }
                for (size_t k = 0; k < ncs; k++)
                    if (cs[k].mdepth == depth && cs[k].want == 0) cursor_take(&cs[k]);
                continue;
            }
            switch (c) {
            case '"': kind = WASMSTREAM_JSON_STRING; string(s); break;
            case 't': kind = WASMSTREAM_JSON_BOOL; literal(s, "true", 4); break;
            case 'f': kind = WASMSTREAM_JSON_BOOL; literal(s, "false", 5); break;
            case 'n': kind = WASMSTREAM_JSON_NULL; literal(s, "null", 4); break;
            default:
                if (c != '-' && (c < '0' || c > '9')) return fail(s, WASMSTREAM_JSON_ESYNTAX);
                kind = WASMSTREAM_JSON_NUMBER;
                number(s);
            }
            if (s->err) return;
            for (size_t k = 0; k < ncs; k++) {
                cursor *cu = &cs[k];
                if (cu->match && !cu->found && !cu->open && cu->at > cu->path_len) {
                    cu->found = true;
                    cu->kind = kind;
                    cu->start = start;
                    cu->end = s->pos;
                }
                cu->match = false;
            }
            st = AFTER;
        } else if (st == AFTER) {
            ws(s);
            if (depth == 0) {
                if (s->pos != s->n) fail(s, WASMSTREAM_JSON_ESYNTAX);
                return;
            }
            int c = peek(s), top = stack[depth - 1];
            if (c == ',') {
                s->pos++;
                if (top == '{') {
                    st = KEY;
                    continue;
                }
                for (size_t k = 0; k < ncs; k++) {
                    cursor *cu = &cs[k];
                    if (cu->mdepth == depth && ++cu->elem == cu->want) cursor_take(cu);
                }
                st = VALUE;
            } else if (c == top + 2) {
                s->pos++;
                for (size_t k = 0; k < ncs; k++) {
                    cursor *cu = &cs[k];
                    if (cu->open && cu->here_at == depth) {
                        cu->open = false;
                        cu->found = true;
                        cu->end = s->pos;
                    }
                    if (cu->mdepth == depth) cu->mdepth = 0;
                }
                depth--;
            } else {
                return fail(s, WASMSTREAM_JSON_ESYNTAX);
            }
        } else {
            ws(s);
            if (peek(s) != '"') return fail(s, WASMSTREAM_JSON_ESYNTAX);
            size_t kstart = s->pos + 1;
            string(s);
            if (s->err) return;
            for (size_t k = 0; k < ncs; k++) {
                cursor *cu = &cs[k];
                if (cu->mdepth == depth && text_eq(s->d + kstart, s->pos - 1 - kstart, cu->seg, cu->seg_len))
                    cursor_take(cu);
            }
            ws(s);
            if (peek(s) != ':') return fail(s, WASMSTREAM_JSON_ESYNTAX);
            s->pos++;
            st = VALUE;
        }
    }
}

/* Validates doc and locates path in it when want is set. */
static int find(scanner *s, const uint8_t *doc, size_t len, const char *path, bool want) {
    memset(s, 0, sizeof *s);
    s->d = doc;
    s->n = len;
    cursor c;
    cursor_init(&c, path);
    scan(s, &c, want ? 1 : 0);
    if (s->err) return s->err;
    if (!want) return WASMSTREAM_JSON_OK;
    if (!c.found) return WASMSTREAM_JSON_ENOTFOUND;
    s->found = true;
    s->kind = c.kind;
    s->start = c.start;
    s->end = c.end;
    return WASMSTREAM_JSON_OK;
}

int wasmstream_json_get_all(const uint8_t *doc, size_t len, const char *const *paths, size_t n,
                            wasmstream_json_value *out) {
    if (n > WASMSTREAM_JSON_MAX_PATHS) return WASMSTREAM_JSON_ETYPE;
    cursor cs[WASMSTREAM_JSON_MAX_PATHS];
    for (size_t i = 0; i < n; i++) cursor_init(&cs[i], paths[i]);
    scanner s;
    memset(&s, 0, sizeof s);
    s.d = doc;
    s.n = len;
    scan(&s, cs, n);
    if (s.err) return s.err;
    for (size_t i = 0; i < n; i++) {
        out[i].kind = cs[i].found ? cs[i].kind : 0;
        out[i].ptr = cs[i].found ? doc + cs[i].start : NULL;
        out[i].len = cs[i].found ? cs[i].end - cs[i].start : 0;
    }
    return WASMSTREAM_JSON_OK;
}

int wasmstream_json_valid(const uint8_t *doc, size_t len, size_t *offset) {
    scanner s;
    int err = find(&s, doc, len, "", false);
    if (err && offset) *offset = s.pos;
    return err;
}

int wasmstream_json_get(const uint8_t *doc, size_t len, const char *path, wasmstream_json_value *out) {
    scanner s;
    int err = find(&s, doc, len, path, true);
    if (err) return err;
    out->kind = s.kind;
    out->ptr = doc + s.start;
    out->len = s.end - s.start;
    return WASMSTREAM_JSON_OK;
}

int wasmstream_json_text(const wasmstream_json_value *v, uint8_t *buf, size_t cap, const uint8_t **out,
                         size_t *out_len) {
    if (v->kind != WASMSTREAM_JSON_STRING) return WASMSTREAM_JSON_ETYPE;
    const uint8_t *in = v->ptr + 1;
    size_t n = v->len - 2;
    if (!memchr(in, '\\', n)) {
        *out = in;
        *out_len = n;
        return WASMSTREAM_JSON_OK;
    }
    size_t w = 0;
    uint8_t tmp[4];
    while (n > 0) {
        if (in[0] != '\\') {
            if (w == cap) return WASMSTREAM_JSON_ENOSPACE;
            buf[w++] = *in++;
            n--;
            continue;
        }
        size_t used, k = escape(in, n, tmp, &used);
        if (cap - w < k) return WASMSTREAM_JSON_ENOSPACE;
        memcpy(buf + w, tmp, k);
        w += k, in += used, n -= used;
    }
    *out = buf;
    *out_len = w;
    return WASMSTREAM_JSON_OK;
}

bool wasmstream_json_text_eq(const wasmstream_json_value *v, const char *s, size_t n) {
    return v->kind == WASMSTREAM_JSON_STRING && text_eq(v->ptr + 1, v->len - 2, s, n);
}

int wasmstream_json_int(const wasmstream_json_value *v, int64_t *out) {
    if (v->kind != WASMSTREAM_JSON_NUMBER) return WASMSTREAM_JSON_ETYPE;
    const uint8_t *b = v->ptr;
    size_t n = v->len;
    for (size_t i = 0; i < n; i++)
        if (b[i] == '.' || b[i] == 'e' || b[i] == 'E') return WASMSTREAM_JSON_ETYPE;
    bool neg = b[0] == '-';
    uint64_t u = 0;
    for (size_t i = neg; i < n; i++) {
        uint64_t d = (uint64_t)(b[i] - '0');
        if (u > (UINT64_MAX - d) / 10) return WASMSTREAM_JSON_ERANGE;
        u = u * 10 + d;
    }
    if (neg) {
        if (u > (uint64_t)1 << 63) return WASMSTREAM_JSON_ERANGE;
        *out = u == (uint64_t)1 << 63 ? INT64_MIN : -(int64_t)u;
    } else {
        if (u > (uint64_t)INT64_MAX) return WASMSTREAM_JSON_ERANGE;
        *out = (int64_t)u;
    }
    return WASMSTREAM_JSON_OK;
}

int wasmstream_json_float(const wasmstream_json_value *v, double *out) {
    if (v->kind != WASMSTREAM_JSON_NUMBER) return WASMSTREAM_JSON_ETYPE;
    /* strtod needs a terminated copy; a number longer than the stack buffer
     * (hundreds of digits) is copied to the heap. */
    char stack[128];
    char *tmp = v->len < sizeof stack ? stack : malloc(v->len + 1);
    if (!tmp) return WASMSTREAM_JSON_ERANGE;
    memcpy(tmp, v->ptr, v->len);
    tmp[v->len] = 0;
    double f = strtod(tmp, NULL);
    if (tmp != stack) free(tmp);
    if (isinf(f)) return WASMSTREAM_JSON_ERANGE;
    *out = f;
    return WASMSTREAM_JSON_OK;
}

int wasmstream_json_bool(const wasmstream_json_value *v, bool *out) {
    if (v->kind != WASMSTREAM_JSON_BOOL) return WASMSTREAM_JSON_ETYPE;
    *out = v->ptr[0] == 't';
    return WASMSTREAM_JSON_OK;
}

/* ---- writing ---- */

/* out is a bounded output: len counts every byte written or wanted. */
typedef struct {
    uint8_t *buf;
    size_t cap, len;
} out_buf;

static void put(out_buf *o, const void *p, size_t n) {
    if (o->len <= o->cap && o->cap - o->len >= n) memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void put_byte(out_buf *o, uint8_t c) { put(o, &c, 1); }

static void quote(out_buf *o, const uint8_t *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    put_byte(o, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(o, s + start, i - start);
        switch (c) {
        case '"': put(o, "\\\"", 2); break;
        case '\\': put(o, "\\\\", 2); break;
        case '\n': put(o, "\\n", 2); break;
        case '\r': put(o, "\\r", 2); break;
        case '\t': put(o, "\\t", 2); break;
        case '\b': put(o, "\\b", 2); break;
        case '\f': put(o, "\\f", 2); break;
        default: {
            uint8_t u[6] = {'\\', 'u', '0', '0', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]};
            put(o, u, 6);
        }
        }
        start = i + 1;
    }
    put(o, s + start, n - start);
    put_byte(o, '"');
}

static int done(const out_buf *o, size_t *len) {
    if (len) *len = o->len;
    return o->len > o->cap ? WASMSTREAM_JSON_ENOSPACE : WASMSTREAM_JSON_OK;
}

int wasmstream_json_quote(uint8_t *dst, size_t cap, const void *s, size_t n, size_t *len) {
    out_buf o = {dst, cap, 0};
    quote(&o, s, n);
    return done(&o, len);
}

static int set_unchecked(uint8_t *dst, size_t cap, const uint8_t *doc, size_t len, const char *path,
                         const uint8_t *value, size_t value_len, size_t *out_len);

int wasmstream_json_set(uint8_t *dst, size_t cap, const uint8_t *doc, size_t len, const char *path,
                        const uint8_t *value, size_t value_len, size_t *out_len) {
    scanner s;
    int err = find(&s, value, value_len, "", false);
    if (err) return err;
    err = set_unchecked(dst, cap, doc, len, path, value, value_len, out_len);
    if (err) return err;
    /* A container value may nest the result deeper than the limit. */
    size_t i = 0;
    while (is_space(value[i])) i++;
    if (value[i] == '{' || value[i] == '[') return find(&s, dst, *out_len, "", false);
    return WASMSTREAM_JSON_OK;
}

static int set_unchecked(uint8_t *dst, size_t cap, const uint8_t *doc, size_t len, const char *path,
                         const uint8_t *value, size_t value_len, size_t *out_len) {
    scanner s;
    int err;
    err = find(&s, doc, len, path, true);
    out_buf o = {dst, cap, 0};
    if (!err) {
        put(&o, doc, s.start);
        put(&o, value, value_len);
        put(&o, doc + s.end, len - s.end);
        return done(&o, out_len);
    }
    if (err != WASMSTREAM_JSON_ENOTFOUND || !*path) return err;
    const char *dot = strrchr(path, '.');
    char stack[128];
    size_t plen = dot ? (size_t)(dot - path) : 0;
    char *parent = plen < sizeof stack ? stack : malloc(plen + 1);
    if (!parent) return WASMSTREAM_JSON_ENOSPACE;
    memcpy(parent, path, plen);
    parent[plen] = 0;
    err = find(&s, doc, len, parent, true);
    if (parent != stack) free(parent);
    if (err) return err;
    if (s.kind != WASMSTREAM_JSON_OBJECT) return WASMSTREAM_JSON_ENOTFOUND;
    const char *key = dot ? dot + 1 : path;
    size_t closing = s.end - 1;
    put(&o, doc, closing);
    for (size_t i = s.start + 1; i < closing; i++) {
        if (!is_space(doc[i])) {
            put_byte(&o, ',');
            break;
        }
    }
    quote(&o, (const uint8_t *)key, strlen(key));
    put_byte(&o, ':');
    put(&o, value, value_len);
    put(&o, doc + closing, len - closing);
    return done(&o, out_len);
}

static bool escaped(const uint8_t *doc, size_t i) {
    size_t n = 0;
    while (i > 0 && doc[i - 1] == '\\') i--, n++;
    return n % 2 == 1;
}

int wasmstream_json_delete(uint8_t *dst, size_t cap, const uint8_t *doc, size_t len, const char *path,
                           size_t *out_len) {
    scanner s;
    int err = find(&s, doc, len, path, *path != 0);
    if (err) return err;
    if (!*path) return WASMSTREAM_JSON_ENOTFOUND;
    size_t start = s.start, end = s.end, i = start - 1;
    while (is_space(doc[i])) i--;
    if (doc[i] == ':') {
        i--;
        while (is_space(doc[i])) i--;
        i--; /* inside the key, before its closing quote */
        while (!(doc[i] == '"' && !escaped(doc, i))) i--;
        start = i;
        i--;
        while (is_space(doc[i])) i--;
    }
    size_t j = end;
    while (j < len && is_space(doc[j])) j++;
    if (doc[j] == ',') {
        end = j + 1;
        while (end < len && is_space(doc[end])) end++;
    } else if (doc[i] == ',') {
        start = i;
        while (is_space(doc[start - 1])) start--;
    }
    out_buf o = {dst, cap, 0};
    put(&o, doc, start);
    put(&o, doc + end, len - end);
    return done(&o, out_len);
}

void wasmstream_json_writer_init(wasmstream_json_writer *w, uint8_t *buf, size_t cap) {
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->err = 0;
    w->depth = 0;
    w->key = false;
    w->count[0] = 0;
}

static void wput(wasmstream_json_writer *w, const void *p, size_t n) {
    if (w->err) return;
    if (w->cap - w->len < n) {
        w->err = WASMSTREAM_JSON_ENOSPACE;
        return;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static bool pre(wasmstream_json_writer *w) {
    if (w->err) return false;
    if (w->depth > 0 && w->open[w->depth - 1] == '{') {
        if (!w->key) {
            w->err = WASMSTREAM_JSON_EWRITER;
            return false;
        }
        w->key = false;
    } else if (w->depth == 0 && w->count[0] > 0) {
        w->err = WASMSTREAM_JSON_EWRITER;
        return false;
    } else if (w->count[w->depth] > 0) {
        wput(w, ",", 1);
    }
    w->count[w->depth]++;
    return !w->err;
}

int wasmstream_json_finish(wasmstream_json_writer *w, size_t *len) {
    if (!w->err && (w->depth != 0 || w->key)) w->err = WASMSTREAM_JSON_EWRITER;
    if (!w->err && len) *len = w->len;
    return w->err;
}

static void begin(wasmstream_json_writer *w, uint8_t c) {
    if (!w->err && w->depth == WASMSTREAM_JSON_MAX_DEPTH) w->err = WASMSTREAM_JSON_EWRITER;
    if (!pre(w)) return;
    wput(w, &c, 1);
    w->open[w->depth++] = c;
    w->count[w->depth] = 0;
}

static void end(wasmstream_json_writer *w, uint8_t open, uint8_t c) {
    if (w->err) return;
    if (w->depth == 0 || w->open[w->depth - 1] != open || w->key) {
        w->err = WASMSTREAM_JSON_EWRITER;
        return;
    }
    wput(w, &c, 1);
    w->depth--;
}

void wasmstream_json_begin_object(wasmstream_json_writer *w) { begin(w, '{'); }
void wasmstream_json_end_object(wasmstream_json_writer *w) { end(w, '{', '}'); }
void wasmstream_json_begin_array(wasmstream_json_writer *w) { begin(w, '['); }
void wasmstream_json_end_array(wasmstream_json_writer *w) { end(w, '[', ']'); }

static void wquote(wasmstream_json_writer *w, const void *s, size_t n) {
    out_buf o = {w->buf + w->len, w->cap - w->len, 0};
    quote(&o, s, n);
    if (o.len > o.cap) w->err = WASMSTREAM_JSON_ENOSPACE;
    else w->len += o.len;
}

void wasmstream_json_key_n(wasmstream_json_writer *w, const void *key, size_t n) {
    if (w->err) return;
    if (w->depth == 0 || w->open[w->depth - 1] != '{' || w->key) {
        w->err = WASMSTREAM_JSON_EWRITER;
        return;
    }
    if (w->count[w->depth] > 0) wput(w, ",", 1);
    if (w->err) return;
    wquote(w, key, n);
    wput(w, ":", 1);
    w->key = true;
}

void wasmstream_json_key(wasmstream_json_writer *w, const char *key) { wasmstream_json_key_n(w, key, strlen(key)); }

void wasmstream_json_string(wasmstream_json_writer *w, const void *s, size_t n) {
    if (pre(w)) wquote(w, s, n);
}

void wasmstream_json_int64(wasmstream_json_writer *w, int64_t n) {
    if (!pre(w)) return;
    char tmp[24];
    int k = snprintf(tmp, sizeof tmp, "%lld", (long long)n);
    wput(w, tmp, (size_t)k);
}

void wasmstream_json_double(wasmstream_json_writer *w, double f) {
    if (!pre(w)) return;
    if (!isfinite(f)) {
        wput(w, "null", 4);
        return;
    }
    char tmp[32];
    int k = 0;
    for (int prec = 1; prec <= 17; prec++) {
        k = snprintf(tmp, sizeof tmp, "%.*g", prec, f);
        if (strtod(tmp, NULL) == f) break;
    }
    wput(w, tmp, (size_t)k);
}

void wasmstream_json_boolean(wasmstream_json_writer *w, bool b) {
    if (pre(w)) wput(w, b ? "true" : "false", b ? 4 : 5);
}

void wasmstream_json_null(wasmstream_json_writer *w) {
    if (pre(w)) wput(w, "null", 4);
}

void wasmstream_json_raw(wasmstream_json_writer *w, const void *raw, size_t n) {
    if (pre(w)) wput(w, raw, n);
}
