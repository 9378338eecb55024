// Command conformance is the Go guest SDK's conformance operator: it
// implements abi.ConformanceProcess's reference semantics so the host's
// conformance test can run the golden vectors in abi/testdata/conformance
// through a real Go Wasm module. By the prefix of each record's value:
//
//	"drop"         no output
//	"dup"          the record, value upper-cased, emitted twice
//	"route:NAME:"  the record unchanged, routed to output NAME
//	"error:MSG"    the whole call fails with the message MSG
//	"trap"         the module traps (executes unreachable)
//	anything else  the record with its value's ASCII letters upper-cased
//
// Build it from the repository root with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o examples/wasm/conformance/go/conformance.wasm ./examples/wasm/conformance/go
package main

import (
	"bytes"
	"errors"
	"fmt"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

func init() {
	wasmstream.FlatMap(process)
}

var (
	prefixDrop  = []byte("drop")
	prefixDup   = []byte("dup")
	prefixRoute = []byte("route:")
	prefixError = []byte("error:")
	prefixTrap  = []byte("trap")
)

func process(r wasmstream.Record, out *wasmstream.Emitter) error {
	v := r.Value
	switch {
	case bytes.HasPrefix(v, prefixDrop):
	case bytes.HasPrefix(v, prefixDup):
		upper(v)
		out.Emit(r)
		out.Emit(r)
	case bytes.HasPrefix(v, prefixRoute):
		name, _, ok := bytes.Cut(v[len(prefixRoute):], []byte(":"))
		if !ok || len(name) == 0 {
			return fmt.Errorf("bad route record %q", v)
		}
		out.EmitTo(string(name), r)
	case bytes.HasPrefix(v, prefixError):
		return errors.New(string(v[len(prefixError):]))
	case bytes.HasPrefix(v, prefixTrap):
		trap()
	default:
		upper(v)
		out.Emit(r)
	}
	return nil
}

// upper upper-cases v's ASCII letters in place.
func upper(v []byte) {
	for i, c := range v {
		if 'a' <= c && c <= 'z' {
			v[i] = c - ('a' - 'A')
		}
	}
}

func main() {}
