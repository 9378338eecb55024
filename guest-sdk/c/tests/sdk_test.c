/*
 * The C SDK's native tests: the conformance operator over the golden
 * vectors, the codec against the ABI's golden frames and the host reader's
 * error messages, every handler shape, errors, config and the native host
 * stand-ins. Linked with examples/wasm/conformance/c/conformance.c, whose
 * operator is wasmstream_operator_def.
 *
 *     sdk_test ABI_TESTDATA_DIR
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wasmstream.h"

extern const wasmstream_operator wasmstream_operator_def;

static int failures;
static const char *testdata;

#define CHECK(cond, ...)                                                 \
    do {                                                                 \
        if (!(cond)) {                                                   \
            failures++;                                                  \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                \
            fputc('\n', stderr);                                         \
        }                                                                \
    } while (0)

static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n ? (size_t)n : 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

static bool bytes_eq(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* Runs op over frame; returns a malloc'd copy of the output or NULL on an
 * error (then wasmstream_last_error holds it). */
static uint8_t *run(const wasmstream_operator *op, const uint8_t *frame, size_t len, size_t *out_len) {
    const uint8_t *out;
    if (wasmstream_run_frame(op, frame, len, &out, out_len) != WASMSTREAM_OK) return NULL;
    uint8_t *copy = malloc(*out_len ? *out_len : 1);
    memcpy(copy, out, *out_len);
    return copy;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The .msgpack files in testdata/dir, sorted. */
static size_t list(const char *dir, const char *suffix, char ***names) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", testdata, dir);
    DIR *d = opendir(path);
    if (!d) return 0;
    size_t n = 0;
    *names = NULL;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        if (l > sl && strcmp(e->d_name + l - sl, suffix) == 0) {
            *names = realloc(*names, (n + 1) * sizeof **names);
            (*names)[n] = malloc(l - sl + 1);
            memcpy((*names)[n], e->d_name, l - sl);
            (*names)[n][l - sl] = 0;
            n++;
        }
    }
    closedir(d);
    qsort(*names, n, sizeof **names, compare_names);
    return n;
}

/* ---- the conformance operator over the golden vectors ------------------ */

static void test_conformance_vectors(void) {
    char **names;
    size_t n = list("conformance", ".in.msgpack", &names);
    CHECK(n >= 10, "found %zu conformance vectors in %s/conformance", n, testdata);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        size_t len, want_len, got_len;
        snprintf(path, sizeof path, "%s/conformance/%s.in.msgpack", testdata, names[i]);
        uint8_t *in = read_file(path, &len);
        snprintf(path, sizeof path, "%s/conformance/%s.err", testdata, names[i]);
        uint8_t *err = read_file(path, &want_len);
        if (err) {
            while (want_len && (err[want_len - 1] == '\n' || err[want_len - 1] == ' ')) want_len--;
            err[want_len] = 0;
        }
        if (err && strcmp((char *)err, "trap") == 0) {
            /* The operator traps (__builtin_trap): run it in a child. */
            fflush(NULL);
            pid_t pid = fork();
            if (pid == 0) {
                size_t l;
                run(&wasmstream_operator_def, in, len, &l);
                _exit(0);
            }
            int status;
            waitpid(pid, &status, 0);
            CHECK(WIFSIGNALED(status), "%s: want a trap, the operator exited with status %d", names[i], status);
        } else if (err) {
            uint8_t *got = run(&wasmstream_operator_def, in, len, &got_len);
            CHECK(!got && strcmp(wasmstream_last_error(), (char *)err) == 0, "%s: got error \"%s\", want \"%s\"",
                  names[i], wasmstream_last_error(), (char *)err);
            free(got);
        } else {
            snprintf(path, sizeof path, "%s/conformance/%s.out.msgpack", testdata, names[i]);
            uint8_t *want = read_file(path, &want_len);
            uint8_t *got = run(&wasmstream_operator_def, in, len, &got_len);
            CHECK(got && bytes_eq(got, got_len, want, want_len), "%s: output differs (%zu bytes, want %zu): %s",
                  names[i], got_len, want_len, wasmstream_last_error());
            free(got);
            free(want);
        }
        free(err);
        free(in);
        free(names[i]);
    }
    free(names);
}

/* ---- golden frames ------------------------------------------------------ */

static int identity(wasmstream_record *r) {
    (void)r;
    return WASMSTREAM_OK;
}
static const wasmstream_operator identity_op = {.map = identity};

/* Emits a copy that cannot be copied from the input: encoded, headers from
 * the input copied as they are. */
static int emit_copy(wasmstream_record *r, wasmstream_emitter *out) {
    wasmstream_record c = *r;
    memset(&c._orig, 0, sizeof c._orig);
    wasmstream_emit(out, &c);
    return WASMSTREAM_OK;
}

/* Emits a copy with the headers as an array: everything encoded. */
static int emit_list(wasmstream_record *r, wasmstream_emitter *out) {
    wasmstream_header hs[64];
    size_t n = 0;
    wasmstream_header_iter it = wasmstream_headers_iter(&r->headers);
    while (n < 64 && wasmstream_headers_next(&it, &hs[n])) n++;
    wasmstream_record c = *r;
    c.headers = wasmstream_headers_of(hs, n);
    wasmstream_emit(out, &c);
    return WASMSTREAM_OK;
}

