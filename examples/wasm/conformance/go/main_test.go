package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

// TestConformanceVectors runs every golden vector through the operator
// natively, with the SDK's RunFrame: the output must equal the expected
// frame byte for byte, or the error the expected message. The host's
// conformance test runs the same vectors through the Wasm module.
func TestConformanceVectors(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "..", "abi", "testdata", "conformance")
	ins, err := filepath.Glob(filepath.Join(dir, "*.in.msgpack"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) == 0 {
		t.Fatalf("no conformance vectors in %s", dir)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.msgpack")
		t.Run(name, func(t *testing.T) {
			frame, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := wasmstream.RunFrame(frame)
			base := filepath.Join(dir, name)
			if want, rerr := os.ReadFile(base + ".err"); rerr == nil {
				msg := strings.TrimSpace(string(want))
				if msg == "trap" {
					if !errors.Is(err, abi.ErrConformanceTrap) {
						t.Fatalf("got error %v, want a trap", err)
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
				t.Fatalf("output differs from %s.out.msgpack (%d bytes, want %d)", name, len(got), len(want))
			}
		})
	}
}

// TestStateConformanceVectors runs the state vectors natively, against the
// SDK's stand-in for the host's state, fresh for each vector.
func TestStateConformanceVectors(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "..", "abi", "testdata", "conformance-state")
	ins, err := filepath.Glob(filepath.Join(dir, "*.in.msgpack"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no state vectors in %s: %v", dir, err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.msgpack")
		t.Run(name, func(t *testing.T) {
			wasmstream.Reset()
			wasmstream.FlatMap(process)
			frame, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := wasmstream.RunFrame(frame)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, name+".out.msgpack"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("output differs from %s.out.msgpack", name)
			}
		})
	}
}
