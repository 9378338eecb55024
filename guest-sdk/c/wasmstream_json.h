/*
 * wasmstream_json.h: read and write JSON record values in a C operator
 * without allocating. Compile wasmstream_json.c with the operator; it needs
 * only the C standard library.
 *
 *     wasmstream_json_value v;
 *     if (wasmstream_json_get(r->value.ptr, r->value.len, "user.country", &v) == WASMSTREAM_JSON_OK &&
 *         wasmstream_json_text_eq(&v, "CH", 2))
 *         return WASMSTREAM_KEEP;
 *
 * wasmstream_json_get finds a value by path; the value points into the
 * document. Strings are decoded only when asked for, into a caller buffer.
 * wasmstream_json_writer, wasmstream_json_set and wasmstream_json_delete
 * build or patch a document into a caller buffer of a given capacity.
 *
 * A path is a list of segments joined by '.': an object key, or an array
 * index in decimal ("items.0.id"); the empty path "" is the document itself.
 * Keys are compared with their escapes decoded; the first of duplicate keys
 * wins. A key containing '.' cannot be named by a path.
 *
 * Every function that reads a document validates all of it against RFC 8259
 * in one pass (strict grammar, UTF-8 in strings, no leading zeros, nothing
 * after the value) and fails with WASMSTREAM_JSON_ESYNTAX, _EUTF8 or _EDEPTH
 * (nesting deeper than WASMSTREAM_JSON_MAX_DEPTH) instead of reading on.
 * The reader is one loop with an explicit, bounded stack, so no document
 * can exhaust the guest's stack. A lone UTF-16 surrogate in a \u escape is valid and decodes to
 * U+FFFD. The shared vectors in guest-sdk/testdata/json test this file and
 * the other SDKs' JSON code alike.
 */
#ifndef WASMSTREAM_JSON_H
#define WASMSTREAM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The deepest nesting of arrays and objects a document may have. */
#define WASMSTREAM_JSON_MAX_DEPTH 128

/* Results. */
#define WASMSTREAM_JSON_OK 0
#define WASMSTREAM_JSON_ESYNTAX 1   /* not valid JSON */
#define WASMSTREAM_JSON_EUTF8 2     /* a string holds bytes that are not UTF-8 */
#define WASMSTREAM_JSON_EDEPTH 3    /* nested deeper than WASMSTREAM_JSON_MAX_DEPTH */
#define WASMSTREAM_JSON_ENOTFOUND 4 /* valid, but nothing at the path */
#define WASMSTREAM_JSON_ETYPE 5     /* a value of another type */
#define WASMSTREAM_JSON_ERANGE 6    /* a number that does not fit */
#define WASMSTREAM_JSON_EWRITER 7   /* a writer used out of order */
#define WASMSTREAM_JSON_ENOSPACE 8  /* the output buffer is too small */

/* A static description of a result, such as "invalid JSON". */
const char *wasmstream_json_strerror(int err);

typedef enum {
    WASMSTREAM_JSON_NULL = 1,
    WASMSTREAM_JSON_BOOL,
    WASMSTREAM_JSON_NUMBER,
    WASMSTREAM_JSON_STRING,
    WASMSTREAM_JSON_ARRAY,
    WASMSTREAM_JSON_OBJECT,
} wasmstream_json_kind;

/* "null", "bool", "number", "string", "array" or "object". */
const char *wasmstream_json_kind_name(wasmstream_json_kind kind);

/* One value of a document: its JSON text, quotes included for a string,
 * pointing into the document. */
typedef struct {
    wasmstream_json_kind kind;
    const uint8_t *ptr;
    size_t len;
} wasmstream_json_value;

/* Checks that doc is one valid JSON document. When offset is not NULL and
 * the document is invalid, *offset is where reading stopped. */
int wasmstream_json_valid(const uint8_t *doc, size_t len, size_t *offset);

/* Finds the value at path (NUL-terminated) in doc, after validating all of
 * doc. Call it on a value's ptr and len to look inside that value. */
int wasmstream_json_get(const uint8_t *doc, size_t len, const char *path, wasmstream_json_value *out);

/* The most paths one wasmstream_json_get_all call looks up. */
#define WASMSTREAM_JSON_MAX_PATHS 8

/* Looks up the n paths (at most WASMSTREAM_JSON_MAX_PATHS, else ETYPE) in
 * doc in one pass, as wasmstream_json_get does for one, after validating all
 * of doc: out[i] is the value at paths[i], or {0, NULL, 0} when there is
 * none. */
int wasmstream_json_get_all(const uint8_t *doc, size_t len, const char *const *paths, size_t n,
                            wasmstream_json_value *out);