static void test_golden_frames(void) {
    static const char *dirs[] = {"frames", "conformance"};
    const wasmstream_operator copy_op = {.flat_map = emit_copy}, list_op = {.flat_map = emit_list};
    size_t total = 0;
    for (int d = 0; d < 2; d++) {
        char **names;
        size_t n = list(dirs[d], ".msgpack", &names);
        total += n;
        for (size_t i = 0; i < n; i++) {
            char path[4096];
            size_t len, got_len;
            snprintf(path, sizeof path, "%s/%s/%s.msgpack", testdata, dirs[d], names[i]);
            uint8_t *frame = read_file(path, &len);
            const wasmstream_operator *ops[] = {&identity_op, &copy_op, &list_op};
            for (int k = 0; k < 3; k++) {
                uint8_t *got = run(ops[k], frame, len, &got_len);
                CHECK(got && bytes_eq(got, got_len, frame, len), "%s/%s: operator %d changed the frame: %s", dirs[d],
                      names[i], k, wasmstream_last_error());
                free(got);
            }
            wasmstream_record *recs;
            size_t nrecs, enc_len = 0;
            uint8_t *copy = malloc(len);
            memcpy(copy, frame, len);
            CHECK(wasmstream_decode_frame(copy, len, &recs, &nrecs) == WASMSTREAM_OK, "%s: decode: %s", names[i],
                  wasmstream_last_error());
            uint8_t *enc = wasmstream_encode_frame(recs, nrecs, &enc_len);
            CHECK(enc && bytes_eq(enc, enc_len, frame, len), "%s/%s: decode_frame/encode_frame differ", dirs[d],
                  names[i]);
            free(enc);
            free(recs);
            free(copy);
            free(frame);
            free(names[i]);
        }
        free(names);
    }
    CHECK(total >= 20, "found %zu golden frames", total);
}

/* ---- wide encodings ----------------------------------------------------- */

static void test_wide_encodings(void) {
    static const uint8_t wide[] = {
        0x92, 0xdc, 0x00, 0x03,
        0x95, 0xa1, 'k', 0xc5, 0x00, 0x02, 'h', 'i', 0xce, 0, 0, 0, 5, 0xdc, 0x00, 0x02, 0xc4, 0x01, 'n', 0xd9, 0x01,
        'v', 0xc0,
        0x96, 0xc0, 0xc0, 0xd0, 0xff, 0x90, 0xa0, 0xc3,
        0x94, 0xc0, 0xc4, 0x01, 'x', 0xcf, 0, 0, 0, 0, 0, 0, 0, 7, 0x92, 0xc0, 0xc0,
        0x81, 0xa1, 'x', 0x01,
    };
    static const uint8_t canonical[] = {
        0x91, 0xdd, 0, 0, 0, 3,
        0x94, 0xc4, 0x01, 'k', 0xc4, 0x02, 'h', 'i', 0x05, 0x92, 0xa1, 'n', 0xc4, 0x01, 'v',
        0x94, 0xc0, 0xc0, 0xff, 0xc0,
        0x94, 0xc0, 0xc4, 0x01, 'x', 0x07, 0x92, 0xa0, 0xc0,
    };
    size_t got_len;
    uint8_t *got = run(&identity_op, wide, sizeof wide, &got_len);
    CHECK(got && bytes_eq(got, got_len, canonical, sizeof canonical), "wide frame not written canonically: %s",
          wasmstream_last_error());
    free(got);

    uint8_t copy[sizeof wide];
    memcpy(copy, wide, sizeof wide);
    wasmstream_record *recs;
    size_t n;
    CHECK(wasmstream_decode_frame(copy, sizeof copy, &recs, &n) == WASMSTREAM_OK && n == 3, "decode wide frame");
    if (n == 3) {
        CHECK(recs[0].key.len == 1 && recs[0].key.ptr[0] == 'k' && recs[0].value.len == 2 && recs[0].timestamp == 5,
              "record 0");
        wasmstream_bytes v;
        CHECK(wasmstream_headers_get(&recs[0].headers, "n", &v) && v.len == 1 && v.ptr[0] == 'v', "record 0 header");
        CHECK(!recs[1].key.ptr && !recs[1].value.ptr && recs[1].timestamp == -1 && recs[1].headers.count == 0,
              "record 1");
        CHECK(recs[2].timestamp == 7 && recs[2].headers.count == 1, "record 2");
    }
    free(recs);

    static const uint8_t odd[] = {0x91, 0x91, 0x95, 0xc0, 0xc0, 0x01, 0xc0, 0xa2, 0xff, 0xfe};
    static const uint8_t odd_out[] = {0x91, 0xdd, 0, 0, 0, 1, 0x95, 0xc0, 0xc0, 0x01, 0xc0, 0xa2, 0xff, 0xfe};
    got = run(&identity_op, odd, sizeof odd, &got_len);
    CHECK(got && bytes_eq(got, got_len, odd_out, sizeof odd_out), "a non-UTF-8 output name is kept");
    free(got);
}

/* ---- malformed frames --------------------------------------------------- */

static int drain(wasmstream_batch *b, wasmstream_emitter *out) {
    (void)out;
    wasmstream_record r;
    int rc;
    while ((rc = wasmstream_batch_next(b, &r)) == 1) {
    }
    return rc < 0 ? rc : WASMSTREAM_OK;
}

static int ignore_batch(wasmstream_batch *b, wasmstream_emitter *out) {
    (void)b, (void)out;
    return WASMSTREAM_OK;
}

