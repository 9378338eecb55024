/*
 * The C guest SDK's conformance operator: abi.ConformanceProcess's
 * reference semantics (abi/SPEC.md, "Conformance"), so that the host's
 * conformance test can run the golden vectors in abi/testdata/conformance
 * through a real C Wasm module. By the prefix of each record's value:
 *
 *   "drop"         no output
 *   "dup"          the record, value upper-cased, emitted twice
 *   "route:NAME:"  the record unchanged, routed to output NAME
 *   "error:MSG"    the whole call fails with the message MSG
 *   "trap"         the module traps (executes unreachable)
 *   "state:..."    a state operation (abi/conformance_state.go): the record
 *                  with its result as the value
 *   "async:...", "async-sql:...", "async-redis:..."
 *                  an async request (abi/conformance_async.go), and for
 *                  each result delivered, a record describing it
 *   anything else  the record with its value's ASCII letters upper-cased
 *
 * Build it with ./build conformance.wasm.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmstream.h"

static bool has_prefix(wasmstream_bytes v, const char *prefix, size_t n) {
    return v.ptr && v.len >= n && memcmp(v.ptr, prefix, n) == 0;
}
#define PREFIX(v, lit) has_prefix((v), (lit), sizeof(lit) - 1)

/* Upper-cases v's ASCII letters in place. */
static void upper(wasmstream_bytes v) {
    for (size_t i = 0; i < v.len; i++) {
        uint8_t c = v.ptr[i];
        v.ptr[i] = c >= 'a' && c <= 'z' ? c - ('a' - 'A') : c;
    }
}

/* The output value of a state operation, in a buffer reused by every record. */
static uint8_t *result;
static size_t result_len, result_cap;

static bool result_append(const void *p, size_t n) {
    if (result_len + n > result_cap) {
        size_t cap = result_cap ? 2 * result_cap : 64;
        while (cap < result_len + n) cap *= 2;
        uint8_t *b = realloc(result, cap);
        if (!b) return false;
        result = b, result_cap = cap;
    }
    if (n) memcpy(result + result_len, p, n);
    result_len += n;
    return true;
}

static int oom(void) { return wasmstream_error("conformance: out of memory"); }

/* Sets result to the C string s. */
static int set_result(const char *s) {
    result_len = 0;
    return result_append(s, strlen(s)) ? WASMSTREAM_OK : oom();
}

static bool op_is(const uint8_t *op, size_t n, const char *lit) {
    return n == strlen(lit) && memcmp(op, lit, n) == 0;
}

static bool op_has_prefix(const uint8_t *op, size_t n, const char *lit) {
    return n >= strlen(lit) && memcmp(op, lit, strlen(lit)) == 0;
}

/* Sets result to the value of v, or "none" when there is none. */
static int get_v(wasmstream_state st) {
    wasmstream_bytes v;
    int rc = wasmstream_state_get(st, "v", &v);
    if (rc < 0) return rc;
    if (rc == 0) return set_result("none");
    result_len = 0;
    return result_append(v.ptr, v.len) ? WASMSTREAM_OK : oom();
}

/*
 * Runs one of the conformance operator's state operations (abi/SPEC.md,
 * section 7) on the record's key's state ("op": the operator's) and sets
 * result to its output value.
 */
