/*
 * An Extism plugin with the uppercase map of the wasmstream benchmarks
 * (examples/wasm/uppercase): the ASCII letters of each value upper-cased,
 * every other byte unchanged. The harness runs it through the Extism Go SDK
 * beside the wasmstream operators, so that the two runtimes are compared on
 * the same work.
 *
 * It uses no PDK and no libc, only the Extism kernel's imports, the way the
 * C PDK does: the input is read 8 bytes per input_load_u64 call, and the
 * output written 8 bytes per store_u64 call into a block the kernel
 * allocates.
 *
 * Exports:
 *   upper        the input is one value; the output is that value upper-cased.
 *   upper_batch  the input is values each preceded by its length (u32,
 *                little-endian); the output has the same layout with every
 *                value upper-cased. A malformed input returns 1.
 */
#include <stdint.h>

#define IMPORT(name) __attribute__((import_module("extism:host/env"), import_name(name)))
#define EXPORT(name) __attribute__((export_name(name)))

IMPORT("input_length") extern uint64_t input_length(void);
IMPORT("input_load_u8") extern uint32_t input_load_u8(uint64_t offs);
IMPORT("input_load_u64") extern uint64_t input_load_u64(uint64_t offs);
IMPORT("alloc") extern uint64_t alloc(uint64_t n);
IMPORT("store_u8") extern void store_u8(uint64_t offs, uint32_t v);
IMPORT("store_u64") extern void store_u64(uint64_t offs, uint64_t v);
IMPORT("output_set") extern void output_set(uint64_t offs, uint64_t n);

/* The plugin's own copy of the input: large enough for a batch of 1000
 * values of 100 bytes with their prefixes, with room to spare. */
#define MAX_INPUT (1u << 20)
static uint8_t buf[MAX_INPUT];

/* load copies the input into buf and returns its length, or -1 when it
 * does not fit. */
static int64_t load(void) {
    uint64_t n = input_length();
    if (n > MAX_INPUT) {
        return -1;
    }
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = input_load_u64(i);
        __builtin_memcpy(buf + i, &v, 8);
    }
    for (; i < n; i++) {
        buf[i] = (uint8_t)input_load_u8(i);
    }
    return (int64_t)n;
}

/* store copies the first n bytes of buf into a block of Extism memory and
 * makes it the output. */
static void store(uint64_t n) {
    uint64_t offs = alloc(n);
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        __builtin_memcpy(&v, buf + i, 8);
        store_u64(offs + i, v);
    }
    for (; i < n; i++) {
        store_u8(offs + i, buf[i]);
    }
    output_set(offs, n);
}

/* upper_bytes upper-cases the ASCII letters of n bytes at p, written so
 * that clang vectorises it as it does the C operator. */
static void upper_bytes(uint8_t *p, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        p[i] = c >= 'a' && c <= 'z' ? c - ('a' - 'A') : c;
    }
}

EXPORT("upper") int32_t upper(void) {
    int64_t n = load();
    if (n < 0) {
        return 1;
    }
    upper_bytes(buf, (uint32_t)n);
    store((uint64_t)n);
    return 0;
}

EXPORT("upper_batch") int32_t upper_batch(void) {
    int64_t n = load();
    if (n < 0) {
        return 1;
    }
    uint32_t off = 0;
    while (off < (uint32_t)n) {
        if ((uint32_t)n - off < 4) {
            return 1;
        }
        uint32_t len = (uint32_t)buf[off] | (uint32_t)buf[off + 1] << 8 | (uint32_t)buf[off + 2] << 16 |
                       (uint32_t)buf[off + 3] << 24;
        off += 4;
        if (len > (uint32_t)n - off) {
            return 1;
        }
        upper_bytes(buf + off, len);
        off += len;
    }
    store((uint64_t)n);
    return 0;
}
