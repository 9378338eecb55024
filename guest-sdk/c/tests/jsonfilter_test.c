/*
 * Native test of examples/wasm/jsonfilter/c, linked with it (guards issue
 * #9 item 3): clicks are kept, keyed by the decoded user name; views,
 * invalid JSON and non-objects are dropped, invalid JSON counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmstream.h"

extern const wasmstream_operator wasmstream_operator_def;

int main(void) {
    wasmstream_record in[6] = {0}, want[3];
    in[0].key = WASMSTREAM_BYTES("old"), in[0].value = WASMSTREAM_BYTES("{\"event\":\"click\",\"user\":{\"name\":\"ada\"}}");
    in[1].value = WASMSTREAM_BYTES("{\"event\":\"view\",\"user\":{\"name\":\"bob\"}}");
    in[2].value = WASMSTREAM_BYTES("{\"event\":\"click\",\"user\":{\"name\":\"Z\\u00fcrich \\\"q\\\"\"}}");
    in[3].key = WASMSTREAM_BYTES("kept"), in[3].value = WASMSTREAM_BYTES("{\"event\":\"click\"}");
    in[4].value = WASMSTREAM_BYTES("{\"event\":\"click\",");
    in[5].value = WASMSTREAM_BYTES("[1,2]");
    want[0] = in[0], want[1] = in[2], want[2] = in[3];
    want[0].key = WASMSTREAM_BYTES("ada");
    want[1].key = WASMSTREAM_BYTES("Z\xc3\xbcrich \"q\"");
    size_t in_len, want_len, out_len;
    uint8_t *frame = wasmstream_encode_frame(in, 6, &in_len), *expect = wasmstream_encode_frame(want, 3, &want_len);
    const uint8_t *out;
    if (wasmstream_run_frame(&wasmstream_operator_def, frame, in_len, &out, &out_len) != WASMSTREAM_OK) {
        fprintf(stderr, "FAIL: %s\n", wasmstream_last_error());
        return 1;
    }
    if (out_len != want_len || memcmp(out, expect, want_len) != 0) {
        fprintf(stderr, "FAIL: jsonfilter output differs\n");
        return 1;
    }
    if (wasmstream_test_metric("invalid_json") != 1) {
        fprintf(stderr, "FAIL: invalid_json = %lld, want 1\n", (long long)wasmstream_test_metric("invalid_json"));
        return 1;
    }
    free(frame);
    free(expect);
    printf("ok: examples/wasm/jsonfilter/c\n");
    return 0;
}
