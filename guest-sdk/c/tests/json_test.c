/*
 * The C SDK's JSON tests: wasmstream_json.c against the shared vectors in
 * guest-sdk/testdata/json (guards issue #9 item 3: every SDK reads and writes
 * JSON the same way), the writer's misuse checks, and random documents
 * under the sanitizers.
 *
 *     json_test VECTORS.tsv
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmstream_json.h"

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

/* A field: its text, or "hex:" and its bytes in hexadecimal. Decoded in
 * place and NUL-terminated; *len is its length. */
static char *field(char *f, size_t *len) {
    if (strncmp(f, "hex:", 4) != 0) {
        *len = strlen(f);
        return f;
    }
    char *h = f + 4;
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        f[i] = (char)v;
    }
    f[n] = 0;
    *len = n;
    return f;
}

static const char *err_name(int err) {
    switch (err) {
    case WASMSTREAM_JSON_ESYNTAX: return "error:syntax";
    case WASMSTREAM_JSON_EUTF8: return "error:utf8";
    case WASMSTREAM_JSON_EDEPTH: return "error:depth";
    case WASMSTREAM_JSON_ENOTFOUND: return "error:notfound";
    case WASMSTREAM_JSON_ETYPE: return "error:type";
    case WASMSTREAM_JSON_ERANGE: return "error:range";
    default: return wasmstream_json_strerror(err);
    }
}

/* Runs one vector; writes its result to got (cap bytes) and returns its
 * length. */
static size_t run(const char *op, const uint8_t *doc, size_t doc_len, const char *path, const uint8_t *arg,
                  size_t arg_len, const char *want, char *got, size_t cap) {
    int err;
    size_t n = 0;
#define RESULT(s) return (size_t)snprintf(got, cap, "%s", (s))
    if (!strcmp(op, "valid")) {
        err = wasmstream_json_valid(doc, doc_len, NULL);
        RESULT(err ? err_name(err) : "ok");
    }
    if (!strcmp(op, "quote")) {
        err = wasmstream_json_quote((uint8_t *)got, cap, arg, arg_len, &n);
        if (err) RESULT(err_name(err));
        return n;
    }
    if (!strcmp(op, "set") || !strcmp(op, "delete")) {
        err = op[0] == 's' ? wasmstream_json_set((uint8_t *)got, cap, doc, doc_len, path, arg, arg_len, &n)
                           : wasmstream_json_delete((uint8_t *)got, cap, doc, doc_len, path, &n);
        if (err) RESULT(err_name(err));
        return n;
    }
    wasmstream_json_value v;
    err = wasmstream_json_get(doc, doc_len, path, &v);
    if (!strcmp(op, "equals")) RESULT(!err && wasmstream_json_text_eq(&v, (const char *)arg, arg_len) ? "true" : "false");
    if (err) RESULT(err_name(err));
    if (!strcmp(op, "kind")) RESULT(wasmstream_json_kind_name(v.kind));
    if (!strcmp(op, "raw")) {
        memcpy(got, v.ptr, v.len);
        return v.len;
    }
    if (!strcmp(op, "text")) {
        const uint8_t *t;
        uint8_t *buf = malloc(v.len + 1);
        err = wasmstream_json_text(&v, buf, v.len, &t, &n);
        if (!err) memcpy(got, t, n);
        free(buf);
        if (err) RESULT(err_name(err));
        return n;
    }
    if (!strcmp(op, "int")) {
        int64_t i;
        err = wasmstream_json_int(&v, &i);
        if (err) RESULT(err_name(err));
        return (size_t)snprintf(got, cap, "%" PRId64, i);
    }
    if (!strcmp(op, "bool")) {
        bool b;
        err = wasmstream_json_bool(&v, &b);
        if (err) RESULT(err_name(err));
        RESULT(b ? "true" : "false");
    }
    if (!strcmp(op, "float")) {
        double f;
        err = wasmstream_json_float(&v, &f);
        if (err) RESULT(err_name(err));
        double w = strtod(want, NULL);
        if (memcmp(&w, &f, sizeof f) == 0) RESULT(want);
        return (size_t)snprintf(got, cap, "%.17g", f);
    }
    return (size_t)snprintf(got, cap, "unknown op %s", op);
#undef RESULT
}

/* get_all finds in one pass what get finds per path. */
static void get_all_matches_get(const uint8_t *doc, size_t len, const char *path) {
    char deeper[512];
    snprintf(deeper, sizeof deeper, "%s.0", path);
    const char *paths[] = {path, "", "id", deeper, "tags.2.deep.1", path};
    wasmstream_json_value all[6], one;
    int err = wasmstream_json_get_all(doc, len, paths, 6, all);
    for (int i = 0; i < 6; i++) {
        int e = wasmstream_json_get(doc, len, paths[i], &one);
        if (e == WASMSTREAM_JSON_ENOTFOUND) {
            CHECK(!err && all[i].ptr == NULL, "get_all path %s: err %d, ptr %p", paths[i], err, (void *)all[i].ptr);
        } else if (e) {
            CHECK(err == e, "get_all path %s: err %d, get %d", paths[i], err, e);
        } else {
            CHECK(!err && all[i].ptr == one.ptr && all[i].len == one.len && all[i].kind == one.kind,
                  "get_all path %s differs from get", paths[i]);
        }
    }
}