static void test_malformed(void) {
    static const uint8_t valid[] = {0x91, 0xdd, 0, 0, 0, 1, 0x94, 0xc4, 1, 'k', 0xc4, 5, 'v', 'a', 'l', 'u', 'e', 5, 0xc0};
    uint8_t trailing[sizeof valid + 1];
    memcpy(trailing, valid, sizeof valid);
    trailing[sizeof valid] = 0;
    struct {
        const char *name;
        const uint8_t *frame;
        size_t len;
        const char *want;
    } cases[] = {
#define CASE(name, want, ...) {name, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}), want}
        {"empty", valid, 0, "at byte 0: need 1 bytes, 0 left"},
        CASE("not an array", "at byte 0: want an array, found a map", 0x81, 0xa1, 'a', 0x01),
        CASE("empty frame", "at byte 0: frame is an empty array; want [records, ...]", 0x90),
        CASE("count too large", "at byte 1: frame declares 4294967295 records; the limit is 16777216", 0x91, 0xdd, 0xff,
             0xff, 0xff, 0xff),
        CASE("count beyond bytes", "at byte 1: frame declares 9 records but has only 1 bytes left", 0x91, 0xdd, 0, 0, 0,
             9, 0x94),
        {"truncated", valid, sizeof valid - 3, "value: 5-byte value runs past the end of the frame"},
        CASE("short record", "at byte 2: record has 3 fields; want at least 4 (key, value, timestamp, headers)", 0x91,
             0x91, 0x93, 0xc0, 0xc0, 0x00, 0x00, 0x00),
        CASE("value is an int", "at byte 4: value: want bin, str or nil, found an integer", 0x91, 0x91, 0x94, 0xc0,
             0x05, 0x00, 0xc0),
        CASE("timestamp is a string", "at byte 5: timestamp: want an integer, found a string", 0x91, 0x91, 0x94, 0xc0,
             0xc0, 0xa1, 'x', 0xc0),
        CASE("odd headers", "at byte 6: headers: array of 1 items; want name/value pairs", 0x91, 0x91, 0x94, 0xc0,
             0xc0, 0x00, 0x91, 0xa1, 'x'),
        {"trailing bytes", trailing, sizeof trailing, "1 trailing bytes after the frame"},
        CASE("uint64 overflow", "at byte 5: timestamp: 18374686479671623680 overflows int64", 0x91, 0x91, 0x94, 0xc0,
             0xc0, 0xcf, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xc0),
        CASE("invalid type byte", "at byte 2: invalid msgpack type byte 0xc1", 0x92, 0x90, 0xc1),
        CASE("map32 count", "at byte 2: container of 4294967296 items but only 0 bytes left", 0x92, 0x90, 0xdf, 0x80,
             0, 0, 0),
        CASE("ext32 size", "at byte 2: value runs past the end of the frame", 0x92, 0x90, 0xc9, 0xff, 0xff, 0xff, 0xff,
             0x01),
        CASE("header name is an int", "at byte 7: header name: want bin, str or nil, found an integer", 0x91, 0x91,
             0x94, 0xc0, 0xc0, 0x00, 0x92, 0x01, 0xc0),
#undef CASE
    };
    const wasmstream_operator drain_op = {.process_batch = drain}, ignore_op = {.process_batch = ignore_batch};
    const wasmstream_operator *ops[] = {&identity_op, &drain_op, &ignore_op};
    static const char prefix[] = "decoding input batch: malformed frame at byte ";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int k = 0; k < 3; k++) {
            size_t got_len;
            uint8_t *got = run(ops[k], cases[i].frame, cases[i].len, &got_len);
            const char *e = wasmstream_last_error();
            size_t el = strlen(e), wl = strlen(cases[i].want);
            CHECK(!got && strncmp(e, prefix, sizeof prefix - 1) == 0 && el >= wl &&
                      strcmp(e + el - wl, cases[i].want) == 0,
                  "%s (operator %d): got \"%s\", want it to end with \"%s\"", cases[i].name, k, e, cases[i].want);
            free(got);
        }
    }
}

/* ---- mutations ---------------------------------------------------------- */

static int upper_map(wasmstream_record *r) {
    for (size_t i = 0; i < r->value.len; i++)
        if (r->value.ptr[i] >= 'a' && r->value.ptr[i] <= 'z') r->value.ptr[i] -= 32;
    return WASMSTREAM_OK;
}

static int emit_twice(wasmstream_record *r, wasmstream_emitter *out) {
    emit_list(r, out);
    wasmstream_emit_to(out, "x", r);
    return WASMSTREAM_OK;
}

