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
 *   anything else  the record with its value's ASCII letters upper-cased
 *
 * Build it with ./build conformance.wasm.
 */
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
    upper(v);
    wasmstream_emit(out, r);
    return WASMSTREAM_OK;
}

WASMSTREAM_OPERATOR(.flat_map = conformance);