/* A string's contents with escapes decoded: *out points between its quotes
 * in the document when it has no escapes, or else to the decoded text in
 * buf. The decoded text is never longer than v->len, so a buffer of that
 * size always suffices; a smaller one may give WASMSTREAM_JSON_ENOSPACE.
 * The contents of a valid document's strings are UTF-8. */
int wasmstream_json_text(const wasmstream_json_value *v, uint8_t *buf, size_t cap, const uint8_t **out,
                         size_t *out_len);
/* Whether v is a string whose decoded contents are the n bytes at s. */
bool wasmstream_json_text_eq(const wasmstream_json_value *v, const char *s, size_t n);
/* A number written as an integer (no fraction or exponent); ETYPE for any
 * other value, ERANGE outside int64. -0 is 0. */
int wasmstream_json_int(const wasmstream_json_value *v, int64_t *out);
/* A number as the nearest double (strtod, in the "C" locale); ERANGE when
 * it is too large (a number too small is zero). */
int wasmstream_json_float(const wasmstream_json_value *v, double *out);
int wasmstream_json_bool(const wasmstream_json_value *v, bool *out);

/* Writes s (n bytes) to dst as a JSON string: quoted, with '"', '\\' and
 * control characters escaped (\n \r \t \b \f or \u00XX), every other byte as
 * it is. *len is the length written, or the length needed with ENOSPACE. */
int wasmstream_json_quote(uint8_t *dst, size_t cap, const void *s, size_t n, size_t *len);

/* Writes to dst the document doc with the value at path replaced by value,
 * which must be one valid JSON value (it is checked). When only the last
 * segment of path is missing and what it names is an object, "key":value
 * is appended to that object before its closing brace. Everything else is
 * copied byte for byte. ENOTFOUND when path has neither a value nor a parent
 * object, EDEPTH when the result would nest deeper than the limit. *out_len
 * is the length written, or needed with ENOSPACE. */
int wasmstream_json_set(uint8_t *dst, size_t cap, const uint8_t *doc, size_t len, const char *path,
                        const uint8_t *value, size_t value_len, size_t *out_len);
/* Writes to dst the document doc without the object member or array element
 * at path (and the comma that separated it). ENOTFOUND when path has no
 * value or is empty. */
int wasmstream_json_delete(uint8_t *dst, size_t cap, const uint8_t *doc, size_t len, const char *path,
                           size_t *out_len);

/* Builds one JSON document into a caller buffer, placing commas and colons.
 * A misuse or a full buffer is recorded and returned by
 * wasmstream_json_finish; the calls after it do nothing.
 *
 *     uint8_t buf[256];
 *     wasmstream_json_writer w;
 *     wasmstream_json_writer_init(&w, buf, sizeof buf);
 *     wasmstream_json_begin_object(&w);
 *     wasmstream_json_key(&w, "id");
 *     wasmstream_json_int64(&w, 7);
 *     wasmstream_json_end_object(&w);
 *     size_t n;
 *     if (wasmstream_json_finish(&w, &n) == WASMSTREAM_JSON_OK) ... // buf[0..n) is {"id":7}
 */
typedef struct {
    uint8_t *buf;
    size_t cap, len;
    int err;
    int depth;
    bool key;
    uint8_t open[WASMSTREAM_JSON_MAX_DEPTH];
    uint32_t count[WASMSTREAM_JSON_MAX_DEPTH + 1];
} wasmstream_json_writer;

void wasmstream_json_writer_init(wasmstream_json_writer *w, uint8_t *buf, size_t cap);
/* The result; *len is the document's length when it is WASMSTREAM_JSON_OK. */
int wasmstream_json_finish(wasmstream_json_writer *w, size_t *len);
void wasmstream_json_begin_object(wasmstream_json_writer *w);
void wasmstream_json_end_object(wasmstream_json_writer *w);
void wasmstream_json_begin_array(wasmstream_json_writer *w);
void wasmstream_json_end_array(wasmstream_json_writer *w);
/* An object key (NUL-terminated); a value must follow. */
void wasmstream_json_key(wasmstream_json_writer *w, const char *key);
void wasmstream_json_key_n(wasmstream_json_writer *w, const void *key, size_t n);
/* A string value of n bytes, escaped as wasmstream_json_quote does. */
void wasmstream_json_string(wasmstream_json_writer *w, const void *s, size_t n);
void wasmstream_json_int64(wasmstream_json_writer *w, int64_t n);
/* The shortest number that reads back as f; NaN and infinities as null. */
void wasmstream_json_double(wasmstream_json_writer *w, double f);
void wasmstream_json_boolean(wasmstream_json_writer *w, bool b);
void wasmstream_json_null(wasmstream_json_writer *w);
/* raw, which must be one valid JSON value (such as a value's ptr and len),
 * unchecked. */
void wasmstream_json_raw(wasmstream_json_writer *w, const void *raw, size_t n);

#ifdef __cplusplus
}
#endif

#endif
