/*
 * The C SDK's state API over the native stand-in, which has the host's
 * semantics: values, the growing read buffer, TTLs, counters, lists
 * (msgpack bin items, byte for byte as the host writes them), maps, scopes,
 * the size limit, statuses and messages, and per-call transactions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmstream.h"

static int failures;

#define CHECK(cond, ...)                                                 \
    do {                                                                 \
        if (!(cond)) {                                                   \
            failures++;                                                  \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                \
            fputc('\n', stderr);                                         \
        }                                                                \
    } while (0)

static bool is(wasmstream_bytes b, const void *want, size_t n) {
    return b.len == n && (n == 0 || memcmp(b.ptr, want, n) == 0);
}
#define IS(b, lit) is(b, lit, sizeof(lit) - 1)

static size_t live_entries(void) {
    int32_t scope;
    wasmstream_bytes k, n, v;
    size_t i = 0;
    while (wasmstream_test_state_entry(i, &scope, &k, &n, &v)) i++;
    return i;
}

static void test_put_get_delete(void) {
    wasmstream_test_state_reset();
    wasmstream_state st = wasmstream_state_key("k", 1);
    wasmstream_bytes v;
    CHECK(wasmstream_state_get(st, "a", &v) == 0 && v.ptr == NULL && v.len == 0, "absent");
    CHECK(wasmstream_state_put(st, "a", "one", 3) == WASMSTREAM_OK, "put");
    CHECK(wasmstream_state_get(st, "a", &v) == 1 && IS(v, "one"), "get");
    CHECK(wasmstream_state_put(st, "a", NULL, 0) == WASMSTREAM_OK, "put empty");
    CHECK(wasmstream_state_get(st, "a", &v) == 1 && v.len == 0, "an empty value is not an absent one");
    CHECK(wasmstream_state_delete(st, "a") == WASMSTREAM_OK, "delete");
    CHECK(wasmstream_state_get(st, "a", &v) == 0, "deleted");
    CHECK(wasmstream_state_delete(st, "never") == WASMSTREAM_OK, "deleting nothing");
    CHECK(live_entries() == 0, "entries left");
}

static void test_growing_buffer(void) {
    wasmstream_test_state_reset();
    wasmstream_state st = wasmstream_state_key("k", 1);
    static const size_t sizes[] = {0, 1, 255, 256, 257, 4096, 100000, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        uint8_t *want = malloc(n + 1);
        for (size_t j = 0; j < n; j++) want[j] = (uint8_t)(j * 7 % 251);
        CHECK(wasmstream_state_put(st, "v", want, n) == WASMSTREAM_OK, "put %zu", n);
        wasmstream_bytes v;
        CHECK(wasmstream_state_get(st, "v", &v) == 1 && is(v, want, n), "%zu bytes", n);
        CHECK(wasmstream_state_put(st, "short", "s", 1) == WASMSTREAM_OK && wasmstream_state_get(st, "short", &v) == 1 &&
                  IS(v, "s"),
              "short after %zu", n);
        free(want);
    }
}

static void test_scopes(void) {
    wasmstream_test_state_reset();
    wasmstream_state k1 = wasmstream_state_key("k1", 2), op = wasmstream_state_operator();
    CHECK(!wasmstream_state_put(k1, "n", "1", 1) && !wasmstream_state_put(wasmstream_state_key("k2", 2), "n", "2", 1) &&
              !wasmstream_state_put(op, "n", "op", 2) && !wasmstream_state_put(wasmstream_state_key(NULL, 0), "n", "e", 1),
          "puts");
    wasmstream_bytes v, key, name;
    CHECK(wasmstream_state_get(k1, "n", &v) == 1 && IS(v, "1"), "k1");
    CHECK(wasmstream_state_get(op, "n", &v) == 1 && IS(v, "op"), "operator");
    /* Operator state ignores the key. */
    wasmstream_state op_k = {WASMSTREAM_SCOPE_OPERATOR, (const uint8_t *)"x", 1};
    CHECK(wasmstream_state_get(op_k, "n", &v) == 1 && IS(v, "op"), "operator with a key");
    int32_t scope;
    static const struct {
        int32_t scope;
        const char *key, *val;
    } want[] = {{0, "", "e"}, {0, "k1", "1"}, {0, "k2", "2"}, {1, "", "op"}};
    for (size_t i = 0; i < 4; i++) {
        CHECK(wasmstream_test_state_entry(i, &scope, &key, &name, &v), "entry %zu", i);
        CHECK(scope == want[i].scope && is(key, want[i].key, strlen(want[i].key)) && IS(name, "n") &&
                  is(v, want[i].val, strlen(want[i].val)),
              "entry %zu", i);
    }
    CHECK(!wasmstream_test_state_entry(4, &scope, &key, &name, &v), "4 entries");
    wasmstream_state bad = {7, NULL, 0};
    CHECK(wasmstream_state_put(bad, "n", "x", 1) == WASMSTREAM_ERR, "bad scope");
    CHECK(strcmp(wasmstream_last_error(), "wasmstream: state put \"n\" failed (status -5)") == 0, "%s",
          wasmstream_last_error());
}