static uint64_t next_random(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_mutations(void) {
    static const wasmstream_header h1[] = {{WASMSTREAM_STR("a"), WASMSTREAM_BYTES("b")}};
    static const wasmstream_header h2[] = {{WASMSTREAM_STR("n"), {NULL, 0}}};
    uint8_t big[300];
    memset(big, 'x', sizeof big);
    wasmstream_record recs[3] = {0};
    recs[0].key = WASMSTREAM_BYTES("k"), recs[0].value = WASMSTREAM_BYTES("hello");
    recs[0].timestamp = 1700000000000, recs[0].headers = wasmstream_headers_of(h1, 1);
    recs[1].value = (wasmstream_bytes){big, sizeof big}, recs[1].headers = wasmstream_headers_of(h2, 1);
    recs[1].output = WASMSTREAM_STR("out");
    recs[2].timestamp = -70000;
    size_t len;
    uint8_t *orig = wasmstream_encode_frame(recs, 3, &len);
    uint8_t *frame = malloc(len);
    const wasmstream_operator map_op = {.map = upper_map}, twice_op = {.flat_map = emit_twice};
    size_t got_len;
    for (size_t n = 0; n <= len; n++) free(run(&map_op, orig, n, &got_len));
    uint64_t rng = 0x2545f4914f6cdd1dULL;
#define NEXT() next_random(&rng)
    for (int it = 0; it < 20000; it++) {
        memcpy(frame, orig, len);
        for (int k = 0, m = 1 + (int)(NEXT() % 4); k < m; k++) {
            size_t at = NEXT() % len;
            frame[at] = (uint8_t)NEXT();
        }
        size_t a_len, b_len;
        uint8_t *a = run(&map_op, frame, len, &a_len);
        uint8_t *b = run(&twice_op, frame, len, &b_len);
        CHECK(!a == !b, "the two operators disagree on a mutated frame");
        if (a && b) {
            wasmstream_record *ra, *rb;
            size_t na, nb;
            CHECK(wasmstream_decode_frame(a, a_len, &ra, &na) == 0 && wasmstream_decode_frame(b, b_len, &rb, &nb) == 0 &&
                      2 * na == nb,
                  "output does not decode: %s", wasmstream_last_error());
            free(ra);
            free(rb);
        }
        free(a);
        free(b);
    }
#undef NEXT
    free(frame);
    free(orig);
}

/* ---- handler shapes ----------------------------------------------------- */

static int keep_not_drop(const wasmstream_record *r) {
    return r->value.len >= 4 && memcmp(r->value.ptr, "drop", 4) == 0 ? WASMSTREAM_DROP : WASMSTREAM_KEEP;
}

static int shorten(wasmstream_record *r) {
    if (r->value.len > 4) r->value.len = 4;
    r->timestamp += 10;
    if (r->value.len == 4 && memcmp(r->value.ptr, "aler", 4) == 0) r->output = WASMSTREAM_STR("alerts");
    return WASMSTREAM_OK;
}

static int add_header(wasmstream_record *r, wasmstream_emitter *out) {
    wasmstream_header hs[8];
    size_t n = 0;
    wasmstream_header_iter it = wasmstream_headers_iter(&r->headers);
    while (n < 7 && wasmstream_headers_next(&it, &hs[n])) n++;
    hs[n++] = (wasmstream_header){WASMSTREAM_STR("n"), WASMSTREAM_BYTES("2")};
    wasmstream_record c = *r;
    c.headers = wasmstream_headers_of(hs, n);
    wasmstream_emit(out, &c);
    wasmstream_emit_to(out, "copies", r);
    wasmstream_record fresh = {0};
    static const wasmstream_header level[] = {{WASMSTREAM_STR("level"), WASMSTREAM_BYTES("INFO")}};
    fresh.value = WASMSTREAM_BYTES("new");
    fresh.headers = wasmstream_headers_of(level, 1);
    wasmstream_emit(out, &fresh);
    return wasmstream_emitted(out) % 3 == 0 ? WASMSTREAM_OK : wasmstream_error("emitted %zu", wasmstream_emitted(out));
}

static int reverse(wasmstream_batch *b, wasmstream_emitter *out) {
    size_t n = wasmstream_batch_len(b), k = 0;
    wasmstream_record *recs = malloc((n ? n : 1) * sizeof *recs);
    int rc;
    while ((rc = wasmstream_batch_next(b, &recs[k])) == 1) k++;
    for (size_t i = k; i > 0; i--) wasmstream_emit(out, &recs[i - 1]);
    free(recs);
    return rc;
}

/* Encodes three records, runs op, decodes the output into *out. */
static size_t run_records(const wasmstream_operator *op, uint8_t **frame, wasmstream_record **out) {
    static const wasmstream_header h[] = {{WASMSTREAM_STR("h"), WASMSTREAM_BYTES("1")}};
    wasmstream_record in[3] = {0};
    in[0].key = WASMSTREAM_BYTES("a"), in[0].value = WASMSTREAM_BYTES("keep me"), in[0].timestamp = 1;
    in[1].key = WASMSTREAM_BYTES("b"), in[1].value = WASMSTREAM_BYTES("drop me"), in[1].timestamp = 2;
    in[1].headers = wasmstream_headers_of(h, 1);
    in[2].key = WASMSTREAM_BYTES("c"), in[2].value = WASMSTREAM_BYTES("alert: disk"), in[2].timestamp = 3;
    size_t len, out_len, n = 0;
    uint8_t *enc = wasmstream_encode_frame(in, 3, &len);
    *frame = run(op, enc, len, &out_len);
    free(enc);
    *out = NULL;
    if (*frame) wasmstream_decode_frame(*frame, out_len, out, &n);
    return n;
}

static bool value_is(const wasmstream_record *r, const char *s) {
    return r->value.ptr && r->value.len == strlen(s) && memcmp(r->value.ptr, s, r->value.len) == 0;
}

static void test_handlers(void) {
    uint8_t *frame;
    wasmstream_record *out;
    const wasmstream_operator filter_op = {.filter = keep_not_drop};
    size_t n = run_records(&filter_op, &frame, &out);
    CHECK(n == 2 && value_is(&out[0], "keep me") && value_is(&out[1], "alert: disk"), "filter: %zu records", n);
    free(out), free(frame);

    const wasmstream_operator map_op = {.map = shorten};
    n = run_records(&map_op, &frame, &out);
    CHECK(n == 3 && value_is(&out[0], "keep") && out[0].timestamp == 11 && out[1].headers.count == 1 &&
              value_is(&out[2], "aler") && out[2].output.len == 6 && memcmp(out[2].output.ptr, "alerts", 6) == 0,
          "map: %zu records", n);
    free(out), free(frame);

    const wasmstream_operator flat_op = {.flat_map = add_header};
    n = run_records(&flat_op, &frame, &out);
    CHECK(n == 9, "flat_map: %zu records (%s)", n, wasmstream_last_error());
    if (n == 9) {
        wasmstream_bytes v;
        CHECK(out[3].headers.count == 2 && wasmstream_headers_get(&out[3].headers, "n", &v) && v.len == 1,
              "flat_map: added header");
        CHECK(out[4].output.len == 6 && out[4].headers.count == 1, "flat_map: copy routed to copies");
        CHECK(value_is(&out[5], "new") && !out[5].key.ptr && wasmstream_headers_get(&out[5].headers, "level", &v),
              "flat_map: new record");
    }
    free(out), free(frame);

    const wasmstream_operator rev_op = {.process_batch = reverse};
    n = run_records(&rev_op, &frame, &out);
    CHECK(n == 3 && value_is(&out[0], "alert: disk") && value_is(&out[2], "keep me") && out[1].headers.count == 1,
          "process_batch: %zu records", n);
    free(out), free(frame);
}

/* ---- errors ------------------------------------------------------------- */

static int fail_verbatim(wasmstream_record *r) { return wasmstream_error("bad record %.*s", (int)r->key.len, (char *)r->key.ptr); }
static int fail_silently(wasmstream_record *r) {
    (void)r;
    return -7;
}

static void test_errors(void) {
    uint8_t *frame;
    wasmstream_record *out;
    const wasmstream_operator verbatim = {.map = fail_verbatim}, silent = {.map = fail_silently};
    run_records(&verbatim, &frame, &out);
    CHECK(!frame && strcmp(wasmstream_last_error(), "bad record a") == 0, "got \"%s\"", wasmstream_last_error());
    run_records(&silent, &frame, &out);
    CHECK(!frame && strstr(wasmstream_last_error(), "the map handler returned -7 without setting an error message"),
          "got \"%s\"", wasmstream_last_error());
    const wasmstream_operator none = {0}, two = {.map = identity, .filter = keep_not_drop};
    run_records(&none, &frame, &out);
    CHECK(!frame && strstr(wasmstream_last_error(), "no handler registered"), "got \"%s\"", wasmstream_last_error());
    run_records(&two, &frame, &out);
    CHECK(!frame && strstr(wasmstream_last_error(), "more than one handler"), "got \"%s\"", wasmstream_last_error());
    /* A long message. */
    char big[1000];
    memset(big, 'e', sizeof big - 1);
    big[sizeof big - 1] = 0;
    wasmstream_error("%s!", big);
    CHECK(strlen(wasmstream_last_error()) == sizeof big && wasmstream_last_error()[sizeof big - 1] == '!', "long error");
}

/* ---- config ------------------------------------------------------------- */

static const wasmstream_config *seen;
static int strict_mode;

static int configure(const wasmstream_config *cfg) {
    seen = cfg;
    bool strict;
    if (wasmstream_config_bool(cfg, "strict", false, &strict)) return WASMSTREAM_ERR;
    strict_mode = strict;
    return WASMSTREAM_OK;
}

static void test_config(void) {
    const wasmstream_operator op = {.map = identity, .on_init = configure};
    const char *outputs[] = {"alerts", "audit"};
    wasmstream_param params[] = {
        {.name = "n", .type = WASMSTREAM_PARAM_INT, .i = 3},
        {.name = "whole", .type = WASMSTREAM_PARAM_FLOAT, .f = 2.0},
        {.name = "half", .type = WASMSTREAM_PARAM_FLOAT, .f = 2.5},
        {.name = "name", .type = WASMSTREAM_PARAM_STRING, .s = "x"},
        {.name = "none", .type = WASMSTREAM_PARAM_NIL},
        {.name = "strict", .type = WASMSTREAM_PARAM_BOOL, .b = true},
    };
    size_t len;
    uint8_t *payload = wasmstream_encode_config("p", "op", 2, outputs, 2, params, 6, &len);
    CHECK(wasmstream_run_init(&op, payload, len) == WASMSTREAM_OK, "init: %s", wasmstream_last_error());
    free(payload);
    const wasmstream_config *c = seen;
    CHECK(c && strcmp(c->pipeline, "p") == 0 && strcmp(c->operator_name, "op") == 0 && c->instance == 2 &&
              c->outputs_len == 2 && strcmp(c->outputs[1], "audit") == 0 && strict_mode,
          "config fields");
    CHECK(wasmstream_config_has_output(c, "alerts") && !wasmstream_config_has_output(c, "other"), "has_output");
    int64_t i;
    double f;
    bool b;
    const char *s;
    CHECK(wasmstream_config_int(c, "n", 0, &i) == 0 && i == 3, "int");
    CHECK(wasmstream_config_int(c, "whole", 0, &i) == 0 && i == 2, "int from a whole float");
    CHECK(wasmstream_config_int(c, "absent", 7, &i) == 0 && i == 7, "int default");
    CHECK(wasmstream_config_int(c, "none", 7, &i) == 0 && i == 7, "int default for null");
    CHECK(wasmstream_config_float(c, "n", 0, &f) == 0 && f == 3.0, "float from an int");
    CHECK(wasmstream_config_string(c, "name", "d", &s) == 0 && strcmp(s, "x") == 0, "string");
    CHECK(wasmstream_config_string(c, "absent", "d", &s) == 0 && strcmp(s, "d") == 0, "string default");
    CHECK(wasmstream_config_int(c, "half", 0, &i) == WASMSTREAM_ERR &&
              strcmp(wasmstream_last_error(), "params.half: want an integer, got a float 2.5") == 0,
          "got \"%s\"", wasmstream_last_error());
    CHECK(wasmstream_config_bool(c, "name", false, &b) == WASMSTREAM_ERR &&
              strcmp(wasmstream_last_error(), "params.name: want a boolean, got a string \"x\"") == 0,
          "got \"%s\"", wasmstream_last_error());
    const uint8_t *raw;
    size_t raw_len;
    CHECK(wasmstream_config_param(c, "n", &raw, &raw_len) && raw_len == 1 && raw[0] == 3, "raw param");

    params[5] = (wasmstream_param){.name = "strict", .type = WASMSTREAM_PARAM_STRING, .s = "yes"};
    payload = wasmstream_encode_config("p", "op", 0, NULL, 0, params, 6, &len);
    CHECK(wasmstream_run_init(&op, payload, len) == WASMSTREAM_ERR &&
              strcmp(wasmstream_last_error(), "params.strict: want a boolean, got a string \"yes\"") == 0,
          "got \"%s\"", wasmstream_last_error());
    free(payload);
    static const uint8_t bad_key[] = {0x81, 0x01, 0x02}, not_map[] = {0x05};
    CHECK(wasmstream_run_init(&op, bad_key, sizeof bad_key) == WASMSTREAM_ERR &&
              strncmp(wasmstream_last_error(), "decoding init config: malformed frame at byte", 45) == 0,
          "got \"%s\"", wasmstream_last_error());
    CHECK(wasmstream_run_init(&op, not_map, sizeof not_map) == WASMSTREAM_ERR &&
              strcmp(wasmstream_last_error(), "decoding init config: want a map, got an integer") == 0,
          "got \"%s\"", wasmstream_last_error());
}

/* ---- async I/O ---------------------------------------------------------- */

/* The requests submitted since the last reset, as one msgpack array. */
static uint8_t *submitted_array(size_t *len) {
    size_t n = 0, total = 0, l;
    const uint8_t *req;
    while (wasmstream_test_submitted(n, &req, &l)) n++, total += l;
    uint8_t *b = malloc(total + 5), *p = b;
    if (n <= 15) *p++ = (uint8_t)(0x90 | n);
    else if (n <= 0xffff) *p++ = 0xdc, *p++ = (uint8_t)(n >> 8), *p++ = (uint8_t)n;
    else *p++ = 0xdd, *p++ = (uint8_t)(n >> 24), *p++ = (uint8_t)(n >> 16), *p++ = (uint8_t)(n >> 8), *p++ = (uint8_t)n;
    for (size_t i = 0; wasmstream_test_submitted(i, &req, &l); i++) memcpy(p, req, l), p += l;
    *len = (size_t)(p - b);
    return b;
}

/* The conformance operator over the async vectors: its output byte for
 * byte, and its requests, encoded as the vectors encode them (map keys
 * sorted, smallest encodings), byte for byte too. */
static void test_async_vectors(void) {
    char **names;
    size_t n = list("conformance-async", ".in.msgpack", &names);
    CHECK(n >= 4, "found %zu async vectors in %s/conformance-async", n, testdata);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        size_t len, want_len, got_len, subs_len, got_subs_len;
        snprintf(path, sizeof path, "%s/conformance-async/%s.in.msgpack", testdata, names[i]);
        uint8_t *in = read_file(path, &len);
        snprintf(path, sizeof path, "%s/conformance-async/%s.out.msgpack", testdata, names[i]);
        uint8_t *want = read_file(path, &want_len);
        snprintf(path, sizeof path, "%s/conformance-async/%s.submits.msgpack", testdata, names[i]);
        uint8_t *subs = read_file(path, &subs_len);
        wasmstream_test_async_reset();
        uint8_t *got = run(&wasmstream_operator_def, in, len, &got_len);
        CHECK(got && bytes_eq(got, got_len, want, want_len), "%s: output differs (%zu bytes, want %zu): %s", names[i],
              got_len, want_len, wasmstream_last_error());
        uint8_t *got_subs = submitted_array(&got_subs_len);
        CHECK(bytes_eq(got_subs, got_subs_len, subs, subs_len), "%s: submitted requests differ (%zu bytes, want %zu)",
              names[i], got_subs_len, subs_len);
        free(got_subs);
        free(got);
        free(subs);
        free(want);
        free(in);
        free(names[i]);
    }
    free(names);
    wasmstream_test_async_reset();
}

