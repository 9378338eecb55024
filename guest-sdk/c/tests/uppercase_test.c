/*
 * Native test of examples/wasm/uppercase/c, linked with it: ASCII letters of
 * the value are upper-cased and everything else passes through unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmstream.h"

extern const wasmstream_operator wasmstream_operator_def;

int main(void) {
    static const wasmstream_header h[] = {{WASMSTREAM_STR("h"), WASMSTREAM_BYTES("x")}};
    static const char long_value[] = "the quick brown fox jumps over the lazy dog, THE QUICK BROWN FOX 0123456789 {}`@";
    wasmstream_record in[4] = {0}, want[4];
    in[0].key = WASMSTREAM_BYTES("k"), in[0].value = WASMSTREAM_BYTES("hello, w\xc3\xb6rld 123");
    in[0].timestamp = 1700000000000, in[0].headers = wasmstream_headers_of(h, 1);
    in[1].value = WASMSTREAM_BYTES("");
    in[2].value = (wasmstream_bytes){(uint8_t *)"\xff" "a\0z{`", 6};
    in[3].value = WASMSTREAM_BYTES(long_value);
    memcpy(want, in, sizeof in);
    want[0].value = WASMSTREAM_BYTES("HELLO, W\xc3\xb6RLD 123");
    want[2].value = (wasmstream_bytes){(uint8_t *)"\xff" "A\0Z{`", 6};
    char upper[sizeof long_value];
    for (size_t i = 0; i < sizeof long_value; i++)
        upper[i] = long_value[i] >= 'a' && long_value[i] <= 'z' ? long_value[i] - 32 : long_value[i];
    want[3].value = (wasmstream_bytes){(uint8_t *)upper, sizeof long_value - 1};
    size_t in_len, want_len, out_len;
    uint8_t *frame = wasmstream_encode_frame(in, 4, &in_len), *expect = wasmstream_encode_frame(want, 4, &want_len);
    const uint8_t *out;
    if (wasmstream_run_frame(&wasmstream_operator_def, frame, in_len, &out, &out_len) != WASMSTREAM_OK) {
        fprintf(stderr, "FAIL: %s\n", wasmstream_last_error());
        return 1;
    }
    if (out_len != want_len || memcmp(out, expect, want_len) != 0) {
        fprintf(stderr, "FAIL: uppercase output differs\n");
        return 1;
    }
    free(frame);
    free(expect);
    printf("ok: examples/wasm/uppercase/c\n");
    return 0;
}
