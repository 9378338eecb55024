/*
 * wasmstream.h: the C guest SDK for wasmstream.
 *
 * Write a stream operator in C, compile it with wasmstream.c to a WASI
 * reactor module, and never see the ABI (abi/SPEC.md): frames, msgpack,
 * alloc, packed pointers and status codes are the SDK's business.
 *
 *     #include "wasmstream.h"
 *
 *     static int upper(wasmstream_record *r) {
 *         for (size_t i = 0; i < r->value.len; i++)
 *             if (r->value.ptr[i] >= 'a' && r->value.ptr[i] <= 'z')
 *                 r->value.ptr[i] -= 'a' - 'A';   // in place: nothing copied
 *         return WASMSTREAM_OK;
 *     }
 *
 *     WASMSTREAM_OPERATOR(.map = upper);
 *
 *     clang --target=wasm32-wasi -mexec-model=reactor -O2 -mbulk-memory -msimd128 \
 *         -Wl,-z,stack-size=65536 -o op.wasm op.c wasmstream.c
 *
 * Bytes and lifetimes: records point into the batch the host wrote into the
 * module. A handler may modify key and value bytes in place; records and
 * their bytes are valid only until the handler returns. Emitted records
 * are copied into the output at once. The configuration passed to on_init
 * and its strings stay valid for the life of the instance.
 *
 * Errors: a handler returns WASMSTREAM_OK (0) or fails the batch by
 * returning wasmstream_error(...), which sets the message the host receives
 * verbatim and returns WASMSTREAM_ERR (-1). Not thread-safe: a module
 * instance is single-threaded.
 */
#ifndef WASMSTREAM_H
#define WASMSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WASMSTREAM_ABI_VERSION 1
#define WASMSTREAM_LANGUAGE_C 3
/* The most records one output batch may carry. */
#define WASMSTREAM_MAX_RECORDS (1u << 24)

/* Handler results. */
#define WASMSTREAM_OK 0
#define WASMSTREAM_ERR (-1)
/* Filter results. */
#define WASMSTREAM_KEEP 1
#define WASMSTREAM_DROP 0

/* Log levels. */
#define WASMSTREAM_LOG_DEBUG 0
#define WASMSTREAM_LOG_INFO 1
#define WASMSTREAM_LOG_WARN 2
#define WASMSTREAM_LOG_ERROR 3

/* A byte slice. ptr == NULL is msgpack nil, distinct from an empty slice. */
typedef struct {
    uint8_t *ptr;
    size_t len;
} wasmstream_bytes;

/* A string slice, not NUL-terminated. */
typedef struct {
    const char *ptr;
    size_t len;
} wasmstream_str;

/* Slices of C strings and literals. */
#define WASMSTREAM_BYTES(lit) ((wasmstream_bytes){(uint8_t *)(lit), sizeof(lit) - 1})
#define WASMSTREAM_STR(lit) ((wasmstream_str){(lit), sizeof(lit) - 1})

/* One header. Names may repeat; order is kept. */
typedef struct {
    wasmstream_str name;
    wasmstream_bytes value; /* ptr == NULL: nil */
} wasmstream_header;

/*
 * A record's headers: a zero-copy view of the headers as the input batch
 * encodes them, or an array the operator sets with wasmstream_headers_of.
 * Read them with wasmstream_headers_iter/next or wasmstream_headers_get.
 */
typedef struct {
    const wasmstream_header *items; /* the operator's array, or NULL */
    size_t count;                   /* number of headers */
    /* private: the encoded headers from the input batch */
    const uint8_t *_raw;
    uint32_t _raw_len;
    uint8_t _skip;
    uint8_t _canonical;
} wasmstream_headers;

typedef struct {
    const wasmstream_headers *_h;
    size_t _i, _off;
} wasmstream_header_iter;

/* The headers in items[0..count). */
wasmstream_headers wasmstream_headers_of(const wasmstream_header *items, size_t count);
/* Iterates over h: while (wasmstream_headers_next(&it, &hdr)) ... */
wasmstream_header_iter wasmstream_headers_iter(const wasmstream_headers *h);
bool wasmstream_headers_next(wasmstream_header_iter *it, wasmstream_header *out);
/* Finds the first header named name (NUL-terminated); false if none. */
bool wasmstream_headers_get(const wasmstream_headers *h, const char *name, wasmstream_bytes *value);