static int submit_all(wasmstream_record *r, wasmstream_emitter *out) {
    (void)out;
    if (r->value.len == 4 && memcmp(r->value.ptr, "fail", 4) == 0) return wasmstream_error("failed");
    wasmstream_request req = wasmstream_http("svc", "GET", "/x", r->value);
    int64_t t = wasmstream_submit(&req);
    return t < 0 ? (int)t : WASMSTREAM_OK;
}

static int seen_results;

static int echo_result(const wasmstream_result *res, wasmstream_emitter *out) {
    char line[256];
    int n = snprintf(line, sizeof line, "%llu %d %lld %s%.*s %s%.*s %s%.*s", (unsigned long long)res->ticket,
                     res->status, (long long)res->code, res->context.ptr ? "=" : "nil", (int)res->context.len,
                     res->context.ptr ? (const char *)res->context.ptr : "", res->body.ptr ? "=" : "nil",
                     (int)res->body.len, res->body.ptr ? (const char *)res->body.ptr : "",
                     res->error.ptr ? "=" : "nil", (int)res->error.len, res->error.ptr ? res->error.ptr : "");
    wasmstream_record r = {0};
    r.value = (wasmstream_bytes){(uint8_t *)line, (size_t)n};
    wasmstream_emit(out, &r);
    seen_results++;
    return res->status == 99 ? wasmstream_error("result handler failed") : WASMSTREAM_OK;
}

