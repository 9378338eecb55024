package wasmstream_test

import (
	"bytes"
	"testing"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

// setup forgets any registration, runs register, and forgets it again when
// the test ends.
func setup(t *testing.T, register func()) {
	t.Helper()
	wasmstream.Reset()
	t.Cleanup(wasmstream.Reset)
	register()
}

func rec(key, value string, ts int64) wasmstream.Record {
	r := wasmstream.Record{Value: []byte(value), Timestamp: ts}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
}

func upperInPlace(v []byte) {
	for i, c := range v {
		if 'a' <= c && c <= 'z' {
			v[i] = c - ('a' - 'A')
		}
	}
}

func values(recs []wasmstream.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
		if r.Output != "" {
			out[i] = r.Output + ">" + out[i]
		}
	}
	return out
}

func equalRecords(a, b wasmstream.Record) bool {
	if !bytes.Equal(a.Key, b.Key) || (a.Key == nil) != (b.Key == nil) ||
		!bytes.Equal(a.Value, b.Value) || (a.Value == nil) != (b.Value == nil) ||
		a.Timestamp != b.Timestamp || a.Output != b.Output || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i].Name != b.Headers[i].Name || !bytes.Equal(a.Headers[i].Value, b.Headers[i].Value) ||
			(a.Headers[i].Value == nil) != (b.Headers[i].Value == nil) {
			return false
		}
	}
	return true
}
