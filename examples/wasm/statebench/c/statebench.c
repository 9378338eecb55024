/*
 * The state read benchmark's operator (bench/state.go): for each record, it
 * makes params.reads (default 10) reads of counters of the record's key,
 * named c0, c1, ... up to params.counters (default 10). A counter it does
 * not find it puts (value 1), so a first pass over the keys writes them and
 * every later pass only reads. It emits nothing, and at the end of each
 * batch adds to the operator counters reads, misses and sum (of the values
 * read), which the benchmark checks.
 *
 * Build it with ./build statebench.wasm.
 */
#include <string.h>

#include "wasmstream.h"

static const char *const names[] = {"c0", "c1", "c2",  "c3",  "c4",  "c5",  "c6",  "c7",
                                    "c8", "c9", "c10", "c11", "c12", "c13", "c14", "c15"};
enum { MAX_COUNTERS = sizeof names / sizeof *names };

static int64_t reads = 10, counters = 10;

static int configure(const wasmstream_config *cfg) {
    if (wasmstream_config_int(cfg, "reads", 10, &reads) || wasmstream_config_int(cfg, "counters", 10, &counters))
        return WASMSTREAM_ERR;
    if (reads < 0 || counters < 1 || counters > MAX_COUNTERS)
        return wasmstream_error("params.reads must be at least 0 and params.counters between 1 and %d", MAX_COUNTERS);
    return WASMSTREAM_OK;
}

static int run(wasmstream_batch *b, wasmstream_emitter *out) {
    (void)out;
    int64_t n = 0, misses = 0, sum = 0;
    static const uint8_t one[8] = {1};
    wasmstream_record r;
    int rc;
    while ((rc = wasmstream_batch_next(b, &r)) == 1) {
        wasmstream_state st = wasmstream_state_of(&r);
        for (int64_t i = 0; i < reads; i++) {
            const char *name = names[i % counters];
            wasmstream_bytes v;
            if ((rc = wasmstream_state_get(st, name, &v)) < 0) return rc;
            if (rc == 0) {
                if ((rc = wasmstream_state_put(st, name, one, sizeof one)) < 0) return rc;
                misses++;
            } else if (v.len == 8) {
                uint64_t c = 0;
                for (int j = 7; j >= 0; j--) c = c << 8 | v.ptr[j];
                sum += (int64_t)c;
            } else {
                return wasmstream_error("counter %s holds %zu bytes", name, v.len);
            }
            n++;
        }
    }
    if (rc < 0) return rc;
    wasmstream_count("reads", n);
    wasmstream_count("misses", misses);
    wasmstream_count("sum", sum);
    return WASMSTREAM_OK;
}

WASMSTREAM_OPERATOR(.process_batch = run, .on_init = configure);