static int state_op(const wasmstream_record *r, const uint8_t *op, size_t n) {
    wasmstream_state st = wasmstream_state_of(r);
    int rc;
    result_len = 0;
    if (op_is(op, n, "add") || op_is(op, n, "op")) {
        if (op[0] == 'o') st = wasmstream_state_operator();
        int64_t count;
        if ((rc = wasmstream_state_add(st, "n", 1, &count)) < 0) return rc;
        char digits[24];
        snprintf(digits, sizeof digits, "%" PRId64, count);
        return set_result(digits);
    }
    if (op_has_prefix(op, n, "put:")) {
        if ((rc = wasmstream_state_put(st, "v", op + 4, n - 4)) < 0) return rc;
        return get_v(st);
    }
    if (op_is(op, n, "get")) return get_v(st);
    if (op_is(op, n, "del")) {
        if ((rc = wasmstream_state_delete(st, "v")) < 0) return rc;
        return get_v(st);
    }
    if (op_has_prefix(op, n, "append:")) {
        if ((rc = wasmstream_state_append(st, "l", op + 7, n - 7)) < 0) return rc;
        wasmstream_list list;
        if ((rc = wasmstream_state_list(st, "l", &list)) < 0) return rc;
        wasmstream_bytes elem;
        for (bool first = true; wasmstream_list_next(&list, &elem); first = false) {
            if ((!first && !result_append(",", 1)) || !result_append(elem.ptr, elem.len))
                return oom();
        }
        return WASMSTREAM_OK;
    }
    if (op_is(op, n, "addf")) {
        double f;
        if ((rc = wasmstream_state_add_f64(st, "f", 0.1, &f)) < 0) return rc;
        uint64_t u;
        memcpy(&u, &f, 8);
        uint8_t le[8];
        for (int i = 0; i < 8; i++) le[i] = (uint8_t)(u >> (8 * i));
        return result_append(le, 8) ? WASMSTREAM_OK : oom();
    }
    if (op_is(op, n, "big")) {
        /* One byte over the state.max_value the vectors run with (1 MiB). */
        size_t big = ((size_t)1 << 20) + 1;
        uint8_t *x = malloc(big);
        if (!x) return oom();
        memset(x, 'x', big);
        rc = wasmstream_state_put(st, "b", x, big);
        free(x);
        if (rc < 0 && rc != WASMSTREAM_ERR_TOO_LARGE) return rc;
        return set_result(rc == WASMSTREAM_ERR_TOO_LARGE ? "too large" : "stored");
    }
    return wasmstream_error("unknown state operation \"%.*s\"", (int)n, (const char *)op);
}

/* The NUL-terminated copy of v[0..n), in one of a few buffers reused by
 * every request (the SDK encodes the request before the next record). */
static const char *cstr(int slot, const uint8_t *v, size_t n) {
    static char *bufs[3];
    static size_t caps[3];
    if (caps[slot] < n + 1) {
        char *b = realloc(bufs[slot], n + 1);
        if (!b) return NULL;
        bufs[slot] = b, caps[slot] = n + 1;
    }
    memcpy(bufs[slot], v, n);
    bufs[slot][n] = 0;
    return bufs[slot];
}

/*
 * Submits the request an async record asks for (abi/conformance_async.go)
 * and sets *submitted, or leaves it false when v is not one: "async:" needs
 * a colon after the target, "async-sql:" two more, "async-redis:" one.
 */
static int submit(wasmstream_bytes v, bool *submitted) {
    *submitted = false;
    size_t skip;
    int kind;
    if (PREFIX(v, "async:")) kind = 0, skip = 6;
    else if (PREFIX(v, "async-sql:")) kind = 1, skip = 10;
    else if (PREFIX(v, "async-redis:")) kind = 2, skip = 12;
    else return WASMSTREAM_OK;
    const uint8_t *p = v.ptr + skip, *end = v.ptr + v.len;
    const uint8_t *c1 = memchr(p, ':', (size_t)(end - p));
    if (!c1) return WASMSTREAM_OK;
    const uint8_t *c2 = kind == 1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
    if (kind == 1 && !c2) return WASMSTREAM_OK;
    const char *target = cstr(0, p, (size_t)(c1 - p));
    wasmstream_request req;
    wasmstream_str command[2];
    wasmstream_arg args[2];
    if (!target) return oom();
    switch (kind) {
    case 0: {
        const char *path = cstr(1, c1 + 1, (size_t)(end - c1 - 1));
        if (!path) return oom();
        req = wasmstream_http(target, "GET", path, v);
        break;
    }
    case 1: {
        const char *query = cstr(1, c1 + 1, (size_t)(c2 - c1 - 1));
        if (!query) return oom();
        args[0] = wasmstream_arg_str(c2 + 1, (size_t)(end - c2 - 1));
        args[1] = wasmstream_arg_int(7);
        req = wasmstream_sql(target, query, v, args, 2);
        break;
    }
    default:
        command[0] = WASMSTREAM_STR("GET");
        command[1] = (wasmstream_str){(const char *)c1 + 1, (size_t)(end - c1 - 1)};
        req = wasmstream_redis(target, v, command, 2);
    }
    int64_t t = wasmstream_submit(&req);
    if (t < 0) return (int)t; /* the conformance vectors submit nothing a host refuses */
    *submitted = true;
    return WASMSTREAM_OK;
}