static int count_op(wasmstream_record *r) {
    int rc = wasmstream_state_add(wasmstream_state_of(r), "count", 1, NULL);
    return rc < 0 ? rc : WASMSTREAM_OK;
}

static void test_state_of(void) {
    wasmstream_test_state_reset();
    wasmstream_record in[3];
    memset(in, 0, sizeof in);
    in[0].key = WASMSTREAM_BYTES("a"), in[1].key = WASMSTREAM_BYTES("b"), in[2].key = WASMSTREAM_BYTES("a");
    size_t len;
    uint8_t *frame = wasmstream_encode_frame(in, 3, &len);
    const wasmstream_operator op = {.map = count_op};
    const uint8_t *out;
    size_t out_len;
    for (int i = 0; i < 2; i++) CHECK(wasmstream_run_frame(&op, frame, len, &out, &out_len) == WASMSTREAM_OK, "run");
    int64_t n;
    CHECK(wasmstream_state_counter(wasmstream_state_key("a", 1), "count", &n) == 0 && n == 4, "a: %lld", (long long)n);
    CHECK(wasmstream_state_counter(wasmstream_state_key("b", 1), "count", &n) == 0 && n == 2, "b: %lld", (long long)n);
    free(frame);
    /* A nil key is the empty key. */
    wasmstream_record nil = {0};
    frame = wasmstream_encode_frame(&nil, 1, &len);
    CHECK(wasmstream_run_frame(&op, frame, len, &out, &out_len) == WASMSTREAM_OK, "run");
    CHECK(wasmstream_state_counter(wasmstream_state_key("", 0), "count", &n) == 0 && n == 1, "nil key");
    free(frame);
}

static void test_counters(void) {
    wasmstream_test_state_reset();
    wasmstream_state st = wasmstream_state_key("k", 1);
    int64_t n = 99;
    CHECK(wasmstream_state_counter(st, "c", &n) == 0 && n == 0, "absent counter");
    CHECK(live_entries() == 0, "reading a counter writes nothing");
    CHECK(wasmstream_state_add(st, "c", 5, &n) == 0 && n == 5, "add");
    CHECK(wasmstream_state_add(st, "c", -7, &n) == 0 && n == -2, "add");
    CHECK(wasmstream_state_counter(st, "c", &n) == 0 && n == -2, "counter");
    wasmstream_bytes v;
    CHECK(wasmstream_state_get(st, "c", &v) == 1 && IS(v, "\xfe\xff\xff\xff\xff\xff\xff\xff"), "8 little-endian bytes");
    CHECK(wasmstream_state_add(st, "c", INT64_MAX, &n) == 0 && n == INT64_MAX - 2, "add");
    CHECK(wasmstream_state_add(st, "c", 3, &n) == 0 && n == INT64_MIN, "wraps as the host's int64 does");
    CHECK(wasmstream_state_put(st, "p", "\x29\0\0\0\0\0\0\0", 8) == 0 && wasmstream_state_add(st, "p", 1, &n) == 0 &&
              n == 42,
          "a put counter");
    /* Not a counter. */
    CHECK(wasmstream_state_put(st, "s", "text", 4) == 0, "put");
    CHECK(wasmstream_state_add(st, "s", 1, &n) == WASMSTREAM_ERR_NOT_COUNTER, "add to text");
    CHECK(strcmp(wasmstream_last_error(), "wasmstream: state value is not a counter: add \"s\"") == 0, "%s",
          wasmstream_last_error());
    CHECK(wasmstream_state_counter(st, "s", &n) == WASMSTREAM_ERR_NOT_COUNTER, "counter of text");
    CHECK(strcmp(wasmstream_last_error(), "wasmstream: state value is not a counter: counter \"s\" holds 4 bytes") == 0,
          "%s", wasmstream_last_error());
    CHECK(wasmstream_state_put(st, "long", "123456789", 9) == 0 &&
              wasmstream_state_counter(st, "long", &n) == WASMSTREAM_ERR_NOT_COUNTER,
          "9 bytes");
    CHECK(wasmstream_state_get(st, "s", &v) == 1 && IS(v, "text"), "a failed add leaves the value");
}