/*
 * A record. Input records point into the batch: modify key and value bytes
 * in place, re-slice them, point them at other bytes, change the
 * timestamp, headers or output. A record built by the operator starts as
 * {0} (nil key and value, no headers, default output).
 *
 * A record emitted with nothing changed but the contents of its bytes is
 * copied to the output whole, without re-encoding.
 */
typedef struct wasmstream_record {
    wasmstream_bytes key;       /* routing key; ptr == NULL: no key */
    wasmstream_bytes value;     /* payload; ptr == NULL: nil */
    int64_t timestamp;          /* event time, ms since the Unix epoch */
    wasmstream_headers headers; /* headers */
    wasmstream_str output;      /* named output; len 0: the default output */
    /* private: where the record came from */
    struct {
        uint32_t gen, start, end;
        const uint8_t *key, *value, *headers;
        size_t key_len, value_len, headers_count;
        int64_t timestamp;
    } _orig;
} wasmstream_record;

/* The output batch of the current call. */
typedef struct wasmstream_emitter wasmstream_emitter;
/* Emits r to its own output (r->output). */
void wasmstream_emit(wasmstream_emitter *out, const wasmstream_record *r);
/* Emits r to the named output (NUL-terminated; "" is the default). */
void wasmstream_emit_to(wasmstream_emitter *out, const char *output, const wasmstream_record *r);
/* The number of records emitted in the current call. */
size_t wasmstream_emitted(const wasmstream_emitter *out);

/* The input batch, for process_batch handlers. */
typedef struct wasmstream_batch wasmstream_batch;
/* The number of records in the batch, read or not. */
size_t wasmstream_batch_len(const wasmstream_batch *b);
/*
 * Decodes the next record into r: 1 when there was one, 0 at the end of
 * the batch, WASMSTREAM_ERR on a malformed batch (the message is set; the
 * call fails with it whatever the handler returns).
 */
int wasmstream_batch_next(wasmstream_batch *b, wasmstream_record *r);

/* An operator instance's configuration. Strings are NUL-terminated. */
typedef struct {
    const char *pipeline;       /* the pipeline's name */
    const char *operator_name;  /* the operator's name in the pipeline */
    int64_t instance;           /* 0-based index among the operator's instances */
    const char *const *outputs; /* the named outputs the pipeline connects */
    size_t outputs_len;
    /* private: the params map as msgpack */
    const uint8_t *_params;
    size_t _params_len;
} wasmstream_config;

/*
 * Typed param getters: *out is the param, or def when it is absent or
 * null. A param of another type leaves *out = def, sets the error message
 * ("params.NAME: want ..., got ...") and returns WASMSTREAM_ERR, so that
 * on_init can return the result as it is. Strings stay valid for the life
 * of the instance. An integer getter accepts a float with no fraction; the
 * float getter accepts integers.
 */
int wasmstream_config_string(const wasmstream_config *cfg, const char *name, const char *def, const char **out);
int wasmstream_config_int(const wasmstream_config *cfg, const char *name, int64_t def, int64_t *out);
int wasmstream_config_bool(const wasmstream_config *cfg, const char *name, bool def, bool *out);
int wasmstream_config_float(const wasmstream_config *cfg, const char *name, double def, double *out);
/* The msgpack encoding of a param of any type; false when absent. */
bool wasmstream_config_param(const wasmstream_config *cfg, const char *name, const uint8_t **msgpack, size_t *len);
/* Whether the pipeline connects the named output. */
bool wasmstream_config_has_output(const wasmstream_config *cfg, const char *name);

/* Handlers. Each returns WASMSTREAM_OK or an error (see wasmstream_error). */
typedef int (*wasmstream_map_fn)(wasmstream_record *r);
/* Returns WASMSTREAM_KEEP, WASMSTREAM_DROP or an error (negative). */
typedef int (*wasmstream_filter_fn)(const wasmstream_record *r);
typedef int (*wasmstream_flat_map_fn)(wasmstream_record *r, wasmstream_emitter *out);
typedef int (*wasmstream_batch_fn)(wasmstream_batch *b, wasmstream_emitter *out);
typedef int (*wasmstream_init_fn)(const wasmstream_config *cfg);
struct wasmstream_result;
/* Handles one async result (see Async I/O below). */
typedef int (*wasmstream_result_fn)(const struct wasmstream_result *res, wasmstream_emitter *out);