/* Appends the decimal digits of v to result. */
static bool append_int(int64_t v) {
    char digits[24];
    return result_append(digits, (size_t)snprintf(digits, sizeof digits, "%" PRId64, v));
}

static bool append_or_nil(const void *p, size_t n) { return p ? result_append(p, n) : result_append("nil", 3); }

/* Emits the record describing an async result:
 * "result:" ticket ":" status ":" code ":" body ":" error ":" context. */
static int on_result(const wasmstream_result *res, wasmstream_emitter *out) {
    char ticket[24];
    result_len = 0;
    if (!result_append("result:", 7) ||
        !result_append(ticket, (size_t)snprintf(ticket, sizeof ticket, "%" PRIu64, res->ticket)) ||
        !result_append(":", 1) || !append_int(res->status) || !result_append(":", 1) || !append_int(res->code) ||
        !result_append(":", 1) || !append_or_nil(res->body.ptr, res->body.len) || !result_append(":", 1) ||
        !(res->error.len ? result_append(res->error.ptr, res->error.len) : result_append("nil", 3)) ||
        !result_append(":", 1) || !append_or_nil(res->context.ptr, res->context.len))
        return oom();
    wasmstream_record r = {0};
    r.value = (wasmstream_bytes){result, result_len};
    wasmstream_emit(out, &r);
    return WASMSTREAM_OK;
}

static int conformance(wasmstream_record *r, wasmstream_emitter *out) {
    wasmstream_bytes v = r->value;
    if (PREFIX(v, "drop")) return WASMSTREAM_OK;
    if (PREFIX(v, "dup")) {
        upper(v);
        wasmstream_emit(out, r);
        wasmstream_emit(out, r);
        return WASMSTREAM_OK;
    }
    if (PREFIX(v, "route:")) {
        const char *name = (const char *)v.ptr + 6;
        const char *colon = memchr(name, ':', v.len - 6);
        if (!colon || colon == name) return wasmstream_error("bad route record \"%.*s\"", (int)v.len, (const char *)v.ptr);
        r->output = (wasmstream_str){name, (size_t)(colon - name)};
        wasmstream_emit(out, r);
        return WASMSTREAM_OK;
    }
    if (PREFIX(v, "error:")) return wasmstream_error_bytes(v.ptr + 6, v.len - 6);
    if (PREFIX(v, "trap")) __builtin_trap();
    if (PREFIX(v, "async")) {
        bool submitted;
        int rc = submit(v, &submitted);
        if (rc < 0 || submitted) return rc;
    }
    if (PREFIX(v, "state:")) {
        int rc = state_op(r, v.ptr + 6, v.len - 6);
        if (rc < 0) return rc;
        /* Never nil: an empty result is an empty value. */
        r->value = (wasmstream_bytes){result ? result : (uint8_t *)"", result_len};
        wasmstream_emit(out, r);
        return WASMSTREAM_OK;
    }
    upper(v);
    wasmstream_emit(out, r);
    return WASMSTREAM_OK;
}

WASMSTREAM_OPERATOR(.flat_map = conformance, .on_result = on_result);