static int upper_records(wasmstream_record *r, wasmstream_emitter *out) {
    upper_map(r);
    wasmstream_emit(out, r);
    return WASMSTREAM_OK;
}

static void test_async(void) {
    size_t len, got_len;
    /* Requests: every field, keys sorted, the smallest encodings. */
    wasmstream_header hdrs[] = {{WASMSTREAM_STR("a"), WASMSTREAM_BYTES("b")}};
    wasmstream_request http = wasmstream_http("t", "POST", "/p", WASMSTREAM_BYTES("c"));
    http.headers = hdrs, http.headers_len = 1, http.body = WASMSTREAM_BYTES("xy");
    uint8_t *enc = wasmstream_encode_request(&http, &len);
    static const uint8_t want_http[] = "\x86\xa4" "body\xc4\x02xy\xa7" "context\xc4\x01" "c\xa7" "headers\x81\xa1" "a\xa1"
                                       "b\xa6" "method\xa4" "POST\xa4" "path\xa2/p\xa6" "target\xa1t";
    CHECK(bytes_eq(enc, len, want_http, sizeof want_http - 1), "http request: %zu bytes", len);
    free(enc);
    wasmstream_arg args[] = {wasmstream_arg_nil(), wasmstream_arg_bool(true), wasmstream_arg_int(-200),
                             wasmstream_arg_float(1.5), wasmstream_arg_str("s", 1), wasmstream_arg_bin("\0", 1)};
    wasmstream_request sql = wasmstream_sql("db", "q", (wasmstream_bytes){0}, args, 6);
    enc = wasmstream_encode_request(&sql, &len);
    static const uint8_t want_sql[] = "\x83\xa4" "args\x96\xc0\xc3\xd1\xff\x38\xcb\x3f\xf8\0\0\0\0\0\0\xa1s\xc4\x01\0"
                                      "\xa5query\xa1q\xa6target\xa2" "db";
    CHECK(bytes_eq(enc, len, want_sql, sizeof want_sql - 1), "sql request: %zu bytes", len);
    free(enc);
    wasmstream_request noargs = wasmstream_sql("db", "q", (wasmstream_bytes){0}, NULL, 0);
    enc = wasmstream_encode_request(&noargs, &len);
    CHECK(len > 6 && memcmp(enc, "\x83\xa4" "args\x90", 7) == 0, "a query without args has an empty args array");
    free(enc);
    wasmstream_str cmd[] = {WASMSTREAM_STR("MGET"), WASMSTREAM_STR("k1"), WASMSTREAM_STR("k2")};
    wasmstream_request redis = wasmstream_redis("r", (wasmstream_bytes){0}, cmd, 3);
    enc = wasmstream_encode_request(&redis, &len);
    static const uint8_t want_redis[] = "\x82\xa7" "command\x93\xa4MGET\xa2k1\xa2k2\xa6target\xa1r";
    CHECK(bytes_eq(enc, len, want_redis, sizeof want_redis - 1), "redis request: %zu bytes", len);
    free(enc);

    /* Submitting: tickets, refusals, no handler, a failed call's requests. */
    wasmstream_test_async_reset();
    const wasmstream_operator op = {.flat_map = submit_all, .on_result = echo_result};
    wasmstream_record recs[2] = {{.value = WASMSTREAM_BYTES("one")}, {.value = WASMSTREAM_BYTES("two")}};
    uint8_t *frame = wasmstream_encode_frame(recs, 2, &len);
    uint8_t *got = run(&op, frame, len, &got_len);
    const uint8_t *req;
    size_t req_len;
    CHECK(got && got_len == 6, "submitting emits nothing: %s", wasmstream_last_error());
    CHECK(wasmstream_test_submitted(1, &req, &req_len) && !wasmstream_test_submitted(2, &req, &req_len),
          "two requests kept");
    free(got);
    free(frame);
    recs[1].value = WASMSTREAM_BYTES("fail");
    frame = wasmstream_encode_frame(recs, 2, &len);
    CHECK(!run(&op, frame, len, &got_len) && !wasmstream_test_submitted(2, &req, &req_len),
          "a failed call's requests are dropped");
    free(frame);
    recs[1].value = WASMSTREAM_BYTES("two");
    frame = wasmstream_encode_frame(recs, 1, &len);
    wasmstream_test_async_refuse(WASMSTREAM_ERR_CAPACITY);
    CHECK(!run(&op, frame, len, &got_len) &&
              strcmp(wasmstream_last_error(),
                     "wasmstream: async request refused: capacity full (async.capacity requests in flight)") == 0,
          "capacity: got \"%s\"", wasmstream_last_error());
    wasmstream_test_async_refuse(-1);
    CHECK(!run(&op, frame, len, &got_len) && strstr(wasmstream_last_error(), "refused (status -1)"),
          "refused: got \"%s\"", wasmstream_last_error());
    wasmstream_test_async_refuse(0);
    const wasmstream_operator no_handler = {.flat_map = submit_all};
    CHECK(!run(&no_handler, frame, len, &got_len) &&
              strstr(wasmstream_last_error(), "wasmstream_submit without an on_result handler"),
          "no handler: got \"%s\"", wasmstream_last_error());
    CHECK(!wasmstream_test_submitted(2, &req, &req_len), "refused requests are not kept");
    free(frame);

    /* Results: after the call's records, nil apart from empty, any width. */
    wasmstream_result results[] = {
        {.ticket = 0, .status = WASMSTREAM_RESULT_OK, .context = WASMSTREAM_BYTES("ctx"), .code = 200,
         .body = WASMSTREAM_BYTES("body")},
        {.ticket = (uint64_t)1 << 40, .status = WASMSTREAM_RESULT_TIMEOUT, .context = {(uint8_t *)"", 0},
         .code = -1, .error = WASMSTREAM_STR("timed out")},
        {.ticket = 7, .status = WASMSTREAM_RESULT_ERROR, .body = {(uint8_t *)"", 0}, .error = {"", 0}},
    };
    wasmstream_record rec = {.value = WASMSTREAM_BYTES("rec")};
    const wasmstream_operator echo = {.flat_map = upper_records, .on_result = echo_result};
    frame = wasmstream_encode_frame_results(&rec, 1, results, 3, &len);
    CHECK(frame[0] == 0x92, "a frame with results starts 0x92");
    got = run(&echo, frame, len, &got_len);
    wasmstream_record *out;
    size_t n;
    CHECK(got && wasmstream_decode_frame(got, got_len, &out, &n) == 0 && n == 4, "4 records out: %s",
          wasmstream_last_error());
    static const char *want[] = {"REC", "0 0 200 =ctx =body nil", "1099511627776 -7 -1 = nil =timed out",
                                 "7 -1 0 nil = ="};
    for (size_t i = 0; got && i < n && i < 4; i++)
        CHECK(bytes_eq(out[i].value.ptr, out[i].value.len, (const uint8_t *)want[i], strlen(want[i])),
              "record %zu: \"%.*s\", want \"%s\"", i, (int)out[i].value.len, (const char *)out[i].value.ptr, want[i]);
    if (got) free(out);
    free(got);
    free(frame);
    /* No records, results only; a handler's error fails the call. */
    frame = wasmstream_encode_frame_results(NULL, 0, results, 1, &len);
    got = run(&echo, frame, len, &got_len);
    CHECK(got && wasmstream_decode_frame(got, got_len, &out, &n) == 0 && n == 1, "a call with only results");
    if (got) free(out);
    free(got);
    free(frame);
    results[1].status = 99;
    frame = wasmstream_encode_frame_results(NULL, 0, results, 3, &len);
    seen_results = 0;
    CHECK(!run(&echo, frame, len, &got_len) && strcmp(wasmstream_last_error(), "result handler failed") == 0 &&
              seen_results == 2,
          "a failing result handler: \"%s\", %d results seen", wasmstream_last_error(), seen_results);
    /* Without on_result, element 1 is skipped. */
    const wasmstream_operator plain = {.flat_map = upper_records};
    seen_results = 0;
    got = run(&plain, frame, len, &got_len);
    CHECK(got && got_len == 6 && seen_results == 0, "results skipped without on_result: %s", wasmstream_last_error());
    free(got);
    /* A malformed result fails the call. */
    results[1].status = WASMSTREAM_RESULT_TIMEOUT;
    free(frame);
    frame = wasmstream_encode_frame_results(NULL, 0, results, 3, &len);
    frame[len - 1] = 0x91; /* the last result's error: an array */
    CHECK(!run(&echo, frame, len, &got_len) && strstr(wasmstream_last_error(), "decoding async results"),
          "malformed result: \"%s\"", wasmstream_last_error());
    free(frame);
    static const uint8_t short_result[] = "\x92\x90\x91\x95\0\0\xc4\x03" "abc\0\xc0";
    CHECK(!run(&echo, short_result, sizeof short_result - 1, &got_len) &&
              strstr(wasmstream_last_error(), "async result 0 has 5 fields; want 6"),
          "a short result: \"%s\"", wasmstream_last_error());

    /* Redis array replies. */
    static const uint8_t reply[] = "\x93\xc4\x01" "a\xc0\xa2" "bc";
    wasmstream_items items;
    wasmstream_bytes item;
    CHECK(wasmstream_redis_items((wasmstream_bytes){(uint8_t *)reply, sizeof reply - 1}, &items) == 0 &&
              items.len == 3,
          "array reply: %s", wasmstream_last_error());
    CHECK(wasmstream_items_next(&items, &item) && bytes_eq(item.ptr, item.len, (const uint8_t *)"a", 1), "item 0");
    CHECK(wasmstream_items_next(&items, &item) && item.ptr == NULL, "item 1 is nil");
    CHECK(wasmstream_items_next(&items, &item) && bytes_eq(item.ptr, item.len, (const uint8_t *)"bc", 2), "item 2");
    CHECK(!wasmstream_items_next(&items, &item) && items.len == 0, "the end");
    CHECK(wasmstream_redis_items(WASMSTREAM_BYTES("OK"), &items) == WASMSTREAM_ERR &&
              strcmp(wasmstream_last_error(), "wasmstream: not an array reply") == 0,
          "not an array: \"%s\"", wasmstream_last_error());
    CHECK(wasmstream_redis_items(WASMSTREAM_BYTES("\x92\xc4\x01" "a\x05"), &items) == WASMSTREAM_ERR &&
              strstr(wasmstream_last_error(), "element 1"),
          "bad element: \"%s\"", wasmstream_last_error());
    CHECK(wasmstream_redis_items(WASMSTREAM_BYTES("\x90"), &items) == 0 && items.len == 0, "empty array reply");
    wasmstream_test_async_reset();
}