/* An operator: exactly one handler, and optionally on_init and on_result. */
typedef struct {
    wasmstream_map_fn map;                 /* one record out per record in */
    wasmstream_filter_fn filter;           /* keep or drop each record */
    wasmstream_flat_map_fn flat_map;       /* zero or more records out per record in */
    wasmstream_batch_fn process_batch;     /* the whole batch */
    wasmstream_init_fn on_init;            /* once per instance, before the first batch */
    wasmstream_result_fn on_result;        /* each async result, after the call's records */
} wasmstream_operator;

/*
 * Defines the module's operator, once per module, with designated
 * initializers: WASMSTREAM_OPERATOR(.flat_map = route, .on_init = configure);
 * A module without one fails to link (undefined symbol
 * wasmstream_operator_def); one with two, with a duplicate symbol.
 */
#define WASMSTREAM_OPERATOR(...) const wasmstream_operator wasmstream_operator_def = {__VA_ARGS__}

/*
 * Sets the error message of the current call from a printf format and
 * returns WASMSTREAM_ERR: return wasmstream_error("bad record %d", i);
 */
int wasmstream_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sets the error message to msg[0..len) verbatim; returns WASMSTREAM_ERR. */
int wasmstream_error_bytes(const void *msg, size_t len);

/* Writes a message to the host's log (NUL-terminated, printf, or bytes). */
void wasmstream_log(int level, const char *msg);
void wasmstream_logf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wasmstream_log_bytes(int level, const void *msg, size_t len);
/* Adds delta to the operator's counter name, kept by the host. */
void wasmstream_count(const char *name, int64_t delta);

/*
 * Keyed state, owned by the host (abi/SPEC.md, section 5.1): it survives
 * instance replacement, hot swaps and crashes, and what an init or process
 * call writes is applied only if the call succeeds.
 *
 *     int64_t n;
 *     int rc = wasmstream_state_add(wasmstream_state_of(r), "count", 1, &n);
 *     if (rc < 0) return rc;   // the message is set: fail the batch with it
 *
 * A wasmstream_state names whose state: wasmstream_state_of(r), the
 * record's key's (records are routed by key, so one key's state is only
 * ever touched by one instance at a time); wasmstream_state_key(k, len), any
 * key's; wasmstream_state_operator(), the operator's, shared by all its
 * instances. It points at the key's bytes, which must outlive it.
 *
 * Names are NUL-terminated. Every function returns WASMSTREAM_OK (0), or
 * for reads 1 (found) or 0 (absent), or a negative status with the error
 * message set, as wasmstream_error sets it, so a handler can return it:
 * WASMSTREAM_ERR_TOO_LARGE (over the pipeline's state.max_value; nothing
 * written), WASMSTREAM_ERR_NOT_COUNTER (a counter call on another value)
 * or WASMSTREAM_ERR.
 */
#define WASMSTREAM_ERR_TOO_LARGE (-3)
#define WASMSTREAM_ERR_NOT_COUNTER (-4)
#define WASMSTREAM_SCOPE_KEY 0
#define WASMSTREAM_SCOPE_OPERATOR 1

typedef struct {
    int32_t scope; /* WASMSTREAM_SCOPE_KEY or WASMSTREAM_SCOPE_OPERATOR */
    const uint8_t *key;
    size_t key_len;
} wasmstream_state;

wasmstream_state wasmstream_state_of(const wasmstream_record *r);
wasmstream_state wasmstream_state_key(const void *key, size_t len);
wasmstream_state wasmstream_state_operator(void);

/*
 * Reads name: 1 and *val pointing at the value, or 0 and *val = {NULL, 0}
 * when there is none (or it expired). The value is in the SDK's read
 * buffer, valid until the next state read (get, counter, list, map_get);
 * copy it to keep it. The buffer grows to the largest value read.
 */
int wasmstream_state_get(wasmstream_state s, const char *name, wasmstream_bytes *val);
/* Sets name to val[0..len) until it is deleted. */
int wasmstream_state_put(wasmstream_state s, const char *name, const void *val, size_t len);
/* Sets name for ttl_ms milliseconds of processing time (0: until deleted). */
int wasmstream_state_put_ttl(wasmstream_state s, const char *name, const void *val, size_t len, int64_t ttl_ms);
/* Deletes name; deleting nothing is not an error. */
int wasmstream_state_delete(wasmstream_state s, const char *name);
/*
 * Adds delta to the counter name (8 bytes, little-endian; absent is 0; it
 * keeps its expiry) and sets *out (if not NULL) to the new value.
 */
