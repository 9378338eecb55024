/*
 * Native test of examples/wasm/wordcount/c, linked with it: split emits a
 * lower-cased record per word keyed by the word, and count keeps each
 * word's count in (the native stand-in for) keyed state and emits
 * "word count".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmstream.h"

extern const wasmstream_operator wasmstream_operator_def;

static int failures;

static void fail(const char *what) {
    fprintf(stderr, "FAIL: %s: %s\n", what, wasmstream_last_error());
    failures++;
}

static int init(const char *stage, bool emit) {
    wasmstream_param params[] = {{.name = "stage", .type = WASMSTREAM_PARAM_STRING, .s = stage},
                                 {.name = "emit", .type = WASMSTREAM_PARAM_BOOL, .b = emit}};
    size_t len;
    uint8_t *p = wasmstream_encode_config("wordcount", "op", 0, NULL, 0, params, 2, &len);
    int rc = wasmstream_run_init(&wasmstream_operator_def, p, len);
    free(p);
    return rc;
}

/* Runs the records through the operator and compares the output with want,
 * an array of key, value pairs ending with NULL. */
static void run(const char *what, wasmstream_record *in, size_t n, const char *const *want) {
    size_t len, out_len, got_n;
    const uint8_t *out;
    uint8_t *frame = wasmstream_encode_frame(in, n, &len);
    if (wasmstream_run_frame(&wasmstream_operator_def, frame, len, &out, &out_len) != WASMSTREAM_OK) {
        fail(what);
        free(frame);
        return;
    }
    uint8_t *copy = malloc(out_len);
    memcpy(copy, out, out_len);
    wasmstream_record *got;
    if (wasmstream_decode_frame(copy, out_len, &got, &got_n) != WASMSTREAM_OK) fail(what);
    size_t i = 0;
    for (; want[2 * i]; i++) {
        const char *k = want[2 * i], *v = want[2 * i + 1];
        if (i >= got_n || got[i].key.len != strlen(k) || memcmp(got[i].key.ptr, k, got[i].key.len) != 0 ||
            got[i].value.len != strlen(v) || memcmp(got[i].value.ptr, v, got[i].value.len) != 0 || got[i].timestamp ||
            got[i].headers.count) {
            fprintf(stderr, "FAIL: %s: record %zu is not key=%s value=%s\n", what, i, k, v);
            failures++;
        }
    }
    if (i != got_n) {
        fprintf(stderr, "FAIL: %s: %zu records, want %zu\n", what, got_n, i);
        failures++;
    }
    free(got);
    free(copy);
    free(frame);
}

int main(void) {
    if (init("split", false)) fail("init split");
    wasmstream_record in[4];
    memset(in, 0, sizeof in);
    in[0].key = WASMSTREAM_BYTES("line"), in[0].timestamp = 7;
    in[0].value = WASMSTREAM_BYTES("Hello, WORLD! 42x\tfoo_bar caf\xc3\xa9");
    in[1].value = WASMSTREAM_BYTES("");
    in[3].value = WASMSTREAM_BYTES("...");
    static const char *const words[] = {"hello", "hello", "world", "world", "42x", "42x", "foo", "foo",
                                        "bar", "bar", "caf", "caf", NULL};
    run("split", in, 4, words);

    wasmstream_test_state_reset();
    if (init("count", true)) fail("init count");
    wasmstream_record w[3];
    memset(w, 0, sizeof w);
    w[0].key = w[0].value = WASMSTREAM_BYTES("a");
    w[1].key = w[1].value = WASMSTREAM_BYTES("b");
    w[2].key = w[2].value = WASMSTREAM_BYTES("a");
    static const char *const counted[] = {"a", "a 1", "b", "b 1", "a", "a 2", NULL};
    run("count", w, 3, counted);
    char long_word[101];
    memset(long_word, 'x', 100);
    long_word[100] = 0;
    wasmstream_record l = {0};
    l.key = l.value = (wasmstream_bytes){(uint8_t *)long_word, 100};
    char long_line[104];
    snprintf(long_line, sizeof long_line, "%s 1", long_word);
    const char *const long_want[] = {long_word, long_line, NULL};
    run("count a long word", &l, 1, long_want);

    if (init("count", false)) fail("init quiet count");
    static const char *const none[] = {NULL};
    run("quiet count", w, 1, none);
    int64_t n;
    if (wasmstream_state_counter(wasmstream_state_key("a", 1), "count", &n) || n != 3) {
        fprintf(stderr, "FAIL: a counted %lld times, want 3\n", (long long)n);
        failures++;
    }
    if (init("merge", false) != WASMSTREAM_ERR ||
        strcmp(wasmstream_last_error(), "params.stage must be split or count, not \"merge\"") != 0) {
        fprintf(stderr, "FAIL: stage merge: %s\n", wasmstream_last_error());
        failures++;
    }
    wasmstream_test_state_reset();
    if (failures) return 1;
    printf("ok: examples/wasm/wordcount/c\n");
    return 0;
}
