/*
 * A keyed word count as a wasmstream operator, in two stages of one module
 * (params.stage), exactly as examples/wasm/wordcount/go:
 *
 *   - split: each line becomes one record per word, keyed by the word
 *     (lower-cased ASCII letters and digits; every other byte separates
 *     words), so the runtime routes each word to one instance of the next
 *     operator;
 *   - count: adds 1 to the word's "count" in keyed state, which the host
 *     owns and checkpoints, and emits "word count" when params.emit is
 *     true.
 *
 * Build it with ./build wordcount.wasm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmstream.h"

static bool split_stage, emit_counts;

static int configure(const wasmstream_config *cfg) {
    const char *stage;
    if (wasmstream_config_string(cfg, "stage", "count", &stage)) return WASMSTREAM_ERR;
    if (strcmp(stage, "split") != 0 && strcmp(stage, "count") != 0)
        return wasmstream_error("params.stage must be split or count, not \"%s\"", stage);
    split_stage = strcmp(stage, "split") == 0;
    return wasmstream_config_bool(cfg, "emit", false, &emit_counts);
}

static bool word_byte(uint8_t c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/* Emits a record per word of the line, keyed by the word. Words are
 * lower-cased in place: the emitted bytes are the input batch's. */
static int split(wasmstream_record *r, wasmstream_emitter *out) {
    uint8_t *line = r->value.ptr;
    size_t n = r->value.len;
    for (size_t i = 0; i < n; i++)
        if (line[i] >= 'A' && line[i] <= 'Z') line[i] += 'a' - 'A';
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && word_byte(line[i])) continue;
        if (i > start) {
            wasmstream_record w = {0};
            w.key = w.value = (wasmstream_bytes){line + start, i - start};
            wasmstream_emit(out, &w);
        }
        start = i + 1;
    }
    return WASMSTREAM_OK;
}

static int count(wasmstream_record *r, wasmstream_emitter *out) {
    int64_t n;
    int rc = wasmstream_state_add(wasmstream_state_of(r), "count", 1, &n);
    if (rc < 0 || !emit_counts) return rc < 0 ? rc : WASMSTREAM_OK;
    /* "word n": the word, a space and at most 20 characters. */
    static uint8_t *line;
    static size_t cap;
    if (r->key.len + 22 > cap) {
        free(line);
        cap = 2 * (r->key.len + 22);
        if (!(line = malloc(cap))) {
            cap = 0;
            return wasmstream_error("out of memory for a %zu-byte word", r->key.len);
        }
    }
    if (r->key.len) memcpy(line, r->key.ptr, r->key.len);
    int m = snprintf((char *)line + r->key.len, 22, " %lld", (long long)n);
    wasmstream_record o = {0};
    o.key = r->key;
    o.value = (wasmstream_bytes){line, r->key.len + (size_t)m};
    wasmstream_emit(out, &o);
    return WASMSTREAM_OK;
}

static int word_count(wasmstream_record *r, wasmstream_emitter *out) {
    return split_stage ? split(r, out) : count(r, out);
}

WASMSTREAM_OPERATOR(.flat_map = word_count, .on_init = configure);