static void test_too_large(void) {
    wasmstream_test_state_reset();
    wasmstream_test_state_max_value(10);
    wasmstream_state st = wasmstream_state_key("k", 1);
    CHECK(wasmstream_state_put(st, "v", "0123456789", 10) == 0, "at the limit");
    CHECK(wasmstream_state_put(st, "v", "0123456789x", 11) == WASMSTREAM_ERR_TOO_LARGE, "over");
    CHECK(strcmp(wasmstream_last_error(), "wasmstream: state value too large: put \"v\"") == 0, "%s",
          wasmstream_last_error());
    wasmstream_bytes v;
    CHECK(wasmstream_state_get(st, "v", &v) == 1 && IS(v, "0123456789"), "a refused put leaves the old value");
    CHECK(wasmstream_state_append(st, "l", "abc", 3) == 0, "5 bytes, then 3 more checked against 5+5+3");
    CHECK(wasmstream_state_append(st, "l", "abc", 3) == WASMSTREAM_ERR_TOO_LARGE, "list over");
    CHECK(strcmp(wasmstream_last_error(), "wasmstream: state value too large: append \"l\"") == 0, "%s",
          wasmstream_last_error());
    /* Names are quoted as the Go SDK quotes them. */
    CHECK(wasmstream_state_map_put(st, "a\"b\\c\n", "k\x01", 2, "0123456789x", 11) == WASMSTREAM_ERR_TOO_LARGE, "map");
    CHECK(strcmp(wasmstream_last_error(), "wasmstream: state value too large: put \"a\\\"b\\\\c\\n\\x00k\\x01\"") == 0,
          "%s", wasmstream_last_error());
    wasmstream_test_state_reset();
    uint8_t *big = calloc((1 << 20) + 1, 1);
    CHECK(wasmstream_state_put(st, "big", big, 1 << 20) == 0, "1 MiB by default");
    CHECK(wasmstream_state_put(st, "big", big, (1 << 20) + 1) == WASMSTREAM_ERR_TOO_LARGE, "over 1 MiB");
    free(big);
}

static void test_lists(void) {
    wasmstream_test_state_reset();
    wasmstream_state st = wasmstream_state_key("k", 1);
    wasmstream_list l;
    wasmstream_bytes e, v;
    CHECK(wasmstream_state_list(st, "l", &l) == 0 && l.len == 0 && !wasmstream_list_next(&l, &e), "absent list");
    static const size_t sizes[] = {0, 1, 255, 256, 65535, 65536, 70000};
    enum { N = sizeof sizes / sizeof *sizes };
    uint8_t *want = malloc(300000), *p = want, *elem = malloc(70000);
    for (size_t i = 0; i < N; i++) {
        size_t n = sizes[i];
        memset(elem, (int)(uint8_t)n, n);
        CHECK(wasmstream_state_append(st, "l", elem, n) == 0, "append %zu", n);
        if (n < 256) {
            *p++ = 0xc4, *p++ = (uint8_t)n;
        } else if (n < 65536) {
            *p++ = 0xc5, *p++ = (uint8_t)(n >> 8), *p++ = (uint8_t)n;
        } else {
            *p++ = 0xc6, *p++ = 0, *p++ = (uint8_t)(n >> 16), *p++ = (uint8_t)(n >> 8), *p++ = (uint8_t)n;
        }
        memset(p, (int)(uint8_t)n, n);
        p += n;
    }
    CHECK(wasmstream_state_list(st, "l", &l) == 1 && l.len == N, "list of %zu", l.len);
    for (size_t i = 0; i < N; i++) {
        memset(elem, (int)(uint8_t)sizes[i], sizes[i]);
        CHECK(wasmstream_list_next(&l, &e) && is(e, elem, sizes[i]), "element %zu", i);
    }
    CHECK(!wasmstream_list_next(&l, &e) && l.len == 0, "end");
    CHECK(wasmstream_state_get(st, "l", &v) == 1 && is(v, want, (size_t)(p - want)), "byte for byte as the host");
    free(want);
    free(elem);
    static const struct {
        const char *b;
        size_t n;
    } bad[] = {{"text", 4}, {"\xc4\x05\x01", 3}, {"\xc5\x00", 2}, {"\xc4\x00\xc6\x00\x00\x00", 6}};
    for (size_t i = 0; i < 4; i++) {
        CHECK(wasmstream_state_put(st, "l", bad[i].b, bad[i].n) == 0, "put");
        CHECK(wasmstream_state_list(st, "l", &l) == WASMSTREAM_ERR && l.len == 0, "bad list %zu", i);
        CHECK(strcmp(wasmstream_last_error(), "wasmstream: state \"l\" is not a list") == 0, "%s", wasmstream_last_error());
    }
}