int wasmstream_state_add(wasmstream_state s, const char *name, int64_t delta, int64_t *out);
/* Reads the counter name into *out, 0 when absent. It writes nothing. */
int wasmstream_state_counter(wasmstream_state s, const char *name, int64_t *out);
/*
 * Adds delta to the float counter name (8 bytes, IEEE 754, little-endian;
 * absent is 0; it keeps its expiry) and sets *out (if not NULL) to the new
 * value: money, sums behind averages. Float and int counters are apart:
 * a float add on an int counter, or an int add on a float counter, is
 * WASMSTREAM_ERR_NOT_COUNTER. A NaN or infinite delta, or a sum that
 * overflows, is WASMSTREAM_ERR and adds nothing.
 */
int wasmstream_state_add_f64(wasmstream_state s, const char *name, double delta, double *out);
/* Reads the float counter name into *out, 0 when absent. */
int wasmstream_state_counter_f64(wasmstream_state s, const char *name, double *out);
/* Appends elem[0..len) to the list name, without reading the list. */
int wasmstream_state_append(wasmstream_state s, const char *name, const void *elem, size_t len);

/* A list's elements, in the read buffer (see wasmstream_state_get). */
typedef struct {
    size_t len; /* the number of elements not yet returned by next */
    const uint8_t *_p, *_end;
} wasmstream_list;
/*
 * Reads the list name into *list (empty when absent): 1 when it exists, 0
 * when not, or an error when the value is not a list. Then
 * while (wasmstream_list_next(&list, &elem)) ...
 */
int wasmstream_state_list(wasmstream_state s, const char *name, wasmstream_list *list);
bool wasmstream_list_next(wasmstream_list *list, wasmstream_bytes *elem);

/*
 * Maps: the entry k of the map named map is the state value named
 * map "\0" k, so reading or writing one entry never touches the others.
 * Map keys are bytes.
 */
int wasmstream_state_map_get(wasmstream_state s, const char *map, const void *k, size_t k_len, wasmstream_bytes *val);
int wasmstream_state_map_put(wasmstream_state s, const char *map, const void *k, size_t k_len, const void *val,
                             size_t len);
int wasmstream_state_map_delete(wasmstream_state s, const char *map, const void *k, size_t k_len);
int wasmstream_state_map_add(wasmstream_state s, const char *map, const void *k, size_t k_len, int64_t delta,
                             int64_t *out);
int wasmstream_state_map_add_f64(wasmstream_state s, const char *map, const void *k, size_t k_len, double delta,
                                 double *out);

/*
 * Async I/O (abi/SPEC.md, section 5.2): wasmstream_submit sends a request
 * to a target the pipeline file declares under the operator's
 * async.targets, and the operator's on_result handler receives its result
 * in a later call, with the context the request carried. No call waits.
 *
 *     static int enrich(wasmstream_record *r, wasmstream_emitter *out) {
 *         (void)out;
 *         wasmstream_str cmd[] = {WASMSTREAM_STR("GET"), {(const char *)r->key.ptr, r->key.len}};
 *         wasmstream_request req = wasmstream_redis("cache", r->value, cmd, 2);
 *         int64_t t = wasmstream_submit(&req);
 *         return t < 0 ? (int)t : WASMSTREAM_OK;
 *     }
 *
 *     static int joined(const wasmstream_result *res, wasmstream_emitter *out) {
 *         wasmstream_record o = {0};
 *         o.value = res->status == WASMSTREAM_RESULT_OK ? res->body : res->context;
 *         wasmstream_emit(out, &o);
 *         return WASMSTREAM_OK;
 *     }
 *
 *     WASMSTREAM_OPERATOR(.flat_map = enrich, .on_result = joined);
 *
 * A request is a wasmstream_request: its target, its context, and the
 * fields of the target's kind; NULL strings, nil bytes and empty arrays are
 * left out. wasmstream_submit encodes it (with the SDK's msgpack writer,
 * into a buffer it reuses) and returns its ticket (>= 0), or a negative
 * status with the error message set, so a handler can return it:
 * WASMSTREAM_ERR (an undeclared target, a request the declaration does not
 * allow, no on_result handler), WASMSTREAM_ERR_TOO_LARGE (over
 * async.max_request or async.max_context) or WASMSTREAM_ERR_CAPACITY
 * (async.capacity requests in flight: an operator submitting at most one
 * request per record never sees it). Requests submitted by a call that
 * fails are dropped: the retried call submits them again.
 */
#define WASMSTREAM_ERR_CAPACITY (-6)
/* Result statuses. */
#define WASMSTREAM_RESULT_OK 0
#define WASMSTREAM_RESULT_ERROR (-1)
#define WASMSTREAM_RESULT_TIMEOUT (-7)

