// Command jsonfilter is a wasmstream operator that parses each record's
// value as JSON, keeps only the records whose "event" is "click" and keys
// each kept record by its "user.name", with the Go SDK's JSON reader: it
// allocates nothing per record (a name with escapes is decoded into a
// buffer reused across records).
//
// Records that are not valid JSON are dropped and counted in the metric
// invalid_json; a kept record without a string user.name keeps its key.
//
// Build it from the repository root with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o examples/wasm/jsonfilter/go/jsonfilter.wasm ./examples/wasm/jsonfilter/go
//
// and run it with examples/wasm/jsonfilter/pipeline.yaml.
package main

import (
	"errors"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
	"github.com/wasmstream/wasmstream/guest-sdk/go/json"
)

func init() {
	wasmstream.FlatMap(filterClicks)
}

// buf holds a decoded user name with escapes until the record is emitted
// (emitting copies it).
var buf = make([]byte, 0, 256)

func filterClicks(r wasmstream.Record, out *wasmstream.Emitter) error {
	ev, err := json.Get(r.Value, "event")
	switch {
	case errors.Is(err, json.ErrNotFound):
		return nil
	case err != nil:
		wasmstream.Count("invalid_json", 1)
		return nil
	case !ev.TextEquals("click"):
		return nil
	}
	if name, err := json.Get(r.Value, "user.name"); err == nil {
		if key, err := name.Text(buf[:0]); err == nil {
			r.Key = key
		}
	}
	out.Emit(r)
	return nil
}

func main() {}