static void test_maps(void) {
    wasmstream_test_state_reset();
    wasmstream_state st = wasmstream_state_key("user", 4);
    wasmstream_bytes v, key, name;
    int64_t n;
    CHECK(wasmstream_state_map_get(st, "seen", "a", 1, &v) == 0, "absent");
    CHECK(wasmstream_state_map_put(st, "seen", "a", 1, "1", 1) == 0, "put");
    CHECK(wasmstream_state_map_put(st, "seen", "b\0c", 3, "2", 1) == 0, "put");
    CHECK(wasmstream_state_map_add(st, "seen", "n", 1, 3, &n) == 0 && n == 3, "add");
    CHECK(wasmstream_state_map_get(st, "seen", "a", 1, &v) == 1 && IS(v, "1"), "get");
    CHECK(wasmstream_state_map_delete(st, "seen", "a", 1) == 0 && wasmstream_state_map_get(st, "seen", "a", 1, &v) == 0,
          "delete");
    int32_t scope;
    CHECK(wasmstream_test_state_entry(0, &scope, &key, &name, &v) && IS(name, "seen\0b\0c") && IS(v, "2"), "entry 0");
    CHECK(wasmstream_test_state_entry(1, &scope, &key, &name, &v) && IS(name, "seen\0n") && IS(key, "user"), "entry 1");
    CHECK(wasmstream_state_get(st, "seen", &v) == 0, "the map's name alone is no entry");
    CHECK(wasmstream_state_map_add(st, "seen", "b\0c", 3, 1, &n) == WASMSTREAM_ERR_NOT_COUNTER, "not a counter");
    CHECK(strcmp(wasmstream_last_error(), "wasmstream: state value is not a counter: add \"seen\\x00b\\x00c\"") == 0, "%s",
          wasmstream_last_error());
    /* A long map key grows the name buffer. */
    char k[1000];
    memset(k, 'k', sizeof k);
    CHECK(wasmstream_state_map_put(st, "m", k, sizeof k, "v", 1) == 0 &&
              wasmstream_state_map_get(st, "m", k, sizeof k, &v) == 1 && IS(v, "v"),
          "long key");
}

static void test_ttls(void) {
    wasmstream_test_state_reset();
    wasmstream_state st = wasmstream_state_key("k", 1);
    wasmstream_bytes v;
    int64_t n;
    CHECK(wasmstream_state_put_ttl(st, "t", "v", 1, 1000) == 0, "put");
    CHECK(wasmstream_state_put_ttl(st, "zero", "v", 1, 0) == 0 && wasmstream_state_put(st, "forever", "v", 1) == 0,
          "put");
    wasmstream_test_advance_time(999);
    CHECK(wasmstream_state_get(st, "t", &v) == 1, "before its TTL");
    CHECK(wasmstream_state_put_ttl(st, "c", "\x01\0\0\0\0\0\0\0", 8, 2) == 0, "put");
    CHECK(wasmstream_state_add(st, "c", 1, &n) == 0 && n == 2, "add");
    CHECK(wasmstream_state_append(st, "l", "a", 1) == 0, "append");
    wasmstream_test_advance_time(1);
    CHECK(wasmstream_state_get(st, "t", &v) == 0, "expired at its TTL");
    CHECK(wasmstream_state_counter(st, "c", &n) == 0 && n == 2, "counter");
    wasmstream_test_advance_time(1);
    CHECK(wasmstream_state_counter(st, "c", &n) == 0 && n == 0, "the counter expired with its first value's TTL");
    CHECK(wasmstream_state_add(st, "c", 5, &n) == 0 && n == 5, "an expired counter starts again from 0");
    wasmstream_test_advance_time(1LL << 40);
    CHECK(wasmstream_state_counter(st, "c", &n) == 0 && n == 5, "and keeps no expiry");
    CHECK(wasmstream_state_get(st, "zero", &v) == 1 && wasmstream_state_get(st, "forever", &v) == 1, "no TTL");
    wasmstream_list l;
    CHECK(wasmstream_state_list(st, "l", &l) == 1 && l.len == 1, "list");
    CHECK(live_entries() == 4, "%zu live entries", live_entries());
}