/* A SQL argument: nil, bool, int, float, str or bin. */
typedef enum {
    WASMSTREAM_ARG_NIL,
    WASMSTREAM_ARG_BOOL,
    WASMSTREAM_ARG_INT,
    WASMSTREAM_ARG_FLOAT,
    WASMSTREAM_ARG_STR,
    WASMSTREAM_ARG_BIN
} wasmstream_arg_type;

typedef struct {
    wasmstream_arg_type type;
    bool b;
    int64_t i;
    double f;
    wasmstream_bytes bytes; /* str and bin */
} wasmstream_arg;

static inline wasmstream_arg wasmstream_arg_nil(void) { return (wasmstream_arg){.type = WASMSTREAM_ARG_NIL}; }
static inline wasmstream_arg wasmstream_arg_bool(bool b) { return (wasmstream_arg){.type = WASMSTREAM_ARG_BOOL, .b = b}; }
static inline wasmstream_arg wasmstream_arg_int(int64_t i) { return (wasmstream_arg){.type = WASMSTREAM_ARG_INT, .i = i}; }
static inline wasmstream_arg wasmstream_arg_float(double f) {
    return (wasmstream_arg){.type = WASMSTREAM_ARG_FLOAT, .f = f};
}
/* A str argument of s[0..len). */
static inline wasmstream_arg wasmstream_arg_str(const void *s, size_t len) {
    return (wasmstream_arg){.type = WASMSTREAM_ARG_STR, .bytes = {(uint8_t *)s, len}};
}
static inline wasmstream_arg wasmstream_arg_bin(const void *p, size_t len) {
    return (wasmstream_arg){.type = WASMSTREAM_ARG_BIN, .bytes = {(uint8_t *)p, len}};
}

/* An async request. Strings are NUL-terminated. */
typedef struct {
    const char *target;        /* the declared target (required) */
    wasmstream_bytes context;  /* handed back with the result; ptr == NULL: none */
    /* http */
    const char *method;        /* NULL: the host's default, GET */
    const char *path;          /* with its query, appended to the target's url */
    const wasmstream_header *headers; /* added to the target's; values are written as str */
    size_t headers_len;
    wasmstream_bytes body;     /* ptr == NULL: none */
    /* redis */
    const wasmstream_str *command; /* the command and its arguments */
    size_t command_len;
    /* sql */
    const char *query;         /* the name of one of the target's queries */
    const wasmstream_arg *args; /* its parameters: written (maybe empty) when query is set */
    size_t args_len;
} wasmstream_request;

/* Requests for HTTP (method and path appended to the target's url), Redis
 * (one command) and SQL (the named query with args) targets. */
wasmstream_request wasmstream_http(const char *target, const char *method, const char *path, wasmstream_bytes context);
wasmstream_request wasmstream_redis(const char *target, wasmstream_bytes context, const wasmstream_str *command,
                                    size_t command_len);
wasmstream_request wasmstream_sql(const char *target, const char *query, wasmstream_bytes context,
                                  const wasmstream_arg *args, size_t args_len);

/* Submits req: its ticket, or a negative status with the message set. */
int64_t wasmstream_submit(const wasmstream_request *req);
/* req's msgpack encoding, as wasmstream_submit sends it (free the result;
 * NULL when out of memory). */
uint8_t *wasmstream_encode_request(const wasmstream_request *req, size_t *len);

/*
 * One request's result, valid during the on_result call. status is
 * WASMSTREAM_RESULT_OK when the request completed (code and body hold the
 * answer: an HTTP status and body, a Redis reply, SQL rows as JSON), or
 * WASMSTREAM_RESULT_ERROR or WASMSTREAM_RESULT_TIMEOUT with error saying
 * why. context, body and error point into the input batch; ptr == NULL is
 * nil, distinct from empty.
 */
typedef struct wasmstream_result {
    uint64_t ticket;          /* what wasmstream_submit returned */
    int32_t status;
    wasmstream_bytes context; /* the request's context, as submitted */
    int64_t code;             /* http: the status; redis: an array reply's length; sql: the rows */
    wasmstream_bytes body;
    wasmstream_str error;
} wasmstream_result;

/*
 * The on_result handler is called once per result, in the call that
 * delivers it, after the call's records were handled, and emits through
 * out. Returning an error fails the call: its results are delivered again
 * to the retry. An operator without on_result is sent no results (it can
 * submit nothing).
 */

