package wasmstream_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
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
	dir := filepath.Join("..", "..", "abi", "testdata", "conformance")
	ins, err := filepath.Glob(filepath.Join(dir, "*.in.msgpack"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) < 10 {
		t.Fatalf("found %d conformance vectors in %s, want at least 10", len(ins), dir)
	}
	for hname, register := range handlers {
		for _, in := range ins {
			name := strings.TrimSuffix(filepath.Base(in), ".in.msgpack")
			t.Run(hname+"/"+name, func(t *testing.T) {
				setup(t, register)
				frame, err := os.ReadFile(in)
				if err != nil {
					t.Fatal(err)
				}
				got, err := wasmstream.RunFrame(frame)
				base := filepath.Join(dir, name)
				if wantErr, rerr := os.ReadFile(base + ".err"); rerr == nil {
					msg := strings.TrimSpace(string(wantErr))
					if msg == "trap" {
						if _, ok := errors.AsType[*wasmstream.PanicError](err); !ok || !errors.Is(err, abi.ErrConformanceTrap) {
							t.Fatalf("got %v, want a panic wrapping abi.ErrConformanceTrap", err)
						}
						return
					}
					if err == nil || err.Error() != msg {
						t.Fatalf("got error %v, want %q", err, msg)
					}
					return
				}
				if err != nil {
					t.Fatalf("RunFrame: %v", err)
				}
				want, err := os.ReadFile(base + ".out.msgpack")
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("output differs from %s.out.msgpack: %d bytes, want %d", name, len(got), len(want))
				}
			})
		}
	}
}