static int fail_after_writes(wasmstream_record *r, wasmstream_emitter *out) {
    wasmstream_state st = wasmstream_state_of(r);
    int64_t n;
    int rc;
    if ((rc = wasmstream_state_add(st, "count", 1, &n)) < 0) return rc;
    if ((rc = wasmstream_state_append(st, "seen", r->value.ptr, r->value.len)) < 0) return rc;
    if ((rc = wasmstream_state_add(wasmstream_state_operator(), "total", 1, NULL)) < 0) return rc;
    if (r->value.len == 4 && memcmp(r->value.ptr, "fail", 4) == 0)
        return wasmstream_error("failing after writing (count %lld)", (long long)n);
    wasmstream_emit(out, r);
    return WASMSTREAM_OK;
}

static int init_state(const wasmstream_config *cfg) {
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", (long long)cfg->instance);
    int rc = wasmstream_state_put(wasmstream_state_operator(), "instance", b, (size_t)n);
    if (rc < 0) return rc;
    return cfg->instance > 5 ? wasmstream_error("too many instances") : WASMSTREAM_OK;
}

static uint8_t *frame_of(const char *const *values, size_t n, size_t *len) {
    wasmstream_record recs[4];
    memset(recs, 0, sizeof recs);
    for (size_t i = 0; i < n; i++) {
        recs[i].key = WASMSTREAM_BYTES("k");
        recs[i].value = (wasmstream_bytes){(uint8_t *)values[i], strlen(values[i])};
    }
    return wasmstream_encode_frame(recs, n, len);
}

static void test_transactions(void) {
    wasmstream_test_state_reset();
    const wasmstream_operator op = {.flat_map = fail_after_writes};
    size_t len, out_len;
    const uint8_t *out;
    static const char *const a[] = {"a"}, *const bad[] = {"b", "fail"}, *const c[] = {"c"};
    uint8_t *f = frame_of(a, 1, &len);
    CHECK(wasmstream_run_frame(&op, f, len, &out, &out_len) == WASMSTREAM_OK, "a");
    free(f);
    f = frame_of(bad, 2, &len);
    CHECK(wasmstream_run_frame(&op, f, len, &out, &out_len) == WASMSTREAM_ERR, "fails");
    CHECK(strcmp(wasmstream_last_error(), "failing after writing (count 3)") == 0, "%s", wasmstream_last_error());
    free(f);
    f = frame_of(c, 1, &len);
    CHECK(wasmstream_run_frame(&op, f, len, &out, &out_len) == WASMSTREAM_OK, "c");
    free(f);
    wasmstream_state st = wasmstream_state_key("k", 1);
    int64_t n;
    CHECK(wasmstream_state_counter(st, "count", &n) == 0 && n == 2, "count %lld: the failed batch was undone", (long long)n);
    CHECK(wasmstream_state_counter(wasmstream_state_operator(), "total", &n) == 0 && n == 2, "total %lld", (long long)n);
    wasmstream_list l;
    wasmstream_bytes e;
    CHECK(wasmstream_state_list(st, "seen", &l) == 1 && l.len == 2, "seen");
    CHECK(wasmstream_list_next(&l, &e) && IS(e, "a") && wasmstream_list_next(&l, &e) && IS(e, "c"), "seen a, c");
    CHECK(live_entries() == 3, "%zu entries", live_entries());

    /* init: kept when it succeeds, undone when it fails. */
    wasmstream_test_state_reset();
    const wasmstream_operator iop = {.map = count_op, .on_init = init_state};
    size_t plen;
    uint8_t *p3 = wasmstream_encode_config("p", "op", 3, NULL, 0, NULL, 0, &plen);
    CHECK(wasmstream_run_init(&iop, p3, plen) == WASMSTREAM_OK, "init 3");
    free(p3);
    uint8_t *p7 = wasmstream_encode_config("p", "op", 7, NULL, 0, NULL, 0, &plen);
    CHECK(wasmstream_run_init(&iop, p7, plen) == WASMSTREAM_ERR, "init 7");
    free(p7);
    wasmstream_bytes v;
    CHECK(wasmstream_state_get(wasmstream_state_operator(), "instance", &v) == 1 && IS(v, "3"), "instance");
}

