/*
 * A wasmstream operator that upper-cases the ASCII letters of every
 * record's value, in place, and passes everything else (key, timestamp,
 * headers, non-ASCII bytes) through unchanged. It copies and allocates
 * nothing per record: a batch comes back to the host as the very buffer it
 * was written into.
 *
 * Build it with ./build uppercase.wasm and run it with
 * examples/wasm/uppercase/pipeline.yaml.
 */
#include "wasmstream.h"

/* Upper-cases r's value in place. The bytes belong to the input batch,
 * which the handler may modify until it returns. Written so that clang
 * vectorises it to 16 bytes at a time (-msimd128): the length is read once
 * (a store through a uint8_t pointer could otherwise change it) and every
 * byte is stored, changed or not. */
static int upper(wasmstream_record *r) {
    uint8_t *v = r->value.ptr;
    size_t n = r->value.len;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = v[i];
        v[i] = c >= 'a' && c <= 'z' ? c - ('a' - 'A') : c;
    }
    return WASMSTREAM_OK;
}

WASMSTREAM_OPERATOR(.map = upper);
