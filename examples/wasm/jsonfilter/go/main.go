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
	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
	"github.com/wasmstream/wasmstream/guest-sdk/go/json"
)

func init() {
	wasmstream.FlatMap(filterClicks)
}

// buf holds a decoded user name with escapes until the record is emitted
// (emitting copies it); paths and vals are reused by every record.
var (
	buf   = make([]byte, 0, 256)
	paths = []string{"event", "user.name"}
	vals  = make([]json.Value, len(paths))
)

// filterClicks reads both fields in one pass over the value with GetAll.
func filterClicks(r wasmstream.Record, out *wasmstream.Emitter) error {
	if err := json.GetAll(r.Value, paths, vals); err != nil {
		wasmstream.Count("invalid_json", 1)
		return nil
	}
	if !vals[0].TextEquals("click") {
		return nil
	}
	if key, err := vals[1].Text(buf[:0]); err == nil {
		r.Key = key
	}
	out.Emit(r)
	return nil
}

func main() {}