/* A Redis array reply's elements (MGET, HMGET, LRANGE...). */
typedef struct {
    size_t len; /* the number of elements not yet returned by next */
    const uint8_t *_p, *_end;
} wasmstream_items;
/*
 * Splits body, a Redis array reply (a msgpack array of bin or nil), into
 * *items: WASMSTREAM_OK, or WASMSTREAM_ERR with the message set when it is
 * not one. Then while (wasmstream_items_next(&items, &item)) ..., a nil
 * element (a nil reply) with item.ptr == NULL.
 */
int wasmstream_redis_items(wasmstream_bytes body, wasmstream_items *items);
bool wasmstream_items_next(wasmstream_items *items, wasmstream_bytes *item);

/*
 * Running an operator natively (and in tests), through the same code as the
 * module's exports. wasmstream_run_init takes an encoded init payload;
 * wasmstream_run_frame copies frame into the input buffer, processes it and
 * points *out at the output frame, valid until the next call. Both return
 * WASMSTREAM_OK or WASMSTREAM_ERR, with the message in
 * wasmstream_last_error().
 */
int wasmstream_run_init(const wasmstream_operator *op, const uint8_t *payload, size_t len);
int wasmstream_run_frame(const wasmstream_operator *op, const uint8_t *frame, size_t len, const uint8_t **out,
                         size_t *out_len);
const char *wasmstream_last_error(void);

/*
 * Native test helpers. wasmstream_encode_frame encodes records as the host
 * does (free the result); wasmstream_decode_frame decodes a frame into a
 * malloc'd array of records pointing into frame (free the array).
 * wasmstream_encode_config encodes an init payload. Native builds keep
 * counters and log lines: wasmstream_test_metric, wasmstream_test_logs
 * (all lines so far, "LEVEL: message\n" each).
 */
uint8_t *wasmstream_encode_frame(const wasmstream_record *recs, size_t n, size_t *len);
/* A frame of records and async results (element 1), as the host writes it. */
uint8_t *wasmstream_encode_frame_results(const wasmstream_record *recs, size_t n, const wasmstream_result *results,
                                         size_t results_len, size_t *len);
int wasmstream_decode_frame(uint8_t *frame, size_t len, wasmstream_record **recs, size_t *n);
typedef struct {
    const char *name;
    enum { WASMSTREAM_PARAM_NIL, WASMSTREAM_PARAM_STRING, WASMSTREAM_PARAM_INT, WASMSTREAM_PARAM_BOOL,
           WASMSTREAM_PARAM_FLOAT } type;
    const char *s;
    int64_t i;
    bool b;
    double f;
} wasmstream_param;
uint8_t *wasmstream_encode_config(const char *pipeline, const char *operator_name, int64_t instance,
                                  const char *const *outputs, size_t outputs_len, const wasmstream_param *params,
                                  size_t params_len, size_t *len);
#ifndef __wasm__
int64_t wasmstream_test_metric(const char *name);
const char *wasmstream_test_logs(void);
/*
 * The native state: with the host's semantics (statuses, the value size
 * limit, 1 MiB unless set here, counters, lists, TTLs) and transactions:
 * what a wasmstream_run_frame or wasmstream_run_init call writes is undone
 * when the call fails; writes made outside those calls apply at once. Its
 * clock starts at the wall clock's time and stands still unless
 * wasmstream_test_advance_time moves it. wasmstream_test_state_entry reads
 * the i-th live entry, in (scope, key, name) order: false past the last.
 * wasmstream_test_state_reset clears it all and restores the settings.
 */
void wasmstream_test_state_reset(void);
void wasmstream_test_state_max_value(size_t bytes);
void wasmstream_test_advance_time(int64_t ms);
bool wasmstream_test_state_entry(size_t i, int32_t *scope, wasmstream_bytes *key, wasmstream_bytes *name,
                                 wasmstream_bytes *val);
/*
 * The native async_submit accepts every request (ticket i for the i-th
 * kept since the last reset) unless wasmstream_test_async_refuse set a
 * status to answer with (0: accept again). The requests of a
 * wasmstream_run_frame or wasmstream_run_init call that fails are dropped.
 * wasmstream_test_submitted reads the i-th request's encoding: false past
 * the last. wasmstream_test_async_reset forgets them all.
 */
bool wasmstream_test_submitted(size_t i, const uint8_t **req, size_t *len);
void wasmstream_test_async_refuse(int32_t status);
void wasmstream_test_async_reset(void);
#endif

#ifdef __cplusplus
}
#endif
#endif /* WASMSTREAM_H */
