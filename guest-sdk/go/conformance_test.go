package wasmstream_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
	"github.com/wasmstream/wasmstream/internal/vectors"
)

// conformance is abi.ConformanceProcess's semantics for one record, written
// with the SDK. A "trap" record panics, which the native path reports as an
// error wrapping abi.ErrConformanceTrap (the Wasm example traps for real).
func conformance(r wasmstream.Record, e *wasmstream.Emitter) error {
	v := r.Value
	switch {
	case bytes.HasPrefix(v, []byte("drop")):
	case bytes.HasPrefix(v, []byte("dup")):
		upperInPlace(v)
		e.Emit(r)
		e.Emit(r)
	case bytes.HasPrefix(v, []byte("route:")):
		name, _, ok := bytes.Cut(v[len("route:"):], []byte(":"))
		if !ok || len(name) == 0 {
			return fmt.Errorf("bad route record %q", v)
		}
		e.EmitTo(string(name), r)
	case bytes.HasPrefix(v, []byte("error:")):
		return errors.New(string(v[len("error:"):]))
	case bytes.HasPrefix(v, []byte("trap")):
		panic(abi.ErrConformanceTrap)
	default:
		upperInPlace(v)
		e.Emit(r)
	}
	return nil
}

// TestConformanceVectors replays abi/testdata/conformance through the SDK:
// the output frame must equal the golden one byte for byte, or the error the
// golden message. The same operator runs as a FlatMap and as a ProcessBatch
// handler, which must agree.
func TestConformanceVectors(t *testing.T) {
	handlers := map[string]func(){
		"FlatMap": func() { wasmstream.FlatMap(conformance) },
		"ProcessBatch": func() {
			wasmstream.ProcessBatch(func(b *wasmstream.Batch, e *wasmstream.Emitter) error {
				var r wasmstream.Record
				for b.Next(&r) {
					if err := conformance(r, e); err != nil {
						return err
					}
				}
				return b.Err()
			})
		},
	}
	vs := vectors.Load(t, vectors.Conformance)
	if len(vs) < 10 {
		t.Fatalf("found %d conformance vectors, want at least 10", len(vs))
	}
	for hname, register := range handlers {
		for _, v := range vs {
			t.Run(hname+"/"+v.Name, func(t *testing.T) {
				setup(t, register)
				got, err := wasmstream.RunFrame(v.In)
				v.Check(t, got, err, vectors.Errors{
					Trap: func(err error) bool {
						_, ok := errors.AsType[*wasmstream.PanicError](err)
						return ok && errors.Is(err, abi.ErrConformanceTrap)
					},
					Failed: func(err error, msg string) bool { return err != nil && err.Error() == msg },
				})
			})
		}
	}
}