static void vectors(const char *file) {
    FILE *f = fopen(file, "rb");
    if (!f) {
        fprintf(stderr, "opening %s failed\n", file);
        exit(1);
    }
    size_t cap = 1 << 20, cases = 0;
    char *line = malloc(cap), *got = malloc(cap);
    int lineno = 0;
    while (fgets(line, (int)cap, f)) {
        lineno++;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\n') line[--ll] = 0;
        if (!ll || line[0] == '#') continue;
        char *fields[6];
        size_t lens[6];
        int nf = 0;
        for (char *p = line; nf < 6; nf++) {
            fields[nf] = p;
            char *tab = strchr(p, '\t');
            if (!tab) {
                nf++;
                break;
            }
            *tab = 0;
            p = tab + 1;
        }
        if (nf != 6) {
            CHECK(nf == 6, "%s:%d: %d fields, want 6", file, lineno, nf);
            continue;
        }
        for (int i = 0; i < 6; i++) fields[i] = field(fields[i], &lens[i]);
        if (strcmp(fields[0], "valid") && strcmp(fields[0], "quote") && strcmp(fields[0], "set") &&
            strcmp(fields[0], "delete"))
            get_all_matches_get((const uint8_t *)fields[2], lens[2], fields[3]);
        size_t n = run(fields[0], (const uint8_t *)fields[2], lens[2], fields[3], (const uint8_t *)fields[4], lens[4],
                       fields[5], got, cap);
        CHECK(n == lens[5] && memcmp(got, fields[5], n) == 0, "line %d: %s \"%s\" path \"%s\": got \"%.*s\", want \"%s\"",
              lineno, fields[0], fields[1], fields[3], (int)(n < 200 ? n : 200), got, fields[5]);
        cases++;
    }
    fclose(f);
    free(line);
    free(got);
    CHECK(cases > 150, "only %zu vectors in %s", cases, file);
}