/* Guards issue #9 (state held only int64 counters and bytes): float
 * counters add exactly, stay apart from int counters, and refuse NaN,
 * infinities and overflow without adding. */
static void test_float_counters(void) {
    wasmstream_test_state_reset();
    wasmstream_state st = wasmstream_state_key("k", 1);
    double sum = 0, f = -1;
    const double deltas[] = {0.1, 0.2, 12.5};
    for (int i = 0; i < 3; i++) {
        sum += deltas[i];
        CHECK(wasmstream_state_add_f64(st, "money", deltas[i], &f) == 0 && f == sum, "add %g: %g", deltas[i], f);
    }
    CHECK(wasmstream_state_counter_f64(st, "money", &f) == 0 && f == sum, "counter_f64 %g", f);
    int64_t n;
    wasmstream_state_add(st, "n", 1, &n);
    CHECK(wasmstream_state_add(st, "money", 1, &n) == WASMSTREAM_ERR_NOT_COUNTER, "int add on a float counter");
    CHECK(wasmstream_state_add_f64(st, "n", 1, &f) == WASMSTREAM_ERR_NOT_COUNTER, "float add on an int counter");
    CHECK(wasmstream_state_add_f64(st, "money", __builtin_nan(""), &f) == WASMSTREAM_ERR, "NaN");
    CHECK(strstr(wasmstream_last_error(), "would not be finite") != NULL, "%s", wasmstream_last_error());
    CHECK(wasmstream_state_add_f64(st, "money", -__builtin_inf(), &f) == WASMSTREAM_ERR, "-Inf");
    wasmstream_state_add_f64(st, "big", 1.7976931348623157e308, &f);
    CHECK(wasmstream_state_add_f64(st, "big", 1.7976931348623157e308, &f) == WASMSTREAM_ERR, "overflow");
    CHECK(wasmstream_state_counter_f64(st, "big", &f) == 0 && f == 1.7976931348623157e308, "big %g", f);
    CHECK(wasmstream_state_counter_f64(st, "money", &f) == 0 && f == sum, "refused adds changed it: %g", f);
    CHECK(wasmstream_state_map_add_f64(wasmstream_state_operator(), "avg", "x", 1, 1.5, &f) == 0 && f == 1.5, "map");
    wasmstream_state_put(st, "money", "text", 4);
    CHECK(wasmstream_state_add_f64(st, "money", 1, &f) == WASMSTREAM_ERR_NOT_COUNTER, "a put makes bytes");
}

static void test_reset(void) {
    wasmstream_state st = wasmstream_state_key("k", 1);
    wasmstream_state_put(st, "v", "x", 1);
    wasmstream_test_state_max_value(1);
    wasmstream_test_advance_time(5000);
    wasmstream_test_state_reset();
    CHECK(live_entries() == 0, "reset clears");
    CHECK(wasmstream_state_put(st, "v", "xy", 2) == 0, "and restores the limit");
}

int main(void) {
    test_put_get_delete();
    test_growing_buffer();
    test_scopes();
    test_state_of();
    test_counters();
    test_too_large();
    test_lists();
    test_maps();
    test_ttls();
    test_transactions();
    test_float_counters();
    test_reset();
    wasmstream_test_state_reset();
    if (failures) {
        fprintf(stderr, "FAIL: %d state checks failed\n", failures);
        return 1;
    }
    printf("ok: C SDK state tests\n");
    return 0;
}
