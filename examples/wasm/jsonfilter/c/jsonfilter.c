/*
 * A wasmstream operator that parses each record's value as JSON, keeps only
 * the records whose "event" is "click" and keys each kept record by its
 * "user.name", with the SDK's JSON reader (wasmstream_json.h): it allocates
 * nothing; a name with escapes is decoded into a static buffer.
 *
 * Records that are not valid JSON are dropped and counted in the metric
 * invalid_json; a kept record without a string user.name keeps its key.
 *
 * Build it with ./build jsonfilter.wasm and run it with
 * examples/wasm/jsonfilter/pipeline.yaml.
 */
#include "wasmstream.h"
#include "wasmstream_json.h"

static uint8_t name_buf[4096];
static const char *const paths[] = {"event", "user.name"};

/* Reads both fields in one pass over the value with get_all. */
static int filter_clicks(wasmstream_record *r, wasmstream_emitter *out) {
    wasmstream_json_value v[2];
    if (wasmstream_json_get_all(r->value.ptr, r->value.len, paths, 2, v) != WASMSTREAM_JSON_OK) {
        wasmstream_count("invalid_json", 1);
        return WASMSTREAM_OK;
    }
    if (!wasmstream_json_text_eq(&v[0], "click", 5)) return WASMSTREAM_OK; /* false when missing */
    wasmstream_record kept = *r;
    const uint8_t *key;
    size_t key_len;
    if (wasmstream_json_text(&v[1], name_buf, sizeof name_buf, &key, &key_len) == WASMSTREAM_JSON_OK)
        kept.key = (wasmstream_bytes){(uint8_t *)key, key_len};
    wasmstream_emit(out, &kept); /* copied at once: name_buf may be reused */
    return WASMSTREAM_OK;
}

WASMSTREAM_OPERATOR(.flat_map = filter_clicks);
