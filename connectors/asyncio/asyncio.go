// Package asyncio is wasmstream's built-in async I/O targets (abi/SPEC.md
// section 5.2): http, redis and sql. An operator declares them under its
// async.targets; each declaration is a capability: the base URL and
// methods an HTTP target may use, the commands a Redis target may send,
// the named queries a SQL target may run. A request asking for anything
// else is refused when it is submitted.
//
// A target validates a request (Check, at submit, without I/O) and
// performs one attempt of it (Do); the runtime owns capacity, timeouts,
// retries and delivery. An error wrapping runtime.ErrRejected (a Redis
// error reply, a SQL syntax error) is never retried; other errors (a
// refused connection) are, as the operator's async.retry says.
package asyncio

import (
	"fmt"
	"sort"
	"strings"

	"github.com/wasmstream/wasmstream/runtime"
)

// Register adds the http, redis and sql async targets to r.
func Register(r *runtime.Registry) {
	runtime.AddAsyncTarget(r, "http", "Sends HTTP requests to one base URL: the request's path is appended to it, with the methods the target allows; the result's code is the response status and its body the response body.",
		func(c *HTTPConfig) (runtime.AsyncTarget, error) { return NewHTTP(c) })
	runtime.AddAsyncTarget(r, "redis", "Sends Redis commands among those the target allows (read-only ones by default); the result's body is the reply, its code the length of an array reply.",
		func(c *RedisConfig) (runtime.AsyncTarget, error) { return NewRedis(c) })
	runtime.AddAsyncTarget(r, "sql", "Runs the named queries the target declares on PostgreSQL or MySQL/MariaDB with the request's parameters; the result's body is the rows as a JSON array of objects, its code the number of rows.",
		func(c *SQLConfig) (runtime.AsyncTarget, error) { return NewSQL(c) })
}

// checkKeys refuses the keys of fields that are not among allowed.
func checkKeys(fields map[string]any, allowed ...string) error {
	var unknown []string
	for k := range fields {
		if !contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("unknown key %q (this target takes %s)", unknown[0], strings.Join(allowed, ", "))
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// text returns v as a string when it is a str or bin.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}

// typeName names the msgpack type of a decoded value, for messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case bool:
		return "bool"
	case int64, uint64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bin"
	case []any:
		return "array"
	case map[string]any:
		return "map"
	}
	return fmt.Sprintf("%T", v)
}