/* ---- headers, log and count --------------------------------------------- */

static int check_headers(wasmstream_record *r, wasmstream_emitter *out) {
    (void)out;
    wasmstream_bytes v;
    if (r->headers.count != 3) return wasmstream_error("count %zu", r->headers.count);
    if (!wasmstream_headers_get(&r->headers, "trace", &v) || v.len != 3) return wasmstream_error("trace");
    if (wasmstream_headers_get(&r->headers, "missing", NULL)) return wasmstream_error("missing");
    wasmstream_header_iter it = wasmstream_headers_iter(&r->headers);
    wasmstream_header h;
    int k = 0;
    while (wasmstream_headers_next(&it, &h)) {
        if (k == 1 && (h.value.ptr || h.name.len != 5)) return wasmstream_error("second header");
        if (k == 2 && (h.name.len != 12 || memcmp(h.name.ptr, "content-type", 12) != 0)) return wasmstream_error("third");
        k++;
    }
    wasmstream_count("records", 1);
    wasmstream_logf(WASMSTREAM_LOG_WARN, "saw %d headers", k);
    return k == 3 ? WASMSTREAM_OK : wasmstream_error("iterated %d", k);
}

static void test_headers_log_count(void) {
    char path[4096];
    size_t len, got_len;
    snprintf(path, sizeof path, "%s/frames/headers.msgpack", testdata);
    uint8_t *frame = read_file(path, &len);
    const wasmstream_operator op = {.flat_map = check_headers};
    uint8_t *got = run(&op, frame, len, &got_len);
    CHECK(got, "headers: %s", wasmstream_last_error());
    CHECK(wasmstream_test_metric("records") == 1, "count");
    CHECK(strstr(wasmstream_test_logs(), "WARN: saw 3 headers\n"), "logs: %s", wasmstream_test_logs());
    free(got);
    free(frame);
}

int main(int argc, char **argv) {
    testdata = argc > 1 ? argv[1] : "../../abi/testdata";
    test_conformance_vectors();
    test_golden_frames();
    test_wide_encodings();
    test_malformed();
    test_mutations();
    test_handlers();
    test_errors();
    test_config();
    test_headers_log_count();
    test_async_vectors();
    test_async();
    if (failures) {
        fprintf(stderr, "FAIL: %d checks failed\n", failures);
        return 1;
    }
    printf("ok: C SDK native tests\n");
    return 0;
}