static void writer(void) {
    uint8_t buf[256];
    wasmstream_json_writer w;
    size_t n;
    wasmstream_json_writer_init(&w, buf, sizeof buf);
    wasmstream_json_begin_object(&w);
    wasmstream_json_key(&w, "id");
    wasmstream_json_int64(&w, INT64_MIN);
    wasmstream_json_key(&w, "q\"");
    wasmstream_json_string(&w, "a\nb", 3);
    wasmstream_json_key(&w, "tags");
    wasmstream_json_begin_array(&w);
    wasmstream_json_boolean(&w, true);
    wasmstream_json_null(&w);
    wasmstream_json_double(&w, 1.5);
    wasmstream_json_double(&w, 0.1);
    wasmstream_json_double(&w, 1e21);
    wasmstream_json_double(&w, NAN);
    wasmstream_json_begin_object(&w);
    wasmstream_json_end_object(&w);
    wasmstream_json_raw(&w, "[1,2]", 5);
    wasmstream_json_end_array(&w);
    wasmstream_json_end_object(&w);
    const char *want = "{\"id\":-9223372036854775808,\"q\\\"\":\"a\\nb\",\"tags\":[true,null,1.5,0.1,1e+21,null,{},[1,2]]}";
    CHECK(wasmstream_json_finish(&w, &n) == WASMSTREAM_JSON_OK && n == strlen(want) && !memcmp(buf, want, n),
          "got %.*s", (int)w.len, buf);
    CHECK(wasmstream_json_valid(buf, n, NULL) == WASMSTREAM_JSON_OK, "wrote invalid JSON");

    /* Misuse and a full buffer are errors, not invalid JSON. */
    wasmstream_json_writer_init(&w, buf, sizeof buf);
    wasmstream_json_begin_object(&w);
    wasmstream_json_int64(&w, 1);
    CHECK(wasmstream_json_finish(&w, &n) == WASMSTREAM_JSON_EWRITER, "value without key");
    wasmstream_json_writer_init(&w, buf, sizeof buf);
    wasmstream_json_begin_array(&w);
    wasmstream_json_key(&w, "a");
    CHECK(wasmstream_json_finish(&w, &n) == WASMSTREAM_JSON_EWRITER, "key in array");
    wasmstream_json_writer_init(&w, buf, sizeof buf);
    wasmstream_json_begin_array(&w);
    wasmstream_json_end_object(&w);
    CHECK(wasmstream_json_finish(&w, &n) == WASMSTREAM_JSON_EWRITER, "wrong end");
    wasmstream_json_writer_init(&w, buf, sizeof buf);
    wasmstream_json_begin_array(&w);
    CHECK(wasmstream_json_finish(&w, &n) == WASMSTREAM_JSON_EWRITER, "unclosed");
    wasmstream_json_writer_init(&w, buf, sizeof buf);
    wasmstream_json_int64(&w, 1);
    wasmstream_json_int64(&w, 2);
    CHECK(wasmstream_json_finish(&w, &n) == WASMSTREAM_JSON_EWRITER, "two documents");
    wasmstream_json_writer_init(&w, buf, sizeof buf);
    for (int i = 0; i <= WASMSTREAM_JSON_MAX_DEPTH; i++) wasmstream_json_begin_array(&w);
    CHECK(wasmstream_json_finish(&w, &n) == WASMSTREAM_JSON_EWRITER, "too deep");
    wasmstream_json_writer_init(&w, buf, 4);
    wasmstream_json_string(&w, "abcdef", 6);
    CHECK(wasmstream_json_finish(&w, &n) == WASMSTREAM_JSON_ENOSPACE, "full buffer");
    wasmstream_json_writer_init(&w, buf, sizeof buf);
    for (int i = 0; i < WASMSTREAM_JSON_MAX_DEPTH; i++) wasmstream_json_begin_array(&w);
    for (int i = 0; i < WASMSTREAM_JSON_MAX_DEPTH; i++) wasmstream_json_end_array(&w);
    CHECK(wasmstream_json_finish(&w, &n) == WASMSTREAM_JSON_OK && wasmstream_json_valid(buf, n, NULL) == 0,
          "max depth");

    /* Bounded outputs report the length they need. */
    CHECK(wasmstream_json_quote(buf, 3, "abc", 3, &n) == WASMSTREAM_JSON_ENOSPACE && n == 5, "quote needs %zu", n);
    const uint8_t doc[] = "{\"a\":1}";
    CHECK(wasmstream_json_set(buf, 4, doc, 7, "b", (const uint8_t *)"2", 1, &n) == WASMSTREAM_JSON_ENOSPACE && n == 13,
          "set needs %zu", n);
    uint8_t small[2];
    const uint8_t *t;
    wasmstream_json_value v = {WASMSTREAM_JSON_STRING, (const uint8_t *)"\"\\u00e9x\"", 9};
    CHECK(wasmstream_json_text(&v, small, sizeof small, &t, &n) == WASMSTREAM_JSON_ENOSPACE, "text into 2 bytes");
}

/* Random documents from JSON's alphabet and stray bytes, with a fixed seed:
 * under the sanitizers, no read or write outside the buffers, and what the
 * reader finds and the patches write is valid. */
static void stress(void) {
    static const char alphabet[] = "{}[]\":,0123456789.eE+-truefalsn \\/u\x7f\xc3\xa9\xff\x01";
    static const char *paths[] = {"", "a", "0", "a.0", "a.b", "0.a", "a."};
    static uint8_t doc[512], out[4096], text[512];
    uint64_t seed = 0x9e3779b97f4a7c15u;
    for (int iter = 0; iter < 200000; iter++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        size_t n = (size_t)(seed >> 33) % sizeof doc;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            doc[i] = (uint8_t)alphabet[(seed >> 33) % (sizeof alphabet - 1)];
        }
        const char *path = paths[iter % 7];
        wasmstream_json_value v;
        if (wasmstream_json_get(doc, n, path, &v) == WASMSTREAM_JSON_OK) {
            const uint8_t *t;
            size_t tl;
            int64_t i;
            double f;
            wasmstream_json_text(&v, text, v.len, &t, &tl);
            wasmstream_json_int(&v, &i);
            wasmstream_json_float(&v, &f);
            CHECK(wasmstream_json_valid(v.ptr, v.len, NULL) == 0, "found an invalid value in %.*s", (int)n, doc);
        }
        size_t ol;
        if (wasmstream_json_set(out, sizeof out, doc, n, path, (const uint8_t *)"[1,{}]", 6, &ol) == 0)
            CHECK(wasmstream_json_valid(out, ol, NULL) == 0, "set wrote invalid JSON from %.*s", (int)n, doc);
        if (wasmstream_json_delete(out, sizeof out, doc, n, path, &ol) == 0)
            CHECK(wasmstream_json_valid(out, ol, NULL) == 0, "delete wrote invalid JSON from %.*s", (int)n, doc);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: json_test VECTORS.tsv\n");
        return 2;
    }
    vectors(argv[1]);
    writer();
    stress();
    if (failures) {
        fprintf(stderr, "json_test: %d failures\n", failures);
        return 1;
    }
    printf("ok: JSON vectors and writer\n");
    return 0;
}
